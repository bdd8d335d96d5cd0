//! Error-localised repair's settings and where its windows go: the token of
//! the checker's error, the language's repair sites, and the candidate a next
//! round starts from.

use super::Candidate;
use crate::lang::Language;
use serde::{Deserialize, Serialize};

/// Error-localised repair: the strict checker's error location is mapped to a
/// token, only a window around it is noised (with free slots inserted there
/// for missing tokens), and every other position is reset to the clean input
/// at each reverse step (DiffuSeq-style partial noising). Each `(radius,
/// inserts)` pair is one variant, run at every level and sample; pooling
/// then chooses among all of them. The language's repair sites
/// ([`Language::repair_sites`]: where its real mistakes sit though the parser
/// points elsewhere, such as a PowerShell command head missing its `&`) get the
/// same windows. An input the checker accepts is repaired only at its sites
/// and by its [`super::revise`] revisions (a misspelt name, an argument
/// slip, each only where the model finds it clearly more plausible), and
/// otherwise comes back unchanged; at a site the model itself is the check:
/// it writes the input back there unless something else is more plausible,
/// and pooling keeps what most chains wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localise {
    /// Positions noised on each side of the error's token.
    pub radii: Vec<usize>,
    /// Free slots inserted before the error's token (0 = none).
    pub inserts: Vec<usize>,
    /// Read the window out constrained by the checker
    /// ([`crate::diffusion::constrained`]): the most probable window
    /// tokens whose snippet passes, instead of the argmax at each position.
    #[serde(default)]
    pub constrained: bool,
    /// With `constrained`: nats charged per window token the read-out changes
    /// ([`constrained::charge_edits`]); 0 ranks by the model's probability alone.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub edit_cost: f32,
    /// Repair rounds (1: one). An input none of whose candidates passes the
    /// checker is repaired again from the candidate that got past its first
    /// error with the fewest edits ([`furthest_progress`]: one slip fixed, the
    /// next one found), so a snippet with several slips gets one window per slip.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub rounds: usize,
    /// Open windows at the language's repair sites too, at most
    /// [`MAX_SITES`] of them, nearest the error first.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub sites: bool,
    /// Add the checker-accepted snippets one punctuation edit from a rejected
    /// input ([`super::proposals`]) to its candidates, at level 0 (no chain
    /// run); `None`: the language's default
    /// ([`Language::proposes_single_edits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposals: Option<bool>,
    /// Add the checker-accepted [`Language::idiom_edits`] of an input the
    /// checker rejects, or that has repair sites, to its candidates, at level 0.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub idioms: bool,
    /// Repair inputs the checker accepts too ([`super::revise`]): the input
    /// is replaced by a misspelt name's correction, or by an argument edit
    /// near its least plausible token, where the model finds it plausible
    /// enough; `None`: the language's default
    /// ([`Language::proposes_single_edits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revise: Option<bool>,
    /// Nats an argument edit's score must beat the input's plausibility by;
    /// `None`: [`super::revise::EDIT_MARGIN`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revise_margin: Option<f64>,
    /// Nats a name correction may lose to the input's plausibility; `None`:
    /// [`super::revise::NAME_MARGIN`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revise_name_margin: Option<f64>,
    /// With `constrained`: accepted read-outs kept per window, most probable
    /// first, each a candidate of its level and sample (ranked pooling weighs them).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub alternatives: usize,
}

/// Repair sites an input gets windows at, beyond its error: each multiplies
/// the chains of the input by the variants.
pub const MAX_SITES: usize = 3;

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

fn is_zero(cost: &f32) -> bool {
    *cost == 0.0
}

/// The serde default of a count that is one unless set (rounds, alternatives).
pub(super) fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl Default for Localise {
    fn default() -> Self {
        Localise {
            radii: vec![1, 2, 3],
            inserts: vec![0, 1, 2],
            constrained: false,
            edit_cost: 0.0,
            rounds: 1,
            sites: true,
            proposals: None,
            idioms: true,
            revise: None,
            revise_margin: None,
            revise_name_margin: None,
            alternatives: 1,
        }
    }
}

/// The token where the error of `text` at byte `offset` sits: the first token
/// that ends after it, or the `<eos>` position when the error is at the end.
pub fn error_token(offsets: &[(usize, usize)], offset: usize) -> usize {
    offsets.iter().position(|&(_, end)| end > offset).unwrap_or(offsets.len())
}

/// Among `candidates` that still fail the checker but whose first error sits
/// later than the first error of `input` (counted from the end, so that edits
/// before it do not shift it), the one with the fewest token edits (then the
/// latest error): the start of the next repair round. `None` when `input`
/// passes or no candidate got past its error.
pub fn furthest_progress<'c>(lang: &dyn Language, input: &str, candidates: &'c [Candidate]) -> Option<&'c Candidate> {
    let before_end = |text: &str, offset: usize| text.len().saturating_sub(offset);
    let first = before_end(input, lang.check(input).err()?.offset);
    candidates
        .iter()
        .filter_map(|c| lang.check(&c.text).err().map(|e| (before_end(&c.text, e.offset), c)))
        .filter(|(left, _)| *left < first)
        .min_by(|a, b| a.1.token_edit_distance.cmp(&b.1.token_edit_distance).then(a.0.cmp(&b.0)))
        .map(|(_, c)| c)
}

/// The tokens of the language's repair sites in `text` (`offsets`: its
/// tokens' byte ranges), other than the `error` token, nearest the error (or
/// the start) first, at most [`MAX_SITES`].
pub(super) fn repair_site_tokens(lang: &dyn Language, text: &str, offsets: &[(usize, usize)], error: Option<usize>) -> Vec<usize> {
    let mut sites: Vec<usize> = lang.repair_sites(text).into_iter().map(|offset| error_token(offsets, offset)).collect();
    sites.sort_unstable();
    sites.dedup();
    sites.retain(|&at| Some(at) != error);
    sites.sort_by_key(|&at| at.abs_diff(error.unwrap_or(0)));
    sites.truncate(MAX_SITES);
    sites
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::Window;
    use crate::lang::LangId;

    #[test]
    fn the_next_round_starts_from_the_candidate_that_got_furthest() {
        let excel = LangId::Excel.language();
        let input = "=IF(B3>10;1;0)";
        let candidate = |text: &str, edits| Candidate {
            level: 0.1,
            sample: 0,
            text: text.into(),
            valid: excel.check(text).is_ok(),
            token_edit_distance: edits,
            plausibility: None,
            preferred: false,
        };
        let candidates = vec![
            candidate("=IF(B3>10;1;0)", 0),
            candidate("=IF(B3>10,1;0)", 1),
            candidate("=IF(B3 10,1;0)", 2),
            candidate("=IF(B3>10 -1;0)", 3),
        ];
        let next = furthest_progress(excel, input, &candidates).unwrap();
        assert_eq!(next.text, "=IF(B3>10,1;0)", "past the first slip, with the fewest edits");
        let rewritten = furthest_progress(excel, input, &candidates[2..]).unwrap();
        assert_eq!(rewritten.text, "=IF(B3>10 -1;0)", "an error before the input's is no progress");
        assert!(furthest_progress(excel, input, &candidates[..1]).is_none(), "no progress, no next round");
        assert!(furthest_progress(excel, "=IF(B3>10,1,0)", &candidates).is_none(), "a valid input needs none");
    }

    #[test]
    fn localised_windows_cover_the_error_and_insert_slots() {
        // ids 10..15 stand for a 5-token snippet; the error is at token 2
        let ids = [10u32, 11, 12, 13, 14];
        let (v, window) = Window::around(&ids, 2, 1, 0, 10).unwrap();
        assert_eq!(v, [10, 11, 12, 13, 14, 1, 0, 0, 0, 0]);
        assert_eq!(window, Window { lo: 1, hi: 3 }, "the error token and one each side");
        let (v, window) = Window::around(&ids, 2, 1, 2, 10).unwrap();
        assert_eq!(v, [10, 11, 3, 3, 12, 13, 14, 1, 0, 0], "two <mask> slots before the error token");
        assert_eq!(window.positions(10).len(), 5, "slots, error token, one each side");
        let (_, window) = Window::around(&ids, 5, 2, 1, 10).unwrap();
        assert_eq!(window, Window { lo: 3, hi: 8 }, "an error at the end: the tail, a slot, <eos> and two more");
        assert!(Window::around(&ids, 2, 1, 5, 10).is_none(), "too long with the slots");
        // byte offsets map to the token that ends after them, or <eos>
        let offsets = [(0, 1), (1, 4), (4, 5)];
        assert_eq!((error_token(&offsets, 0), error_token(&offsets, 2), error_token(&offsets, 4), error_token(&offsets, 9)), (0, 1, 2, 3));
    }
}

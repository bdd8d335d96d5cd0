//! Repair of snippets the checker accepts. About half of the broken formulas
//! users paste parse and compute the wrong thing: an argument separator typed
//! as an operator (`=NETWORKDAYS(A2-B2)`), an empty `""` argument left out, a
//! misspelt function (`=TDOAY()`). No parser error points at them, so two
//! kinds of revision are weighed by the model's plausibility:
//!
//! - *name corrections* ([`Language::name_corrections`]): a call of an unknown
//!   name one or two letters from a known one. A misspelling is likely by
//!   itself, so the most plausible correction replaces the input unless it is
//!   less plausible than the input by more than [`NAME_MARGIN`];
//! - *argument edits* ([`argument_edits`]): an operator replaced by a separator,
//!   a separator by another, `""` put into an empty argument, nearest the
//!   input's least plausible token first ([`token_plausibility`]). Any such
//!   edit changes what a correct formula computes, so the best (plausibility
//!   minus [`RANK_EDIT_COST`] per token edit) replaces the input only where it
//!   beats the input's plausibility by [`EDIT_MARGIN`].
//!
//! Both margins were measured so that correct formulas stay as they are
//! (`docs/repair.md`).

use super::plausibility::{plausibility_by_text, token_plausibility, Plausibility, PlausibilityError};
use super::RANK_EDIT_COST;
use crate::lang::edit::token_edit_distance;
use crate::lang::{with_spans, Language, PunctuationClass, TokenKind};
use crate::model::CodeFusion;
use crate::tokenizer::CodeTokenizer;
use std::collections::HashSet;

/// Nats a name correction may lose to the input's plausibility and still
/// replace it.
pub const NAME_MARGIN: f64 = 10.0;

/// Nats an argument edit's score must beat the input's plausibility by.
pub const EDIT_MARGIN: f64 = 12.0;

/// Argument edits kept per input at most (the nearest its least plausible token).
pub const MAX_ARGUMENT_EDITS: usize = 64;

/// How sure a revision must be: [`NAME_MARGIN`] and [`EDIT_MARGIN`] by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Margins {
    /// Nats a name correction may lose to the input.
    pub name: f64,
    /// Nats an argument edit must win by.
    pub edit: f64,
}

impl Default for Margins {
    fn default() -> Self {
        Margins { name: NAME_MARGIN, edit: EDIT_MARGIN }
    }
}

/// An accepted input's replacement.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// The revised snippet.
    pub text: String,
    /// Its [`plausibility`].
    pub plausibility: f64,
    /// Token edits from the input.
    pub token_edit_distance: usize,
}

/// The revision of each of `inputs` (snippets the checker accepts), `None`
/// where the input stays (see the module header), or it is longer than the
/// model. `accept(i, text)` decides which edits of `inputs[i]` may be
/// revisions (the strict check, and no more comment than the input).
#[allow(clippy::too_many_arguments)]
pub fn revisions(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    lang: &dyn Language,
    inputs: &[&str],
    settings: &Plausibility,
    margins: Margins,
    batch: usize,
    accept: impl Fn(usize, &str) -> bool + Sync,
) -> Result<Vec<Option<Revision>>, PlausibilityError> {
    use rayon::prelude::*;
    let per_token = token_plausibility(model, tokenizer, inputs, settings, batch)?;
    let anchors: Vec<Option<usize>> = inputs
        .iter()
        .zip(&per_token)
        .map(|(text, scores)| {
            let Some(scores) = scores else { return Ok(None) };
            let (_, offsets) = tokenizer.encode_with_offsets(text)?;
            Ok(Some(least_plausible_byte(scores, &offsets, text.len())))
        })
        .collect::<Result<_, crate::tokenizer::TokenizerError>>()?;
    // (name corrections, argument edits) of each input; layout alone is no revision
    let options: Vec<(Vec<String>, Vec<String>)> = inputs
        .par_iter()
        .zip(&anchors)
        .enumerate()
        .map(|(i, (text, anchor))| {
            let Some(anchor) = *anchor else { return (Vec::new(), Vec::new()) };
            let mut seen = HashSet::from([lang.normalize_whitespace(text)]);
            let mut fresh = |t: &String| accept(i, t) && seen.insert(lang.normalize_whitespace(t));
            let names: Vec<String> = lang.name_corrections(text).into_iter().filter(&mut fresh).collect();
            let edits: Vec<String> = argument_edits(lang, text, anchor).into_iter().filter(&mut fresh).take(MAX_ARGUMENT_EDITS).collect();
            (names, edits)
        })
        .collect();
    let texts = options.iter().flat_map(|(names, edits)| names.iter().chain(edits)).map(String::as_str);
    let score_of = plausibility_by_text(model, tokenizer, texts, settings, batch)?;
    let revision = |input: &str, text: String| {
        let plausibility = *score_of.get(text.as_str())?;
        let token_edit_distance = token_edit_distance(lang, input, &text);
        Some(Revision { text, plausibility, token_edit_distance })
    };
    Ok(inputs
        .iter()
        .zip(&per_token)
        .zip(options)
        .map(|((input, own), (names, edits))| {
            let own: f64 = own.as_ref()?.iter().sum();
            let name = best(names.into_iter().filter_map(|t| revision(input, t)), |r| r.plausibility);
            if let Some((_, r)) = name.filter(|(score, _)| score - own >= -margins.name) {
                return Some(r);
            }
            let edit = best(edits.into_iter().filter_map(|t| revision(input, t)), |r| {
                r.plausibility - RANK_EDIT_COST * r.token_edit_distance as f64
            });
            edit.filter(|(score, _)| score - own >= margins.edit).map(|(_, r)| r)
        })
        .collect())
}

/// The revision with the highest `score` (the first among equals), with it.
fn best(revisions: impl Iterator<Item = Revision>, score: impl Fn(&Revision) -> f64) -> Option<(f64, Revision)> {
    revisions.map(|r| (score(&r), r)).fold(None, |best, (s, r)| match best {
        Some((b, _)) if b >= s => best,
        _ => Some((s, r)),
    })
}

/// Every snippet one argument edit from `text`, nearest byte `anchor` first:
/// a binary operator replaced by a separator (`A2-B2` as `A2,B2`, `&""` as
/// `,""`), a separator by another (`C2,L2` as `C2:L2`), and `""` written
/// into an empty argument (`,)` as `,"")`). Unchecked: the caller filters.
pub fn argument_edits(lang: &dyn Language, text: &str, anchor: usize) -> Vec<String> {
    let tokens = lang.lex(text);
    let spans: Vec<_> = with_spans(&tokens).filter(|(_, t)| t.kind != TokenKind::Whitespace).collect();
    let separators = PunctuationClass::Separator.chars();
    let is_separator = |t: &str| t.chars().count() == 1 && t.chars().all(|c| separators.contains(&c));
    let opens_argument = |t: &str| t == "(" || is_separator(t);
    let closes_argument = |t: &str| t == ")" || is_separator(t);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (i, (span, token)) in spans.iter().enumerate() {
        let (before, after) = (&text[..span.start], &text[span.end..]);
        // an operator right after `(`, a separator or another operator is a
        // sign (`--(A1:A9=1)`), no slip for a separator
        let binary = i > 0 && !opens_argument(spans[i - 1].1.text) && spans[i - 1].1.kind != TokenKind::Operator;
        let replaceable = token.kind == TokenKind::Operator || (token.kind == TokenKind::Punctuation && is_separator(token.text));
        if replaceable && binary {
            for c in separators.iter().filter(|c| c.to_string() != token.text) {
                edits.push((span.start.abs_diff(anchor), edits.len(), format!("{before}{c}{after}")));
            }
        }
        if let Some((next, following)) = spans.get(i + 1) {
            if opens_argument(token.text) && closes_argument(following.text) {
                let at = next.start.min(span.end);
                edits.push((at.abs_diff(anchor), edits.len(), format!("{}\"\"{}", &text[..span.end], &text[span.end..])));
            }
        }
    }
    edits.sort_by_key(|(distance, order, _)| (*distance, *order));
    edits.into_iter().map(|(_, _, t)| t).collect()
}

/// The byte where the token the model finds least plausible starts (`scores`:
/// per token, then `<eos>`; `offsets`: the tokens' byte ranges); the end of
/// the snippet when that is `<eos>` (something is missing at the end).
fn least_plausible_byte(scores: &[f64], offsets: &[(usize, usize)], len: usize) -> usize {
    let worst = scores.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    offsets.get(worst).map_or(len, |&(start, _)| start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_plausible_token_anchors_the_edits() {
        let offsets = [(0, 1), (1, 4), (4, 5)];
        assert_eq!(least_plausible_byte(&[-0.1, -3.0, -0.5, -0.2], &offsets, 5), 1);
        assert_eq!(least_plausible_byte(&[-0.1, -0.3, -0.5, -4.0], &offsets, 5), 5, "<eos>: the end");
    }

    #[test]
    fn argument_edits_restore_separators_and_empty_strings() {
        let excel = crate::lang::LangId::Excel.language();
        let edits = |text: &str| argument_edits(excel, text, 0);
        assert!(edits("=NETWORKDAYS(A2-B2)").contains(&"=NETWORKDAYS(A2,B2)".to_string()));
        assert!(edits("=IF(AP16<=3,COUNTA(R1)&\"\")").contains(&"=IF(AP16<=3,COUNTA(R1),\"\")".to_string()));
        assert!(edits("=IF(B6=\"\",)").contains(&"=IF(B6=\"\",\"\")".to_string()), "an empty last argument");
        assert!(edits("=SUMPRODUCT(C2,L2)").contains(&"=SUMPRODUCT(C2:L2)".to_string()));
        assert!(edits("=-A1").iter().all(|e| !e.starts_with("=,")), "the leading `=` is no operator to replace");
        assert!(edits("=SUMPRODUCT(--(A1:A9=1))").iter().all(|e| !e.contains("(,")), "signs are no separators");
        let near = argument_edits(excel, "=A1-B1+C1-D1", 9);
        assert_eq!(&near[0][..10], "=A1-B1+C1,", "nearest the anchor first: {near:?}");
    }
}

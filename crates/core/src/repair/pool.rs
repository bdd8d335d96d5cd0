//! Pooling: choosing one repair from the candidates of all noise levels and
//! samples (the repair paper's `best` and `vote`, and our `guided`), plus the
//! oracle `any` used only by evaluation.

use crate::lang::Language;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One candidate repair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Noise level as a fraction of `T - 1`.
    pub level: f64,
    /// Index of the noise sample at that level.
    pub sample: usize,
    /// The decoded repair.
    pub text: String,
    /// Whether it passes the strict syntax check.
    pub valid: bool,
    /// Token edit distance to the input.
    pub token_edit_distance: usize,
}

/// How one repair is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Pooling {
    /// The first sample at one global noise level.
    Best {
        /// The level (fraction of `T - 1`); the candidate at the closest level is used.
        level: f64,
    },
    /// The most frequent candidate (whitespace-normalised) over all levels and
    /// samples; ties go to the one seen first (lowest level).
    Vote,
    /// Vote among candidates that pass the strict syntax check, ties broken by
    /// the smallest token edit distance to the input; `Vote` when none passes.
    Guided,
}

impl std::str::FromStr for Pooling {
    type Err = String;

    /// `vote`, `guided` or `best:<level>` (`any` is an evaluation oracle, not a pooling).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "vote" => Ok(Pooling::Vote),
            "guided" => Ok(Pooling::Guided),
            _ => match s.strip_prefix("best:").map(str::parse::<f64>) {
                Some(Ok(level)) if (0.0..=1.0).contains(&level) => Ok(Pooling::Best { level }),
                _ => {
                    Err(format!("`{s}`: expected vote, guided or best:<level in 0..1> (`any` is an evaluation oracle, see `eval repair`)"))
                }
            },
        }
    }
}

/// Chooses one candidate (`None` when there are none).
pub fn choose<'a>(candidates: &'a [Candidate], lang: &dyn Language, pooling: Pooling) -> Option<&'a Candidate> {
    match pooling {
        Pooling::Best { level } => {
            let closest = candidates.iter().map(|c| (c.level - level).abs()).fold(f64::INFINITY, f64::min);
            candidates.iter().filter(|c| (c.level - level).abs() == closest).min_by_key(|c| c.sample)
        }
        Pooling::Vote => vote(candidates.iter(), lang, |_| 0),
        Pooling::Guided => {
            if candidates.iter().any(|c| c.valid) {
                vote(candidates.iter().filter(|c| c.valid), lang, |c| c.token_edit_distance)
            } else {
                vote(candidates.iter(), lang, |_| 0)
            }
        }
    }
}

/// The most frequent candidate by normalised text; ties by `tie_key`
/// (smaller wins), then first seen.
fn vote<'a>(
    candidates: impl Iterator<Item = &'a Candidate>,
    lang: &dyn Language,
    tie_key: impl Fn(&Candidate) -> usize,
) -> Option<&'a Candidate> {
    let mut groups: Vec<(String, usize, &'a Candidate)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for c in candidates {
        let key = lang.normalize_whitespace(&c.text);
        match index.get(&key) {
            Some(&i) => groups[i].1 += 1,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, 1, c));
            }
        }
    }
    // max count, then min tie key, then first seen
    let mut best: Option<(usize, usize, usize)> = None;
    for (i, (_, count, c)) in groups.iter().enumerate() {
        let rank = (*count, tie_key(c), i);
        let better = match best {
            None => true,
            Some((bc, bk, _)) => rank.0 > bc || (rank.0 == bc && rank.1 < bk),
        };
        if better {
            best = Some(rank);
        }
    }
    best.map(|(_, _, i)| groups[i].2)
}

/// The oracle: whether any candidate satisfies `is_correct` (evaluation only).
pub fn any_correct(candidates: &[Candidate], is_correct: impl Fn(&Candidate) -> bool) -> bool {
    candidates.iter().any(is_correct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    fn c(level: f64, sample: usize, text: &str, valid: bool, edits: usize) -> Candidate {
        Candidate { level, sample, text: text.into(), valid, token_edit_distance: edits }
    }

    #[test]
    fn pooling_modes_on_crafted_candidates() {
        let excel = LangId::Excel.language();
        let cands = vec![
            c(0.1, 0, "=SUM(A1", false, 0),
            c(0.1, 1, "=SUM(A1)", true, 1),
            c(0.2, 0, "=SUM(A1", false, 0),
            c(0.2, 1, "=SUM( A1", false, 0),
            c(0.3, 0, "=MAX(A1)", true, 2),
            c(0.3, 1, "=MAX(A1)", true, 2),
            c(0.4, 0, "=SUM(A1)", true, 1),
        ];
        // vote: "=SUM(A1" three times (whitespace-normalised), although invalid
        assert_eq!(choose(&cands, excel, Pooling::Vote).unwrap().text, "=SUM(A1");
        // guided: valid only; SUM(A1) and MAX(A1) both twice, SUM is closer to the input
        assert_eq!(choose(&cands, excel, Pooling::Guided).unwrap().text, "=SUM(A1)");
        // best: the first sample at the closest level
        assert_eq!(choose(&cands, excel, Pooling::Best { level: 0.31 }).unwrap().text, "=MAX(A1)");
        assert_eq!(choose(&cands, excel, Pooling::Best { level: 0.4 }).unwrap().sample, 0);
        // guided falls back to vote when nothing is valid
        let invalid: Vec<_> = cands.iter().filter(|c| !c.valid).cloned().collect();
        assert_eq!(choose(&invalid, excel, Pooling::Guided).unwrap().text, "=SUM(A1");
        assert!(choose(&[], excel, Pooling::Vote).is_none());
        assert!(any_correct(&cands, |c| c.text == "=MAX(A1)"));
        assert!(!any_correct(&cands, |c| c.text == "=MIN(A1)"));
    }
}

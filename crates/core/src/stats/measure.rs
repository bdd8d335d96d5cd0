//! Measurements of pairs: localization, complexity and diversity.
//!
//! Definitions (also in the Markdown report):
//! - token sequences are [`edit_tokens`] of the language (whitespace-normalised lexer tokens);
//! - **localization** of a pair: the mean distance, in tokens of the broken side,
//!   over all pairs of positions a Levenshtein alignment to the fixed side edits
//!   (pairs with at least two edits); **span**: first to last edited position;
//! - **complexity**: the token edit distance;
//! - **distinct-n**: distinct n-grams over all n-grams of the broken snippets;
//! - **pairwise similarity-n**: mean Jaccard similarity of the n-gram sets of two
//!   broken snippets, over all pairs of a deterministic sample.

use crate::lang::edit::{align, edit_tokens};
use crate::lang::Language;
use std::collections::HashSet;

/// What is measured on one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairMeasure {
    /// Token edit distance broken -> fixed.
    pub token_edit_distance: usize,
    /// Localization (mean pairwise distance of edits), `None` with < 2 edits.
    pub localization: Option<f64>,
    /// First-to-last edited position.
    pub span: usize,
    /// Whether the broken side fails the strict syntax check.
    pub broken_invalid: bool,
    /// Tokens of the broken side.
    pub broken_tokens: Vec<String>,
    /// The kind of mistake ([`super::families::classify_at_error`]).
    pub family: super::families::EditFamily,
}

/// Measures one pair.
pub fn measure(lang: &dyn Language, broken: &str, fixed: &str) -> PairMeasure {
    let broken_tokens = edit_tokens(lang, broken);
    let fixed_tokens = edit_tokens(lang, fixed);
    let alignment = align(&broken_tokens, &fixed_tokens);
    let error = lang.check(broken).err();
    PairMeasure {
        token_edit_distance: alignment.distance,
        localization: alignment.mean_pairwise_distance(),
        span: alignment.span(),
        broken_invalid: error.is_some(),
        family: super::families::classify_near(lang, broken, fixed, error.as_ref()),
        broken_tokens,
    }
}

fn ngrams(tokens: &[String], n: usize) -> impl Iterator<Item = &[String]> {
    tokens.windows(n)
}

/// Distinct n-grams / all n-grams over the sequences (0 when there are none).
pub fn distinct_n(sequences: &[&[String]], n: usize) -> f64 {
    let mut all = 0usize;
    let mut distinct = HashSet::new();
    for seq in sequences {
        for gram in ngrams(seq, n) {
            all += 1;
            distinct.insert(gram);
        }
    }
    if all == 0 {
        0.0
    } else {
        distinct.len() as f64 / all as f64
    }
}

/// Mean Jaccard similarity of n-gram sets over all pairs of `sequences`
/// (`None` with fewer than two sequences).
pub fn mean_pairwise_similarity(sequences: &[&[String]], n: usize) -> Option<f64> {
    if sequences.len() < 2 {
        return None;
    }
    let sets: Vec<HashSet<&[String]>> = sequences.iter().map(|s| ngrams(s, n).collect()).collect();
    let mut total = 0.0;
    let mut count = 0usize;
    for i in 0..sets.len() {
        for j in i + 1..sets.len() {
            let union = sets[i].union(&sets[j]).count();
            let similarity = if union == 0 { 1.0 } else { sets[i].intersection(&sets[j]).count() as f64 / union as f64 };
            total += similarity;
            count += 1;
        }
    }
    Some(total / count as f64)
}

/// Summary of a distribution of counts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Distribution {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Largest value.
    pub max: usize,
    /// `histogram[k]`: how many values equal `k`.
    pub histogram: Vec<usize>,
}

impl Distribution {
    /// Summarises `values` (nearest-rank percentiles).
    pub fn of(values: &[usize]) -> Self {
        if values.is_empty() {
            return Distribution::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let rank = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1] as f64;
        let max = *sorted.last().expect("non-empty");
        let mut histogram = vec![0; max + 1];
        for &v in values {
            histogram[v] += 1;
        }
        Distribution { mean: values.iter().sum::<usize>() as f64 / values.len() as f64, median: rank(0.5), p90: rank(0.9), max, histogram }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    fn toks(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn measures_a_two_edit_pair() {
        let excel = LangId::Excel.language();
        let m = measure(excel, "=SUM(A1,B2", "=SUM(A1;B2)");
        assert_eq!(m.token_edit_distance, 2);
        assert!(m.broken_invalid);
        assert!(m.localization.unwrap() > 0.0);
        assert_eq!(measure(excel, "=SUM(A1", "=SUM(A1)").localization, None);
    }

    #[test]
    fn diversity_of_identical_and_disjoint_sets() {
        let (a, b) = (toks("x y z"), toks("p q r"));
        assert_eq!(distinct_n(&[&a, &a], 1), 0.5);
        assert_eq!(distinct_n(&[&a, &b], 2), 1.0);
        assert_eq!(mean_pairwise_similarity(&[&a, &a], 1), Some(1.0));
        assert_eq!(mean_pairwise_similarity(&[&a, &b], 1), Some(0.0));
        assert_eq!(mean_pairwise_similarity(&[&a], 1), None);
    }

    #[test]
    fn distribution_percentiles() {
        let d = Distribution::of(&[1, 1, 2, 3, 4, 4, 4, 4, 4, 10]);
        assert_eq!((d.median, d.p90, d.max), (4.0, 4.0, 10));
        assert_eq!(d.histogram[4], 5);
        assert!((d.mean - 3.7).abs() < 1e-12);
    }
}

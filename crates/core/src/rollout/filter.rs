//! Pair filters: each candidate (broken, fixed) either becomes a record or is
//! dropped for exactly one counted reason, checked in a fixed order.

use super::config::{BrokenRule, FilterConfig};
use crate::dataset::Decontaminator;
use crate::lang::edit::{char_edit_distance, token_edit_distance};
use crate::lang::Language;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ops::AddAssign;

/// Why a candidate pair was dropped, in the order the filters run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The fixed side fails the strict syntax check.
    FixedInvalid,
    /// Broken and fixed are equal after whitespace normalisation.
    Unchanged,
    /// Token edit distance outside `[min, max]`.
    EditDistance,
    /// The broken side is empty, or its length differs from the fixed side's
    /// by more than `filter.max_length_change` (a fragment, not a mistake).
    Length,
    /// The broken side's validity is not what `filter.broken` asks for.
    BrokenRule,
    /// The same (broken, fixed) was kept before.
    Duplicate,
    /// Broken or fixed matches a repair benchmark.
    Contaminated,
}

/// Candidates seen and drops per reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterCounts {
    /// Candidate pairs considered.
    pub candidates: u64,
    /// Dropped: fixed side invalid.
    pub fixed_invalid: u64,
    /// Dropped: no change.
    pub unchanged: u64,
    /// Dropped: token edit distance out of range.
    pub edit_distance: u64,
    /// Dropped: broken side empty or of another length (written only when non-zero,
    /// so manifests of configs without the length filter stay as they were).
    #[serde(default, skip_serializing_if = "crate::serde_skip::is_default")]
    pub length: u64,
    /// Dropped: broken-side rule.
    pub broken_rule: u64,
    /// Dropped: duplicate pair.
    pub duplicate: u64,
    /// Dropped: matches a benchmark.
    pub contaminated: u64,
    /// Kept.
    pub kept: u64,
}

impl FilterCounts {
    /// Counts one drop.
    pub fn reject(&mut self, reason: Rejection) {
        *match reason {
            Rejection::FixedInvalid => &mut self.fixed_invalid,
            Rejection::Unchanged => &mut self.unchanged,
            Rejection::EditDistance => &mut self.edit_distance,
            Rejection::Length => &mut self.length,
            Rejection::BrokenRule => &mut self.broken_rule,
            Rejection::Duplicate => &mut self.duplicate,
            Rejection::Contaminated => &mut self.contaminated,
        } += 1;
    }
}

impl AddAssign for FilterCounts {
    fn add_assign(&mut self, o: Self) {
        self.candidates += o.candidates;
        self.fixed_invalid += o.fixed_invalid;
        self.unchanged += o.unchanged;
        self.edit_distance += o.edit_distance;
        self.length += o.length;
        self.broken_rule += o.broken_rule;
        self.duplicate += o.duplicate;
        self.contaminated += o.contaminated;
        self.kept += o.kept;
    }
}

/// A pair that passed every filter, with the measurements made on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Token edit distance.
    pub token_edit_distance: usize,
    /// Character edit distance.
    pub char_edit_distance: usize,
    /// Whether broken passes the syntax check.
    pub broken_valid: bool,
}

/// The filters of one run, with the dedupe set of what it kept so far.
pub struct PairFilter<'a> {
    lang: &'a dyn Language,
    config: FilterConfig,
    decontaminator: &'a Decontaminator,
    seen: HashSet<(String, String)>,
    /// What happened to every candidate so far.
    pub counts: FilterCounts,
}

impl<'a> PairFilter<'a> {
    /// Filters for `lang` with an empty dedupe set.
    pub fn new(lang: &'a dyn Language, config: FilterConfig, decontaminator: &'a Decontaminator) -> Self {
        PairFilter { lang, config, decontaminator, seen: HashSet::new(), counts: FilterCounts::default() }
    }

    /// Runs the filters on one candidate. `fixed_valid` is passed in because a
    /// chain's fixed side is checked once for all its candidates.
    pub fn check(&mut self, broken: &str, fixed: &str, fixed_valid: bool) -> Result<Accepted, Rejection> {
        self.counts.candidates += 1;
        let verdict = self.verdict(broken, fixed, fixed_valid);
        match &verdict {
            Ok(_) => self.counts.kept += 1,
            Err(reason) => self.counts.reject(*reason),
        }
        verdict
    }

    fn verdict(&mut self, broken: &str, fixed: &str, fixed_valid: bool) -> Result<Accepted, Rejection> {
        if !fixed_valid {
            return Err(Rejection::FixedInvalid);
        }
        let lang = self.lang;
        if lang.normalize_whitespace(broken) == lang.normalize_whitespace(fixed) {
            return Err(Rejection::Unchanged);
        }
        let token_edit_distance = token_edit_distance(lang, broken, fixed);
        if !(self.config.min_token_edits..=self.config.max_token_edits).contains(&token_edit_distance) {
            return Err(Rejection::EditDistance);
        }
        if let Some(max_change) = self.config.max_length_change {
            let (b, f) = (broken.trim().chars().count() as f64, fixed.chars().count().max(1) as f64);
            if b == 0.0 || (b - f).abs() / f > max_change {
                return Err(Rejection::Length);
            }
        }
        let broken_valid = lang.check(broken).is_ok();
        match (self.config.broken, broken_valid) {
            (BrokenRule::Invalid, true) | (BrokenRule::Valid, false) => return Err(Rejection::BrokenRule),
            _ => {}
        }
        let key = (broken.to_string(), fixed.to_string());
        if self.seen.contains(&key) {
            return Err(Rejection::Duplicate);
        }
        let contaminated = |text: &str| self.decontaminator.is_contaminated(text, &lang.sketch(text));
        if contaminated(broken) || contaminated(fixed) {
            return Err(Rejection::Contaminated);
        }
        self.seen.insert(key);
        Ok(Accepted { token_edit_distance, char_edit_distance: char_edit_distance(broken, fixed), broken_valid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{load_decontaminator, BenchmarkSource, MatchRule};
    use crate::lang::LangId;

    fn filter(config: FilterConfig, held: &Decontaminator) -> PairFilter<'_> {
        PairFilter::new(LangId::Excel.language(), config, held)
    }

    #[test]
    fn each_filter_drops_what_it_should() {
        let held = Decontaminator::default();
        let mut f = filter(FilterConfig::default(), &held);
        assert_eq!(f.check("=SUM(A1", "=SUM(A1", false), Err(Rejection::FixedInvalid));
        assert_eq!(f.check("=SUM( A1 )", "=SUM(A1)", true), Err(Rejection::Unchanged));
        assert_eq!(f.check("=1", "=SUM(A1:A9)/COUNT(B2:B7)", true), Err(Rejection::EditDistance));
        let kept = f.check("=SUM(A1", "=SUM(A1)", true).unwrap();
        assert_eq!(kept, Accepted { token_edit_distance: 1, char_edit_distance: 1, broken_valid: false });
        assert_eq!(f.check("=SUM(A1", "=SUM(A1)", true), Err(Rejection::Duplicate));
        let counts = f.counts;
        assert_eq!((counts.candidates, counts.kept), (5, 1));
        assert_eq!((counts.fixed_invalid, counts.unchanged, counts.edit_distance, counts.duplicate), (1, 1, 1, 1));

        let mut strict =
            filter(FilterConfig { min_token_edits: 2, max_token_edits: 2, broken: BrokenRule::Invalid, max_length_change: None }, &held);
        assert_eq!(strict.check("=SUM(A1", "=SUM(A1)", true), Err(Rejection::EditDistance));
        assert_eq!(strict.check("=SUM(A1,B1)", "=SUM(A1)", true), Err(Rejection::BrokenRule));
        assert!(strict.check("=SUM(A1,,", "=SUM(A1)", true).is_ok());
        let mut valid_only = filter(FilterConfig { broken: BrokenRule::Valid, ..FilterConfig::default() }, &held);
        assert_eq!(valid_only.check("=SUM(A1", "=SUM(A1)", true), Err(Rejection::BrokenRule));
        assert!(valid_only.check("=MAX(A1)", "=SUM(A1)", true).unwrap().broken_valid);
        // fragments: an empty broken side, or one far shorter than the fixed one
        let mut length = filter(FilterConfig { max_length_change: Some(0.4), ..FilterConfig::default() }, &held);
        assert_eq!(length.check("", "=A1", true), Err(Rejection::Length));
        assert_eq!(length.check("=B!", "=ONet!C85", true), Err(Rejection::Length), "a decoded chain step that is no formula");
        assert!(length.check("=ONet!C8", "=ONet!C85", true).is_ok());
        assert_eq!(length.counts.length, 2);
        let json = serde_json::to_string(&FilterCounts::default()).unwrap();
        assert!(!json.contains("length"), "written only when it counted something: {json}");
    }

    #[test]
    fn benchmark_formulas_are_decontaminated_by_sketch() {
        let root = crate::repo_file("");
        let source = BenchmarkSource {
            path: "corpora/benchmarks/repair/excel.json".into(),
            fields: vec!["Buggy".into(), "GroundTruth".into()],
            match_rule: MatchRule::Sketch,
        };
        let excel = LangId::Excel.language();
        let held = load_decontaminator(&[source], &root, excel).unwrap();
        let bench: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("corpora/benchmarks/repair/excel.json")).unwrap()).unwrap();
        let truth = bench[0]["GroundTruth"].as_str().unwrap().trim().to_string();
        // Same sketch, other constants: still contaminated.
        let fixed = truth.replace('1', "7");
        assert!(excel.check(&fixed).is_ok(), "{fixed}");
        let mut f = filter(FilterConfig { max_token_edits: 100, ..FilterConfig::default() }, &held);
        let broken = format!("{fixed}+");
        assert_eq!(f.check(&broken, &fixed, true), Err(Rejection::Contaminated), "{fixed}");
    }
}

//! The repair evaluation harness: per benchmark item, the metrics (exact,
//! sketch, execution) of every method — the identity and rule-based baselines,
//! each single noise level (`best` picks the best level globally), `vote`,
//! `guided`, and the `any` oracle — plus pass@k over the noise samples.

use crate::lang::Language;
use crate::repair::{baseline, choose, Candidate, Pooling};
use serde::Serialize;
use std::collections::BTreeMap;

/// One benchmark item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchItem {
    /// The broken snippet.
    pub broken: String,
    /// The correct version.
    pub truth: String,
}

/// Whether a repair matches the truth, three ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Metrics {
    /// Equal after the language's whitespace normalisation.
    pub exact: bool,
    /// Equal sketches, and the repair passes the strict check.
    pub sketch: bool,
    /// Equal results in the formula engine (Excel), else `exact`.
    pub exec: bool,
}

/// The metrics of `repair` against `truth`; `exec` compares by execution.
pub fn metrics(lang: &dyn Language, repair: &str, truth: &str, exec: Option<&dyn Fn(&str, &str) -> bool>) -> Metrics {
    let exact = lang.normalize_whitespace(repair) == lang.normalize_whitespace(truth);
    let valid = lang.check(repair).is_ok();
    Metrics {
        exact,
        sketch: valid && lang.sketch(repair) == lang.sketch(truth),
        exec: match exec {
            Some(f) => valid && f(repair, truth),
            None => exact,
        },
    }
}

/// Rates of the three metrics over items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Items.
    pub n: usize,
    /// Fraction exact.
    pub exact: f64,
    /// Fraction sketch.
    pub sketch: f64,
    /// Fraction exec.
    pub exec: f64,
}

impl Rates {
    fn of(metrics: &[Metrics]) -> Rates {
        let n = metrics.len().max(1) as f64;
        let rate = |f: fn(&Metrics) -> bool| metrics.iter().filter(|m| f(m)).count() as f64 / n;
        Rates { n: metrics.len(), exact: rate(|m| m.exact), sketch: rate(|m| m.sketch), exec: rate(|m| m.exec) }
    }
}

/// The aggregated result of one benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Items evaluated.
    pub items: usize,
    /// Items the model could not take (too long); they count as failures.
    pub skipped: usize,
    /// Rates per method: `identity`, `rule_based`, `vote`, `guided`, `any`, `best`.
    pub methods: BTreeMap<String, Rates>,
    /// Rates at each single noise level (first sample): the paper's Figure 5.
    pub by_level: Vec<(f64, Rates)>,
    /// The level `best` uses (highest exec rate).
    pub best_level: f64,
    /// pass@k for k = 1, 3, 5 (any of the first k samples, at the best level, by exec).
    pub pass_at: BTreeMap<usize, f64>,
}

/// Evaluates candidate lists (from [`crate::repair::Repairer::repair`], `None`
/// for an item the model could not take) against the items.
pub fn evaluate(
    lang: &dyn Language,
    items: &[BenchItem],
    candidates: &[Option<Vec<Candidate>>],
    exec: Option<&dyn Fn(&str, &str) -> bool>,
) -> EvalReport {
    let m = |repair: &str, truth: &str| metrics(lang, repair, truth, exec);
    let mut methods: BTreeMap<String, Vec<Metrics>> = BTreeMap::new();
    let mut levels: Vec<f64> = candidates.iter().flatten().flatten().map(|c| c.level).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let mut per_level: Vec<Vec<Metrics>> = vec![Vec::new(); levels.len()];
    let mut per_sample: Vec<Vec<Vec<Metrics>>> = vec![Vec::new(); levels.len()]; // level -> item -> samples
    for (item, cands) in items.iter().zip(candidates) {
        methods.entry("identity".into()).or_default().push(m(&baseline::identity(&item.broken), &item.truth));
        methods.entry("rule_based".into()).or_default().push(m(&baseline::rule_based(lang, &item.broken), &item.truth));
        let cands = cands.as_deref().unwrap_or(&[]);
        let scored: Vec<Metrics> = cands.iter().map(|c| m(&c.text, &item.truth)).collect();
        for pooling in [("vote", Pooling::Vote), ("guided", Pooling::Guided)] {
            let chosen = choose(cands, lang, pooling.1).map(|c| m(&c.text, &item.truth)).unwrap_or_default();
            methods.entry(pooling.0.into()).or_default().push(chosen);
        }
        let any = Metrics {
            exact: scored.iter().any(|s| s.exact),
            sketch: scored.iter().any(|s| s.sketch),
            exec: scored.iter().any(|s| s.exec),
        };
        methods.entry("any".into()).or_default().push(any);
        for (li, level) in levels.iter().enumerate() {
            let at: Vec<Metrics> = cands.iter().zip(&scored).filter(|(c, _)| c.level == *level).map(|(_, s)| *s).collect();
            per_level[li].push(at.first().copied().unwrap_or_default());
            per_sample[li].push(at);
        }
    }
    let by_level: Vec<(f64, Rates)> = levels.iter().zip(&per_level).map(|(l, ms)| (*l, Rates::of(ms))).collect();
    let best = by_level.iter().enumerate().max_by(|a, b| a.1 .1.exec.total_cmp(&b.1 .1.exec).then(b.0.cmp(&a.0)));
    let (best_index, best_level) = best.map(|(i, (l, _))| (i, *l)).unwrap_or((0, 0.0));
    let mut report_methods: BTreeMap<String, Rates> = methods.iter().map(|(k, v)| (k.clone(), Rates::of(v))).collect();
    if let Some(ms) = per_level.get(best_index) {
        report_methods.insert("best".into(), Rates::of(ms));
    }
    let pass_at = [1usize, 3, 5]
        .into_iter()
        .map(|k| {
            let samples = per_sample.get(best_index).map(Vec::as_slice).unwrap_or(&[]);
            let passed = samples.iter().filter(|s| s.iter().take(k).any(|m| m.exec)).count();
            (k, passed as f64 / items.len().max(1) as f64)
        })
        .collect();
    EvalReport { items: items.len(), skipped: candidates.iter().filter(|c| c.is_none()).count(), methods: report_methods, by_level, best_level, pass_at }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    #[test]
    fn methods_and_levels_on_crafted_candidates() {
        let excel = LangId::Excel.language();
        let items = vec![
            BenchItem { broken: "=SUM(A1:A3".into(), truth: "=SUM(A1:A3)".into() },
            BenchItem { broken: "=A1+".into(), truth: "=A1+1".into() },
        ];
        let c = |level: f64, sample: usize, text: &str| Candidate { level, sample, text: text.into(), valid: excel.check(text).is_ok(), token_edit_distance: 1 };
        let candidates = vec![
            Some(vec![c(0.1, 0, "=SUM(A1:A3)"), c(0.1, 1, "=SUM(A1:A4)"), c(0.5, 0, "=MAX(A1:A3)")]),
            Some(vec![c(0.1, 0, "=A1+2"), c(0.1, 1, "=A1+1"), c(0.5, 0, "=A1+1")]),
        ];
        let report = evaluate(excel, &items, &candidates, None);
        assert_eq!(report.methods["identity"].exact, 0.0);
        assert_eq!(report.methods["rule_based"].exact, 0.5, "closes the parenthesis, cannot invent `1`");
        assert_eq!(report.methods["any"].exact, 1.0);
        assert_eq!(report.methods["rule_based"].sketch, 0.5, "`=A1` and `=A1+1` differ in sketch (`=` vs `=+`)");
        assert_eq!(report.best_level, 0.1, "ties go to the lower level");
        assert_eq!(report.by_level.len(), 2);
        assert_eq!(report.pass_at[&1], 0.5);
        assert_eq!(report.pass_at[&3], 1.0);
    }
}

//! The repair evaluation harness: per benchmark item, the metrics (exact,
//! sketch, execution) of every method — the identity and rule-based baselines,
//! each single noise level (`best` picks the best level globally), `vote`,
//! `guided`, and the `any` oracle — plus pass@k over the noise samples.
//!
//! Each language has a *headline* metric, the one its published numbers use
//! and by which `best` and pass@k are chosen: execution match for Excel (a
//! formula engine), the BIFI metric for Python (parses, and fewer than 5
//! token edits from the input), exact match for the others (no engine here;
//! exec falls back to exact).

use super::families::{kind_of, rates_by_kind, KindRates};
use crate::dataset::BenchItem;
use crate::lang::edit::{char_edit_distance, token_edit_distance};
use crate::lang::{LangId, Language, RepairMetric};
use crate::repair::{baseline, choose, Candidate, Pooling};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a repair matches the truth, four ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Metrics {
    /// Equal after the language's whitespace normalisation.
    pub exact: bool,
    /// Equal sketches, and the repair passes the strict check.
    pub sketch: bool,
    /// Equal results in the formula engine (Excel), else `exact`.
    pub exec: bool,
    /// The BIFI metric: the repair passes the strict check and is fewer than
    /// [`BIFI_MAX_EDITS`] token edits from the broken input (no truth needed).
    pub bifi: bool,
    /// Where the language has a command reference
    /// ([`Language::commands_resolve`]): the repair passes the strict check and
    /// every command and parameter it uses that the reference can judge exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<bool>,
}

/// BIFI's bound: a repair counts when its token edit distance to the input is below this.
pub const BIFI_MAX_EDITS: usize = 5;

/// The metric each language's published numbers use (see the module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Headline {
    /// Execution match (Excel; exact match where there is no engine).
    Exec,
    /// The BIFI metric (Python).
    Bifi,
}

impl Headline {
    /// The headline metric of a language.
    pub fn of(lang: LangId) -> Headline {
        match lang.language().repair_metric() {
            RepairMetric::Bifi => Headline::Bifi,
            RepairMetric::Exec => Headline::Exec,
        }
    }

    /// Its value in `metrics`.
    pub fn get(self, metrics: &Metrics) -> bool {
        match self {
            Headline::Exec => metrics.exec,
            Headline::Bifi => metrics.bifi,
        }
    }

    /// Its value in `rates`.
    pub fn rate(self, rates: &Rates) -> f64 {
        match self {
            Headline::Exec => rates.exec,
            Headline::Bifi => rates.bifi,
        }
    }

    /// Its column name.
    pub fn name(self) -> &'static str {
        match self {
            Headline::Exec => "exec",
            Headline::Bifi => "bifi",
        }
    }
}

/// The metrics of `repair` of `broken` against `truth`; with `engine`, exec
/// compares by the language's execution engine ([`Language::exec_match`]),
/// else (or where there is none) it is exact match.
pub fn metrics(lang: &dyn Language, broken: &str, repair: &str, truth: &str, engine: bool) -> Metrics {
    let exact = lang.normalize_whitespace(repair) == lang.normalize_whitespace(truth);
    let valid = lang.check(repair).is_ok();
    Metrics {
        exact,
        sketch: valid && lang.sketch(repair) == lang.sketch(truth),
        exec: match engine.then(|| lang.exec_match(repair, truth)).flatten() {
            Some(matched) => valid && matched,
            None => exact,
        },
        bifi: valid && token_edit_distance(lang, broken, repair) < BIFI_MAX_EDITS,
        known: lang.commands_resolve(repair).map(|resolves| valid && resolves),
    }
}

/// Rates of the three metrics over items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Items.
    pub n: usize,
    /// Fraction exact.
    pub exact: f64,
    /// Fraction sketch.
    pub sketch: f64,
    /// Fraction exec.
    pub exec: f64,
    /// Fraction passing the BIFI metric.
    pub bifi: f64,
    /// Fraction whose commands and parameters all exist (see [`Metrics::known`]);
    /// `None` for languages without a command reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known: Option<f64>,
}

impl Rates {
    fn of(metrics: &[Metrics]) -> Rates {
        let n = metrics.len().max(1) as f64;
        let rate = |f: fn(&Metrics) -> bool| metrics.iter().filter(|m| f(m)).count() as f64 / n;
        Rates {
            n: metrics.len(),
            exact: rate(|m| m.exact),
            sketch: rate(|m| m.sketch),
            exec: rate(|m| m.exec),
            bifi: rate(|m| m.bifi),
            known: metrics.iter().any(|m| m.known.is_some()).then(|| rate(|m| m.known == Some(true))),
        }
    }
}

/// What the diffusion repairer did on one item: the paper's Figure 6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    /// The item's id.
    pub id: String,
    /// Character edit distance of the human fix over the longer side's length.
    pub fix_distance: f64,
    /// Lowest and highest noise level with a candidate correct by the headline
    /// metric (`None`: no level repaired it, or the item was too long).
    pub repaired_levels: Option<(f64, f64)>,
}

/// The aggregated result of one benchmark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    /// The language.
    pub lang: LangId,
    /// The metric `best` and pass@k are chosen by.
    pub headline: Headline,
    /// Items evaluated.
    pub items: usize,
    /// Items the model could not take (too long); they count as failures.
    pub skipped: usize,
    /// Rates per method: `identity`, `rule_based`, `vote`, `guided`, `any`,
    /// `best`, and `ranked` where the candidates' plausibility was scored.
    pub methods: BTreeMap<String, Rates>,
    /// Rates at each single noise level (first sample): the paper's Figure 5.
    pub by_level: Vec<(f64, Rates)>,
    /// The level `best` uses (highest headline rate; ties go to the lower level).
    pub best_level: f64,
    /// pass@k for k = 1, 3, 5 (any candidate of the first k samples at the best
    /// level, by the headline metric; localised repair pools the variants of a
    /// sample); only the k that the number of samples allows.
    pub pass_at: BTreeMap<usize, f64>,
    /// Where the candidates were scored: for k = 1, 3, 5, the share of items
    /// whose first k [`crate::repair::ranked`] answers (distinct, best first)
    /// hold a correct one by the headline metric, the k suggestions a user gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ranked_at: BTreeMap<usize, f64>,
    /// Per item, in benchmark order.
    pub per_item: Vec<ItemResult>,
    /// The same benchmark repaired by error-localised repair, when it was run:
    /// its own methods, levels and pass@k, reported beside the paper's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localised: Option<Box<EvalReport>>,
    /// Per kind of mistake ([`super::families`]), each method's headline rate;
    /// empty in runs of versions before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_kind: Vec<KindRates>,
}

/// Evaluates candidate lists (from [`crate::repair::Repairer::repair`], `None`
/// for an item the model could not take) against the items.
pub fn evaluate(lang: &dyn Language, items: &[BenchItem], candidates: &[Option<Vec<Candidate>>], engine: bool) -> EvalReport {
    evaluate_per_item(lang, items, candidates, engine).0
}

/// Per item, the metrics of two methods: the paired outcomes that tests
/// between two repairers compare.
#[derive(Debug, Clone, Default)]
pub struct ItemOutcomes {
    /// The `best` method (the first sample at the best level; a fixer's top beam).
    pub best: Vec<Metrics>,
    /// The `guided` method (the valid candidate closest to the input).
    pub guided: Vec<Metrics>,
}

/// [`evaluate`], and the per-item outcomes of its `best` and `guided` methods.
pub fn evaluate_per_item(
    lang: &dyn Language,
    items: &[BenchItem],
    candidates: &[Option<Vec<Candidate>>],
    engine: bool,
) -> (EvalReport, ItemOutcomes) {
    let headline = Headline::of(lang.id());
    let mut per_item = Vec::with_capacity(items.len());
    let mut methods: BTreeMap<String, Vec<Metrics>> = BTreeMap::new();
    let mut levels: Vec<f64> = candidates.iter().flatten().flatten().map(|c| c.level).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let mut per_level: Vec<Vec<Metrics>> = vec![Vec::new(); levels.len()];
    // level -> item -> (sample, metrics)
    let mut per_sample: Vec<Vec<Vec<(usize, Metrics)>>> = vec![Vec::new(); levels.len()];
    // a `ranked` row where the repair scored its candidates' plausibility
    let ranked = candidates.iter().flatten().flatten().any(|c| c.plausibility.is_some());
    // per item, the rank of the first correct ranked answer
    let mut ranked_ranks: Vec<Option<usize>> = Vec::new();
    // scoring runs the formula engine several times per candidate: in parallel
    // over items (each item's scores are independent, so the result is the same)
    let scores: Vec<(Metrics, Metrics, Vec<Metrics>)> = items
        .par_iter()
        .zip(candidates)
        .map(|(item, cands)| {
            let m = |repair: &str| metrics(lang, &item.broken, repair, &item.truth, engine);
            let scored = cands.as_deref().unwrap_or(&[]).iter().map(|c| m(&c.text)).collect();
            (m(&baseline::identity(&item.broken)), m(&baseline::rule_based(lang, &item.broken)), scored)
        })
        .collect();
    for ((item, cands), (identity, rule_based, scored)) in items.iter().zip(candidates).zip(scores) {
        methods.entry("identity".into()).or_default().push(identity);
        methods.entry("rule_based".into()).or_default().push(rule_based);
        let cands = cands.as_deref().unwrap_or(&[]);
        let mut poolings = vec![("vote", Pooling::Vote), ("guided", Pooling::Guided)];
        if ranked {
            poolings.push(("ranked", Pooling::Ranked));
        }
        for pooling in poolings {
            // the chosen candidate was scored above: look it up, do not re-run the engine
            let chosen = choose(cands, lang, pooling.1)
                .and_then(|c| cands.iter().position(|x| std::ptr::eq(x, c)))
                .map(|i| scored[i])
                .unwrap_or_default();
            methods.entry(pooling.0.into()).or_default().push(chosen);
        }
        let any = Metrics {
            exact: scored.iter().any(|s| s.exact),
            sketch: scored.iter().any(|s| s.sketch),
            exec: scored.iter().any(|s| s.exec),
            bifi: scored.iter().any(|s| s.bifi),
            known: scored.iter().filter_map(|s| s.known).reduce(|a, b| a || b),
        };
        let repaired: Vec<f64> = cands.iter().zip(&scored).filter(|(_, s)| headline.get(s)).map(|(c, _)| c.level).collect();
        let longer = item.broken.chars().count().max(item.truth.chars().count()).max(1);
        per_item.push(ItemResult {
            id: item.id.clone(),
            fix_distance: char_edit_distance(&item.broken, &item.truth) as f64 / longer as f64,
            repaired_levels: repaired.iter().copied().reduce(f64::min).zip(repaired.iter().copied().reduce(f64::max)),
        });
        methods.entry("any".into()).or_default().push(any);
        if ranked {
            let order = crate::repair::ranked(cands, lang);
            let first_right =
                order.iter().position(|c| cands.iter().position(|x| std::ptr::eq(x, *c)).is_some_and(|i| headline.get(&scored[i])));
            ranked_ranks.push(first_right);
        }
        for (li, level) in levels.iter().enumerate() {
            let at: Vec<(&Candidate, Metrics)> =
                cands.iter().zip(&scored).filter(|(c, _)| c.level == *level).map(|(c, s)| (c, *s)).collect();
            // the first sample; with several localised variants per sample, the
            // one guided pooling picks among them
            let first: Vec<Candidate> = at.iter().filter(|(c, _)| c.sample == 0).map(|(c, _)| (*c).clone()).collect();
            let chosen = choose(&first, lang, Pooling::Guided).and_then(|c| first.iter().position(|x| std::ptr::eq(x, c)));
            let first_metrics: Vec<Metrics> = at.iter().filter(|(c, _)| c.sample == 0).map(|(_, s)| *s).collect();
            per_level[li].push(chosen.map(|i| first_metrics[i]).unwrap_or_default());
            per_sample[li].push(at.iter().map(|(c, s)| (c.sample, *s)).collect());
        }
    }
    let by_level: Vec<(f64, Rates)> = levels.iter().zip(&per_level).map(|(l, ms)| (*l, Rates::of(ms))).collect();
    // level 0 holds edit proposals, not chains: it is reported, but `best` and
    // pass@k are about the model's samples (unless nothing else was run)
    let chains = |level: f64| level > 0.0 || levels.iter().all(|&l| l == 0.0);
    let best = by_level
        .iter()
        .enumerate()
        .filter(|(_, (level, _))| chains(*level))
        .max_by(|a, b| headline.rate(&a.1 .1).total_cmp(&headline.rate(&b.1 .1)).then(b.0.cmp(&a.0)));
    let (best_index, best_level) = best.map(|(i, (l, _))| (i, *l)).unwrap_or((0, 0.0));
    let mut report_methods: BTreeMap<String, Rates> = methods.iter().map(|(k, v)| (k.clone(), Rates::of(v))).collect();
    if let Some(ms) = per_level.get(best_index) {
        report_methods.insert("best".into(), Rates::of(ms));
    }
    let best_per_item = per_level.get(best_index).cloned().unwrap_or_else(|| vec![Metrics::default(); items.len()]);
    // pass@k needs k samples per level: larger k are left out, not faked
    let samples = candidates.iter().flatten().flatten().map(|c| c.sample + 1).max().unwrap_or(0);
    let pass_at = [1usize, 3, 5]
        .into_iter()
        .filter(|&k| k <= samples.max(1))
        .map(|k| {
            let samples = per_sample.get(best_index).map(Vec::as_slice).unwrap_or(&[]);
            let passed = samples.iter().filter(|s| s.iter().any(|(sample, m)| *sample < k && headline.get(m))).count();
            (k, passed as f64 / items.len().max(1) as f64)
        })
        .collect();
    let ranked_at: BTreeMap<usize, f64> = match ranked {
        true => [1usize, 3, 5]
            .into_iter()
            .map(|k| (k, ranked_ranks.iter().filter(|r| r.is_some_and(|r| r < k)).count() as f64 / items.len().max(1) as f64))
            .collect(),
        false => BTreeMap::new(),
    };
    let kinds: Vec<&str> = items.par_iter().map(|item| kind_of(lang, item)).collect();
    let mut per_method = methods.clone();
    per_method.insert("best".into(), best_per_item.clone());
    let by_kind = rates_by_kind(&kinds, &per_method, |m| headline.get(m));
    let report = EvalReport {
        lang: lang.id(),
        headline,
        items: items.len(),
        skipped: candidates.iter().filter(|c| c.is_none()).count(),
        methods: report_methods,
        by_level,
        best_level,
        pass_at,
        ranked_at,
        per_item,
        localised: None,
        by_kind,
    };
    let guided = methods.remove("guided").unwrap_or_default();
    (report, ItemOutcomes { best: best_per_item, guided })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    #[test]
    fn methods_and_levels_on_crafted_candidates() {
        let excel = LangId::Excel.language();
        let items = vec![
            BenchItem { id: "t/0".into(), broken: "=SUM(A1:A3".into(), truth: "=SUM(A1:A3)".into() },
            BenchItem { id: "t/1".into(), broken: "=A1+".into(), truth: "=A1+1".into() },
        ];
        let c = |level: f64, sample: usize, text: &str| Candidate {
            level,
            sample,
            text: text.into(),
            valid: excel.check(text).is_ok(),
            token_edit_distance: 1,
            plausibility: None,
            preferred: false,
        };
        let candidates = vec![
            Some(vec![c(0.1, 0, "=SUM(A1:A3)"), c(0.1, 1, "=SUM(A1:A4)"), c(0.1, 2, "=SUM(A1:A5)"), c(0.5, 0, "=MAX(A1:A3)")]),
            Some(vec![c(0.1, 0, "=A1+2"), c(0.1, 1, "=A1+1"), c(0.5, 0, "=A1+1")]),
        ];
        let report = evaluate(excel, &items, &candidates, false);
        assert_eq!(report.methods["identity"].exact, 0.0);
        assert_eq!(report.methods["rule_based"].exact, 0.5, "closes the parenthesis, cannot invent `1`");
        assert_eq!(report.methods["any"].exact, 1.0);
        assert_eq!(report.methods["rule_based"].sketch, 0.5, "`=A1` and `=A1+1` differ in sketch (`=` vs `=+`)");
        assert_eq!(report.best_level, 0.1, "ties go to the lower level");
        assert_eq!(report.by_level.len(), 2);
        assert_eq!(report.pass_at[&1], 0.5);
        assert_eq!(report.pass_at[&3], 1.0);
        assert_eq!(report.pass_at.keys().copied().collect::<Vec<_>>(), [1, 3], "three samples drawn: no pass@5");
        assert_eq!(report.headline, Headline::Exec);
        assert_eq!(report.per_item[0].repaired_levels, Some((0.1, 0.1)));
        assert_eq!(report.per_item[1].repaired_levels, Some((0.1, 0.5)), "sample 1 at 0.1, sample 0 at 0.5");
        assert!((report.per_item[0].fix_distance - 1.0 / 11.0).abs() < 1e-12);
    }

    #[test]
    fn python_is_scored_by_the_bifi_metric() {
        let python = LangId::Python.language();
        let broken = "def f(x)\n    return x";
        let items = vec![BenchItem { id: "p/0".into(), broken: broken.into(), truth: "def f(x):\n    return x + 1".into() }];
        let c = |level: f64, text: &str| Candidate {
            level,
            sample: 0,
            text: text.into(),
            valid: python.check(text).is_ok(),
            token_edit_distance: 1,
            plausibility: None,
            preferred: false,
        };
        // a plausible fix that is not the human one passes BIFI but not exact;
        // a parsing rewrite far from the input passes neither
        let candidates = vec![Some(vec![c(0.1, "def f(x):\n    return x"), c(0.3, "y = [1, 2, 3, 4, 5, 6]")])];
        let report = evaluate(python, &items, &candidates, false);
        assert_eq!(report.headline, Headline::Bifi);
        assert_eq!(report.by_level[0].1.bifi, 1.0);
        assert_eq!(report.by_level[0].1.exact, 0.0);
        assert_eq!(report.by_level[1].1.bifi, 0.0, "valid, but more than 4 token edits away");
        assert_eq!(report.best_level, 0.1);
        assert_eq!(report.pass_at[&1], 1.0);
        assert_eq!(report.methods["identity"].bifi, 0.0, "the input itself does not parse");
    }
}

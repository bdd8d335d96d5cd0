//! The data-quality report (`make data-quality`, the repair paper's Table 4
//! analog): fixers trained on different pair sources with one recipe, several
//! seeds each, scored on one benchmark. Per training regime (fixers trained from
//! scratch, `<source>-s<seed>`; fixers fine-tuned from the pretrained fixer,
//! `<source>-pretrained-s<seed>`): mean ± spread per source and McNemar's exact test
//! on the paired per-item outcomes between sources, for the top beam and for
//! checker-guided decoding (the valid beam closest to the input); each source's
//! rate per edit family of the benchmark items; and runs on a set number of pairs
//! (`<source>-n<pairs>`) side by side.

mod breakdown;
mod markdown;
mod paired;

pub use breakdown::{FamilyRow, ScalingRow};
pub use paired::mcnemar_exact;

use super::ranked::{FixerEvalRun, FixerPrediction};
use crate::stats::families::{classify_at_error, EditFamily};
use paired::{compare, Runs};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What can go wrong reading the runs.
#[derive(Debug, thiserror::Error)]
pub enum DataQualityError {
    /// A results file is missing or unreadable.
    #[error("{path}: {reason}")]
    Results {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The runs do not score the same items.
    #[error("{0}")]
    Mismatch(String),
}

/// One source's fixers.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSummary {
    /// The source's name (the run directory's name without `-s<seed>` and the regime).
    pub source: String,
    /// Headline rate of the decoding, per seed (seed order).
    pub by_seed: BTreeMap<u64, f64>,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds (0 for one seed).
    pub std: f64,
    /// Mean pass@k over seeds.
    pub pass_at: BTreeMap<usize, f64>,
    /// Mean rate of the rule-based fixer (the same for every run: a check).
    pub rule_based: f64,
}

/// McNemar's exact test between two sources on the same items.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    /// The first source.
    pub a: String,
    /// The second source.
    pub b: String,
    /// Seed (`None`: all seeds' item pairs pooled).
    pub seed: Option<u64>,
    /// Items only `a`'s fixer got right.
    pub only_a: usize,
    /// Items only `b`'s fixer got right.
    pub only_b: usize,
    /// Two-sided exact p-value (binomial, p = 1/2, on the discordant items).
    pub p_value: f64,
}

/// How a regime's fixers were trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// Trained from random weights (`<source>-s<seed>`).
    FromScratch,
    /// Fine-tuned from the pretrained fixer (`<source>-pretrained-s<seed>`).
    Pretrained,
}

impl Regime {
    /// The regime of a run's source name, and the name without the regime.
    fn of(source: &str) -> (Regime, &str) {
        match source.strip_suffix("-pretrained") {
            Some(name) => (Regime::Pretrained, name),
            None => (Regime::FromScratch, source),
        }
    }
}

/// The comparison within one training regime.
#[derive(Debug, Clone, Serialize)]
pub struct RegimeReport {
    /// The regime.
    pub regime: Regime,
    /// Per source, in name order (top beam).
    pub sources: Vec<SourceSummary>,
    /// Every pair of sources, per seed and pooled (top beam).
    pub paired: Vec<Paired>,
    /// [`Self::sources`] for checker-guided decoding (empty when a run did
    /// not record it).
    pub guided_sources: Vec<SourceSummary>,
    /// [`Self::paired`] for checker-guided decoding.
    pub guided_paired: Vec<Paired>,
    /// Each source's top-beam rate per edit family of the benchmark items.
    pub families: Vec<FamilyRow>,
    /// Runs on a set number of pairs (`<source>-n<pairs>`), by pair count.
    pub scaling: Vec<ScalingRow>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct DataQualityReport {
    /// The benchmark.
    pub bench: PathBuf,
    /// Items.
    pub items: usize,
    /// The headline metric's name.
    pub metric: String,
    /// Per training regime, from scratch first.
    pub regimes: Vec<RegimeReport>,
}

/// Splits `name-s<seed>` into `(name, seed)`.
fn source_and_seed(dir: &str) -> Option<(String, u64)> {
    let (name, seed) = dir.rsplit_once("-s")?;
    Some((name.to_string(), seed.parse().ok()?))
}

/// The edit family of each item a run scored, from its `predictions.jsonl`
/// (the slip at the checker's error, as `lastmile stats` classifies pairs).
fn item_families(run: &FixerEvalRun, eval_dir: &Path) -> Result<Vec<EditFamily>, DataQualityError> {
    let path = eval_dir.join("predictions.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| DataQualityError::Results { path: path.clone(), reason: e.to_string() })?;
    let lang = run.report.lang.language();
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let p: FixerPrediction = serde_json::from_str(line)
                .map_err(|e| DataQualityError::Results { path: path.clone(), reason: format!("line {}: {e}", i + 1) })?;
            Ok(classify_at_error(lang, &p.broken, &p.truth))
        })
        .collect()
}

/// Reads every `<source>-s<seed>/eval/results.json` under `root` and builds the report.
pub fn data_quality_report(root: &Path) -> Result<DataQualityReport, DataQualityError> {
    let err = |path: &Path, reason: String| DataQualityError::Results { path: path.to_path_buf(), reason };
    let mut runs: BTreeMap<Regime, Runs> = BTreeMap::new();
    let mut first_eval: Option<PathBuf> = None;
    let entries = std::fs::read_dir(root).map_err(|e| err(root, e.to_string()))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for dir in dirs {
        let Some((source, seed)) = dir.file_name().and_then(|n| source_and_seed(&n.to_string_lossy())) else { continue };
        let path = dir.join("eval").join("results.json");
        if !path.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e.to_string()))?;
        let run: FixerEvalRun = serde_json::from_str(&text).map_err(|e| err(&path, e.to_string()))?;
        first_eval.get_or_insert_with(|| dir.join("eval"));
        let (regime, name) = Regime::of(&source);
        runs.entry(regime).or_default().entry(name.to_string()).or_default().insert(seed, run);
    }
    let first = runs
        .values()
        .flat_map(|r| r.values().flat_map(|r| r.values()))
        .next()
        .ok_or_else(|| err(root, "no <source>-s<seed>/eval/results.json".into()))?;
    let (bench, items, headline) = (first.bench.clone(), first.top1.len(), first.report.headline);
    for (regime, by_source) in &runs {
        for (source, by_seed) in by_source {
            for (seed, run) in by_seed {
                if run.top1.len() != items || run.bench != bench {
                    let suffix = if *regime == Regime::Pretrained { "-pretrained" } else { "" };
                    return Err(DataQualityError::Mismatch(format!(
                        "{source}{suffix}-s{seed} scored another benchmark ({})",
                        run.bench.display()
                    )));
                }
            }
        }
    }
    let families = item_families(first, first_eval.as_deref().expect("a run was read"))?;
    if families.len() != items {
        return Err(DataQualityError::Mismatch(format!("predictions.jsonl holds {} items, results.json {items}", families.len())));
    }
    let regimes = runs
        .into_iter()
        .map(|(regime, all)| {
            let scaling = breakdown::scaling(&all, items);
            let main: Runs = all.into_iter().filter(|(source, _)| breakdown::scaled_source(source).is_none()).collect();
            let (sources, paired) = compare(&main, items, headline, |r| &r.top1);
            let every_guided = main.values().flat_map(|r| r.values()).all(|r| r.guided.len() == items);
            let (guided_sources, guided_paired) =
                if every_guided { compare(&main, items, headline, |r| &r.guided) } else { (Vec::new(), Vec::new()) };
            let families = breakdown::by_family(&main, &families);
            RegimeReport { regime, sources, paired, guided_sources, guided_paired, families, scaling }
        })
        .collect();
    Ok(DataQualityReport { bench, items, metric: headline.name().into(), regimes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{ranked_candidates, score_beams};
    use crate::lang::LangId;

    /// A fixer run on the first items of the real PowerShell benchmark (scored
    /// without an engine, so the test is quick): the items in `right` get the
    /// human fix as their top beam, the others their input back.
    fn write_run(root: &Path, name: &str, right: &[usize]) {
        let bench = crate::repo_file("corpora/benchmarks/repair/powershell.json");
        let items: Vec<_> = crate::dataset::load_bench(&bench).unwrap().into_iter().take(8).collect();
        let lang = LangId::Powershell.language();
        let candidates: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let top = if right.contains(&i) { &item.truth } else { &item.broken };
                Some(ranked_candidates(lang, &item.broken, &[top.clone(), item.broken.clone()]))
            })
            .collect();
        let run = score_beams(lang, &items, &candidates, 2, 1.0, &bench, &root.join(name));
        run.write(&root.join(name).join("eval")).unwrap();
    }

    #[test]
    fn the_report_compares_sources_within_each_regime_by_family_and_by_pair_count() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), "lastmile-s0", &[0, 1, 2, 3]);
        write_run(dir.path(), "rules-s0", &[0, 1]);
        write_run(dir.path(), "lastmile-pretrained-s0", &[0, 1, 2, 3, 4, 5]);
        write_run(dir.path(), "lastmile-pretrained-s1", &[0, 1, 2, 3, 4]);
        write_run(dir.path(), "rules-pretrained-s0", &[0, 1, 2]);
        write_run(dir.path(), "rules-pretrained-s1", &[0, 1, 2]);
        write_run(dir.path(), "lastmile-n5000-pretrained-s0", &[0]);
        write_run(dir.path(), "rules-n5000-pretrained-s0", &[0, 1]);
        let report = data_quality_report(dir.path()).unwrap();
        assert_eq!(report.items, 8);
        let regimes: Vec<Regime> = report.regimes.iter().map(|r| r.regime).collect();
        assert_eq!(regimes, [Regime::FromScratch, Regime::Pretrained]);
        let pretrained = &report.regimes[1];
        let names: Vec<&str> = pretrained.sources.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(names, ["lastmile", "rules"], "runs on a set number of pairs stay out of the main table");
        assert!((pretrained.sources[0].mean - 5.5 / 8.0).abs() < 1e-12);
        let pooled = pretrained.paired.iter().find(|p| p.seed.is_none()).unwrap();
        assert_eq!((pooled.only_a, pooled.only_b), (5, 0), "seeds 0 and 1 pooled, within the regime only");
        assert!(report.regimes[0].paired.iter().all(|p| p.a != p.b && !p.a.contains("pretrained")));
        assert_eq!(pretrained.families.iter().map(|f| f.items).sum::<usize>(), 8, "every item in one family");
        assert_eq!(pretrained.scaling.len(), 1);
        assert_eq!(pretrained.scaling[0].pairs, 5000);
        assert_eq!(pretrained.scaling[0].by_source["rules"], 2.0 / 8.0);
        let md = report.markdown(Some(60.0));
        for heading in [
            "## Fixers trained from scratch",
            "## Fixers fine-tuned from the pretrained fixer",
            "### By edit family",
            "### By number of training pairs",
        ] {
            assert!(md.contains(heading), "{heading} in\n{md}");
        }
        assert!(md.contains("| 5000 | 12.5 | 25.0 | -12.5 |"), "{md}");
    }

    #[test]
    fn run_names_split_into_source_and_seed() {
        assert_eq!(source_and_seed("lastmile-s2"), Some(("lastmile".into(), 2)));
        assert_eq!(source_and_seed("mix-50-50-s0"), Some(("mix-50-50".into(), 0)));
        assert_eq!(source_and_seed("notes"), None);
        assert_eq!(Regime::of("rules-pretrained"), (Regime::Pretrained, "rules"));
        assert_eq!(Regime::of("lastmile-n5000-pretrained"), (Regime::Pretrained, "lastmile-n5000"));
        assert_eq!(Regime::of("rules"), (Regime::FromScratch, "rules"));
    }
}

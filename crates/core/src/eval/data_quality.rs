//! The data-quality report (`make data-quality`, the repair paper's Table 4
//! analog): fixers trained on different pair sources with one recipe, several
//! seeds each, scored on one benchmark. Mean ± spread per source and McNemar's
//! exact test on the paired per-item outcomes between sources, for the top
//! beam and for checker-guided decoding (the valid beam closest to the input).

use super::ranked::FixerEvalRun;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
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
    /// The source's name (the run directory's name without `-s<seed>`).
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

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct DataQualityReport {
    /// The benchmark.
    pub bench: PathBuf,
    /// Items.
    pub items: usize,
    /// The headline metric's name.
    pub metric: String,
    /// Per source, in name order.
    pub sources: Vec<SourceSummary>,
    /// Every pair of sources, per seed and pooled.
    pub paired: Vec<Paired>,
    /// [`Self::sources`] for checker-guided decoding (empty when a run did
    /// not record it).
    pub guided_sources: Vec<SourceSummary>,
    /// [`Self::paired`] for checker-guided decoding.
    pub guided_paired: Vec<Paired>,
}

/// Runs by source and seed.
type Runs = BTreeMap<String, BTreeMap<u64, FixerEvalRun>>;

/// Per source mean ± std of one decoding's per-item outcomes (`outcome`), and
/// McNemar's test between every two sources, per seed and pooled.
fn compare(
    runs: &Runs,
    items: usize,
    headline: super::harness::Headline,
    outcome: fn(&FixerEvalRun) -> &[bool],
) -> (Vec<SourceSummary>, Vec<Paired>) {
    let sources = runs
        .iter()
        .map(|(source, by_seed)| {
            let rates: BTreeMap<u64, f64> =
                by_seed.iter().map(|(s, r)| (*s, outcome(r).iter().filter(|&&x| x).count() as f64 / items as f64)).collect();
            let n = rates.len() as f64;
            let mean = rates.values().sum::<f64>() / n;
            let std = if rates.len() > 1 { (rates.values().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
            let mut pass_at: BTreeMap<usize, f64> = BTreeMap::new();
            for run in by_seed.values() {
                for (k, p) in &run.report.pass_at {
                    *pass_at.entry(*k).or_default() += p / n;
                }
            }
            let rule_based = by_seed.values().map(|r| headline.rate(&r.report.methods["rule_based"])).sum::<f64>() / n;
            SourceSummary { source: source.clone(), by_seed: rates, mean, std, pass_at, rule_based }
        })
        .collect();
    let names: Vec<&String> = runs.keys().collect();
    let mut paired = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let (mut pooled_a, mut pooled_b) = (0, 0);
            for (seed, run_a) in &runs[*a] {
                let Some(run_b) = runs[*b].get(seed) else { continue };
                let (xs, ys) = (outcome(run_a), outcome(run_b));
                let only_a = xs.iter().zip(ys).filter(|(x, y)| **x && !**y).count();
                let only_b = xs.iter().zip(ys).filter(|(x, y)| !**x && **y).count();
                pooled_a += only_a;
                pooled_b += only_b;
                paired.push(Paired {
                    a: (*a).clone(),
                    b: (*b).clone(),
                    seed: Some(*seed),
                    only_a,
                    only_b,
                    p_value: mcnemar_exact(only_a, only_b),
                });
            }
            paired.push(Paired {
                a: (*a).clone(),
                b: (*b).clone(),
                seed: None,
                only_a: pooled_a,
                only_b: pooled_b,
                p_value: mcnemar_exact(pooled_a, pooled_b),
            });
        }
    }
    (sources, paired)
}

/// Two-sided exact McNemar p-value for `b` and `c` discordant items.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    // P(X <= min(b, c)) for X ~ Binomial(n, 1/2), in log space for large n
    let k = b.min(c);
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Splits `name-s<seed>` into `(name, seed)`.
fn source_and_seed(dir: &str) -> Option<(String, u64)> {
    let (name, seed) = dir.rsplit_once("-s")?;
    Some((name.to_string(), seed.parse().ok()?))
}

/// Reads every `<source>-s<seed>/eval/results.json` under `root` and builds the report.
pub fn data_quality_report(root: &Path) -> Result<DataQualityReport, DataQualityError> {
    let err = |path: &Path, reason: String| DataQualityError::Results { path: path.to_path_buf(), reason };
    let mut runs: Runs = BTreeMap::new();
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
        runs.entry(source).or_default().insert(seed, run);
    }
    let first = runs.values().flat_map(|r| r.values()).next().ok_or_else(|| err(root, "no <source>-s<seed>/eval/results.json".into()))?;
    let (bench, items, headline) = (first.bench.clone(), first.top1.len(), first.report.headline);
    for (source, by_seed) in &runs {
        for (seed, run) in by_seed {
            if run.top1.len() != items || run.bench != bench {
                return Err(DataQualityError::Mismatch(format!("{source}-s{seed} scored another benchmark ({})", run.bench.display())));
            }
        }
    }
    let (sources, paired) = compare(&runs, items, headline, |r| &r.top1);
    let every_guided = runs.values().flat_map(|r| r.values()).all(|r| r.guided.len() == items);
    let (guided_sources, guided_paired) =
        if every_guided { compare(&runs, items, headline, |r| &r.guided) } else { (Vec::new(), Vec::new()) };
    Ok(DataQualityReport { bench, items, metric: headline.name().into(), sources, paired, guided_sources, guided_paired })
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

impl DataQualityReport {
    /// The Markdown report; `seconds` (the whole comparison's wall clock) when known.
    pub fn markdown(&self, seconds: Option<f64>) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Data quality: fixers trained on each pair source\n");
        let _ = writeln!(
            md,
            "One fixer recipe (`lastmile fixer train`), only the pairs differ; scored on `{}` ({} items) by **{}** of the top beam.{}\n",
            self.bench.display(),
            self.items,
            self.metric,
            seconds.map(|s| format!(" The comparison took {:.1} min.", s / 60.0)).unwrap_or_default()
        );
        Self::tables(&mut md, &self.sources, &self.paired);
        if !self.guided_sources.is_empty() {
            let _ = writeln!(
                md,
                "\n## Checker-guided decoding\n\nThe same fixers, each item's answer the beam that passes the language's checker and is closest to the input (`guided`, as `eval repair` pools its candidates).\n"
            );
            Self::tables(&mut md, &self.guided_sources, &self.guided_paired);
        }
        md
    }

    /// The per-source table and the paired tests of one decoding.
    fn tables(md: &mut String, sources: &[SourceSummary], paired: &[Paired]) {
        let seeds: Vec<u64> =
            sources.iter().flat_map(|s| s.by_seed.keys().copied()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let seed_cols: String = seeds.iter().map(|s| format!(" seed {s} |")).collect();
        let _ = writeln!(md, "| source | mean ± std (points) |{seed_cols} pass@1 | pass@3 | pass@5 |");
        let _ = writeln!(md, "|---|---:|{}---:|---:|---:|", "---:|".repeat(seeds.len()));
        for s in sources {
            let cells: String = seeds.iter().map(|k| s.by_seed.get(k).map_or(" n/a |".into(), |r| format!(" {} |", pct(*r)))).collect();
            let p = |k| s.pass_at.get(&k).map_or("n/a".into(), |x| pct(*x));
            let _ = writeln!(md, "| {} | {} ± {} |{cells} {} | {} | {} |", s.source, pct(s.mean), pct(s.std), p(1), p(3), p(5));
        }
        if let Some(s) = sources.first() {
            let _ = writeln!(md, "\nRule-based fixer (no training) on the same items: {}.", pct(s.rule_based));
        }
        let _ = writeln!(md, "\n### Paired test (McNemar, exact, two-sided)\n\n| a | b | seed | only a right | only b right | p |\n|---|---|---:|---:|---:|---:|");
        for p in paired {
            let seed = p.seed.map_or("pooled".into(), |s| s.to_string());
            let _ = writeln!(md, "| {} | {} | {seed} | {} | {} | {:.3} |", p.a, p.b, p.only_a, p.only_b, p.p_value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // b = 0, c = 5: 2 * 0.5^5 = 0.0625
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-12);
        // b = 1, c = 9: 2 * (1 + 10) / 1024
        assert!((mcnemar_exact(9, 1) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert!(mcnemar_exact(400, 500) < 0.01 && mcnemar_exact(400, 500) > 0.0);
    }

    #[test]
    fn run_names_split_into_source_and_seed() {
        assert_eq!(source_and_seed("lastmile-s2"), Some(("lastmile".into(), 2)));
        assert_eq!(source_and_seed("mix-50-50-s0"), Some(("mix-50-50".into(), 0)));
        assert_eq!(source_and_seed("notes"), None);
    }
}

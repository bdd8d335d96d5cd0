//! Reports of repair evaluations: `results.json` (one [`EvalRun`]), the
//! Markdown tables in the repair paper's shapes — Table 1 (methods × metrics,
//! published numbers in the same table) and Table 3 (pass@k) — and the PNG
//! figures: Figure 5 (headline metric per noise level, best level marked) and
//! Figure 6 (lowest and highest noise level that repaired each item against
//! the size of its human fix). [`summary`] puts several runs side by side.

use super::published::published;
use super::{EvalReport, Rates};
use crate::plot::{line_chart, LineChart, PlotError, Series};
use crate::repair::RepairConfig;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One evaluation run, as written to `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalRun {
    /// The benchmark file or directory.
    pub bench: PathBuf,
    /// The checkpoint directory.
    pub checkpoint: PathBuf,
    /// Levels, samples and sampler.
    pub config: RepairConfig,
    /// Wall-clock seconds of the repairs (model time, not scoring).
    pub seconds: f64,
    /// Diffusion repairs (inputs × levels × samples) per second.
    pub repairs_per_s: f64,
    /// The scores.
    pub report: EvalReport,
    /// Each method's answer to every item (`paper`, then `localised`),
    /// written as `predictions-<method>.jsonl` beside `results.json`.
    #[serde(skip)]
    pub chosen: Vec<(String, Vec<super::ChosenRepair>)>,
}

/// Method rows in table order, with their display names.
const METHODS: [(&str, &str); 7] = [
    ("identity", "identity (input unchanged)"),
    ("rule_based", "rule-based fixer"),
    ("best", "diffusion, best level"),
    ("vote", "diffusion, vote"),
    ("guided", "diffusion, guided (ours)"),
    ("ranked", "diffusion, ranked by plausibility"),
    ("any", "diffusion, any (oracle)"),
];

/// A rate as a percentage with one decimal.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The header and alignment rows of a metrics table whose first column is
/// `first`; with `known`, the column of [`Rates::known`] too.
pub(crate) fn metric_columns(first: &str, known: bool) -> String {
    let (name, align) = if known { (" commands known |", "---:|") } else { ("", "") };
    format!("| {first} | exact | sketch | exec | bifi |{name}\n|---|---:|---:|---:|---:|{align}")
}

/// The metric cells of one row, `commands known` included where it was measured.
pub(crate) fn metric_cells(rates: &Rates) -> String {
    let mut cells = format!(" {} | {} | {} | {} |", pct(rates.exact), pct(rates.sketch), pct(rates.exec), pct(rates.bifi));
    if let Some(known) = rates.known {
        cells.push_str(&format!(" {} |", pct(known)));
    }
    cells
}

/// pass@k as a percentage, `n/a` where the run drew fewer than k samples.
fn pass_at(report: &EvalReport, k: usize) -> String {
    report.pass_at.get(&k).map_or_else(|| "n/a".into(), |&p| pct(p))
}

/// The Markdown report of one run.
pub fn markdown(run: &EvalRun) -> String {
    let r = &run.report;
    let mut md = String::new();
    let mut sampler = run.config.sampler.describe();
    if let Some(readout) = &run.config.constrained {
        let (top_k, budget, cost) = (readout.top_k, readout.budget, readout.edit_cost);
        let _ = write!(sampler, ", the paper's chains read out under the checker (top {top_k}, {budget} tries, edit cost {cost} nats)");
    }
    let _ = writeln!(md, "# Repair: `{}` ({})\n", run.bench.display(), r.lang.name());
    let _ = writeln!(
        md,
        "{} items ({} longer than the model's length, counted as failures); checkpoint `{}`; levels {:?}, k = {}, {sampler}; {:.1} s, {:.2} repairs/s.\n",
        r.items,
        r.skipped,
        run.checkpoint.display(),
        run.config.levels,
        run.config.samples,
        run.seconds,
        run.repairs_per_s
    );
    let _ = writeln!(md, "Headline metric: **{}** (`best` and pass@k use it).\n", r.headline.name());
    let known = r.methods.values().any(|rates| rates.known.is_some());
    let _ = writeln!(md, "{}", metric_columns("method", known));
    for (key, name) in METHODS {
        if let Some(rates) = r.methods.get(key) {
            let name = if key == "best" { format!("{name} ({:.2})", r.best_level) } else { name.to_string() };
            let _ = writeln!(md, "| {name} |{}", metric_cells(rates));
        }
    }
    if let Some(l) = &r.localised {
        for (key, name) in METHODS.iter().filter(|(key, _)| !matches!(*key, "identity" | "rule_based")) {
            if let Some(rates) = l.methods.get(*key) {
                let name = if *key == "best" { format!("{name} ({:.2})", l.best_level) } else { name.to_string() };
                let _ = writeln!(md, "| localised {name} |{}", metric_cells(rates));
            }
        }
    }
    for p in published(r.lang) {
        let cells: String = ["exact", "sketch", "exec", "bifi"]
            .iter()
            .map(|&name| if name == r.headline.name() { format!(" {} |", pct(p.rate)) } else { " |".into() })
            .chain(known.then(|| " |".to_string()))
            .collect();
        let _ = writeln!(md, "| {} |{cells}", p.system);
    }
    let _ = writeln!(md, "\n## pass@k ({}, best level {:.2})\n\n| k | 1 | 3 | 5 |\n|---|---:|---:|---:|", r.headline.name(), r.best_level);
    let _ = writeln!(md, "| diffusion | {} | {} | {} |", pass_at(r, 1), pass_at(r, 3), pass_at(r, 5));
    if let Some(l) = &r.localised {
        let _ = writeln!(md, "| localised (level {:.2}) | {} | {} | {} |", l.best_level, pass_at(l, 1), pass_at(l, 3), pass_at(l, 5));
    }
    for (name, report) in std::iter::once(("diffusion", r)).chain(r.localised.as_deref().map(|l| ("localised", l))) {
        if !report.ranked_at.is_empty() {
            let at = |k: usize| report.ranked_at.get(&k).map_or_else(|| "n/a".into(), |&p| pct(p));
            let _ = writeln!(md, "| {name}, ranked: first k answers | {} | {} | {} |", at(1), at(3), at(5));
        }
    }
    by_kind_table(&mut md, r);
    let _ = writeln!(md, "\n## By noise level (first sample)\n\n{}", metric_columns("t / T", known));
    for (level, rates) in &r.by_level {
        let mark = if *level == r.best_level { " (best)" } else { "" };
        let _ = writeln!(md, "| {level:.2}{mark} |{}", metric_cells(rates));
    }
    let repaired = r.per_item.iter().filter(|i| i.repaired_levels.is_some()).count();
    let _ = writeln!(md, "\n{repaired} of {} items repaired at some level by {} (Figure 6).", r.items, r.headline.name());
    md
}

/// The methods of the by-kind table: (report, method key, column name); the
/// localised method's columns where it was run.
fn kind_columns(r: &EvalReport) -> Vec<(&EvalReport, &'static str, &'static str)> {
    let mut columns = vec![(r, "rule_based", "rule-based"), (r, "guided", "guided"), (r, "any", "any (oracle)")];
    if let Some(l) = &r.localised {
        columns.extend([(&**l, "best", "localised, best level"), (&**l, "guided", "localised, guided")]);
        if l.methods.contains_key("ranked") {
            columns.push((&**l, "ranked", "localised, ranked"));
        }
        columns.push((&**l, "any", "localised, any"));
    }
    columns
}

/// The benchmark split by kind of mistake ([`super::families`]): items and each
/// method's headline rate per kind.
fn by_kind_table(md: &mut String, r: &EvalReport) {
    if r.by_kind.is_empty() {
        return;
    }
    let columns = kind_columns(r);
    let _ = writeln!(md, "\n## By kind of mistake ({})\n", r.headline.name());
    let names: String = columns.iter().map(|(_, _, name)| format!(" {name} |")).collect();
    let _ = writeln!(md, "| kind | items |{names}\n|---|---:|{}", "---:|".repeat(columns.len()));
    for row in &r.by_kind {
        let cells: String = columns
            .iter()
            .map(|(report, key, _)| {
                let rate = report.by_kind.iter().find(|k| k.kind == row.kind).and_then(|k| k.rates.get(*key));
                rate.map_or_else(|| " |".to_string(), |&x| format!(" {} |", pct(x)))
            })
            .collect();
        let _ = writeln!(md, "| {} | {} |{cells}", row.kind, row.items);
    }
}

/// Writes Figure 5 (`by_level.png`) and Figure 6 (`repair_levels.png`) into `dir`;
/// returns the files written (none when no level was evaluated).
pub fn figures(run: &EvalRun, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let r = &run.report;
    let mut written = Vec::new();
    if r.by_level.is_empty() {
        return Ok(written);
    }
    let rate = |f: fn(&Rates) -> f64| r.by_level.iter().map(|(l, rates)| (*l, f(rates))).collect::<Vec<_>>();
    let headline = r.headline;
    let best = r.by_level.iter().find(|(l, _)| *l == r.best_level).map(|(l, rates)| (*l, headline.rate(rates)));
    let title = format!("{} match vs noise level ({})", headline.name(), r.lang.name());
    let figure5 = LineChart {
        title: &title,
        x_label: "noise level t / T",
        y_label: "fraction of items (first sample)",
        series: vec![
            Series { label: headline.name().into(), points: r.by_level.iter().map(|(l, rates)| (*l, headline.rate(rates))).collect() },
            Series { label: "exact".into(), points: rate(|x| x.exact) },
            Series { label: "sketch".into(), points: rate(|x| x.sketch) },
        ],
        y_range: Some((0.0, 1.0)),
        markers: best.map(|p| Series { label: format!("best level {:.2}", p.0), points: vec![p] }).into_iter().collect(),
    };
    let path = dir.join("by_level.png");
    line_chart(&figure5, &path)?;
    written.push(path);
    let repaired: Vec<_> = r.per_item.iter().filter_map(|i| i.repaired_levels.map(|(lo, hi)| (i.fix_distance, lo, hi))).collect();
    if !repaired.is_empty() {
        let title = format!("noise levels that repaired each item ({})", r.lang.name());
        let figure6 = LineChart {
            title: &title,
            x_label: "normalised edit distance of the human fix",
            y_label: "noise level t / T",
            series: Vec::new(),
            y_range: Some((0.0, 1.0)),
            markers: vec![
                Series { label: "lowest level that repaired".into(), points: repaired.iter().map(|&(d, lo, _)| (d, lo)).collect() },
                Series { label: "highest level that repaired".into(), points: repaired.iter().map(|&(d, _, hi)| (d, hi)).collect() },
            ],
        };
        let path = dir.join("repair_levels.png");
        line_chart(&figure6, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Table 1 across runs: one row per method, per language the sketch and
/// headline columns, the published numbers as extra rows; then Table 3.
pub fn summary(runs: &[EvalRun]) -> String {
    let mut md = String::new();
    let mut header = String::from("| method |");
    let mut rule = String::from("|---|");
    for run in runs {
        let r = &run.report;
        let _ = write!(header, " {} sketch | {} {} |", r.lang.name(), r.lang.name(), r.headline.name());
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for (key, name) in METHODS {
        let _ = write!(md, "| {name} |");
        for run in runs {
            let r = &run.report;
            match r.methods.get(key) {
                Some(rates) => {
                    let _ = write!(md, " {} | {} |", pct(rates.sketch), pct(r.headline.rate(rates)));
                }
                None => md.push_str(" | |"),
            }
        }
        md.push('\n');
    }
    let mut systems: Vec<&str> = runs.iter().flat_map(|run| published(run.report.lang).iter().map(|p| p.system)).collect();
    systems.sort();
    systems.dedup();
    for system in systems {
        let _ = write!(md, "| {system} |");
        for run in runs {
            match published(run.report.lang).iter().find(|p| p.system == system) {
                Some(p) => {
                    let _ = write!(md, " | {} |", pct(p.rate));
                }
                None => md.push_str(" | |"),
            }
        }
        md.push('\n');
    }
    let _ = writeln!(md, "\n| pass@k (best level) | pass@1 | pass@3 | pass@5 |\n|---|---:|---:|---:|");
    for run in runs {
        let r = &run.report;
        let _ = writeln!(
            md,
            "| {} ({}, level {:.2}) | {} | {} | {} |",
            r.lang.name(),
            r.headline.name(),
            r.best_level,
            pass_at(r, 1),
            pass_at(r, 3),
            pass_at(r, 5)
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{evaluate, BenchItem};
    use crate::lang::LangId;
    use crate::repair::Candidate;

    fn run() -> EvalRun {
        let excel = LangId::Excel.language();
        let items = vec![
            BenchItem { id: "t/0".into(), broken: "=SUM(A1:A3".into(), truth: "=SUM(A1:A3)".into() },
            BenchItem { id: "t/1".into(), broken: "=A1+".into(), truth: "=A1+1".into() },
        ];
        let c = |level: f64, text: &str| Candidate {
            level,
            sample: 0,
            text: text.into(),
            valid: excel.check(text).is_ok(),
            token_edit_distance: 1,
            plausibility: None,
            preferred: false,
        };
        let candidates = vec![Some(vec![c(0.1, "=SUM(A1:A3)"), c(0.5, "=SUM(A1:A3)")]), None];
        let report = evaluate(excel, &items, &candidates, true);
        EvalRun {
            bench: "excel.json".into(),
            checkpoint: "ckpt".into(),
            config: RepairConfig::default(),
            seconds: 1.0,
            repairs_per_s: 2.0,
            report,
            chosen: Vec::new(),
        }
    }

    #[test]
    fn markdown_has_table_1_with_published_numbers_and_table_3() {
        let md = markdown(&run());
        assert!(md.contains("| diffusion, best level (0.10) | 50.0% | 50.0% | 50.0% | 50.0% |"), "{md}");
        assert!(md.contains("| CodeFusion 60M (paper) | | | 63.0% | |"), "{md}");
        assert!(md.contains("| diffusion | 50.0% | n/a | n/a |"), "one sample: pass@1 only: {md}");
        assert!(md.contains("| 0.10 (best) |"), "{md}");
        assert!(md.contains("1 longer than the model's length"), "{md}");
        assert!(md.contains("| bracket_end | 1 | 100.0% | 100.0% | 100.0% |"), "by kind: {md}");
        assert!(md.contains("| argument | 1 | 0.0% | 0.0% | 0.0% |"), "`=A1+` -> `=A1+1` adds an operand: {md}");
    }

    #[test]
    fn figures_are_written_and_runs_round_trip_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let run = run();
        let files = figures(&run, dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| std::fs::metadata(f).unwrap().len() > 5_000));
        let back: EvalRun = serde_json::from_slice(&serde_json::to_vec(&run).unwrap()).unwrap();
        assert_eq!(back.report.pass_at, run.report.pass_at);
        let table = summary(&[back.clone(), back]);
        assert!(table.starts_with("| method | excel sketch | excel exec | excel sketch | excel exec |"), "{table}");
        assert!(table.contains("| LaMirage (paper) | | 72.0% | | 72.0% |"), "{table}");
    }
}

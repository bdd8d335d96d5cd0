//! Ranked candidates scored by the same harness as diffusion repair
//! ([`super::evaluate`]): a seq2seq fixer's beams (`lastmile eval fixer`, run
//! by `fixer/`) or any model's predictions file (`lastmile eval predictions`)
//! are the candidates (one level, `sample` = rank), so exact, sketch, IronCalc
//! exec, BIFI, guided pooling and pass@k mean what they mean there.

use super::harness::{evaluate_per_item, EvalReport, Headline};
use super::report::pct;
use super::run::EvalWriteError;
use super::BenchItem;
use crate::dataset::write_file_atomic;
use crate::io_error::IoError;
use crate::lang::edit::token_edit_distance;
use crate::lang::Language;
use crate::repair::Candidate;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One fixer evaluation, as written to `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FixerEvalRun {
    /// The benchmark file or directory.
    pub bench: PathBuf,
    /// The fixer directory, or the predictions file (`eval predictions`).
    pub fixer: PathBuf,
    /// Beams per item (pass@k needs k).
    pub beam: usize,
    /// Wall-clock seconds of decoding (not scoring).
    pub seconds: f64,
    /// Per item, in benchmark order: whether the top beam is correct by the
    /// headline metric (the paired data of McNemar's test between fixers).
    pub top1: Vec<bool>,
    /// Per item: whether checker-guided decoding (the valid beam closest to
    /// the input) is correct by the headline metric; empty in runs of
    /// versions before it was recorded.
    #[serde(default)]
    pub guided: Vec<bool>,
    /// The scores (method `best` is the top beam).
    pub report: EvalReport,
    /// Per item, in benchmark order: what the fixer wrote (`predictions.jsonl`,
    /// not part of `results.json`).
    #[serde(skip)]
    pub predictions: Vec<FixerPrediction>,
    /// Benchmark items the predictions file had no line for (`eval predictions`):
    /// scored as failures and listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The items' correct versions given as inputs: how many the top beam
    /// returns unchanged (`eval fixer`, unless `--no-fidelity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<Fidelity>,
}

/// How often a fixer leaves correct code alone: the benchmark's correct
/// versions as inputs, the top beam compared with the input as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fidelity {
    /// Correct versions the top beam returns exactly.
    pub unchanged: usize,
    /// Items scored (a correct version too long for the fixer counts as changed).
    pub items: usize,
    /// Correct versions longer than the fixer's length.
    pub too_long: usize,
}

impl Fidelity {
    /// The share returned unchanged.
    pub fn rate(&self) -> f64 {
        if self.items == 0 {
            0.0
        } else {
            self.unchanged as f64 / self.items as f64
        }
    }
}

/// One benchmark item as the fixer saw it: a line of `predictions.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FixerPrediction {
    /// The item's id (`<file stem>/<index>`).
    pub id: String,
    /// The broken input.
    pub broken: String,
    /// The benchmark's correct version.
    pub truth: String,
    /// Whether the top beam is correct by the headline metric.
    pub correct: bool,
    /// The beams, best first (empty when the input is longer than the fixer's length).
    pub beams: Vec<String>,
    /// Per beam, whether the language's checker accepts it.
    pub valid: Vec<bool>,
}

/// Candidates for one item from ranked texts: one level (0), `sample` = rank, so the
/// harness's `best` is the first text and pass@k reads the first k.
pub fn ranked_candidates(lang: &dyn Language, broken: &str, texts: &[String]) -> Vec<Candidate> {
    texts
        .iter()
        .enumerate()
        .map(|(rank, text)| Candidate {
            level: 0.0,
            sample: rank,
            valid: lang.check(text).is_ok(),
            token_edit_distance: token_edit_distance(lang, broken, text),
            text: text.clone(),
            plausibility: None,
            preferred: false,
        })
        .collect()
}

/// Scores ranked candidates per item (`None`: the item got none and counts as a
/// failure) with the harness: the report, the per-item top and checker-guided
/// outcomes, and the predictions as written to `predictions.jsonl`.
pub fn score_beams(
    lang: &dyn Language,
    items: &[BenchItem],
    candidates: &[Option<Vec<Candidate>>],
    beam: usize,
    seconds: f64,
    bench: &Path,
    source: &Path,
) -> FixerEvalRun {
    let (report, outcomes) = evaluate_per_item(lang, items, candidates, true);
    let headline = Headline::of(lang.id());
    let top1: Vec<bool> = outcomes.best.iter().map(|m| headline.get(m)).collect();
    let guided: Vec<bool> = outcomes.guided.iter().map(|m| headline.get(m)).collect();
    let predictions = items
        .iter()
        .zip(candidates)
        .zip(&top1)
        .map(|((item, cands), &correct)| {
            let cands = cands.as_deref().unwrap_or_default();
            FixerPrediction {
                id: item.id.clone(),
                broken: item.broken.clone(),
                truth: item.truth.clone(),
                correct,
                beams: cands.iter().map(|c| c.text.clone()).collect(),
                valid: cands.iter().map(|c| c.valid).collect(),
            }
        })
        .collect();
    FixerEvalRun {
        bench: bench.to_path_buf(),
        fixer: source.to_path_buf(),
        beam,
        seconds,
        top1,
        guided,
        report,
        predictions,
        missing: Vec::new(),
        fidelity: None,
    }
}

impl FixerEvalRun {
    /// The Markdown report: the harness's method rows for a fixer, and pass@k.
    pub fn markdown(&self) -> String {
        let r = &self.report;
        let mut md = String::new();
        let what = if self.fixer.is_file() { "Predictions" } else { "Fixer" };
        let _ = writeln!(md, "# {what}: `{}` on `{}` ({})\n", self.fixer.display(), self.bench.display(), r.lang.name());
        let _ = writeln!(
            md,
            "{} items ({} without candidates: too long for the fixer or no prediction, counted as failures); beam {}; {:.1} s of decoding.\n",
            r.items, r.skipped, self.beam, self.seconds
        );
        let _ = writeln!(
            md,
            "Headline metric: **{}**.\n\n{}",
            r.headline.name(),
            super::report::metric_columns("method", r.methods.values().any(|rates| rates.known.is_some()))
        );
        for (key, name) in [
            ("identity", "identity (input unchanged)"),
            ("rule_based", "rule-based fixer"),
            ("best", "fixer, top beam"),
            ("guided", "fixer, guided (valid beam closest to the input)"),
            ("any", "fixer, any beam (oracle)"),
        ] {
            if let Some(x) = r.methods.get(key) {
                let _ = writeln!(md, "| {name} |{}", super::report::metric_cells(x));
            }
        }
        let _ = writeln!(md, "\n| pass@k ({}) | 1 | 3 | 5 |\n|---|---:|---:|---:|", r.headline.name());
        let cell = |k: usize| r.pass_at.get(&k).map_or_else(|| "n/a".to_string(), |&p| pct(p));
        let _ = writeln!(md, "| fixer | {} | {} | {} |", cell(1), cell(3), cell(5));
        if let Some(f) = &self.fidelity {
            let _ = writeln!(
                md,
                "\nFidelity: the {} correct versions as inputs, top beam unchanged: **{}** ({} too long for the fixer).",
                f.items,
                pct(f.rate()),
                f.too_long
            );
        }
        if !self.missing.is_empty() {
            let _ = writeln!(md, "\n{} items had no prediction (scored as failures): {}", self.missing.len(), self.missing.join(", "));
        }
        md
    }

    /// Writes `results.json`, `predictions.jsonl` and `results.md` into `dir`;
    /// returns the Markdown.
    pub fn write(&self, dir: &Path) -> Result<String, EvalWriteError> {
        std::fs::create_dir_all(dir).map_err(IoError::at(dir.to_path_buf()))?;
        write_file_atomic(&dir.join("results.json"), &serde_json::to_vec_pretty(self).expect("results serialise"))?;
        let mut lines = Vec::new();
        for p in &self.predictions {
            serde_json::to_writer(&mut lines, p).expect("predictions serialise");
            lines.push(b'\n');
        }
        write_file_atomic(&dir.join("predictions.jsonl"), &lines)?;
        let md = self.markdown();
        write_file_atomic(&dir.join("results.md"), md.as_bytes())?;
        Ok(md)
    }
}

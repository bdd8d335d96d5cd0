//! One repair evaluation from start to files: repair every benchmark item
//! with the paper's method (and, when configured, error-localised repair as
//! its own rows), score it ([`evaluate`]), and write `results.json`,
//! `results.md`, each method's answers (`predictions-<method>.jsonl`) and the
//! figures ([`EvalRun::write`]).

use super::chosen::{chosen_repairs, to_jsonl};
use super::report::{figures, markdown, EvalRun};
use super::{evaluate, BenchItem};
use crate::dataset::{write_file_atomic, DatasetError};
use crate::io_error::IoError;
use crate::plot::PlotError;
use crate::progress::ProgressFn;
use crate::repair::{Pooling, RepairConfig, RepairError, Repairer};
use std::path::Path;

/// What can go wrong writing an evaluation's files.
#[derive(Debug, thiserror::Error)]
pub enum EvalWriteError {
    /// The output directory could not be made.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// A results file could not be written.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A figure could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// Repairs and scores `items`, reporting the batches of chains of each method
/// (status `paper`, then `localised`).
pub fn run_repair_eval(
    repairer: &Repairer<'_>,
    items: &[BenchItem],
    config: &RepairConfig,
    bench: &Path,
    checkpoint: &Path,
    progress: &mut ProgressFn<'_>,
) -> Result<EvalRun, RepairError> {
    let lang = repairer.language();
    let inputs: Vec<String> = items.iter().map(|i| i.broken.clone()).collect();
    let mut seconds = 0.0;
    let mut repairs = 0;
    let mut reports = Vec::new();
    let mut chosen = Vec::new();
    let methods = if config.localise.is_some() { vec![None, config.localise.clone()] } else { vec![None] };
    for localise in methods {
        let name = if localise.is_some() { "localised" } else { "paper" };
        let config = RepairConfig { localise, ..config.clone() };
        let clock = std::time::Instant::now();
        let results = repairer.repair_with_progress(&inputs, &config, &mut |p| progress(p.with_status(name)))?;
        seconds += clock.elapsed().as_secs_f64(); // model time only, not scoring
        repairs += results.iter().flatten().map(Vec::len).sum::<usize>();
        let candidates: Vec<_> = results.into_iter().map(Result::ok).collect();
        // exec by the language's engine where it has one (Excel), else exact
        reports.push(evaluate(lang, items, &candidates, true));
        let pooling = if config.rank.is_some() { Pooling::Ranked } else { Pooling::Guided };
        chosen.push((name.to_string(), chosen_repairs(lang, items, &candidates, pooling)));
    }
    let mut report = reports.remove(0);
    report.localised = reports.pop().map(Box::new);
    Ok(EvalRun {
        bench: bench.to_path_buf(),
        checkpoint: checkpoint.to_path_buf(),
        config: config.clone(),
        seconds,
        repairs_per_s: repairs as f64 / seconds.max(1e-9),
        report,
        chosen,
    })
}

impl EvalRun {
    /// Writes `results.json`, `results.md`, `predictions-<method>.jsonl` and
    /// the figures into `dir`;
    /// returns the Markdown.
    pub fn write(&self, dir: &Path) -> Result<String, EvalWriteError> {
        std::fs::create_dir_all(dir).map_err(IoError::at(dir.to_path_buf()))?;
        write_file_atomic(&dir.join("results.json"), &serde_json::to_vec_pretty(self).expect("results serialise"))?;
        let md = markdown(self);
        write_file_atomic(&dir.join("results.md"), md.as_bytes())?;
        for (method, repairs) in &self.chosen {
            write_file_atomic(&dir.join(format!("predictions-{method}.jsonl")), to_jsonl(repairs).as_bytes())?;
        }
        figures(self, dir)?;
        Ok(md)
    }
}

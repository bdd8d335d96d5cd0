//! `lastmile eval`: measurements of trained models.
//!
//! Imports `eval/`, `fixer/`, `repair/` and the shared CLI arguments.

mod bench_args;
mod denoiser;
mod fixer;
mod nl2code;
mod predictions;
mod repair;
mod summary;

use super::Output;
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Evaluation commands.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Token accuracy of the denoiser per noise level on held-out snippets
    /// (`H(D(N(x_t, t)))` against the clean snippet, t = 0, 100, ..., T-1).
    /// Writes `accuracy_by_t.json` and `accuracy_by_t.png`.
    Denoiser(denoiser::Args),
    /// Repair a benchmark and score every
    /// method — identity and rule-based baselines, each noise level, best,
    /// vote, guided, the `any` oracle — by exact, sketch and (Excel) execution
    /// match, BIFI for Python, with pass@1/3/5. The benchmark is a JSON list
    /// of `{Buggy, GroundTruth}` or PyDex files (one, or a directory). Writes
    /// `results.json`, `results.md` (Tables 1 and 3, published numbers in the
    /// same table), `by_level.png` (Figure 5) and `repair_levels.png` (Figure 6).
    Repair(repair::Args),
    /// Score a trained seq2seq fixer (`lastmile fixer train`) on a repair
    /// benchmark with the harness of `eval repair` (its beams are the
    /// candidates: exact, sketch, exec, BIFI, guided, pass@k). Writes
    /// `results.json` (with the per-item top-beam outcomes) and `results.md`.
    Fixer(fixer::Args),
    /// Score any model's predictions (JSONL: per line an `id` or `broken`
    /// input, and `beams`/`predictions`/`candidates` best first, or one
    /// `prediction`) on a repair benchmark with the harness of `eval repair`
    /// and `eval fixer`: exact, sketch, exec, BIFI, guided, pass@k. Items with
    /// no line count as failures and are listed; an unknown or repeated item
    /// is an error naming its line. Writes `results.json`, `predictions.jsonl`
    /// and `results.md`.
    Predictions(predictions::Args),
    /// Score NL-to-code on a benchmark's test split (CoNaLa, NL2Bash, CF rules):
    /// exact match after normalisation, execution match for CF rules on the
    /// item's sheet, validity of the first candidate, at top-1/3/5, for the
    /// retrieval floor (the code of the nearest train utterances). Writes
    /// `results.json` and `results.md`.
    Nl2code(nl2code::Args),
    /// The data-quality report of `make data-quality`: mean ± std per pair
    /// source over seeds and McNemar's exact test between sources.
    DataQuality(fixer::ReportArgs),
    /// Put several `eval repair` runs side by side: Table 1 (methods × language,
    /// published numbers as extra rows) and Table 3 (pass@k), as Markdown.
    Summary(summary::Args),
}

/// Runs `lastmile eval`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    match args.command {
        Command::Denoiser(args) => denoiser::run(args, output),
        Command::Repair(args) => repair::run(args, output),
        Command::Summary(args) => summary::run(args, output),
        Command::Fixer(args) => fixer::run(args, output),
        Command::Predictions(args) => predictions::run(args, output),
        Command::DataQuality(args) => fixer::report(args, output),
        Command::Nl2code(args) => nl2code::run(args, output),
    }
}

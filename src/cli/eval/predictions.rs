//! `lastmile eval predictions`.

use crate::cli::Output;
use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
pub struct Args {
    /// The predictions (JSONL; `eval fixer`'s `predictions.jsonl` is one).
    #[arg(long)]
    predictions: PathBuf,
    /// The benchmark file or directory.
    #[arg(long)]
    bench: PathBuf,
    /// Language of the benchmark.
    #[arg(long)]
    lang: lastmile::lang::LangId,
    /// Score only the first N items of the benchmark (as `eval fixer --limit`).
    #[arg(long)]
    limit: Option<usize>,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile eval predictions`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let mut items = lastmile::eval::load_bench(&args.bench)?;
    if let Some(limit) = args.limit {
        items.truncate(limit);
    }
    let run = lastmile::eval::score_predictions(args.lang.language(), &items, &args.predictions, &args.bench)
        .with_context(|| format!("scoring {}", args.predictions.display()))?;
    output.line(run.write(&args.out).with_context(|| format!("writing {}", args.out.display()))?);
    Ok(ExitCode::SUCCESS)
}

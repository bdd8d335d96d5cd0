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
    #[command(flatten)]
    bench: super::bench_args::BenchArgs,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile eval predictions`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let items = args.bench.items()?;
    let run = lastmile::eval::score_predictions(args.bench.lang.language(), &items, &args.predictions, &args.bench.bench)
        .with_context(|| format!("scoring {}", args.predictions.display()))?;
    output.line(run.write(&args.out).with_context(|| format!("writing {}", args.out.display()))?);
    Ok(ExitCode::SUCCESS)
}

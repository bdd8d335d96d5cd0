//! `lastmile eval summary`: several `eval repair` runs side by side.

use crate::cli::Output;
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::dataset::write_file_atomic;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
pub struct Args {
    /// `results.json` files of `eval repair` runs, in column order.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Write the Markdown here as well as to stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// Runs `lastmile eval summary`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let runs = args
        .results
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("{}: not a results.json of `lastmile eval repair`", path.display()))
        })
        .collect::<Result<Vec<lastmile::eval::report::EvalRun>>>()?;
    let md = lastmile::eval::report::summary(&runs);
    if let Some(out) = &args.out {
        write_file_atomic(out, md.as_bytes())?;
    }
    output.line(md);
    Ok(ExitCode::SUCCESS)
}

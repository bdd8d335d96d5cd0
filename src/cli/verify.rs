//! `lastmile verify`: a dataset directory checked against its manifest.

use super::Output;
use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Check that a dataset is the one its `manifest.json` describes: every shard
/// present with its size, sha256, row count and the pair schema, the per-split row
/// totals, and no unlisted shard. Prints each difference; exits 1 when there is one.
#[derive(Debug, Parser)]
pub struct Args {
    /// The dataset directory (with `manifest.json` and `data/`).
    dataset: PathBuf,
}

/// Runs `lastmile verify`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let verification = lastmile::dataset::verify_dataset(&args.dataset).with_context(|| format!("verifying {}", args.dataset.display()))?;
    if verification.ok() {
        let rows: Vec<String> = verification.rows.iter().map(|(split, n)| format!("{split} {n}")).collect();
        output.line(format!("{}: verified, {} shards ({})", args.dataset.display(), verification.files, rows.join(", ")));
        return Ok(ExitCode::SUCCESS);
    }
    for d in &verification.differences {
        eprintln!("{}: {}: {}", args.dataset.display(), d.file, d.reason);
    }
    eprintln!("{}: does not verify ({} differences)", args.dataset.display(), verification.differences.len());
    Ok(ExitCode::from(1))
}

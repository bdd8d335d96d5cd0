//! `lastmile eval fixer` and `lastmile eval data-quality`.

use crate::cli::Output;
use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
pub struct Args {
    /// The fixer directory (`lastmile fixer train --out`).
    #[arg(long)]
    fixer: PathBuf,
    #[command(flatten)]
    bench: super::bench_args::BenchArgs,
    /// Beams per item (pass@k needs k).
    #[arg(long, default_value_t = 5)]
    beam: usize,
    /// Items decoded together.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Skip decoding the items' correct versions (the fidelity line: how many
    /// the fixer returns unchanged); halves the decoding time.
    #[arg(long)]
    no_fidelity: bool,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile eval fixer`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let items = args.bench.items()?;
    let fixer = lastmile::fixer::load_fixer(&args.fixer, &candle_core::Device::Cpu)?;
    let bar = output.steps_bar();
    let run = lastmile::fixer::run_fixer_eval(
        &fixer,
        args.bench.lang.language(),
        &items,
        args.beam,
        args.batch_size,
        !args.no_fidelity,
        &args.bench.bench,
        &args.fixer,
        &mut Output::follow(&bar),
    )
    .context("decoding the benchmark")?;
    bar.finish_and_clear();
    output.line(run.write(&args.out).with_context(|| format!("writing {}", args.out.display()))?);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Parser)]
pub struct ReportArgs {
    /// The directory of `<source>-s<seed>/eval/results.json` runs.
    #[arg(long, default_value = "outputs/data-quality")]
    dir: PathBuf,
    /// Wall-clock seconds of the whole comparison, for the report.
    #[arg(long)]
    seconds: Option<f64>,
}

/// Runs `lastmile eval data-quality`: writes `report.md` and `report.json` into `--dir`.
pub fn report(args: ReportArgs, output: &Output) -> Result<ExitCode> {
    let report = lastmile::eval::data_quality_report(&args.dir)?;
    let md = report.markdown(args.seconds);
    lastmile::dataset::write_file_atomic(&args.dir.join("report.md"), md.as_bytes())?;
    lastmile::dataset::write_file_atomic(&args.dir.join("report.json"), &serde_json::to_vec_pretty(&report)?)?;
    output.line(md);
    Ok(ExitCode::SUCCESS)
}

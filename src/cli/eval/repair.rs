//! `lastmile eval repair`: repair a benchmark and score every method.

use crate::cli::Output;
use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
pub struct Args {
    #[command(flatten)]
    bench: super::bench_args::BenchArgs,
    #[command(flatten)]
    model: crate::cli::model_args::ModelArgs,
    /// Noise samples per level (pass@k needs k samples).
    #[arg(long, short = 'k', default_value_t = 5)]
    samples: usize,
    #[command(flatten)]
    sampler: crate::cli::sampler_args::SamplerArgs,
    /// Chains denoised together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile eval repair`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    use lastmile::eval::run_repair_eval;
    use lastmile::repair::Repairer;
    let items = args.bench.items()?;
    let checkpoint = args.model.checkpoint_for(Some(args.bench.lang))?;
    let loaded = crate::cli::model_args::load(&checkpoint, &args.model.device)?;
    let (model, tokenizer) = (&loaded.model, &loaded.tokenizer);
    let lang = args.bench.lang.language();
    let config = args.sampler.repair_config(args.samples, args.batch_size, args.seed, lang);
    let bar = output.steps_bar();
    let repairer = Repairer::new(model, tokenizer, lang);
    let run =
        run_repair_eval(&repairer, &items, &config, &args.bench.bench, &checkpoint, &mut Output::follow(&bar)).context("repair failed")?;
    bar.finish_and_clear();
    output.line(run.write(&args.out).with_context(|| format!("writing {}", args.out.display()))?);
    Ok(ExitCode::SUCCESS)
}

//! `lastmile eval repair`: repair a benchmark and score every method.

use crate::cli::Output;
use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
pub struct Args {
    /// The benchmark file or directory.
    #[arg(long)]
    bench: PathBuf,
    #[command(flatten)]
    model: crate::cli::model_args::ModelArgs,
    /// Language of the benchmark.
    #[arg(long)]
    lang: lastmile::lang::LangId,
    /// Noise samples per level (pass@k needs k samples).
    #[arg(long, short = 'k', default_value_t = 5)]
    samples: usize,
    #[command(flatten)]
    sampler: crate::cli::sampler_args::SamplerArgs,
    /// Chains denoised together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Evaluate only the first N items.
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile eval repair`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    use lastmile::eval::{load_bench, run_repair_eval};
    use lastmile::repair::Repairer;
    let mut items = load_bench(&args.bench)?;
    if let Some(limit) = args.limit {
        items.truncate(limit);
    }
    let loaded = args.model.load(Some(args.lang))?;
    let checkpoint = args.model.checkpoint_for(Some(args.lang))?;
    let (model, tokenizer) = (&loaded.model, &loaded.tokenizer);
    let lang = args.lang.language();
    let config = args.sampler.repair_config(args.samples, args.batch_size, args.seed);
    let bar = output.steps_bar();
    let repairer = Repairer::new(model, tokenizer, lang);
    let run = run_repair_eval(&repairer, &items, &config, &args.bench, &checkpoint, &mut Output::follow(&bar)).context("repair failed")?;
    bar.finish_and_clear();
    output.line(run.write(&args.out).with_context(|| format!("writing {}", args.out.display()))?);
    Ok(ExitCode::SUCCESS)
}

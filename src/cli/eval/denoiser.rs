//! `lastmile eval denoiser`: token accuracy of the denoiser per noise level.

use crate::cli::Output;
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::dataset::write_file_atomic;
use lastmile::eval::{accuracy_by_t, accuracy_chart};
use lastmile::train::TokenizedSplit;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
pub struct Args {
    #[command(flatten)]
    model: crate::cli::model_args::ModelArgs,
    /// Mined corpus directory; its `valid` split is used.
    #[arg(long)]
    corpus: PathBuf,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
    /// Held-out snippets to evaluate.
    #[arg(long, default_value_t = 256)]
    examples: usize,
    /// Distance between evaluated timesteps (T-1 is always included).
    #[arg(long, default_value_t = 100)]
    every: usize,
    /// Evaluate exactly these timesteps instead (e.g. `--t 0,50,100,200`).
    #[arg(long, value_delimiter = ',')]
    t: Vec<usize>,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs `lastmile eval denoiser`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let loaded = args.model.load(None)?;
    let (model, tokenizer, schedule) = (&loaded.model, &loaded.tokenizer, &loaded.schedule);
    let steps = model.config().diffusion_steps;
    let valid = TokenizedSplit::load(&args.corpus, "valid", tokenizer, model.config().seq_len)?;
    let mut ts: Vec<usize> = (0..steps).step_by(args.every.max(1)).collect();
    if ts.last() != Some(&(steps - 1)) {
        ts.push(steps - 1);
    }
    if !args.t.is_empty() {
        ts = args.t.iter().map(|&t| t.min(steps - 1)).collect();
    }
    let result = accuracy_by_t(model, schedule, &valid.rows, &ts, args.examples, 64, args.seed).context("evaluating")?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    write_file_atomic(&args.out.join("accuracy_by_t.json"), &serde_json::to_vec_pretty(&result)?)?;
    accuracy_chart(&result, steps, &args.out.join("accuracy_by_t.png"))?;
    for level in &result.levels {
        output.line(format!(
            "t={:>5}  snippet {:>6.2}%  all {:>6.2}%  frequent {:>6.2}%  rare {:>6.2}%  round(x_t) {:>6.2}%  round(D) {:>6.2}%  +likelihood {:>6.2}%",
            level.t,
            100.0 * level.snippet_accuracy,
            100.0 * level.all_accuracy,
            100.0 * level.frequent_accuracy,
            100.0 * level.rare_accuracy,
            100.0 * level.round_input_accuracy,
            100.0 * level.round_decoded_accuracy,
            100.0 * level.with_likelihood_accuracy
        ));
    }
    output.line(format!(
        "chance {:.2}% over {} snippets -> {}",
        100.0 * result.chance_snippet_accuracy,
        result.examples,
        args.out.display()
    ));
    Ok(ExitCode::SUCCESS)
}

//! `lastmile eval`: measurements of trained models.

use super::Output;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lastmile::dataset::write_file_atomic;
use lastmile::diffusion::NoiseSchedule;
use lastmile::model::device;
use lastmile::stats::plot::{line_chart, LineChart, Series};
use lastmile::train::{accuracy_by_t, load_checkpoint, TokenizedSplit};
use std::path::PathBuf;
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
    Denoiser(DenoiserArgs),
}

#[derive(Debug, Parser)]
struct DenoiserArgs {
    /// Checkpoint directory.
    #[arg(long)]
    checkpoint: PathBuf,
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
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Runs `lastmile eval`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let Command::Denoiser(args) = args.command;
    let device = device(&args.device)?;
    let (model, _vars, tokenizer) = load_checkpoint(&args.checkpoint, &device)?;
    let steps = model.config().diffusion_steps;
    let schedule = NoiseSchedule::sqrt(steps);
    let valid = TokenizedSplit::load(&args.corpus, "valid", &tokenizer, model.config().seq_len)?;
    let mut ts: Vec<usize> = (0..steps).step_by(args.every.max(1)).collect();
    if ts.last() != Some(&(steps - 1)) {
        ts.push(steps - 1);
    }
    let result = accuracy_by_t(&model, &schedule, &valid, &ts, args.examples, 64, args.seed).context("evaluating")?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    write_file_atomic(&args.out.join("accuracy_by_t.json"), &serde_json::to_vec_pretty(&result)?)?;
    let chart = LineChart {
        title: "denoiser token accuracy per noise level",
        x_label: "t",
        y_label: "accuracy",
        series: vec![
            Series { label: "snippet positions".into(), points: result.levels.iter().map(|l| (l.t as f64, l.snippet_accuracy)).collect() },
            Series { label: "all positions".into(), points: result.levels.iter().map(|l| (l.t as f64, l.all_accuracy)).collect() },
            Series { label: "chance (majority token)".into(), points: vec![(0.0, result.chance_snippet_accuracy), ((steps - 1) as f64, result.chance_snippet_accuracy)] },
        ],
        y_range: Some((0.0, 1.02)),
    };
    line_chart(&chart, &args.out.join("accuracy_by_t.png"))?;
    for level in &result.levels {
        output.line(format!("t={:>5}  snippet {:>6.2}%  all {:>6.2}%", level.t, 100.0 * level.snippet_accuracy, 100.0 * level.all_accuracy));
    }
    output.line(format!("chance {:.2}% over {} snippets -> {}", 100.0 * result.chance_snippet_accuracy, result.examples, args.out.display()));
    Ok(ExitCode::SUCCESS)
}

//! `lastmile pretrain`: train CodeFusion on a mined corpus.

use super::model_args::open_device;
use super::Output;
use lastmile::kernels::precision::{with_matmul_precision, MatmulPrecision};
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::plot::{line_chart, LineChart, Series};
use lastmile::train::{pretrain_with, StepMetrics, TrainConfig};
use std::path::PathBuf;
use std::process::ExitCode;

/// Pretrain a CodeFusion model as configured in a `configs/train/*.toml` file.
///
/// Started by `mpirun -np N` or `srun` (a build with `--features mpi`), it runs
/// data-parallel: every rank computes its share of each global batch of
/// `batch_size`, gradients are summed over the ranks, and rank 0 alone writes.
///
/// Writes `OUT/metrics.jsonl` (one line per step: loss terms, lr, grad norm,
/// embedding norm, tokens/s; held-out loss every `eval_every` steps) and
/// `OUT/checkpoint/` (model, config, tokenizer, optimizer state, step, and
/// with `ema_decay` the moving average of the weights that sampling uses).
#[derive(Debug, Parser)]
pub struct Args {
    /// Run config (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Continue from `OUT/checkpoint`: the loss curve continues exactly as an
    /// uninterrupted run's would.
    #[arg(long)]
    resume: bool,
    /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Override `max_steps` of the config.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Override `time_budget_s` of the config.
    #[arg(long)]
    time_budget_s: Option<f64>,
}

/// Runs `lastmile pretrain` (a code-only run: `corpus`).
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let config = TrainConfig::load(&args.config)?;
    anyhow::ensure!(config.pairs.is_none(), "{}: a `[pairs]` run is NL-to-code fine-tuning: use `lastmile nl2code train`", args.config.display());
    train(args, config, output)
}

/// Runs `lastmile nl2code train` (a conditioned run: `[pairs]`).
pub fn run_pairs(args: Args, output: &Output) -> Result<ExitCode> {
    let config = TrainConfig::load(&args.config)?;
    anyhow::ensure!(config.pairs.is_some(), "{}: no `[pairs]` benchmark to fine-tune on (code-only runs use `lastmile pretrain`)", args.config.display());
    with_matmul_precision(MatmulPrecision::Highest, || train(args, config, output))
}

fn train(args: Args, mut config: TrainConfig, output: &Output) -> Result<ExitCode> {
    if args.max_steps.is_some() {
        config.max_steps = args.max_steps;
    }
    if args.time_budget_s.is_some() {
        config.time_budget_s = args.time_budget_s;
    }
    // under a launcher, `cuda` is this rank's own GPU (its local rank)
    let device_name = lastmile::dist::rank_device_name(&args.device, |name| std::env::var(name).ok())?;
    let device = open_device(&device_name)?;
    let collective =
        lastmile::dist::from_environment(&device, &config.out.join(".nccl-id")).context("setting up the data-parallel ranks")?;
    let (rank, world) = (collective.rank(), collective.world());
    // rank 0 reports; the others only compute
    let quiet = Output::new(true);
    let output = if rank == 0 { output } else { &quiet };
    if world > 1 {
        output.line(format!(
            "data-parallel over {world} ranks ({}): {} examples per rank and step",
            collective.name(),
            config.batch_size / world
        ));
    }
    let bar = output.steps_bar();
    let summary = pretrain_with(&config, &device, args.resume, collective, &mut Output::follow(&bar))
        .with_context(|| format!("pretraining failed (rank {rank} of {world})"))?;
    bar.finish_and_clear();
    if rank != 0 {
        return Ok(ExitCode::SUCCESS);
    }
    plot_losses(&config)?;
    output.line(format!(
        "{} steps in {:.0}s; held-out loss {} -> {}; {} train snippets ({} longer than n dropped) -> {}",
        summary.steps,
        summary.elapsed_s,
        summary.initial_valid_loss.map_or("-".into(), |v| format!("{v:.4}")),
        summary.final_valid_loss.map_or("-".into(), |v| format!("{v:.4}")),
        summary.train_snippets,
        summary.train_too_long,
        config.checkpoint_dir().display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// `OUT/loss.png`: training loss (moving mean over 25 steps) and held-out loss.
fn plot_losses(config: &TrainConfig) -> Result<()> {
    let text = std::fs::read_to_string(config.metrics_path())?;
    let metrics: Vec<StepMetrics> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let window = 25;
    let train: Vec<(f64, f64)> = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let from = i.saturating_sub(window - 1);
            let mean = metrics[from..=i].iter().map(|m| m.loss as f64).sum::<f64>() / (i - from + 1) as f64;
            (m.step as f64, mean)
        })
        .collect();
    let valid: Vec<(f64, f64)> = metrics.iter().filter_map(|m| m.valid_loss.map(|v| (m.step as f64, v as f64))).collect();
    if train.is_empty() {
        return Ok(());
    }
    let chart = LineChart {
        title: "pretraining loss (mse x0 + mse decoded + ce)",
        x_label: "step",
        y_label: "loss",
        series: vec![
            Series { label: format!("train (mean of {window} steps)"), points: train },
            Series { label: "held-out".into(), points: valid },
        ],
        y_range: None,
        markers: Vec::new(),
    };
    line_chart(&chart, &config.out.join("loss.png"))?;
    Ok(())
}

//! `lastmile fixer train`: the downstream seq2seq fixer of data ablations.

use super::Output;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lastmile::fixer::{train_fixer, FixerRecipe, FixerRunOptions, PairSource};
use std::path::PathBuf;
use std::process::ExitCode;

/// Downstream fixers.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a small seq2seq transformer (encoder-decoder, tied embeddings,
    /// 1.47M parameters at the default recipe's sizes) on a dataset's (broken
    /// → fixed) pairs with one fixed recipe, so that fixers trained on
    /// different datasets compare the data; from scratch, or from a
    /// pretrained fixer (the recipe's `init_from`). Writes `config.json`, `model.safetensors`,
    /// `tokenizer.json`, `recipe.json`, `data.json`, `metrics.jsonl`; resumable.
    Train(TrainArgs),
}

#[derive(Debug, Parser)]
struct TrainArgs {
    /// Pair sources: `DIR` (a `lastmile rollout` or `lastmile corrupt`
    /// dataset), `DIR:COUNT` (a fixed seeded subset), `identity:DIR[:COUNT]`
    /// (fixed → fixed, the control), `[literals=N:]BENCH.json` (an NL-to-code
    /// benchmark's train pairs), `denoise:CORPUS[:COUNT]` (a mined corpus's
    /// snippets with spans masked → the snippet: pretraining). Repeat to mix
    /// sources.
    #[arg(long = "pairs", required = true)]
    pairs: Vec<PairSource>,
    /// The tokenizer (the same family as the diffusion model's).
    #[arg(long, default_value = "models/excel/tokenizer.json")]
    tokenizer: PathBuf,
    /// A recipe TOML (`configs/fixer/recipe.toml`); unset fields keep the defaults.
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Override the recipe's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the recipe's number of steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Continue from `OUT/checkpoint` when it exists.
    #[arg(long)]
    resume: bool,
    /// Stop with a checkpoint after this many steps (resume later with --resume).
    #[arg(long)]
    stop_after: Option<usize>,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile fixer`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let Command::Train(args) = args.command;
    let mut recipe = match &args.recipe {
        Some(path) => FixerRecipe::load(path)?,
        None => FixerRecipe::default(),
    };
    recipe.seed = args.seed.unwrap_or(recipe.seed);
    recipe.steps = args.steps.unwrap_or(recipe.steps);
    let bar = output.steps_bar();
    let options = FixerRunOptions { resume: args.resume, stop_after: args.stop_after };
    let summary =
        train_fixer(&args.pairs, &args.tokenizer, &recipe, &args.out, &options, &candle_core::Device::Cpu, &mut Output::follow(&bar))
            .with_context(|| format!("training the fixer into {}", args.out.display()))?;
    bar.finish_and_clear();
    output.line(format!(
        "fixer: {} steps, {} parameters, {} pairs ({} too long), final loss {}, {:.1} s -> {}",
        summary.steps,
        summary.parameters,
        summary.data.pairs,
        summary.data.too_long,
        summary.final_loss.map_or("n/a".into(), |l| format!("{l:.4}")),
        summary.elapsed_s,
        args.out.display()
    ));
    Ok(ExitCode::SUCCESS)
}

//! The command line: one module per subcommand, each with an `Args` struct and
//! `run(args, &Output) -> Result<ExitCode>`. Only this module prints.
//!
//! Imports the library `lastmile` (`crates/core`); nothing imports `cli/`.

mod check;
mod corrupt;
mod dataset_args;
mod eval;
mod fixer;
mod mine;
mod nl2code;
mod model;
mod model_args;
mod output;
mod pipeline;
mod pretrain;
mod repair;
mod rollout;
mod sample;
mod sampler_args;
mod snippet_args;
mod stats;
mod tokenizer;
mod verify;

pub use output::Output;

use clap::{Parser, Subcommand};
use lastmile::kernels::precision::{set_matmul_precision, with_matmul_precision, MatmulPrecision};
use std::process::ExitCode;

/// lastmile: turn a code diffusion model into last-mile repair data, and into a repairer.
#[derive(Debug, Parser)]
#[command(name = "lastmile", version, about, long_about = None)]
pub struct Cli {
    /// Print nothing but errors (no progress bars, no summaries).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Worker threads for parallel stages (default: all cores).
    #[arg(long, short = 'j', global = true, env = "LASTMILE_THREADS")]
    pub threads: Option<usize>,

    /// Precision of the linear layers' products in sampling, rollout and repair:
    /// `highest` (f32), `medium` (bf16 operands, f32 sums, on CPUs with
    /// AVX-512 BF16; elsewhere f32) or `low` (int8 operands quantized per row,
    /// exact integer sums, on CPUs with AVX-512 VNNI; elsewhere as `medium`).
    /// Training always runs in f32.
    #[arg(long, global = true, env = "LASTMILE_MATMUL_PRECISION", default_value = "highest")]
    pub matmul_precision: MatmulPrecision,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mine real corpora into clean, decontaminated, sharded Parquet.
    Mine(mine::Args),
    /// Strictly check snippets of a language and report the pass rate.
    Check(check::Args),
    /// Train the byte-level BPE tokenizer.
    Tokenizer(tokenizer::Args),
    /// Inspect model configurations.
    Model(model::Args),
    /// Pretrain CodeFusion on a mined corpus.
    Pretrain(pretrain::Args),
    /// Generate snippets from a checkpoint.
    Sample(sample::Args),
    /// Natural language to code: fine-tune a conditioned model, generate ranked programs.
    Nl2code(nl2code::Args),
    /// Roll out chains from a checkpoint into a repair-pair dataset.
    Rollout(rollout::Args),
    /// Rule-based corruptions of a mined corpus into a repair-pair dataset (no model).
    Corrupt(corrupt::Args),
    /// Statistics and plots of a repair-pair dataset.
    Stats(stats::Args),
    /// Check a dataset against its manifest (sha256, rows, schema, shards).
    Verify(verify::Args),
    /// Repair broken snippets by noise injection.
    Repair(repair::Args),
    /// Run a pipeline file (stages cached by config and input hashes).
    Pipeline(pipeline::Args),
    /// Evaluate trained models.
    Eval(eval::Args),
    /// Train the downstream seq2seq fixer of data ablations.
    Fixer(fixer::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(threads) = cli.threads {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    }
    set_matmul_precision(cli.matmul_precision);
    let output = Output::new(cli.quiet);
    dispatch(cli.command, &output)
}

/// Runs one subcommand (also used by `pipeline run` for its stages).
fn dispatch(command: Command, output: &Output) -> anyhow::Result<ExitCode> {
    match command {
        Command::Mine(args) => mine::run(args, output),
        Command::Check(args) => check::run(args, output),
        Command::Tokenizer(args) => tokenizer::run(args, output),
        Command::Model(args) => model::run(args, output),
        // training runs in f32 whatever `--matmul-precision` asked for sampling
        Command::Pretrain(args) => with_matmul_precision(MatmulPrecision::Highest, || pretrain::run(args, output)),
        Command::Sample(args) => sample::run(args, output),
        Command::Nl2code(args) => nl2code::run(args, output),
        Command::Eval(args) => eval::run(args, output),
        Command::Rollout(args) => rollout::run(args, output),
        Command::Corrupt(args) => corrupt::run(args, output),
        Command::Stats(args) => stats::run(args, output),
        Command::Verify(args) => verify::run(args, output),
        Command::Repair(args) => repair::run(args, output),
        Command::Pipeline(args) => pipeline::run(args, output),
        Command::Fixer(args) => with_matmul_precision(MatmulPrecision::Highest, || fixer::run(args, output)),
    }
}

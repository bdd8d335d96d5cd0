//! `lastmile rollout`: chains from a checkpoint into a repair-pair dataset.

use super::Output;
use anyhow::Result;
use clap::Parser;
use lastmile::rollout::{Rank, Rollout, RolloutConfig, Selection};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Roll out reverse-diffusion chains from a checkpoint, decode every step, filter
/// (c_t, c_0) pairs and write them as a sharded Parquet dataset (`OUT/data/`,
/// `manifest.json`, `README.md` dataset card, `chains.parquet`).
///
/// Work is split into units of chains. Several processes share it as ranks
/// (`--rank/--world-size`, or `RANK/WORLD_SIZE` of torchrun,
/// `OMPI_COMM_WORLD_RANK/SIZE` of mpirun, `SLURM_PROCID/SLURM_NTASKS` of srun);
/// rank 0 waits for the others and finalizes. Rerunning after a crash skips
/// finished units; the dataset is byte-identical to an uninterrupted run.
#[derive(Debug, Parser)]
pub struct Args {
    /// Rollout config (TOML, `configs/rollout/*.toml`).
    #[arg(long)]
    config: PathBuf,
    /// Override the checkpoint directory of the config.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Override the output dataset directory of the config.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override the number of pairs to keep.
    #[arg(long)]
    target_pairs: Option<usize>,
    /// Override the chain budget.
    #[arg(long)]
    max_chains: Option<usize>,
    /// Override the seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the pair selection.
    #[arg(long, value_enum)]
    selection: Option<Selection>,
    /// This process's rank (with `--world-size`; default: from the launcher's environment, else 0).
    #[arg(long)]
    rank: Option<usize>,
    /// Number of ranks (with `--rank`).
    #[arg(long)]
    world_size: Option<usize>,
    /// Only build the dataset from the finished units (after all ranks ran).
    #[arg(long)]
    finalize: bool,
    /// How long rank 0 waits for the other ranks before giving up, in seconds.
    #[arg(long, default_value_t = 86_400)]
    wait_s: u64,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// The config after command-line overrides.
pub fn resolve_config(args: &Args) -> Result<RolloutConfig> {
    let mut config = RolloutConfig::load(&args.config)?;
    if let Some(c) = &args.checkpoint {
        config.checkpoint = c.clone();
    }
    if let Some(o) = &args.out {
        config.out = o.clone();
    }
    if let Some(t) = args.target_pairs {
        config.target_pairs = t;
    }
    if let Some(m) = args.max_chains {
        config.max_chains = m;
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if let Some(s) = args.selection {
        config.selection = s;
    }
    config.validate().map_err(|reason| anyhow::anyhow!("{}: {reason}", args.config.display()))?;
    Ok(config)
}

/// Runs `lastmile rollout`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let config = resolve_config(&args)?;
    let rank = Rank::detect(args.rank, args.world_size, |k| std::env::var(k).ok())?;
    let loaded = super::model_args::load(&config.checkpoint, &args.device)?;
    let rollout = Rollout::new(&config, &loaded.model, &loaded.tokenizer, &loaded.sha256, Path::new("."))?;
    if args.finalize {
        let summary = rollout.finalize()?;
        output.line(format!("finalized {}: {:?} rows from {} units", config.out.display(), summary.rows, summary.units));
        return Ok(ExitCode::SUCCESS);
    }
    let bar = output.steps_bar();
    bar.println(format!(
        "rank {}/{}: up to {} chains in units of {}, target {} pairs",
        rank.rank, rank.world_size, config.max_chains, config.chains_per_unit, config.target_pairs
    ));
    let summary = rollout.run_rank(rank, Duration::from_secs(args.wait_s), &mut Output::follow(&bar))?;
    bar.finish_and_clear();
    output.line(format!(
        "rank {}: {} units computed, {} skipped, {} chains; {} candidates, {} kept",
        rank.rank, summary.computed, summary.skipped, summary.chains, summary.counts.candidates, summary.counts.kept
    ));
    if summary.computed > 0 {
        let pairs_per_s = summary.counts.kept as f64 / summary.timing.busy_s().max(1e-9);
        output.line(format!("time: {}; {pairs_per_s:.1} kept pairs/s", summary.timing));
    }
    if let Some(done) = &summary.finalized {
        output.line(format!("dataset {}: {:?} rows from {} units ({} chains)", config.out.display(), done.rows, done.units, done.chains));
        output.line(format!("filters: {done}"));
    }
    Ok(ExitCode::SUCCESS)
}

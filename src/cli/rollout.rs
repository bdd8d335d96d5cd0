//! `lastmile rollout`: chains from a checkpoint into a repair-pair dataset.

use super::dataset_args::DatasetArgs;
use super::Output;
use anyhow::Result;
use clap::Parser;
use lastmile::rollout::{Rollout, Selection};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Roll out reverse-diffusion chains from a checkpoint, decode every step, filter
/// (c_t, c_0) pairs and write them as a sharded Parquet dataset (`OUT/data/`,
/// `manifest.json`, `README.md` dataset card, `chains.parquet`). A config may mix
/// in `rules` sources (rule-based corruptions, as `lastmile corrupt`).
///
/// Work is split into units of chains. Several processes share it as ranks
/// (`--rank/--world-size`, or `RANK/WORLD_SIZE` of torchrun,
/// `OMPI_COMM_WORLD_RANK/SIZE` of mpirun, `SLURM_PROCID/SLURM_NTASKS` of srun);
/// rank 0 waits for the others and finalizes. Rerunning after a crash skips
/// finished units; the dataset is byte-identical to an uninterrupted run.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Override the checkpoint directory of the config.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Override the pair selection.
    #[arg(long, value_enum)]
    selection: Option<Selection>,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Runs `lastmile rollout`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let config = args.dataset.resolve(|config| {
        if let Some(c) = &args.checkpoint {
            config.checkpoint = Some(c.clone());
        }
        config.selection = args.selection.unwrap_or(config.selection);
    })?;
    match &config.checkpoint {
        Some(checkpoint) if config.sources.iter().any(|s| s.needs_model()) => {
            let loaded = super::model_args::load(checkpoint, &args.device)?;
            let rollout = Rollout::new(&config, &loaded.model, &loaded.tokenizer, &loaded.sha256, Path::new("."))?;
            args.dataset.run(&config, &rollout, output)
        }
        _ => args.dataset.run(&config, &Rollout::without_model(&config, Path::new("."))?, output),
    }
}

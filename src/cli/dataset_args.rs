//! The flags and the run loop that `rollout` and `corrupt` share: both write a
//! repair-pair dataset through the same work units, filters and finalize.

use super::Output;
use anyhow::Result;
use clap::Args;
use lastmile::rollout::{Rank, Rollout, RolloutConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Config, overrides, ranks and finalize of a dataset run.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Dataset config (TOML, `configs/rollout/*.toml` or `configs/corrupt/*.toml`).
    #[arg(long)]
    pub config: PathBuf,
    /// Override the output dataset directory of the config.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the number of pairs to keep.
    #[arg(long)]
    pub target_pairs: Option<usize>,
    /// Override the chain (snippet) budget.
    #[arg(long)]
    pub max_chains: Option<usize>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// This process's rank (with `--world-size`; default: from the launcher's environment, else 0).
    #[arg(long)]
    pub rank: Option<usize>,
    /// Number of ranks (with `--rank`).
    #[arg(long)]
    pub world_size: Option<usize>,
    /// Only build the dataset from the finished units (after all ranks ran).
    #[arg(long)]
    pub finalize: bool,
    /// How long rank 0 waits for the other ranks before giving up, in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub wait_s: u64,
}

impl DatasetArgs {
    /// The config with these overrides applied (`more` applies the caller's own).
    pub fn resolve(&self, more: impl FnOnce(&mut RolloutConfig)) -> Result<RolloutConfig> {
        let mut config = RolloutConfig::load(&self.config)?;
        config.out = self.out.clone().unwrap_or(config.out);
        config.target_pairs = self.target_pairs.unwrap_or(config.target_pairs);
        config.max_chains = self.max_chains.unwrap_or(config.max_chains);
        config.seed = self.seed.unwrap_or(config.seed);
        more(&mut config);
        config.validate().map_err(|reason| anyhow::anyhow!("{}: {reason}", self.config.display()))?;
        Ok(config)
    }

    /// Runs this rank's units (rank 0 finalizes), or with `--finalize` only finalizes.
    pub fn run(&self, config: &RolloutConfig, rollout: &Rollout<'_>, output: &Output) -> Result<ExitCode> {
        if self.finalize {
            let summary = rollout.finalize()?;
            output.line(format!("finalized {}: {:?} rows from {} units", config.out.display(), summary.rows, summary.units));
            return Ok(ExitCode::SUCCESS);
        }
        let rank = Rank::detect(self.rank, self.world_size, |k| std::env::var(k).ok())?;
        let bar = output.steps_bar();
        bar.println(format!(
            "rank {}/{}: up to {} chains in units of {}, target {} pairs",
            rank.rank, rank.world_size, config.max_chains, config.chains_per_unit, config.target_pairs
        ));
        let summary = rollout.run_rank(rank, Duration::from_secs(self.wait_s), &mut Output::follow(&bar))?;
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
            output.line(format!(
                "dataset {}: {:?} rows from {} units ({} chains)",
                config.out.display(),
                done.rows,
                done.units,
                done.chains
            ));
            output.line(format!("filters: {done}"));
        }
        Ok(ExitCode::SUCCESS)
    }
}

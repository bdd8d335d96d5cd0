//! The benchmark flags every scoring command shares (`--bench`, `--lang`,
//! `--limit`) and the one place the items are read.

use anyhow::Result;
use lastmile::eval::BenchItem;
use lastmile::lang::LangId;
use std::path::PathBuf;

/// Which benchmark, in which language, how much of it.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The benchmark file or directory (a JSON list of `{Buggy, GroundTruth}`, or
    /// PyDex files).
    #[arg(long)]
    pub bench: PathBuf,
    /// Language of the benchmark.
    #[arg(long)]
    pub lang: LangId,
    /// Score only the first N items.
    #[arg(long)]
    pub limit: Option<usize>,
}

impl BenchArgs {
    /// The benchmark's items, the first `--limit` of them.
    pub fn items(&self) -> Result<Vec<BenchItem>> {
        let mut items = lastmile::eval::load_bench(&self.bench)?;
        if let Some(limit) = self.limit {
            items.truncate(limit);
        }
        Ok(items)
    }
}

//! The model flags every inference command shares (`--checkpoint`, `--device`)
//! and the one place they are turned into a loaded model.

use anyhow::{Context, Result};
use lastmile::checkpoint::LoadedModel;
use std::path::{Path, PathBuf};

/// Which checkpoint to load, and where.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Checkpoint directory (a training run's `checkpoint/`, or a shipped model
    /// such as `models/excel`).
    #[arg(long, default_value = "models/excel")]
    pub checkpoint: PathBuf,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl ModelArgs {
    /// Opens the device and loads the checkpoint.
    pub fn load(&self) -> Result<LoadedModel> {
        load(&self.checkpoint, &self.device)
    }
}

/// Opens `device` and loads the checkpoint in `dir`, with both in the error.
pub fn load(dir: &Path, device: &str) -> Result<LoadedModel> {
    let device = lastmile::model::device(device).with_context(|| format!("opening device {device}"))?;
    lastmile::checkpoint::load(dir, &device).with_context(|| format!("loading checkpoint {}", dir.display()))
}

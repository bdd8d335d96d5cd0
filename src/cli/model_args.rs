//! The model flags every inference command shares (`--checkpoint`, `--device`)
//! and the one place they are turned into a loaded model.

use anyhow::{bail, Context, Result};
use lastmile::checkpoint::LoadedModel;
use lastmile::lang::LangId;
use std::path::{Path, PathBuf};

/// Which checkpoint to load, and where.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Checkpoint directory (a training run's `checkpoint/`, or a shipped model
    /// such as `models/excel`); default: the shipped model of `--lang`,
    /// `models/<lang>`.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl ModelArgs {
    /// Opens the device and loads the checkpoint: `--checkpoint`, else the shipped
    /// model of `lang` (`models/<lang>`).
    pub fn load(&self, lang: Option<LangId>) -> Result<LoadedModel> {
        load(&self.checkpoint_for(lang)?, &self.device)
    }

    /// The checkpoint directory to load for `lang`.
    pub fn checkpoint_for(&self, lang: Option<LangId>) -> Result<PathBuf> {
        if let Some(dir) = &self.checkpoint {
            return Ok(dir.clone());
        }
        let Some(lang) = lang else { bail!("no --checkpoint and no --lang: give one of them") };
        let shipped = PathBuf::from("models").join(lang.name());
        if !shipped.join("config.json").is_file() {
            bail!("no shipped model for {} ({} has no config.json): pass --checkpoint", lang.name(), shipped.display());
        }
        Ok(shipped)
    }
}

/// The device named by `--device`: `cpu`, `cuda` or `cuda:N`.
pub fn open_device(name: &str) -> Result<candle_core::Device> {
    use candle_core::Device;
    let device: Result<Device> = match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(Into::into),
        other => match other.strip_prefix("cuda:").and_then(|i| i.parse().ok()) {
            Some(ordinal) => Device::new_cuda(ordinal).map_err(Into::into),
            None => Err(anyhow::anyhow!("unknown device `{other}` (expected cpu, cuda or cuda:N)")),
        },
    };
    device.with_context(|| format!("opening device {name}"))
}

/// Opens `device` and loads the checkpoint in `dir`, with both in the error.
pub fn load(dir: &Path, device: &str) -> Result<LoadedModel> {
    let device = open_device(device)?;
    lastmile::checkpoint::load(dir, &device).with_context(|| format!("loading checkpoint {}", dir.display()))
}

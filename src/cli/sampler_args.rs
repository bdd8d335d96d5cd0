//! The reverse-process flags shared by `repair` and `eval repair`.

use clap::Args;
use lastmile::diffusion::{SamplerConfig, Update};
use lastmile::repair::{Localise, RepairConfig};

/// The reverse process of a repair: how many steps from each noise level.
#[derive(Debug, Clone, Args)]
pub struct SamplerArgs {
    /// Respaced reverse steps from each start level (the same for every level).
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Instead of --steps: visit every STRIDE-th timestep, so a low noise level
    /// takes fewer steps than a high one (level 0.1 with stride 60: 3 steps).
    #[arg(long, conflicts_with = "steps")]
    stride: Option<usize>,
    /// Update rule of the reverse process.
    #[arg(long, value_enum, default_value_t = Update::Ddpm)]
    update: Update,
    /// Replace `x0_hat` by the embedding of its decoded tokens at every step.
    #[arg(long)]
    clamp: bool,
    /// Weight of the noisy input's likelihood in the decoded tokens (0: the
    /// paper's decoding; 1: the model's logits times the Gaussian evidence).
    #[arg(long, default_value_t = 0.0)]
    likelihood: f64,
    /// Error-localised repair: noise only a window around the strict checker's
    /// error (RADIUS positions each side, with INSERTS free slots for missing
    /// tokens), keep the rest of the input clean. One variant per pair of
    /// --radii and --inserts, pooled with the levels and samples.
    #[arg(long)]
    localise: bool,
    /// Window radii of --localise.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3", requires = "localise")]
    radii: Vec<usize>,
    /// Free slots inserted at the error by --localise.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2", requires = "localise")]
    inserts: Vec<usize>,
    /// With --localise: read each window out under the strict checker, the
    /// most probable window tokens (top 8 a position, 256 tries) whose snippet
    /// passes, instead of the argmax at each position.
    #[arg(long, requires = "localise")]
    constrained: bool,
}

impl SamplerArgs {
    /// The sampler these flags describe.
    pub fn config(&self) -> SamplerConfig {
        match self.stride {
            Some(stride) => SamplerConfig {
                steps: None,
                stride: Some(stride.max(1)),
                clamp: self.clamp,
                update: self.update,
                likelihood: self.likelihood,
            },
            None => {
                SamplerConfig { steps: Some(self.steps), stride: None, clamp: self.clamp, update: self.update, likelihood: self.likelihood }
            }
        }
    }

    /// The repair run these flags, levels, samples, batch and seed describe.
    pub fn repair_config(&self, levels: &[f64], samples: usize, batch_size: usize, seed: u64) -> RepairConfig {
        RepairConfig {
            levels: levels.to_vec(),
            samples: samples.max(1),
            sampler: self.config(),
            batch_size,
            seed,
            localise: self.localise(),
        }
    }

    /// The error-localised variants, when `--localise` is given.
    pub fn localise(&self) -> Option<Localise> {
        self.localise.then(|| Localise { radii: self.radii.clone(), inserts: self.inserts.clone(), constrained: self.constrained })
    }
}

//! Reverse diffusion: from pure noise (generation) or from a noised snippet
//! (repair, corpus-anchored rollout) down to `t = 0`, decoding every step.

use super::noise::randn;
use super::{NoiseSchedule, RestrictedReadout, Window};
use crate::model::{CodeFusion, Context};
use candle_core::{Result, Tensor, D};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How `x_{t'}` is formed from `x0_hat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Update {
    /// The paper's update: re-noise `x0_hat` to level `t'` with fresh noise.
    #[default]
    Renoise,
    /// The DDPM posterior `q(x_{t'} | x_t, x0_hat)` with respaced coefficients.
    Ddpm,
}

/// Sampler settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerConfig {
    /// Respaced number of steps; `None` visits every timestep.
    pub steps: Option<usize>,
    /// Instead of `steps`: visit every `stride`-th timestep, so that a chain
    /// started at a low noise level (repair, corpus-anchored rollout) takes
    /// proportionally fewer steps than one started at `T - 1`.
    pub stride: Option<usize>,
    /// Replace `x0_hat` by the embedding of its decoded tokens at every step.
    pub clamp: bool,
    /// The update rule.
    pub update: Update,
    /// Deviation from the spec (`docs/model-spec.md`, 8): weight `w` of the
    /// Gaussian likelihood of the noisy input in the decoded tokens. Every
    /// step adds `w * sqrt(abar_t) / (1 - abar_t) * x_t . E^T` to the head's
    /// logits: `log q(x_t | token)` up to a constant when every row has the same
    /// norm, so a token the input still shows clearly is read back (a product
    /// of the model's prediction and the evidence). 0 (the default) is the
    /// paper's decoding.
    #[serde(skip_serializing_if = "crate::serde_skip::is_default")]
    pub likelihood: f64,
}

impl SamplerConfig {
    /// The timesteps visited from `start` down to 0: with a `stride`,
    /// `start / stride + 1` of them evenly spread (always `start` and 0), else
    /// those of [`NoiseSchedule::timesteps`] with `steps`.
    pub fn timesteps(&self, schedule: &NoiseSchedule, start: usize) -> Vec<usize> {
        match self.stride {
            Some(stride) if stride > 0 => schedule.timesteps(start, Some(start / stride + 1)),
            _ => schedule.timesteps(start, self.steps),
        }
    }

    /// How the timesteps are chosen, in words, for reports.
    pub fn describe(&self) -> String {
        match (self.stride, self.steps) {
            (Some(stride), _) if stride > 0 => format!("every {stride}th timestep"),
            (_, Some(steps)) => format!("{steps} respaced steps"),
            _ => "every timestep".into(),
        }
    }
}

/// One visited step of a batch of chains.
#[derive(Debug, Clone)]
pub struct ChainStep {
    /// The timestep.
    pub t: usize,
    /// `argmax H(D(x0_hat))`, `(b, n)` token ids.
    pub tokens: Vec<Vec<u32>>,
}

/// Where a batch of chains starts.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// `x_{T-1} ~ N(0, I)`: `batch` chains of `len` positions (generation).
    Noise {
        /// Chains run together.
        batch: usize,
        /// Positions of each chain; `None` is the model length `n`. A model
        /// trained on length buckets knows every shorter length (the first
        /// `len` learned positions).
        len: Option<usize>,
    },
    /// `tokens: (b, len)` embedded and noised to timestep `t` (the paper's
    /// repair, corpus-anchored rollout).
    Tokens {
        /// The clean rows ([`super::bucketed_batch`]).
        tokens: &'a Tensor,
        /// The starting timestep.
        t: usize,
    },
    /// Like `Tokens`, but only each row's window is noised and rewritten; every
    /// other position is reset to its clean embedding before every step
    /// (error-localised repair, windowed rollout, length-conditioned generation).
    Windows {
        /// The clean rows, free `<mask>` slots included.
        tokens: &'a Tensor,
        /// One window per row.
        windows: &'a [Window],
        /// Cells read out in a restricted vocabulary, or `None`. It changes only
        /// what each step is decoded as, never the trajectory.
        readout: Option<&'a RestrictedReadout>,
        /// The starting timestep.
        t: usize,
    },
}

/// What a sampler returns.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The final step's tokens (`c_0`), `(b, len)`.
    pub tokens: Vec<Vec<u32>>,
    /// With [`Sampler::scored`]: the final step's log-probabilities over the
    /// vocabulary, `(b, len, V)`, what a constrained read-out ranks by.
    pub scores: Option<Tensor>,
}

/// The reverse process of one model under one schedule and sampler setting:
/// the single entry point of every stage that samples (repair, rollout,
/// generation, conditional generation through [`Sampler::conditioned`]).
#[derive(Clone, Copy)]
pub struct Sampler<'a> {
    model: &'a CodeFusion,
    schedule: &'a NoiseSchedule,
    config: &'a SamplerConfig,
    context: Option<&'a Context>,
    scores: bool,
}

/// Positions held at their clean embeddings through a windowed chain:
/// `x_t <- keep * x0 + (1 - keep) * x_t` before every step.
struct Anchor {
    /// The clean embeddings `E(c)`, `(b, n, d)`.
    x0: Tensor,
    /// `(b, n, 1)`: 1 where the position stays clean, 0 where it is noised.
    keep: Tensor,
}

impl Anchor {
    /// `keep * x0 + (1 - keep) * xs`.
    fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        self.x0.broadcast_mul(&self.keep)? + xs.broadcast_mul(&(1.0 - &self.keep)?)?
    }
}

impl<'a> Sampler<'a> {
    /// A sampler of `model` under `schedule` with `config`.
    pub fn new(model: &'a CodeFusion, schedule: &'a NoiseSchedule, config: &'a SamplerConfig) -> Self {
        Sampler { model, schedule, config, context: None, scores: false }
    }

    /// Conditioned on an encoder's output `(b, m, d)` that the denoiser and
    /// decoder attend to.
    pub fn conditioned(self, context: &'a Context) -> Self {
        Sampler { context: Some(context), ..self }
    }

    /// The model it samples from.
    pub fn model(&self) -> &'a CodeFusion {
        self.model
    }

    /// Also returns the final step's log-probabilities ([`Sampled::scores`]).
    pub fn scored(self) -> Self {
        Sampler { scores: true, ..self }
    }

    /// Runs the reverse process from `start` down to `t = 0`, calling
    /// `on_step` with the decoded tokens of every visited step.
    pub fn run(&self, start: Start<'_>, rng: &mut ChaCha8Rng, on_step: &mut dyn FnMut(&ChainStep)) -> Result<Sampled> {
        match start {
            Start::Noise { batch, len } => {
                let cfg = self.model.config();
                let len = len.unwrap_or(cfg.seq_len).min(cfg.seq_len);
                let x = randn(rng, &[batch, len, cfg.d_model], self.model.device())?;
                self.reverse(x, self.schedule.steps() - 1, None, None, rng, on_step)
            }
            Start::Tokens { tokens, t } => {
                let (_, x_t) = self.embed_and_noise(tokens, t, rng)?;
                self.reverse(x_t, t, None, None, rng, on_step)
            }
            Start::Windows { tokens, windows, readout, t } => {
                let (x0, x_t) = self.embed_and_noise(tokens, t, rng)?;
                let keep = Window::keep_mask(windows.iter().copied(), tokens.dim(1)?, tokens.device())?;
                self.reverse(x_t, t, Some(&Anchor { x0, keep }), readout, rng, on_step)
            }
        }
    }

    /// `x0 = E(tokens)` and `x_t = q(x_t | x0)` with fresh noise.
    fn embed_and_noise(&self, tokens: &Tensor, t: usize, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
        let x0 = self.model.embed(tokens)?;
        let b = x0.dim(0)?;
        let eps = randn(rng, x0.dims(), x0.device())?;
        let x_t = super::noise::q_sample(self.schedule, &x0, &vec![t as u32; b], &eps)?;
        Ok((x0, x_t))
    }

    /// The reverse process from `x_start` at timestep `start`.
    fn reverse(
        &self,
        x_start: Tensor,
        start: usize,
        anchor: Option<&Anchor>,
        readout: Option<&RestrictedReadout>,
        rng: &mut ChaCha8Rng,
        on_step: &mut dyn FnMut(&ChainStep),
    ) -> Result<Sampled> {
        let (model, schedule, config) = (self.model, self.schedule, self.config);
        let timesteps = config.timesteps(schedule, start);
        let b = x_start.dim(0)?;
        let table = if config.clamp || config.likelihood > 0.0 { Some(model.embedding_table()?) } else { None };
        let mut x_t = x_start;
        for (k, &t) in timesteps.iter().enumerate() {
            if let Some(anchor) = anchor {
                x_t = anchor.apply(&x_t)?;
            }
            let x0_hat = model.denoise(&x_t, &vec![t as u32; b], self.context, false)?;
            let logits = model.logits(&model.decode(&x0_hat, self.context, false)?)?;
            let logits = match (&table, config.likelihood > 0.0) {
                (Some(table), true) => (logits + input_likelihood(&x_t, table, schedule.alpha_bar(t))? * config.likelihood)?,
                _ => logits,
            };
            let ids = logits.argmax(D::Minus1)?; // (b, n)
            let mut tokens = ids.to_vec2::<u32>()?;
            if let Some(readout) = readout {
                // what this step is read out as; the update below keeps the model's own x0_hat
                readout.apply(&logits, &mut tokens)?;
            }
            let step = ChainStep { t, tokens };
            on_step(&step);
            let Some(&t_next) = timesteps.get(k + 1) else {
                let scores = match self.scores {
                    true => Some(candle_nn::ops::log_softmax(&logits, D::Minus1)?),
                    false => None,
                };
                return Ok(Sampled { tokens: step.tokens, scores });
            };
            let x0_hat = match table.as_ref().filter(|_| config.clamp) {
                Some(table) => {
                    let (bb, n) = ids.dims2()?;
                    table.index_select(&ids.flatten_all()?, 0)?.reshape((bb, n, table.dim(1)?))?
                }
                None => x0_hat,
            };
            // detached: weights loaded as variables make every op record its
            // inputs for backprop, and an undetached chain would keep every step's
            // activations alive to the end (gigabytes on a batch of long chains)
            x_t = self.update(x_t, x0_hat, t, t_next, rng)?.detach();
        }
        Err(candle_core::Error::Msg("a reverse process without a step".into()))
    }

    /// `x_{t_next}` from `x_t` and `x0_hat` by the configured update rule.
    fn update(&self, x_t: Tensor, x0_hat: Tensor, t: usize, t_next: usize, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let eps = randn(rng, x0_hat.dims(), x0_hat.device())?;
        match self.config.update {
            Update::Renoise => {
                let abar = self.schedule.alpha_bar(t_next);
                (x0_hat * abar.sqrt())? + (eps * (1.0 - abar).sqrt())?
            }
            Update::Ddpm => {
                let (c0, ct, var) = self.schedule.posterior(t, t_next);
                ((x0_hat * c0)? + (x_t * ct)?)? + (eps * var.sqrt())?
            }
        }
    }
}

/// `log q(x_t | x0 = e_v)` for every row `v` of `table: (V, d)` up to a
/// per-position constant (exact when the rows share one norm):
/// `sqrt(abar) / (1 - abar) * x_t . e_v`, `(b, n, d) -> (b, n, V)`.
pub fn input_likelihood(x_t: &Tensor, table: &Tensor, abar: f64) -> Result<Tensor> {
    let (b, n, d) = x_t.dims3()?;
    let scale = abar.sqrt() / (1.0 - abar).max(1e-6);
    (crate::kernels::ops::matmul(&x_t.reshape((b * n, d))?, &table.t()?)? * scale)?.reshape((b, n, table.dim(0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stride_makes_chain_length_proportional_to_the_start() {
        let schedule = NoiseSchedule::sqrt(1200);
        let config = SamplerConfig { stride: Some(60), ..Default::default() };
        assert_eq!(config.timesteps(&schedule, 1199).len(), 20);
        assert_eq!(config.timesteps(&schedule, 420), (0..=7).rev().map(|k| k * 60).collect::<Vec<_>>());
        assert_eq!(config.timesteps(&schedule, 24), vec![24], "below one stride: a single step");
        let steps = SamplerConfig { steps: Some(20), ..Default::default() };
        assert_eq!(steps.timesteps(&schedule, 420).len(), 20, "steps: every chain the same length");
        assert_eq!((config.describe(), steps.describe()), ("every 60th timestep".into(), "20 respaced steps".into()));
    }
}

//! Reverse diffusion: from pure noise (generation) or from a noised snippet
//! (repair, corpus-anchored rollout) down to `t = 0`, decoding every step.

use super::noise::randn;
use super::NoiseSchedule;
use crate::model::CodeFusion;
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
    #[serde(skip_serializing_if = "is_zero")]
    pub likelihood: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
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

/// Positions held at their clean embedding through a reverse process
/// (DiffuSeq-style partial noising): `x_t <- keep * x0 + (1 - keep) * x_t` at
/// every step, so only the other positions are rewritten.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// The clean embeddings `E(c)`, `(b, n, d)`.
    pub x0: Tensor,
    /// `(b, n, 1)`: 1 where the position stays clean, 0 where it is noised.
    pub keep: Tensor,
    /// Cells read out in a restricted vocabulary, or `None`. It changes only
    /// what each step is decoded as, never the trajectory: windowed rollout
    /// reads its windows out this way.
    pub readout: Option<RestrictedReadout>,
}

/// Cells of a batch whose read-out is restricted: each `(row, position,
/// allowed)` is decoded as the most probable of the `allowed` ids instead of
/// the argmax over the vocabulary (ties to the smaller id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestrictedReadout {
    /// `(row, position, allowed ids)`; positions past the batch's length are skipped.
    pub cells: Vec<(usize, usize, Vec<u32>)>,
}

impl RestrictedReadout {
    /// Rewrites the restricted cells of `tokens` from `logits: (b, n, V)`.
    fn apply(&self, logits: &Tensor, tokens: &mut [Vec<u32>]) -> Result<()> {
        let (b, n, v) = logits.dims3()?;
        let cells: Vec<&(usize, usize, Vec<u32>)> = self.cells.iter().filter(|(r, p, _)| *r < b && *p < n).collect();
        if cells.is_empty() {
            return Ok(());
        }
        // only the restricted cells' scores leave the device
        let index: Vec<u32> = cells.iter().map(|(r, p, _)| (r * n + p) as u32).collect();
        let index = Tensor::from_vec(index, cells.len(), logits.device())?;
        let scores = logits.reshape((b * n, v))?.index_select(&index, 0)?.to_vec2::<f32>()?;
        for ((r, p, allowed), scores) in cells.into_iter().zip(scores) {
            let best =
                allowed
                    .iter()
                    .copied()
                    .filter(|&id| (id as usize) < v)
                    .reduce(|a, c| if scores[c as usize] > scores[a as usize] { c } else { a });
            if let Some(best) = best {
                tokens[*r][*p] = best;
            }
        }
        Ok(())
    }
}

/// The `keep` of partial noising for windows: `(b, len, 1)`, 0 on row `r`'s
/// window `windows[r]` (positions, inclusive) and 1 everywhere else. Training
/// noises span windows this way, and windowed rollout its edit windows.
pub fn window_keep(windows: &[std::ops::RangeInclusive<usize>], len: usize, device: &candle_core::Device) -> Result<Tensor> {
    let keep: Vec<f32> = windows.iter().flat_map(|w| (0..len).map(move |p| if w.contains(&p) { 0.0 } else { 1.0 })).collect();
    Tensor::from_vec(keep, (windows.len(), len, 1), device)
}

impl Anchor {
    /// `keep * x0 + (1 - keep) * xs`.
    pub fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        self.x0.broadcast_mul(&self.keep)? + xs.broadcast_mul(&(1.0 - &self.keep)?)?
    }
}

/// Runs the reverse process from `x_start` at timestep `start`, calling
/// `on_step` with the decoded tokens of every visited step; returns the tokens
/// of the final step (`c_0`). With an `anchor`, its kept positions are reset
/// to their clean embeddings before every denoising step.
#[allow(clippy::too_many_arguments)]
pub fn reverse(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    config: &SamplerConfig,
    x_start: Tensor,
    start: usize,
    context: Option<&Tensor>,
    anchor: Option<&Anchor>,
    rng: &mut ChaCha8Rng,
    on_step: &mut dyn FnMut(&ChainStep),
) -> Result<Vec<Vec<u32>>> {
    reverse_scored(model, schedule, config, x_start, start, context, anchor, rng, on_step, false).map(|(last, _)| last)
}

/// [`reverse`], and with `scores` the final step's log-probabilities over the
/// vocabulary, `(b, n, V)`: what a constrained read-out ranks its choices by.
#[allow(clippy::too_many_arguments)]
fn reverse_scored(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    config: &SamplerConfig,
    x_start: Tensor,
    start: usize,
    context: Option<&Tensor>,
    anchor: Option<&Anchor>,
    rng: &mut ChaCha8Rng,
    on_step: &mut dyn FnMut(&ChainStep),
    scores: bool,
) -> Result<(Vec<Vec<u32>>, Option<Tensor>)> {
    let timesteps = config.timesteps(schedule, start);
    let b = x_start.dim(0)?;
    let table = if config.clamp || config.likelihood > 0.0 { Some(model.embedding_table()?) } else { None };
    let mut x_t = x_start;
    let mut last = Vec::new();
    for (k, &t) in timesteps.iter().enumerate() {
        if let Some(anchor) = anchor {
            x_t = anchor.apply(&x_t)?;
        }
        let x0_hat = model.denoise(&x_t, &vec![t as u32; b], context, false)?;
        let logits = model.logits(&model.decode(&x0_hat, context, false)?)?;
        let logits = match (&table, config.likelihood > 0.0) {
            (Some(table), true) => (logits + input_likelihood(&x_t, table, schedule.alpha_bar(t))? * config.likelihood)?,
            _ => logits,
        };
        let ids = logits.argmax(D::Minus1)?; // (b, n)
        let mut tokens = ids.to_vec2::<u32>()?;
        if let Some(readout) = anchor.and_then(|a| a.readout.as_ref()) {
            // what this step is read out as; the update below keeps the model's own x0_hat
            readout.apply(&logits, &mut tokens)?;
        }
        let step = ChainStep { t, tokens };
        on_step(&step);
        last = step.tokens;
        let Some(&t_next) = timesteps.get(k + 1) else {
            let scores = match scores {
                true => Some(candle_nn::ops::log_softmax(&logits, D::Minus1)?),
                false => None,
            };
            return Ok((last, scores));
        };
        let x0_hat = match table.as_ref().filter(|_| config.clamp) {
            Some(table) => {
                let (bb, n) = ids.dims2()?;
                table.index_select(&ids.flatten_all()?, 0)?.reshape((bb, n, table.dim(1)?))?
            }
            None => x0_hat,
        };
        let eps = randn(rng, x0_hat.dims(), x0_hat.device())?;
        x_t = match config.update {
            Update::Renoise => {
                let abar = schedule.alpha_bar(t_next);
                ((x0_hat * abar.sqrt())? + (eps * (1.0 - abar).sqrt())?)?
            }
            Update::Ddpm => {
                let (c0, ct, var) = schedule.posterior(t, t_next);
                (((x0_hat * c0)? + (x_t * ct)?)? + (eps * var.sqrt())?)?
            }
        };
    }
    Ok((last, None))
}

/// `log q(x_t | x0 = e_v)` for every row `v` of `table: (V, d)` up to a
/// per-position constant (exact when the rows share one norm):
/// `sqrt(abar) / (1 - abar) * x_t . e_v`, `(b, n, d) -> (b, n, V)`.
pub fn input_likelihood(x_t: &Tensor, table: &Tensor, abar: f64) -> Result<Tensor> {
    let (b, n, d) = x_t.dims3()?;
    let scale = abar.sqrt() / (1.0 - abar).max(1e-6);
    (crate::model::ops::matmul(&x_t.reshape((b * n, d))?, &table.t()?)? * scale)?.reshape((b, n, table.dim(0)?))
}

/// Unconditional generation: `batch` chains from `x_{T-1} ~ N(0, I)`.
pub fn generate(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    config: &SamplerConfig,
    batch: usize,
    rng: &mut ChaCha8Rng,
    on_step: &mut dyn FnMut(&ChainStep),
) -> Result<Vec<Vec<u32>>> {
    let cfg = model.config();
    let x = randn(rng, &[batch, cfg.seq_len, cfg.d_model], model.device())?;
    reverse(model, schedule, config, x, schedule.steps() - 1, None, None, rng, on_step)
}

/// [`generate`], and the final step's log-probabilities over the vocabulary,
/// `(b, n, V)`, for a read-out constrained by a checker.
pub fn generate_scored(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    config: &SamplerConfig,
    batch: usize,
    rng: &mut ChaCha8Rng,
    on_step: &mut dyn FnMut(&ChainStep),
) -> Result<(Vec<Vec<u32>>, Tensor)> {
    let cfg = model.config();
    let x = randn(rng, &[batch, cfg.seq_len, cfg.d_model], model.device())?;
    let (last, scores) = reverse_scored(model, schedule, config, x, schedule.steps() - 1, None, None, rng, on_step, true)?;
    let scores = scores.ok_or_else(|| candle_core::Error::Msg("a reverse process without a step".into()))?;
    Ok((last, scores))
}

/// Noise injection (repair, corpus-anchored chains): embed `tokens`, noise to
/// level `t`, and resume the reverse process from there.
pub fn from_tokens(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    config: &SamplerConfig,
    tokens: &Tensor,
    t: usize,
    rng: &mut ChaCha8Rng,
    on_step: &mut dyn FnMut(&ChainStep),
) -> Result<Vec<Vec<u32>>> {
    let (_, x_t) = embed_and_noise(model, schedule, tokens, t, rng)?;
    reverse(model, schedule, config, x_t, t, None, None, rng, on_step)
}

/// `x0 = E(tokens)` and `x_t = q(x_t | x0)` with fresh noise.
fn embed_and_noise(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    tokens: &Tensor,
    t: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(Tensor, Tensor)> {
    let x0 = model.embed(tokens)?;
    let b = x0.dim(0)?;
    let eps = randn(rng, x0.dims(), x0.device())?;
    let x_t = super::noise::q_sample(schedule, &x0, &vec![t as u32; b], &eps)?;
    Ok((x0, x_t))
}

/// Partial noise injection (error-localised repair): like [`from_tokens`], but
/// only the positions where `keep: (b, n, 1)` is 0 are noised and rewritten;
/// the others are reset to their clean embeddings at every step. `readout`:
/// see [`Anchor::readout`].
#[allow(clippy::too_many_arguments)]
pub fn from_tokens_partial(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    config: &SamplerConfig,
    tokens: &Tensor,
    keep: &Tensor,
    readout: Option<&RestrictedReadout>,
    t: usize,
    rng: &mut ChaCha8Rng,
    on_step: &mut dyn FnMut(&ChainStep),
) -> Result<Vec<Vec<u32>>> {
    let (x0, x_t) = embed_and_noise(model, schedule, tokens, t, rng)?;
    let anchor = Anchor { x0, keep: keep.clone(), readout: readout.cloned() };
    reverse(model, schedule, config, x_t, t, None, Some(&anchor), rng, on_step)
}

/// [`from_tokens_partial`], and the final step's log-probabilities over the
/// vocabulary, `(b, n, V)`, for a read-out constrained by a checker.
#[allow(clippy::too_many_arguments)]
pub fn from_tokens_partial_scored(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    config: &SamplerConfig,
    tokens: &Tensor,
    keep: &Tensor,
    t: usize,
    rng: &mut ChaCha8Rng,
    on_step: &mut dyn FnMut(&ChainStep),
) -> Result<(Vec<Vec<u32>>, Tensor)> {
    let (x0, x_t) = embed_and_noise(model, schedule, tokens, t, rng)?;
    let anchor = Anchor { x0, keep: keep.clone(), readout: None };
    let (last, scores) = reverse_scored(model, schedule, config, x_t, t, None, Some(&anchor), rng, on_step, true)?;
    let scores = scores.ok_or_else(|| candle_core::Error::Msg("a reverse process without a step".into()))?;
    Ok((last, scores))
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

    #[test]
    fn a_restricted_readout_takes_the_best_allowed_token_of_its_cells_only() {
        // (b=2, n=3, V=4): the argmax is token 3 everywhere, then 2, 1, 0
        let row = [0.0f32, 1.0, 2.0, 3.0];
        let logits = Tensor::from_vec(row.repeat(6), (2, 3, 4), &candle_core::Device::Cpu).unwrap();
        let mut tokens = vec![vec![3u32; 3]; 2];
        let readout =
            RestrictedReadout { cells: vec![(0, 1, vec![0, 2]), (1, 2, vec![1]), (1, 0, vec![]), (0, 7, vec![0]), (5, 0, vec![0])] };
        readout.apply(&logits, &mut tokens).unwrap();
        // (0, 1): the better of 0 and 2; (1, 2): its only token; an empty cell and cells
        // outside the batch leave the argmax
        assert_eq!(tokens, vec![vec![3, 2, 3], vec![3, 3, 1]]);
    }
}

//! Diagnostics of a trained denoiser: token accuracy of `H(D(N(x_t, t)))` per
//! noise level. It must fall from ~100% at small `t` to chance at `t = T-1`;
//! a curve that stays high shows noise that does not matter (CodeFusion's
//! embedding-scale failure mode).

use super::TokenizedSplit;
use crate::diffusion::{q_sample, randn, NoiseSchedule};
use crate::model::CodeFusion;
use crate::tokenizer::{EOS, PAD};
use candle_core::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::HashMap;

/// Accuracy at one noise level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelAccuracy {
    /// Timestep.
    pub t: usize,
    /// Accuracy over snippet positions (its tokens and `<eos>`).
    pub snippet_accuracy: f64,
    /// Accuracy over all `n` positions, pads included.
    pub all_accuracy: f64,
}

/// Per-level accuracies and the chance level they are compared with.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyByT {
    /// One entry per requested timestep.
    pub levels: Vec<LevelAccuracy>,
    /// Accuracy of always predicting the most frequent snippet token.
    pub chance_snippet_accuracy: f64,
    /// Snippets evaluated.
    pub examples: usize,
}

/// Measures accuracy at each of `ts` on the first `examples` snippets of `split`.
pub fn accuracy_by_t(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    split: &TokenizedSplit,
    ts: &[usize],
    examples: usize,
    batch: usize,
    seed: u64,
) -> Result<AccuracyByT> {
    let examples = examples.min(split.len());
    let device = model.device().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts: HashMap<u32, usize> = HashMap::new();
    let mut snippet_positions = 0usize;
    for row in &split.rows[..examples] {
        for &id in row.iter().take_while(|&&id| id != PAD) {
            *counts.entry(id).or_default() += 1;
            snippet_positions += 1;
            if id == EOS {
                break;
            }
        }
    }
    let majority = counts.values().copied().max().unwrap_or(0);
    let mut levels = Vec::with_capacity(ts.len());
    for &t in ts {
        let (mut hit_snippet, mut hit_all, mut total_all) = (0usize, 0usize, 0usize);
        for start in (0..examples).step_by(batch) {
            let indices: Vec<usize> = (start..(start + batch).min(examples)).collect();
            let (tokens, _) = split.batch(&indices, &device)?;
            let x0 = model.embed(&tokens)?;
            let eps = randn(&mut rng, x0.dims(), &device)?;
            let x_t = q_sample(schedule, &x0, &vec![t as u32; indices.len()], &eps)?;
            let x0_hat = model.denoise(&x_t, &vec![t as u32; indices.len()], None, false)?;
            let predicted = model.decode_tokens(&x0_hat, None)?;
            for (row, &i) in predicted.iter().zip(&indices) {
                let truth = &split.rows[i];
                let snippet_len = truth.iter().position(|&id| id == EOS).map_or(truth.len(), |p| p + 1);
                hit_snippet += row[..snippet_len].iter().zip(&truth[..snippet_len]).filter(|(a, b)| a == b).count();
                hit_all += row.iter().zip(truth).filter(|(a, b)| a == b).count();
                total_all += truth.len();
            }
        }
        levels.push(LevelAccuracy {
            t,
            snippet_accuracy: hit_snippet as f64 / snippet_positions.max(1) as f64,
            all_accuracy: hit_all as f64 / total_all.max(1) as f64,
        });
    }
    Ok(AccuracyByT { levels, chance_snippet_accuracy: majority as f64 / snippet_positions.max(1) as f64, examples })
}

//! `lastmile eval denoiser`: diagnostics of a trained denoiser: token accuracy of `H(D(N(x_t, t)))` per
//! noise level. It must fall from ~100% at small `t` to chance at `t = T-1`;
//! a curve that stays high shows noise that does not matter (CodeFusion's
//! embedding-scale failure mode).

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
    /// Snippet accuracy over the tokens among the [`FREQUENT_TOKENS`] most
    /// frequent ids of the evaluated snippets.
    pub frequent_accuracy: f64,
    /// Snippet accuracy over all other tokens (sheet names, numbers, rare
    /// functions: what copying has to carry).
    pub rare_accuracy: f64,
    /// Snippet accuracy of rounding the noisy input `x_t` to its nearest
    /// embedding row: what a model that only denoised could reach.
    pub round_input_accuracy: f64,
    /// Snippet accuracy of rounding `D(x0_hat)` to its nearest embedding row
    /// instead of reading it out with the head.
    pub round_decoded_accuracy: f64,
    /// Snippet accuracy of the head's logits plus the noisy input's
    /// log-likelihood (the sampler's `likelihood = 1`).
    pub with_likelihood_accuracy: f64,
}

/// How many of the most frequent ids count as frequent in [`LevelAccuracy`].
pub const FREQUENT_TOKENS: usize = 64;

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

/// Measures accuracy at each of `ts` on the first `examples` of `rows`
/// (snippets encoded to the model length: `c, <eos>, <pad>...`).
pub fn accuracy_by_t(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    rows: &[Vec<u32>],
    ts: &[usize],
    examples: usize,
    batch: usize,
    seed: u64,
) -> Result<AccuracyByT> {
    let examples = examples.min(rows.len());
    let device = model.device().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts: HashMap<u32, usize> = HashMap::new();
    let mut snippet_positions = 0usize;
    for row in &rows[..examples] {
        for &id in row.iter().take_while(|&&id| id != PAD) {
            *counts.entry(id).or_default() += 1;
            snippet_positions += 1;
            if id == EOS {
                break;
            }
        }
    }
    let majority = counts.values().copied().max().unwrap_or(0);
    let mut by_count: Vec<(u32, usize)> = counts.iter().map(|(&id, &c)| (id, c)).collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let frequent: std::collections::HashSet<u32> = by_count.iter().take(FREQUENT_TOKENS).map(|&(id, _)| id).collect();
    let mut levels = Vec::with_capacity(ts.len());
    for &t in ts {
        let (mut hit_snippet, mut hit_all, mut total_all) = (0usize, 0usize, 0usize);
        let (mut hit_frequent, mut total_frequent, mut hit_rare, mut total_rare) = (0usize, 0usize, 0usize, 0usize);
        let (mut hit_round_input, mut hit_round_decoded, mut hit_likelihood) = (0usize, 0usize, 0usize);
        let table = model.embedding_table()?;
        for start in (0..examples).step_by(batch) {
            let indices: Vec<usize> = (start..(start + batch).min(examples)).collect();
            // a model trained on length buckets is measured on the batch's bucket (else n)
            let (tokens, len) =
                crate::diffusion::bucketed_batch(model, &indices.iter().map(|&i| rows[i].as_slice()).collect::<Vec<_>>(), 1)?;
            let x0 = model.embed(&tokens)?;
            let eps = randn(&mut rng, x0.dims(), &device)?;
            let x_t = q_sample(schedule, &x0, &vec![t as u32; indices.len()], &eps)?;
            let x0_hat = model.denoise(&x_t, &vec![t as u32; indices.len()], None, false)?;
            let decoded = model.decode(&x0_hat, None, false)?;
            let logits = model.logits(&decoded)?;
            let predicted = logits.argmax(candle_core::D::Minus1)?.to_vec2::<u32>()?;
            let with_likelihood = (logits + crate::diffusion::input_likelihood(&x_t, &table, schedule.alpha_bar(t))?)?
                .argmax(candle_core::D::Minus1)?
                .to_vec2::<u32>()?;
            let rounded_input = model.nearest_rows(&x_t)?;
            let rounded_decoded = model.nearest_rows(&decoded)?;
            for (r, &i) in indices.iter().enumerate() {
                let (row, truth) = (&predicted[r], &rows[i]);
                let snippet_len = crate::tokenizer::len_with_eos(truth);
                let hits = |guess: &[u32]| guess[..snippet_len].iter().zip(&truth[..snippet_len]).filter(|(a, b)| a == b).count();
                hit_snippet += hits(row);
                hit_round_input += hits(&rounded_input[r]);
                hit_round_decoded += hits(&rounded_decoded[r]);
                hit_likelihood += hits(&with_likelihood[r]);
                for (guess, id) in row[..snippet_len].iter().zip(&truth[..snippet_len]) {
                    let (hit, total) =
                        if frequent.contains(id) { (&mut hit_frequent, &mut total_frequent) } else { (&mut hit_rare, &mut total_rare) };
                    *hit += usize::from(guess == id);
                    *total += 1;
                }
                // positions cut off by the bucket are pads, and count as read back
                hit_all += row.iter().zip(truth).filter(|(a, b)| a == b).count() + (truth.len() - len);
                total_all += truth.len();
            }
        }
        levels.push(LevelAccuracy {
            t,
            snippet_accuracy: hit_snippet as f64 / snippet_positions.max(1) as f64,
            all_accuracy: hit_all as f64 / total_all.max(1) as f64,
            frequent_accuracy: hit_frequent as f64 / total_frequent.max(1) as f64,
            rare_accuracy: hit_rare as f64 / total_rare.max(1) as f64,
            round_input_accuracy: hit_round_input as f64 / snippet_positions.max(1) as f64,
            round_decoded_accuracy: hit_round_decoded as f64 / snippet_positions.max(1) as f64,
            with_likelihood_accuracy: hit_likelihood as f64 / snippet_positions.max(1) as f64,
        });
    }
    Ok(AccuracyByT { levels, chance_snippet_accuracy: majority as f64 / snippet_positions.max(1) as f64, examples })
}

/// Figure: accuracy per noise level (snippet and all positions, chance) to `path`.
pub fn accuracy_chart(result: &AccuracyByT, steps: usize, path: &std::path::Path) -> std::result::Result<(), crate::plot::PlotError> {
    use crate::plot::{line_chart, LineChart, Series};
    let points = |f: fn(&LevelAccuracy) -> f64| result.levels.iter().map(|l| (l.t as f64, f(l))).collect::<Vec<_>>();
    let chart = LineChart {
        title: "denoiser token accuracy per noise level",
        x_label: "t",
        y_label: "accuracy",
        series: vec![
            Series { label: "snippet positions".into(), points: points(|l| l.snippet_accuracy) },
            Series { label: "all positions".into(), points: points(|l| l.all_accuracy) },
            Series { label: "rare tokens".into(), points: points(|l| l.rare_accuracy) },
            Series { label: "nearest row of x_t".into(), points: points(|l| l.round_input_accuracy) },
            Series {
                label: "chance (majority token)".into(),
                points: vec![(0.0, result.chance_snippet_accuracy), ((steps - 1) as f64, result.chance_snippet_accuracy)],
            },
        ],
        y_range: Some((0.0, 1.02)),
        markers: Vec::new(),
    };
    line_chart(&chart, path)
}

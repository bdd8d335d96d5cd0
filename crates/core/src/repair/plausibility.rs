//! How plausible the model finds a whole snippet: the log-probability its head
//! gives the snippet's own tokens (and `<eos>`) when the snippet is noised to
//! timesteps `t` and denoised once, summed over positions and averaged over
//! levels and noise draws. Candidates of one input share most tokens, so
//! comparing their plausibility asks the model which edit reads most like
//! code it has seen: `=IF(B3>10,1,0)` against the checker-valid but absurd
//! `=IF(B3>10 -1<0)`. Every snippet sees the same noise at the same position,
//! so two candidates differ in score only where they differ in tokens.

use crate::diffusion::{q_sample, randn, NoiseSchedule};
use crate::model::CodeFusion;
use crate::tokenizer::{fixed_row, len_with_eos, CodeTokenizer, TokenizerError};
use candle_core::D;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of [`plausibility`]: noise levels, draws per level, the seed of
/// the shared noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plausibility {
    /// Noise levels as fractions of `T - 1`: low enough that the context is
    /// mostly legible, high enough that the model, not the noisy input, decides.
    pub levels: Vec<f64>,
    /// Noise draws per level.
    pub draws: usize,
    /// Seed of the noise (the same for every snippet).
    pub seed: u64,
}

impl Default for Plausibility {
    fn default() -> Self {
        Plausibility { levels: vec![0.35, 0.5], draws: 2, seed: 0 }
    }
}

/// Errors of [`plausibility`].
#[derive(Debug, thiserror::Error)]
pub enum PlausibilityError {
    /// The model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// Tokenising failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// Each snippet's plausibility (see the module header; higher is more
/// plausible), `None` for one longer than the model's length. Snippets are
/// scored `batch` at a time; the result does not depend on the batching.
pub fn plausibility(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    texts: &[&str],
    settings: &Plausibility,
    batch: usize,
) -> Result<Vec<Option<f64>>, PlausibilityError> {
    let per_token = token_plausibility(model, tokenizer, texts, settings, batch)?;
    Ok(per_token.into_iter().map(|scores| scores.map(|s| s.iter().sum())).collect())
}

/// The [`plausibility`] of each distinct text of `texts`, scored once, by
/// text; a text longer than the model has none.
pub fn plausibility_by_text<'t>(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    texts: impl IntoIterator<Item = &'t str>,
    settings: &Plausibility,
    batch: usize,
) -> Result<std::collections::HashMap<String, f64>, PlausibilityError> {
    let mut texts: Vec<&str> = texts.into_iter().collect();
    texts.sort_unstable();
    texts.dedup();
    let scores = plausibility(model, tokenizer, &texts, settings, batch)?;
    Ok(texts.iter().zip(scores).filter_map(|(text, score)| Some((text.to_string(), score?))).collect())
}

/// What [`plausibility`] sums: each snippet's per-token log-probabilities
/// (its tokens, then `<eos>`), averaged over levels and draws; the lowest is
/// where the model would least have written what the snippet has.
pub fn token_plausibility(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    texts: &[&str],
    settings: &Plausibility,
    batch: usize,
) -> Result<Vec<Option<Vec<f64>>>, PlausibilityError> {
    let n = model.config().seq_len;
    let d = model.config().d_model;
    let schedule = NoiseSchedule::sqrt(model.config().diffusion_steps);
    let device = model.device().clone();
    let rows: Vec<Option<Vec<u32>>> =
        texts.iter().map(|text| Ok(fixed_row(&tokenizer.encode(text)?, 0, 0, n))).collect::<Result<_, TokenizerError>>()?;
    // snippets of one length bucket are scored together, so each is always
    // scored at its own bucket's length whatever else is in the batch
    let mut fits: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].is_some()).collect();
    let bucket = |i: usize| model.config().trimmed_len(rows[i].as_deref().map_or(0, len_with_eos));
    fits.sort_by_key(|&i| (bucket(i), i));
    let groups: Vec<&[usize]> = fits.chunk_by(|&a, &b| bucket(a) == bucket(b)).collect();
    let mut totals: Vec<Vec<f64>> = rows.iter().map(|row| vec![0.0; row.as_deref().map_or(0, len_with_eos)]).collect();
    let draws = settings.draws.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    for &level in &settings.levels {
        let t = schedule.level(level);
        for _ in 0..draws {
            // one (n, d) noise shared by every snippet: position i always gets the same draw
            let eps = randn(&mut rng, &[n, d], &device)?;
            for chunk in groups.iter().flat_map(|group| group.chunks(batch.max(1))) {
                let batch_rows: Vec<&[u32]> = chunk.iter().map(|&i| rows[i].as_deref().expect("fits")).collect();
                let (tokens, len) = crate::diffusion::bucketed_batch(model, &batch_rows, 1)?;
                let x0 = model.embed(&tokens)?;
                let noise = eps.narrow(0, 0, len)?.unsqueeze(0)?.broadcast_as(x0.dims())?.contiguous()?;
                let ts = vec![t as u32; chunk.len()];
                let x_t = q_sample(&schedule, &x0, &ts, &noise)?;
                let x0_hat = model.denoise(&x_t, &ts, None, false)?;
                let logits = model.logits(&model.decode(&x0_hat, None, false)?)?;
                let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
                let own = log_probs.gather(&tokens.unsqueeze(2)?, 2)?.squeeze(2)?.to_vec2::<f32>()?;
                for ((&i, row), scores) in chunk.iter().zip(&batch_rows).zip(own) {
                    for (total, &score) in totals[i].iter_mut().zip(&scores[..len_with_eos(row)]) {
                        *total += f64::from(score);
                    }
                }
            }
        }
    }
    let runs = (settings.levels.len() * draws).max(1) as f64;
    Ok(rows.iter().zip(totals).map(|(row, total)| row.as_ref().map(|_| total.into_iter().map(|t| t / runs).collect())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_do_not_depend_on_batching_and_long_snippets_get_none() {
        let (model, tokenizer) = crate::test_models::tiny_excel();
        let long = format!("={}", vec!["A1"; 40].join("+"));
        let texts = ["=SUM(A1:A3)", "=SUM(A1:A3", long.as_str(), "=IF(B3>10,1,0)"];
        let settings = Plausibility { levels: vec![0.3, 0.6], draws: 2, seed: 3 };
        let one = plausibility(&model, &tokenizer, &texts, &settings, 1).unwrap();
        let all = plausibility(&model, &tokenizer, &texts, &settings, 8).unwrap();
        assert!(one[2].is_none() && all[2].is_none(), "longer than n");
        for (a, b) in one.iter().zip(&all) {
            if let (Some(a), Some(b)) = (a, b) {
                assert!((a - b).abs() < 1e-3, "{a} vs {b}");
                assert!(*a < 0.0, "a sum of log-probabilities");
            }
        }
        let per_token = token_plausibility(&model, &tokenizer, &texts, &settings, 3).unwrap();
        let (ids, _) = tokenizer.encode_with_offsets(texts[0]).unwrap();
        assert_eq!(per_token[0].as_ref().unwrap().len(), ids.len() + 1, "each token and <eos>");
        let summed: f64 = per_token[3].as_ref().unwrap().iter().sum();
        assert!((summed - all[3].unwrap()).abs() < 1e-3, "plausibility is the per-token sum");
        let other_seed = plausibility(&model, &tokenizer, &texts, &Plausibility { seed: 4, ..settings }, 8).unwrap();
        assert_ne!(other_seed[0], all[0], "the noise is drawn from the seed");
    }
}

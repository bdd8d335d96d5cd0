//! The random draws of one training step, made so that none depends on how the
//! global batch is split over workers (data-parallel pretraining, `dist/`).
//!
//! - The draws of the whole global batch (which rows, at which length, whether
//!   it is a CPD or a span batch) come from a stream keyed by `(seed, step)`:
//!   every rank makes them, identically.
//! - The draws of one example (its timestep, its span window, its noise) come
//!   from that example's own stream, keyed by `(seed, step, example index in the
//!   global batch)`: a rank draws only its own examples, and an example gets the
//!   same draws whichever rank takes it and however many ranks there are.
//!
//! A step is a pure function of `(seed, step)` and the weights, so a run resumes
//! at any world size.

use super::config::TrainConfig;
use super::data::TokenizedSplit;
use crate::model::ModelConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::collections::BTreeMap;
use std::ops::{Range, RangeInclusive};

/// The key of step `step`'s streams: sha256 of a tag, the seed and the step.
fn step_key(seed: u64, step: usize) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(b"lastmile train step")
        .chain_update(seed.to_le_bytes())
        .chain_update((step as u64).to_le_bytes())
        .finalize()
        .into()
}

/// The stream of the draws shared by the whole global batch of step `step`.
pub fn batch_stream(seed: u64, step: usize) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(step_key(seed, step))
}

/// The stream of example `example` (its index in the global batch) of step `step`.
pub fn example_stream(seed: u64, step: usize, example: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(step_key(seed, step));
    rng.set_stream(example as u64 + 1); // stream 0 is the batch's
    rng
}

/// The global batch of one step: every rank draws the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    /// Row indices of the training split, one per example of the global batch.
    pub indices: Vec<usize>,
    /// Positions every row is cut to (a length bucket, or the model's `n`).
    pub len: usize,
    /// Whether this is a CPD batch (the maskable spans kept clean).
    pub cpd: bool,
    /// Whether this is a span batch (one noised window per row, the rest clean).
    pub span: bool,
}

impl BatchPlan {
    /// Draws step `step`'s global batch of `config.batch_size` rows.
    pub fn draw(
        config: &TrainConfig,
        model: &ModelConfig,
        train: &TokenizedSplit,
        buckets: Option<&BTreeMap<usize, Vec<usize>>>,
        step: usize,
    ) -> BatchPlan {
        let mut rng = batch_stream(config.seed, step);
        // length buckets: a share of the batches stays uniform at full length,
        // the rest are similar-length rows cut to their bucket (drawn only when enabled)
        let (indices, len) = match buckets {
            Some(buckets) if !rng.random_bool(config.full_length_prob) => {
                train.sample_bucketed(config.batch_size, model, buckets, &mut rng)
            }
            _ => (train.sample_indices(config.batch_size, &mut rng), model.seq_len),
        };
        let cpd = config.cpd_prob > 0.0 && rng.random_bool(config.cpd_prob.min(1.0));
        let span = !cpd && config.span_prob > 0.0 && rng.random_bool(config.span_prob);
        BatchPlan { indices, len, cpd, span }
    }
}

/// The draws of a rank's share of a global batch, in example order.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleDraws {
    /// One timestep per example.
    pub t: Vec<u32>,
    /// Standard normal noise, `len * d` per example, examples one after another.
    pub eps: Vec<f32>,
    /// One span window (positions, inclusive) per example, in span batches.
    pub spans: Vec<RangeInclusive<usize>>,
}

impl ExampleDraws {
    /// Draws the examples `share` of `plan` (indices into the global batch)
    /// from their own streams: the timestep, then the span window (span
    /// batches only), then `len * d` noise values.
    pub fn draw(
        config: &TrainConfig,
        plan: &BatchPlan,
        train: &TokenizedSplit,
        diffusion_steps: usize,
        d: usize,
        share: Range<usize>,
        step: usize,
    ) -> Self {
        let mut draws =
            ExampleDraws { t: Vec::with_capacity(share.len()), eps: Vec::with_capacity(share.len() * plan.len * d), spans: Vec::new() };
        for example in share {
            let mut rng = example_stream(config.seed, step, example);
            draws.t.push(config.draw_timestep(diffusion_steps, &mut rng));
            if plan.span {
                draws.spans.push(train.span_window(plan.indices[example], plan.len, config.span_max, &mut rng));
            }
            draws.eps.extend((0..plan.len * d).map(|_| rng.sample::<f32, _>(StandardNormal)));
        }
        draws
    }
}

/// The examples `[B·r/W, B·(r+1)/W)` of a global batch of `batch` that rank
/// `rank` of `world` takes: contiguous, in order, sizes differing by at most one.
pub fn share(batch: usize, rank: usize, world: usize) -> Range<usize> {
    batch * rank / world..batch * (rank + 1) / world
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_batch_once_in_order() {
        for (batch, world) in [(32, 1), (32, 2), (32, 3), (7, 4), (3, 3)] {
            let shares: Vec<Range<usize>> = (0..world).map(|r| share(batch, r, world)).collect();
            assert_eq!(shares[0].start, 0);
            assert_eq!(shares[world - 1].end, batch);
            assert!(shares.windows(2).all(|w| w[0].end == w[1].start), "{shares:?}");
            assert!(shares.iter().all(|s| s.len() == batch / world || s.len() == batch / world + 1), "{shares:?}");
        }
    }

    #[test]
    fn streams_are_keyed_by_seed_step_and_example() {
        let first = |mut rng: ChaCha8Rng| rng.random::<u64>();
        assert_eq!(first(example_stream(1, 5, 3)), first(example_stream(1, 5, 3)));
        let others = [example_stream(2, 5, 3), example_stream(1, 6, 3), example_stream(1, 5, 4), batch_stream(1, 5)];
        for other in others {
            assert_ne!(first(example_stream(1, 5, 3)), first(other));
        }
    }
}

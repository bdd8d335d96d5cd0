//! The fixer's pretraining objective: text infilling (BART, T5's span
//! corruption with one mask id): spans of a corpus snippet's tokens are each
//! replaced by one `<mask>`, and the fixer writes the whole snippet back. A
//! fixer pretrained so already knows the language and copies what is right
//! before it sees a single (broken → fixed) pair; fine-tuning then teaches the
//! repair (`FixerRecipe::init_from`).
//!
//! Each pair is corrupted afresh every time a batch holds it, from a seed
//! named by the run's seed, the step and the pair's place in the batch, so
//! that a resumed run sees the same sources.

use crate::tokenizer::{EOS, MASK};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Share of a snippet's tokens hidden (BART's 30%).
pub const MASK_RATIO: f64 = 0.3;
/// Longest span hidden under one `<mask>`; span lengths are drawn from 1 to
/// this, mean about 3 (BART's Poisson(3)).
pub const MAX_SPAN: usize = 6;

/// `target` (a snippet's ids with `<eos>`) with spans replaced by one
/// `<mask>` each, `<eos>` kept: about [`MASK_RATIO`] of its tokens hidden, at
/// least one.
pub fn mask_spans(target: &[u32], rng: &mut ChaCha8Rng) -> Vec<u32> {
    let body = target.strip_suffix(&[EOS]).unwrap_or(target);
    let n = body.len();
    if n == 0 {
        return target.to_vec();
    }
    let budget = ((n as f64 * MASK_RATIO).round() as usize).max(1);
    let mut hidden = vec![false; n];
    let mut count = 0;
    // a few draws more than needed: spans that overlap hidden tokens add less
    for _ in 0..4 * budget {
        if count >= budget {
            break;
        }
        // lengths 1..=MAX_SPAN, shorter ones likelier (triangular, mean ~2.7)
        let len = 1 + rng.random_range(0..MAX_SPAN).min(rng.random_range(0..MAX_SPAN)).min(budget - count - 1).min(n - 1);
        let start = rng.random_range(0..=n - len);
        for h in &mut hidden[start..start + len] {
            count += usize::from(!*h);
            *h = true;
        }
    }
    let mut out = Vec::with_capacity(n + 1);
    for (i, &id) in body.iter().enumerate() {
        match hidden[i] {
            // one <mask> per run of hidden tokens
            true if i > 0 && hidden[i - 1] => {}
            true => out.push(MASK),
            false => out.push(id),
        }
    }
    if target.last() == Some(&EOS) {
        out.push(EOS);
    }
    out
}

/// The random stream of the pair at `slot` of the batch of `step`.
pub fn corruption_rng(seed: u64, step: usize, slot: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xde_4015e);
    rng.set_stream(((step as u64) << 16) | slot as u64);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Unmasking is possible: the kept tokens appear in order, every run of
        /// hidden ones is one `<mask>`, about 30% is hidden, and `<eos>` stays.
        #[test]
        fn spans_become_one_mask_each(body in proptest::collection::vec(4u32..4096, 1..120), seed in any::<u64>()) {
            let target: Vec<u32> = body.iter().copied().chain([EOS]).collect();
            let source = mask_spans(&target, &mut corruption_rng(seed, 3, 1));
            prop_assert_eq!(source.last(), Some(&EOS));
            let masks = source.iter().filter(|&&id| id == MASK).count();
            prop_assert!(masks >= 1);
            prop_assert!(!source.windows(2).any(|w| w == [MASK, MASK]), "adjacent masks: {:?}", source);
            // the kept tokens are a subsequence of the snippet
            let kept: Vec<u32> = source.iter().copied().filter(|&id| id != MASK && id != EOS).collect();
            let mut rest = body.iter();
            prop_assert!(kept.iter().all(|k| rest.any(|b| b == k)));
            let hidden = body.len() - kept.len();
            let budget = ((body.len() as f64 * MASK_RATIO).round() as usize).max(1);
            prop_assert!(hidden >= 1 && hidden <= budget + MAX_SPAN, "{} hidden of {}", hidden, body.len());
            // same stream, same corruption
            prop_assert_eq!(mask_spans(&target, &mut corruption_rng(seed, 3, 1)), source);
        }
    }

    #[test]
    fn streams_differ_by_step_and_slot() {
        let target: Vec<u32> = (10..60).chain([EOS]).collect();
        let a = mask_spans(&target, &mut corruption_rng(0, 1, 0));
        assert_ne!(a, mask_spans(&target, &mut corruption_rng(0, 2, 0)));
        assert_ne!(a, mask_spans(&target, &mut corruption_rng(0, 1, 1)));
        assert_eq!(mask_spans(&[EOS], &mut corruption_rng(0, 1, 1)), [EOS], "nothing to hide");
    }
}

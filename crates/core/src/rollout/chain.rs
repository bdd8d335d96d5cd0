//! Running a batch of reverse-diffusion chains and decoding every visited step.

use crate::dataset::ChainStepRecord;
use crate::diffusion::{bucketed_batch, ChainStep, EosInWindow, RestrictedReadout, Sampler, Start, Window};
use crate::tokenizer::{snippet_ids, CodeTokenizer, TokenizerError};
use rand_chacha::ChaCha8Rng;

/// One decoded step of one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedStep {
    /// Timestep.
    pub t: usize,
    /// Model tokens up to the first `<eos>`/`<pad>`.
    pub ids: Vec<u32>,
}

/// One finished chain: its visited steps, highest `t` first; the last is `c_0`.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Global chain index.
    pub chain_id: u64,
    /// The real snippet the chain was anchored on (`None`: unconditional).
    pub anchor: Option<String>,
    /// Every visited step.
    pub steps: Vec<DecodedStep>,
}

/// Real snippets a batch of chains is anchored on: each row noised to `t0`
/// whole, or only in its window (every other position held clean through the
/// chain, each step recorded as the clean snippet with the window's decoded
/// tokens spliced in).
#[derive(Debug, Clone, Copy)]
pub struct Anchors<'a> {
    /// The snippets' texts (the fixed sides).
    pub texts: &'a [String],
    /// Their fixed-length token ids, free slots inserted where windowed.
    pub rows: &'a [Vec<u32>],
    /// Each row's noised window, or `None`: the whole row is noised.
    pub windows: Option<&'a [Window]>,
    /// The windows' restricted read-out, or `None`.
    pub readout: Option<&'a RestrictedReadout>,
    /// The starting timestep.
    pub t0: usize,
}

/// A rollout's broken side keeps the anchor's tail: an `<eos>` the model
/// writes inside a window is no token.
const EOS_IN_WINDOW: EosInWindow = EosInWindow::Deleted;

/// Runs one batch of chains with ids `first_id..first_id + batch`: anchored
/// on `anchors` (then `batch` is their count), or from pure noise.
pub fn run_batch(
    sampler: &Sampler<'_>,
    anchors: Option<Anchors<'_>>,
    batch: usize,
    first_id: u64,
    rng: &mut ChaCha8Rng,
) -> candle_core::Result<Vec<Chain>> {
    let mut steps: Vec<Vec<DecodedStep>> = vec![Vec::new(); batch];
    let texts: Vec<Option<String>> = match anchors {
        None => {
            sampler.run(Start::Noise { batch, len: None }, rng, &mut |step| record(&mut steps, step, None))?;
            vec![None; batch]
        }
        Some(Anchors { texts, rows, windows, readout, t0 }) => {
            // the batch's bucket holds every row's snippet and window
            let min_len = windows.into_iter().flatten().map(|w| w.hi + 1).max().unwrap_or(0);
            let (tokens, _) = bucketed_batch(sampler.model(), &rows.iter().map(Vec::as_slice).collect::<Vec<_>>(), min_len)?;
            let start = match windows {
                None => Start::Tokens { tokens: &tokens, t: t0 },
                Some(windows) => Start::Windows { tokens: &tokens, windows, readout, t: t0 },
            };
            sampler.run(start, rng, &mut |step| record(&mut steps, step, windows.map(|w| (rows, w))))?;
            texts.iter().cloned().map(Some).collect()
        }
    };
    Ok(steps
        .into_iter()
        .zip(texts)
        .enumerate()
        .map(|(k, (steps, anchor))| Chain { chain_id: first_id + k as u64, anchor, steps })
        .collect())
}

/// Appends one visited step to each chain: its snippet ids, or for windowed
/// chains the clean row with the window's read-out spliced in.
fn record(steps: &mut [Vec<DecodedStep>], step: &ChainStep, windowed: Option<(&[Vec<u32>], &[Window])>) {
    for (k, (chain, decoded)) in steps.iter_mut().zip(&step.tokens).enumerate() {
        let ids = match windowed {
            Some((rows, windows)) => windows[k].splice(&rows[k], decoded, EOS_IN_WINDOW),
            None => snippet_ids(decoded).to_vec(),
        };
        chain.push(DecodedStep { t: step.t, ids });
    }
}

impl Chain {
    /// Decodes the text of every step, decoding each distinct token sequence once.
    pub fn decode(&self, tokenizer: &CodeTokenizer) -> Result<Vec<String>, TokenizerError> {
        let mut texts: Vec<String> = Vec::with_capacity(self.steps.len());
        for (k, step) in self.steps.iter().enumerate() {
            let text = match k.checked_sub(1).map(|p| &self.steps[p]) {
                Some(previous) if previous.ids == step.ids => texts[k - 1].clone(),
                _ => tokenizer.decode_snippet(&step.ids)?,
            };
            texts.push(text);
        }
        Ok(texts)
    }

    /// The per-step chain log: tokens changed against the previous step and the
    /// span between the first and last change.
    pub fn log(&self, schedule_steps: usize, source: &str) -> Vec<ChainStepRecord> {
        let t_max = (schedule_steps - 1).max(1) as f32;
        let mut previous: &[u32] = &[];
        let mut out = Vec::with_capacity(self.steps.len());
        for (k, step) in self.steps.iter().enumerate() {
            let len = step.ids.len().max(previous.len());
            let changed: Vec<usize> = (0..len).filter(|&i| step.ids.get(i) != previous.get(i)).collect();
            let span = match (changed.first(), changed.last()) {
                (Some(a), Some(b)) => b - a,
                _ => 0,
            };
            out.push(ChainStepRecord {
                chain_id: self.chain_id,
                step: k as u32,
                t: step.t as u32,
                t_frac: step.t as f32 / t_max,
                tokens_changed: changed.len() as u32,
                change_span: span as u32,
                length: step.ids.len() as u32,
                source: source.to_string(),
            });
            previous = &step.ids;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_log_counts_changed_positions() {
        let chain = Chain {
            chain_id: 9,
            anchor: None,
            steps: vec![
                DecodedStep { t: 10, ids: vec![5, 6, 7] },
                DecodedStep { t: 5, ids: vec![5, 8, 7, 9] },
                DecodedStep { t: 0, ids: vec![5, 8, 7, 9] },
            ],
        };
        let log = chain.log(11, "unconditional");
        let changed: Vec<_> = log.iter().map(|r| (r.tokens_changed, r.change_span, r.length)).collect();
        assert_eq!(changed, vec![(3, 2, 3), (2, 2, 4), (0, 0, 4)]);
        assert_eq!(log[0].t_frac, 1.0);
        assert!(log.iter().all(|r| r.chain_id == 9));
    }

    #[test]
    fn snippet_ids_stop_at_eos_or_pad() {
        use crate::tokenizer::{EOS, PAD};
        assert_eq!(snippet_ids(&[7, 8, EOS, 9]), [7, 8]);
        assert_eq!(snippet_ids(&[7, PAD, 9]), [7]);
        assert_eq!(snippet_ids(&[7, 8]), [7, 8]);
    }
}

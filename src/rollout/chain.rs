//! Running a batch of reverse-diffusion chains and decoding every visited step.

use crate::dataset::ChainStepRecord;
use crate::diffusion::{from_tokens, from_tokens_partial, generate, window_keep, NoiseSchedule, SamplerConfig};
use crate::model::CodeFusion;
use crate::tokenizer::{fixed_row, len_with_eos, snippet_ids, CodeTokenizer, TokenizerError, EOS, MASK, PAD};
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

/// Where a batch of chains starts.
pub enum Start<'a> {
    /// `x_{T-1} ~ N(0, I)`.
    Noise,
    /// These snippets (already encoded to the model length), noised to `t0`.
    Anchors {
        /// The snippets' texts (the fixed sides).
        texts: &'a [String],
        /// Their fixed-length token ids.
        ids: &'a [Vec<u32>],
        /// The starting timestep.
        t0: usize,
    },
    /// These snippets (rows from [`windowed_variant`]) with only their window
    /// noised to `t0`; every other position is held clean through the chain,
    /// and each step is recorded as the clean snippet with the window's
    /// decoded tokens spliced in ([`splice_window`]).
    Windows {
        /// The snippets' texts (the fixed sides).
        texts: &'a [String],
        /// Their fixed-length token ids, free slots inserted.
        ids: &'a [Vec<u32>],
        /// Each row's noised window.
        windows: &'a [Window],
        /// The windows' restricted read-out (`diffusion::Anchor::readout`), or `None`.
        readout: Option<&'a crate::diffusion::RestrictedReadout>,
        /// The starting timestep.
        t0: usize,
    },
}

/// The noised positions `lo..=hi` of one row of a windowed chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First noised position.
    pub lo: usize,
    /// Last noised position (inclusive).
    pub hi: usize,
}

/// A windowed chain's row: `inserts` `<mask>` slots placed before token `at`
/// of the snippet in the fixed-length `row` (`at` past the end means before
/// `<eos>`), and the window over the slots and the `width` positions after
/// them, `<eos>` included when it is reached. Slots that would push `<eos>` out
/// of the row are not inserted.
pub fn windowed_variant(row: &[u32], at: usize, width: usize, inserts: usize) -> (Vec<u32>, Window) {
    let n = row.len();
    let snippet = snippet_ids(row);
    let at = at.min(snippet.len());
    let inserts = inserts.min(n.saturating_sub(snippet.len() + 1));
    // fits by the bound on `inserts`, unless the snippet fills the row without
    // `<eos>`: then there are no slots and the row is as it was
    let out = fixed_row(snippet, at, inserts, n).unwrap_or_else(|| row.to_vec());
    let hi = (at + inserts + width).saturating_sub(1).clamp(at, n.saturating_sub(1));
    (out, Window { lo: at, hi })
}

/// The snippet a windowed chain's step stands for: the clean row outside the
/// window and, inside it, the decoded tokens that are not `<eos>`, `<pad>` or
/// `<mask>` (a window position decoded as one of those is deleted).
pub fn splice_window(clean: &[u32], decoded: &[u32], window: Window) -> Vec<u32> {
    let hi = window.hi.min(decoded.len().saturating_sub(1));
    let mut out: Vec<u32> = snippet_ids(&clean[..window.lo.min(clean.len())]).to_vec();
    if window.lo <= hi {
        out.extend(decoded[window.lo..=hi].iter().copied().filter(|id| ![EOS, PAD, MASK].contains(id)));
    }
    if hi + 1 < clean.len() {
        out.extend_from_slice(snippet_ids(&clean[hi + 1..]));
    }
    out
}

/// Runs one batch of chains with ids `first_id..first_id + batch`.
pub fn run_batch(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    sampler: &SamplerConfig,
    start: Start<'_>,
    batch: usize,
    first_id: u64,
    rng: &mut ChaCha8Rng,
) -> candle_core::Result<Vec<Chain>> {
    let mut steps: Vec<Vec<DecodedStep>> = vec![Vec::new(); batch];
    let mut record = |step: &crate::diffusion::ChainStep| {
        for (chain, ids) in steps.iter_mut().zip(&step.tokens) {
            chain.push(DecodedStep { t: step.t, ids: snippet_ids(ids).to_vec() });
        }
    };
    let anchors = match start {
        Start::Noise => {
            generate(model, schedule, sampler, batch, rng, &mut record)?;
            vec![None; batch]
        }
        Start::Anchors { texts, ids, t0 } => {
            // a model trained on length buckets runs on the batch's bucket (else n)
            let longest = ids.iter().map(|row| crate::tokenizer::len_with_eos(row)).max().unwrap_or(0);
            let n = model.config().trimmed_len(longest).min(ids.first().map_or(0, Vec::len));
            let tokens = crate::model::token_batch(ids.iter().map(Vec::as_slice), n, model.device())?;
            from_tokens(model, schedule, sampler, &tokens, t0, rng, &mut record)?;
            texts.iter().cloned().map(Some).collect()
        }
        Start::Windows { texts, ids, windows, readout, t0 } => {
            // the batch's bucket holds every row's snippet and window
            let longest = ids.iter().zip(windows).map(|(row, w)| len_with_eos(row).max(w.hi + 1)).max().unwrap_or(0);
            let n = model.config().trimmed_len(longest).min(ids.first().map_or(0, Vec::len));
            let tokens = crate::model::token_batch(ids.iter().map(Vec::as_slice), n, model.device())?;
            let ranges: Vec<_> = windows.iter().map(|w| w.lo..=w.hi).collect();
            let keep = window_keep(&ranges, n, model.device())?;
            let mut record = |step: &crate::diffusion::ChainStep| {
                for (((chain, decoded), clean), &window) in steps.iter_mut().zip(&step.tokens).zip(ids).zip(windows) {
                    chain.push(DecodedStep { t: step.t, ids: splice_window(clean, decoded, window) });
                }
            };
            from_tokens_partial(model, schedule, sampler, &tokens, &keep, readout, t0, rng, &mut record)?;
            texts.iter().cloned().map(Some).collect()
        }
    };
    Ok(steps
        .into_iter()
        .zip(anchors)
        .enumerate()
        .map(|(k, (steps, anchor))| Chain { chain_id: first_id + k as u64, anchor, steps })
        .collect())
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
    fn windowed_variants_insert_slots_and_cover_the_window() {
        let row = [5, 6, 7, 8, EOS, PAD, PAD, PAD];
        let (v, w) = windowed_variant(&row, 1, 2, 1);
        assert_eq!(v, [5, MASK, 6, 7, 8, EOS, PAD, PAD]);
        assert_eq!(w, Window { lo: 1, hi: 3 }, "the slot and two tokens");
        let (v, w) = windowed_variant(&row, 9, 1, 0);
        assert_eq!((v.as_slice(), w), (&row[..], Window { lo: 4, hi: 4 }), "past the end: the <eos> position");
        let full = [5, 6, 7, EOS];
        let (v, w) = windowed_variant(&full, 3, 2, 2);
        assert_eq!((v.as_slice(), w), (&full[..], Window { lo: 3, hi: 3 }), "no room for slots; clipped to the row");
    }

    #[test]
    fn splicing_keeps_the_outside_and_deletes_special_tokens() {
        let clean = [5, MASK, 6, 7, 8, EOS, PAD, PAD];
        let window = Window { lo: 1, hi: 3 };
        // the slot becomes a token (insertion), 6 stays, 7 is decoded as <pad> (deletion)
        assert_eq!(splice_window(&clean, &[99, 42, 6, PAD, 99, 99, 99, 99], window), [5, 42, 6, 8]);
        // the read-out outside the window is ignored: the clean tokens stand there
        assert_eq!(splice_window(&clean, &[1, MASK, 6, 7, 2, 3, 4, 4], window), [5, 6, 7, 8]);
        // a window over <eos> can append a token, and a trimmed read-out is fine
        assert_eq!(splice_window(&[5, 6, EOS, PAD], &[0, 0, 9], Window { lo: 2, hi: 3 }), [5, 6, 9]);
    }

    #[test]
    fn snippet_ids_stop_at_eos_or_pad() {
        use crate::tokenizer::{EOS, PAD};
        assert_eq!(snippet_ids(&[7, 8, EOS, 9]), [7, 8]);
        assert_eq!(snippet_ids(&[7, PAD, 9]), [7]);
        assert_eq!(snippet_ids(&[7, 8]), [7, 8]);
    }
}

//! `lastmile eval fixer`: a trained fixer decodes a repair benchmark with beam
//! search, and its beams are scored as ranked candidates (`eval::ranked`).

use super::{beam_search, LoadedFixer};
use crate::eval::{ranked_candidates, score_beams, BenchItem, FixerEvalRun};
use crate::lang::Language;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::repair::Candidate;
use crate::tokenizer::{TokenizerError, EOS, PAD};
use std::path::Path;

/// What can go wrong decoding a benchmark with a fixer.
#[derive(Debug, thiserror::Error)]
pub enum FixerEvalError {
    /// The model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// Tokenising or decoding failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// Decodes every item with `beam` beams (items too long for the fixer get no
/// candidates and count as failures) and scores them.
pub fn run_fixer_eval(
    fixer: &LoadedFixer,
    lang: &dyn Language,
    items: &[BenchItem],
    beam: usize,
    batch_size: usize,
    bench: &Path,
    dir: &Path,
    progress: &mut ProgressFn<'_>,
) -> Result<FixerEvalRun, FixerEvalError> {
    let max_len = fixer.model.config().max_len;
    let clock = std::time::Instant::now();
    let mut sources: Vec<Option<Vec<u32>>> = Vec::with_capacity(items.len());
    for item in items {
        let mut ids = fixer.tokenizer.encode(&item.broken)?;
        ids.push(EOS);
        sources.push((ids.len() <= max_len).then_some(ids));
    }
    let fits: Vec<usize> = (0..items.len()).filter(|&i| sources[i].is_some()).collect();
    let mut candidates: Vec<Option<Vec<Candidate>>> = vec![None; items.len()];
    let chunks = fits.len().div_ceil(batch_size.max(1)) as u64;
    for (done, chunk) in fits.chunks(batch_size.max(1)).enumerate() {
        let batch: Vec<&[u32]> = chunk.iter().map(|&i| sources[i].as_deref().expect("fits")).collect();
        let hypotheses = beam_search(&fixer.model, &batch, beam, max_len, EOS, PAD)?;
        for (&i, hyps) in chunk.iter().zip(hypotheses) {
            let texts = hyps.iter().map(|h| fixer.tokenizer.decode_snippet(&h.ids)).collect::<Result<Vec<_>, _>>()?;
            candidates[i] = Some(ranked_candidates(lang, &items[i].broken, &texts));
        }
        progress(Progress::count(Unit::Batches, done as u64 + 1, Some(chunks)));
    }
    let seconds = clock.elapsed().as_secs_f64();
    Ok(score_beams(lang, items, &candidates, beam, seconds, bench, dir))
}

/// The `beam` best programs of a fixer trained on (utterance, code) pairs for
/// each utterance, best first, distinct: the autoregressive baseline of
/// NL-to-code. An utterance longer than the fixer's `max_len` is cut to it.
pub fn fixer_generate(
    fixer: &LoadedFixer,
    utterances: &[&str],
    beam: usize,
    batch_size: usize,
    progress: &mut ProgressFn<'_>,
) -> Result<Vec<Vec<String>>, FixerEvalError> {
    let max_len = fixer.model.config().max_len;
    let mut sources = Vec::with_capacity(utterances.len());
    for utterance in utterances {
        let mut ids = fixer.tokenizer.encode(utterance)?;
        ids.truncate(max_len.saturating_sub(1));
        ids.push(EOS);
        sources.push(ids);
    }
    let mut out = Vec::with_capacity(utterances.len());
    let chunks = sources.len().div_ceil(batch_size.max(1)) as u64;
    for (done, chunk) in sources.chunks(batch_size.max(1)).enumerate() {
        let batch: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
        for hyps in beam_search(&fixer.model, &batch, beam, max_len, EOS, PAD)? {
            let mut texts: Vec<String> = Vec::with_capacity(hyps.len());
            for h in hyps {
                let text = fixer.tokenizer.decode_snippet(&h.ids)?;
                if !texts.contains(&text) {
                    texts.push(text);
                }
            }
            out.push(texts);
        }
        progress(Progress::count(Unit::Batches, done as u64 + 1, Some(chunks)));
    }
    Ok(out)
}

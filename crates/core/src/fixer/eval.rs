//! `lastmile eval fixer`: a trained fixer decodes a repair benchmark with beam
//! search, and its beams are scored as ranked candidates (`eval::ranked`).

use super::{beam_search, LoadedFixer};
use crate::eval::{ranked_candidates, score_beams, BenchItem, Fidelity, FixerEvalRun};
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
/// candidates and count as failures) and scores them. With `fidelity`, the
/// items' correct versions are decoded as inputs too, and the run records how
/// many come back unchanged as the top beam: a fixer that rewrites correct
/// code scores on broken inputs only by luck.
#[allow(clippy::too_many_arguments)]
pub fn run_fixer_eval(
    fixer: &LoadedFixer,
    lang: &dyn Language,
    items: &[BenchItem],
    beam: usize,
    batch_size: usize,
    fidelity: bool,
    bench: &Path,
    dir: &Path,
    progress: &mut ProgressFn<'_>,
) -> Result<FixerEvalRun, FixerEvalError> {
    let clock = std::time::Instant::now();
    let broken: Vec<&str> = items.iter().map(|item| item.broken.as_str()).collect();
    let beams = decode_inputs(fixer, &broken, beam, batch_size, progress)?;
    let candidates: Vec<Option<Vec<Candidate>>> =
        items.iter().zip(beams).map(|(item, texts)| texts.map(|texts| ranked_candidates(lang, &item.broken, &texts))).collect();
    let seconds = clock.elapsed().as_secs_f64();
    let mut run = score_beams(lang, items, &candidates, beam, seconds, bench, dir);
    if fidelity {
        let truths: Vec<&str> = items.iter().map(|item| item.truth.as_str()).collect();
        let beams = decode_inputs(fixer, &truths, beam, batch_size, progress)?;
        let unchanged = truths
            .iter()
            .zip(&beams)
            .filter(|(truth, texts)| texts.as_ref().and_then(|t| t.first()).is_some_and(|top| top == *truth))
            .count();
        run.fidelity = Some(Fidelity { unchanged, items: items.len(), too_long: beams.iter().filter(|b| b.is_none()).count() });
    }
    Ok(run)
}

/// The beams (best first) of every input, `None` for an input longer than
/// the fixer's length.
fn decode_inputs(
    fixer: &LoadedFixer,
    inputs: &[&str],
    beam: usize,
    batch_size: usize,
    progress: &mut ProgressFn<'_>,
) -> Result<Vec<Option<Vec<String>>>, FixerEvalError> {
    let max_len = fixer.model.config().max_len;
    let mut sources: Vec<Option<Vec<u32>>> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let mut ids = fixer.tokenizer.encode(input)?;
        ids.push(EOS);
        sources.push((ids.len() <= max_len).then_some(ids));
    }
    decode_sources(fixer, &sources, beam, batch_size, progress)
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
        sources.push(Some(ids));
    }
    let beams = decode_sources(fixer, &sources, beam, batch_size, progress)?;
    Ok(beams
        .into_iter()
        .map(|texts| {
            let mut distinct: Vec<String> = Vec::new();
            for text in texts.unwrap_or_default() {
                if !distinct.contains(&text) {
                    distinct.push(text);
                }
            }
            distinct
        })
        .collect())
}

/// Beam search over encoded sources (`None`: skipped, no beams) in batches of
/// `batch_size`, the beams decoded to text, best first; progress per batch.
fn decode_sources(
    fixer: &LoadedFixer,
    sources: &[Option<Vec<u32>>],
    beam: usize,
    batch_size: usize,
    progress: &mut ProgressFn<'_>,
) -> Result<Vec<Option<Vec<String>>>, FixerEvalError> {
    let max_len = fixer.model.config().max_len;
    let fits: Vec<usize> = (0..sources.len()).filter(|&i| sources[i].is_some()).collect();
    let mut out: Vec<Option<Vec<String>>> = vec![None; sources.len()];
    let chunks = fits.len().div_ceil(batch_size.max(1)) as u64;
    for (done, chunk) in fits.chunks(batch_size.max(1)).enumerate() {
        let batch: Vec<&[u32]> = chunk.iter().map(|&i| sources[i].as_deref().expect("fits")).collect();
        let hypotheses = beam_search(&fixer.model, &batch, beam, max_len, EOS, PAD)?;
        for (&i, hyps) in chunk.iter().zip(hypotheses) {
            out[i] = Some(hyps.iter().map(|h| fixer.tokenizer.decode_snippet(&h.ids)).collect::<Result<Vec<_>, _>>()?);
        }
        progress(Progress::count(Unit::Batches, done as u64 + 1, Some(chunks)));
    }
    Ok(out)
}

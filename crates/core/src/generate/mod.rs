//! Generation from pure noise, optionally length-conditioned and read out
//! under the language's checker, and NL-conditioned generation
//! ([`generate_ranked`]): what `lastmile sample` runs, as a library
//! function so that any stage that wants unconditional snippets gets the same
//! bytes for the same seed. Imports `diffusion/`, `model/`, `tokenizer/` and
//! `lang/`.
//!
//! Length conditioning draws each snippet's token length from a list (a mined
//! corpus's lengths) and holds `<eos>`/`<pad>` from there on at every reverse
//! step, so a chain cannot stop early (`=SUM(2`). The constrained read-out is
//! the one repair uses ([`crate::diffusion::constrained`]): the model ranks,
//! the parser prunes. [`repair_samples`] runs the model's own repair on the
//! samples the checker rejects.

mod conditional;
mod repaired;

pub use conditional::{generate_from_exemplars, generate_ranked, Candidate, Exemplar, RankedConfig};
pub use repaired::{repair_samples, RepairedSample};

use crate::diffusion::constrained::{read_out, splice_accepted, Constraint};
use crate::diffusion::{bucketed_batch, EosInWindow, NoiseSchedule, Sampler, SamplerConfig, Start, Window};
use crate::lang::Language;
use crate::model::CodeFusion;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::{fixed_row, CodeTokenizer, TokenizerError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What can go wrong generating.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// Tokenising or decoding failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The settings cannot work (a length that does not fit the model).
    #[error("{0}")]
    Config(String),
    /// Repairing the samples failed.
    #[error("repairing the samples: {0}")]
    Repair(#[from] crate::repair::RepairError),
}

/// How [`sample`] generates.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleConfig {
    /// The reverse process (steps, clamp, update rule).
    pub sampler: SamplerConfig,
    /// Chains run together.
    pub batch_size: usize,
    /// Seed of the noise; the drawn lengths come from its second stream, so
    /// the noise of a seed is the same with and without length conditioning.
    pub seed: u64,
    /// Token lengths (without `<eos>`) to draw each snippet's length from;
    /// `None` lets the model place `<eos>` itself. Lengths that do not fit
    /// the model are an error.
    pub lengths: Option<Vec<usize>>,
}

/// The token lengths of `texts` that leave room for `<eos>` in a model of length `n`
/// (the lengths a corpus gives [`SampleConfig::lengths`]); empty texts are skipped.
pub fn token_lengths<'t>(
    tokenizer: &CodeTokenizer,
    texts: impl IntoIterator<Item = &'t str>,
    n: usize,
) -> Result<Vec<usize>, GenerateError> {
    let mut lengths = Vec::new();
    for text in texts {
        let len = tokenizer.encode(text)?.len();
        if len > 0 && len < n {
            lengths.push(len);
        }
    }
    Ok(lengths)
}

/// `count` snippets generated from pure noise. With `checker`, each chain is
/// read out as the most probable combination of its free positions' top
/// tokens that the checker accepts (else its argmax). Reports one
/// [`Unit::Batches`] count per batch.
pub fn sample(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    schedule: &NoiseSchedule,
    checker: Option<&dyn Language>,
    count: usize,
    config: &SampleConfig,
    progress: &mut ProgressFn,
) -> Result<Vec<String>, GenerateError> {
    let n = model.config().seq_len;
    if let Some(lengths) = &config.lengths {
        if let Some(&bad) = lengths.iter().find(|&&l| l == 0 || l >= n) {
            return Err(GenerateError::Config(format!("a drawn length must be 1..{} tokens for a model of length {n}, got {bad}", n - 1)));
        }
        if lengths.is_empty() {
            return Err(GenerateError::Config("length-conditioned sampling needs at least one length".into()));
        }
    }
    let batch_size = config.batch_size.max(1);
    let batches = count.div_ceil(batch_size) as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut length_rng = ChaCha8Rng::seed_from_u64(config.seed);
    length_rng.set_stream(1);
    let mut texts = Vec::with_capacity(count);
    while texts.len() < count {
        let b = batch_size.min(count - texts.len());
        match &config.lengths {
            Some(lengths) => {
                let drawn: Vec<usize> = (0..b).map(|_| lengths[length_rng.random_range(0..lengths.len())]).collect();
                texts.extend(length_conditioned(model, tokenizer, schedule, checker, &config.sampler, &drawn, &mut rng)?);
            }
            None => texts.extend(free_length(model, tokenizer, schedule, checker, &config.sampler, b, &mut rng)?),
        }
        progress(Progress::count(Unit::Batches, texts.len().div_ceil(batch_size) as u64, Some(batches)));
    }
    Ok(texts)
}

/// One batch of rows `<mask> x L, <eos>, <pad>...` where only the `L` masks are free.
fn length_conditioned(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    schedule: &NoiseSchedule,
    checker: Option<&dyn Language>,
    sampler: &SamplerConfig,
    drawn: &[usize],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<String>, GenerateError> {
    let (rows, windows, tokens) = held_rows(model, drawn)?;
    let start = Start::Windows { tokens: &tokens, windows: &windows, readout: None, t: schedule.steps() - 1 };
    // the final step's log-probabilities only for a read-out under the checker
    let sampler = Sampler::new(model, schedule, sampler);
    let sampled = match checker {
        Some(_) => sampler.scored().run(start, rng, &mut |_| {})?,
        None => sampler.run(start, rng, &mut |_| {})?,
    };
    let scores = match checker {
        Some(checker) => Some((checker, final_scores(sampled.scores)?)),
        None => None,
    };
    let eos = EosInWindow::EndsSnippet;
    let mut texts = Vec::with_capacity(drawn.len());
    for (j, ids) in sampled.tokens.iter().enumerate() {
        let ids = match &scores {
            Some((checker, scores)) => splice_accepted(windows[j], &rows[j], ids, &scores[j], eos, Constraint::default(), |ids| {
                tokenizer.decode_snippet(ids).is_ok_and(|text| checker.check(&text).is_ok())
            }),
            None => windows[j].splice(&rows[j], ids, eos),
        };
        texts.push(tokenizer.decode_snippet(&ids)?);
    }
    Ok(texts)
}

/// The rows of chains held to `drawn` token lengths: `<mask>` slots for the
/// snippet, then `<eos>` and `<pad>` held clean; each row's window over its
/// slots; the batch, cut to its length bucket.
fn held_rows(model: &CodeFusion, drawn: &[usize]) -> Result<(Vec<Vec<u32>>, Vec<Window>, candle_core::Tensor), GenerateError> {
    let n = model.config().seq_len;
    let rows = drawn
        .iter()
        .map(|&l| {
            fixed_row(&[], 0, l, n)
                .filter(|_| l > 0)
                .ok_or_else(|| GenerateError::Config(format!("a length of {l} tokens does not fit {n} positions")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let windows: Vec<Window> = drawn.iter().map(|&l| Window { lo: 0, hi: l - 1 }).collect();
    let (tokens, _) = bucketed_batch(model, &rows.iter().map(Vec::as_slice).collect::<Vec<_>>(), 0)?;
    Ok((rows, windows, tokens))
}

/// The per-row, per-position log-probabilities of a scored run.
fn final_scores(scores: Option<candle_core::Tensor>) -> Result<Vec<Vec<Vec<f32>>>, GenerateError> {
    let scores = scores.ok_or_else(|| candle_core::Error::Msg("a scored run returned no scores".into()))?;
    Ok(scores.to_vec3::<f32>()?)
}

/// One batch of `b` chains over the whole model length; the model places `<eos>`.
fn free_length(
    model: &CodeFusion,
    tokenizer: &CodeTokenizer,
    schedule: &NoiseSchedule,
    checker: Option<&dyn Language>,
    sampler: &SamplerConfig,
    b: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<String>, GenerateError> {
    let sampler = Sampler::new(model, schedule, sampler);
    let Some(checker) = checker else {
        let sampled = sampler.run(Start::Noise { batch: b, len: None }, rng, &mut |_| {})?;
        return sampled.tokens.iter().map(|ids| Ok(tokenizer.decode_snippet(ids)?)).collect();
    };
    let sampled = sampler.scored().run(Start::Noise { batch: b, len: None }, rng, &mut |_| {})?;
    let scores = final_scores(sampled.scores)?;
    let mut texts = Vec::with_capacity(b);
    for (ids, scores) in sampled.tokens.iter().zip(&scores) {
        let positions: Vec<usize> = (0..ids.len()).collect();
        let accepted = read_out(ids, &positions, scores, Constraint::default(), |row| {
            tokenizer.decode_snippet(row).is_ok_and(|text| checker.check(&text).is_ok())
        });
        texts.push(tokenizer.decode_snippet(accepted.as_deref().unwrap_or(ids))?);
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::Update;
    use crate::lang::LangId;

    fn tiny() -> (CodeFusion, CodeTokenizer, NoiseSchedule) {
        let (model, tokenizer) = crate::test_models::tiny_excel();
        let schedule = NoiseSchedule::sqrt(model.config().diffusion_steps);
        (model, tokenizer, schedule)
    }

    fn config(lengths: Option<Vec<usize>>) -> SampleConfig {
        let sampler = SamplerConfig { steps: Some(4), stride: None, clamp: true, update: Update::Ddpm, likelihood: 0.0 };
        SampleConfig { sampler, batch_size: 3, seed: 7, lengths }
    }

    #[test]
    fn bad_lengths_are_config_errors_not_panics() {
        let (model, tokenizer, schedule) = tiny();
        for lengths in [vec![], vec![0], vec![3, 16]] {
            let err = sample(&model, &tokenizer, &schedule, None, 2, &config(Some(lengths)), &mut crate::progress::ignore).unwrap_err();
            assert!(matches!(err, GenerateError::Config(_)), "{err}");
        }
    }

    #[test]
    fn length_conditioned_samples_have_the_drawn_lengths_and_repeat_by_seed() {
        let (model, tokenizer, schedule) = tiny();
        let cfg = config(Some(vec![2, 5]));
        let mut reports = 0;
        let first = sample(&model, &tokenizer, &schedule, None, 7, &cfg, &mut |_| reports += 1).unwrap();
        assert_eq!(first.len(), 7);
        assert_eq!(reports, 3, "one report per batch of 3");
        for text in &first {
            let len = tokenizer.encode(text).unwrap().len();
            assert!(len <= 5, "{text:?} has {len} tokens");
        }
        let again = sample(&model, &tokenizer, &schedule, None, 7, &cfg, &mut crate::progress::ignore).unwrap();
        assert_eq!(first, again);
    }

    #[test]
    fn constrained_samples_pass_the_check_or_are_the_argmax_ones() {
        let (model, tokenizer, schedule) = tiny();
        let excel = LangId::Excel.language();
        for lengths in [None, Some(vec![3, 6, 9])] {
            let cfg = config(lengths);
            let plain = sample(&model, &tokenizer, &schedule, None, 6, &cfg, &mut crate::progress::ignore).unwrap();
            let constrained = sample(&model, &tokenizer, &schedule, Some(excel), 6, &cfg, &mut crate::progress::ignore).unwrap();
            for (p, c) in plain.iter().zip(&constrained) {
                assert!(c == p || excel.check(c).is_ok(), "{c:?} neither passes nor is the argmax {p:?}");
            }
        }
    }
}

//! Repair by noise injection: embed the broken snippet, noise it to level `t`,
//! resume the reverse process, decode. Candidates come from several levels and
//! noise samples, batched across snippets; pooling picks one.

pub mod baseline;
pub mod constrained;
pub mod output;
mod pool;
pub mod sample;

pub use pool::{any_correct, choose, Candidate, Pooling};

use crate::diffusion::{from_tokens, from_tokens_partial, from_tokens_partial_scored, NoiseSchedule, SamplerConfig, Update};
use crate::lang::edit::token_edit_distance;
use crate::lang::Language;
use crate::model::CodeFusion;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::{CodeTokenizer, TokenizerError};
use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What can go wrong repairing a batch (a per-item problem is an [`ItemError`]).
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// The model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// Tokenising or decoding failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The settings cannot work (a sampling length that does not fit the model).
    #[error("{0}")]
    Config(String),
}

/// Why one input got no candidates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum ItemError {
    /// The input does not fit the model.
    #[error("input is {tokens} tokens with <eos>; the model takes at most {max}")]
    TooLong {
        /// Its length in tokens, `<eos>` included.
        tokens: usize,
        /// The model length `n`.
        max: usize,
    },
}

/// Noise levels, samples and sampler of a repair run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairConfig {
    /// Noise levels as fractions of `T - 1`.
    pub levels: Vec<f64>,
    /// Noise samples per level.
    pub samples: usize,
    /// The reverse process.
    pub sampler: SamplerConfig,
    /// Chains denoised together.
    pub batch_size: usize,
    /// Seed of the noise.
    pub seed: u64,
    /// Error-localised repair instead of the paper's whole-snippet noising.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localise: Option<Localise>,
}

/// Error-localised repair: the strict checker's error location is mapped to a
/// token, only a window around it is noised (with free slots inserted there
/// for missing tokens), and every other position is reset to the clean input
/// at each reverse step (DiffuSeq-style partial noising). Each `(radius,
/// inserts)` pair is one variant, run at every level and sample; pooling
/// then chooses among all of them. An input the checker accepts has no error
/// location and nothing to repair: every position is kept, so it comes back
/// unchanged (a working formula is never broken by the repairer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localise {
    /// Positions noised on each side of the error's token.
    pub radii: Vec<usize>,
    /// Free slots inserted before the error's token (0 = none).
    pub inserts: Vec<usize>,
    /// Read the window out constrained by the checker
    /// ([`constrained::most_probable_accepted`]): the most probable window
    /// tokens whose snippet passes, instead of the argmax at each position.
    #[serde(default)]
    pub constrained: bool,
}

impl Default for Localise {
    fn default() -> Self {
        Localise { radii: vec![1, 2, 3], inserts: vec![0, 1, 2], constrained: false }
    }
}

/// The token where the error of `text` at byte `offset` sits: the first token
/// that ends after it, or the `<eos>` position when the error is at the end.
pub fn error_token(offsets: &[(usize, usize)], offset: usize) -> usize {
    offsets.iter().position(|&(_, end)| end > offset).unwrap_or(offsets.len())
}

/// One localised variant of `ids` (the snippet's ids, no `<eos>`): `inserts`
/// `<mask>` slots placed before token `at`, then `c, <eos>, <pad>...` of
/// length `n` with the keep-clean mask (0 on `radius` positions each side of
/// the slots, slots and error token included). `None` when it does not fit.
pub fn localised_variant(ids: &[u32], at: usize, radius: usize, inserts: usize, n: usize) -> Option<(Vec<u32>, Vec<f32>)> {
    let out = crate::tokenizer::fixed_row(ids, at, inserts, n)?;
    let at = at.min(ids.len());
    let lo = at.saturating_sub(radius);
    let hi = (at + inserts + radius).min(n - 1); // inclusive: covers the error token itself
    let keep = (0..n).map(|p| if (lo..=hi).contains(&p) { 0.0 } else { 1.0 }).collect();
    Some((out, keep))
}

/// The ids of a localised chain's result: kept positions are the input's,
/// whatever the read-out says there, and a `<pad>` or `<mask>` the model
/// writes inside the window is no token at all, so a window can delete (a
/// stray `)` or `&` mid-formula) instead of cutting the snippet short there.
/// An `<eos>` still ends the snippet.
pub fn window_edit(out: &[u32], keep: &[f32], input: &[u32]) -> Vec<u32> {
    use crate::tokenizer::{MASK, PAD};
    out.iter()
        .zip(keep)
        .zip(input)
        .filter_map(|((&id, &k), &clean)| match k == 1.0 {
            true => Some(clean),
            false if id == PAD || id == MASK => None,
            false => Some(id),
        })
        .collect()
}

/// One chain to run: an input's ids, its noise sample and (localised) mask.
struct Job {
    item: usize,
    sample: usize,
    ids: Vec<u32>,
    keep: Option<Vec<f32>>,
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig {
            levels: (1..=9).map(|k| k as f64 / 10.0).collect(),
            samples: 1,
            sampler: SamplerConfig { steps: Some(50), stride: None, clamp: false, update: Update::Ddpm, likelihood: 0.0 },
            batch_size: 64,
            seed: 0,
            localise: None,
        }
    }
}

/// A loaded model ready to repair snippets of one language.
pub struct Repairer<'a> {
    model: &'a CodeFusion,
    tokenizer: &'a CodeTokenizer,
    lang: &'a dyn Language,
    schedule: NoiseSchedule,
}

impl<'a> Repairer<'a> {
    /// A repairer for `lang` with a loaded checkpoint.
    pub fn new(model: &'a CodeFusion, tokenizer: &'a CodeTokenizer, lang: &'a dyn Language) -> Self {
        Repairer { model, tokenizer, lang, schedule: NoiseSchedule::sqrt(model.config().diffusion_steps) }
    }

    /// The language it repairs.
    pub fn language(&self) -> &'a dyn Language {
        self.lang
    }

    /// All candidates for every input (in level, then sample order), or why
    /// an input has none. Chains of one level are batched across inputs.
    pub fn repair(&self, inputs: &[String], config: &RepairConfig) -> Result<Vec<Result<Vec<Candidate>, ItemError>>, RepairError> {
        self.repair_with_progress(inputs, config, &mut crate::progress::ignore)
    }

    /// [`Repairer::repair`], reporting after every batch of chains.
    pub fn repair_with_progress(
        &self,
        inputs: &[String],
        config: &RepairConfig,
        progress: &mut ProgressFn<'_>,
    ) -> Result<Vec<Result<Vec<Candidate>, ItemError>>, RepairError> {
        let n = self.model.config().seq_len;
        let mut out: Vec<Result<Vec<Candidate>, ItemError>> = Vec::with_capacity(inputs.len());
        let mut jobs: Vec<Job> = Vec::new();
        for (item, text) in inputs.iter().enumerate() {
            let (ids, offsets) = self.tokenizer.encode_with_offsets(text)?;
            let Some(whole) = crate::tokenizer::fixed_row(&ids, 0, 0, n) else {
                out.push(Err(ItemError::TooLong { tokens: ids.len() + 1, max: n }));
                continue;
            };
            out.push(Ok(Vec::new()));
            // the variants of this input, each run for every sample
            let variants: Vec<(Vec<u32>, Option<Vec<f32>>)> = match (&config.localise, self.lang.check(text)) {
                (Some(localise), Err(error)) => {
                    let at = error_token(&offsets, error.offset);
                    let list: Vec<_> = localise
                        .radii
                        .iter()
                        .flat_map(|&r| localise.inserts.iter().map(move |&k| (r, k)))
                        .filter_map(|(r, k)| localised_variant(&ids, at, r, k, n))
                        .map(|(v, keep)| (v, Some(keep)))
                        .collect();
                    if list.is_empty() {
                        vec![(whole, Some(vec![0.0; n]))]
                    } else {
                        list
                    }
                }
                (Some(_), Ok(())) => {
                    // nothing to localise: every level and sample returns the input, no chain run
                    let kept = self.tokenizer.decode_snippet(&whole)?;
                    let token_edit_distance = token_edit_distance(self.lang, text, &kept);
                    let valid = self.lang.check(&kept).is_ok();
                    if let Some(Ok(list)) = out.last_mut() {
                        for &level in &config.levels {
                            list.extend((0..config.samples).map(|sample| Candidate {
                                level,
                                sample,
                                text: kept.clone(),
                                valid,
                                token_edit_distance,
                            }));
                        }
                    }
                    Vec::new()
                }
                (None, _) => vec![(whole, None)],
            };
            for sample in 0..config.samples {
                for (ids, keep) in &variants {
                    jobs.push(Job { item, sample, ids: ids.clone(), keep: keep.clone() });
                }
            }
        }
        let batch_size = config.batch_size.max(1);
        let total = jobs.len().div_ceil(batch_size) * config.levels.len();
        let mut done = 0;
        let device = self.model.device();
        for (li, &level) in config.levels.iter().enumerate() {
            let t = self.schedule.level(level);
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(li as u64);
            for chunk in jobs.chunks(batch_size) {
                // a model trained on length buckets runs on the chunk's bucket (else n)
                let longest = chunk.iter().map(|job| crate::tokenizer::len_with_eos(&job.ids)).max().unwrap_or(n);
                let len = self.model.config().trimmed_len(longest);
                let tokens = crate::model::token_batch(chunk.iter().map(|job| job.ids.as_slice()), len, device)?;
                let (finals, scores) = match &config.localise {
                    Some(localise) => {
                        let keep: Vec<f32> = chunk.iter().flat_map(|job| job.keep.iter().flat_map(|k| k[..len].iter().copied())).collect();
                        let keep = Tensor::from_vec(keep, (chunk.len(), len, 1), device)?;
                        let (model, schedule, sampler) = (self.model, &self.schedule, &config.sampler);
                        // the final step's (b, len, V) log-probabilities, only for a constrained read-out
                        match localise.constrained {
                            true => {
                                let (finals, scores) =
                                    from_tokens_partial_scored(model, schedule, sampler, &tokens, &keep, t, &mut rng, &mut |_| {})?;
                                (finals, Some(scores.to_vec3::<f32>()?))
                            }
                            false => (from_tokens_partial(model, schedule, sampler, &tokens, &keep, None, t, &mut rng, &mut |_| {})?, None),
                        }
                    }
                    None => (from_tokens(self.model, &self.schedule, &config.sampler, &tokens, t, &mut rng, &mut |_| {})?, None),
                };
                for (j, (job, ids)) in chunk.iter().zip(finals).enumerate() {
                    let ids = match (&job.keep, &scores) {
                        (Some(keep), Some(scores)) => constrained_window_edit(self.tokenizer, self.lang, &ids, keep, &job.ids, &scores[j]),
                        (Some(keep), None) => window_edit(&ids, keep, &job.ids),
                        (None, _) => ids,
                    };
                    let text = self.tokenizer.decode_snippet(&ids)?;
                    let candidate = Candidate {
                        level,
                        sample: job.sample,
                        valid: self.lang.check(&text).is_ok(),
                        token_edit_distance: token_edit_distance(self.lang, &inputs[job.item], &text),
                        text,
                    };
                    if let Ok(list) = &mut out[job.item] {
                        list.push(candidate);
                    }
                }
                done += 1;
                progress(Progress::count(Unit::Batches, done as u64, Some(total as u64)));
            }
        }
        for list in out.iter_mut().flatten() {
            list.sort_by(|a, b| a.level.total_cmp(&b.level).then(a.sample.cmp(&b.sample)));
        }
        Ok(out)
    }
}

/// A partially noised chain's ids read out under `lang`'s checker: the most
/// probable tokens of the free positions (`keep != 1`; final-step
/// log-probabilities `scores: [position][id]`) whose snippet passes the strict
/// check, else the argmax `out`; then [`window_edit`] onto `input`. Localised
/// repair and length-conditioned sampling share it.
pub fn constrained_window_edit(
    tokenizer: &CodeTokenizer,
    lang: &dyn Language,
    out: &[u32],
    keep: &[f32],
    input: &[u32],
    scores: &[Vec<f32>],
) -> Vec<u32> {
    let window: Vec<usize> = (0..out.len().min(scores.len())).filter(|&p| keep[p] != 1.0).collect();
    let accepted = constrained::read_out(out, &window, scores, constrained::Constraint::default(), |row| {
        let edited = window_edit(row, keep, input);
        tokenizer.decode_snippet(&edited).is_ok_and(|text| lang.check(&text).is_ok())
    });
    let ids = accepted.unwrap_or_else(|| out.to_vec());
    window_edit(&ids, keep, input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;
    use crate::model::ModelConfig;

    #[test]
    fn every_level_and_sample_gives_a_candidate_and_long_inputs_an_error() {
        let texts: Vec<String> = (0..200).map(|i| format!("=SUM(A{i}:B{})*{i}", i + 3)).collect();
        let tokenizer = CodeTokenizer::train(texts.iter(), 300).unwrap();
        let config = ModelConfig {
            vocab_size: 300,
            seq_len: 16,
            d_model: 16,
            n_heads: 2,
            denoiser_layers: 1,
            decoder_layers: 1,
            ..ModelConfig::tiny()
        };
        let (model, _vars) = crate::model::init_model(&config, &candle_core::Device::Cpu, 0).unwrap();
        let excel = LangId::Excel.language();
        let repairer = Repairer::new(&model, &tokenizer, excel);
        let long = format!("={}", vec!["A1"; 40].join("+"));
        let inputs = vec!["=SUM(A1:B4".to_string(), long, "=A1+".to_string()];
        let repair = RepairConfig {
            levels: vec![0.1, 0.5],
            samples: 3,
            batch_size: 4,
            sampler: SamplerConfig { steps: Some(5), ..Default::default() },
            seed: 1,
            localise: None,
        };
        let out = repairer.repair(&inputs, &repair).unwrap();
        assert_eq!(out[0].as_ref().unwrap().len(), 6);
        assert!(matches!(out[1], Err(ItemError::TooLong { max: 16, .. })));
        let third = out[2].as_ref().unwrap();
        assert_eq!(third.iter().map(|c| (c.level, c.sample)).collect::<Vec<_>>()[..3], [(0.1, 0), (0.1, 1), (0.1, 2)]);
        assert_eq!(repairer.repair(&inputs, &repair).unwrap(), out, "same seed, same candidates");
    }

    #[test]
    fn localised_variants_noise_a_window_around_the_error_and_insert_slots() {
        // ids 10..15 stand for a 5-token snippet; the error is at token 2
        let ids = [10u32, 11, 12, 13, 14];
        let (v, keep) = localised_variant(&ids, 2, 1, 0, 10).unwrap();
        assert_eq!(v, [10, 11, 12, 13, 14, 1, 0, 0, 0, 0]);
        assert_eq!(keep, [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "the error token and one each side");
        let (v, keep) = localised_variant(&ids, 2, 1, 2, 10).unwrap();
        assert_eq!(v, [10, 11, 3, 3, 12, 13, 14, 1, 0, 0], "two <mask> slots before the error token");
        assert_eq!(keep.iter().filter(|&&k| k == 0.0).count(), 5, "slots, error token, one each side");
        let (_, keep) = localised_variant(&ids, 5, 2, 1, 10).unwrap();
        assert_eq!(&keep[3..8], [0.0; 5], "an error at the end: the tail, a slot and <eos> are free");
        assert!(localised_variant(&ids, 2, 1, 5, 10).is_none(), "too long with the slots");
        // byte offsets map to the token that ends after them, or <eos>
        let offsets = [(0, 1), (1, 4), (4, 5)];
        assert_eq!((error_token(&offsets, 0), error_token(&offsets, 2), error_token(&offsets, 4), error_token(&offsets, 9)), (0, 1, 2, 3));
    }

    #[test]
    fn a_pad_or_mask_written_inside_the_window_deletes_and_outside_it_is_reset() {
        use crate::tokenizer::{EOS, MASK, PAD};
        // `c = 10 11 12 13`, the window is positions 1..=2
        let input = [10, 11, 12, 13, EOS, PAD];
        let keep = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        assert_eq!(window_edit(&[10, PAD, 20, 13, EOS, PAD], &keep, &input), [10, 20, 13, EOS, PAD], "a deletion mid-snippet");
        assert_eq!(window_edit(&[10, MASK, PAD, 13, EOS, PAD], &keep, &input), [10, 13, EOS, PAD]);
        assert_eq!(window_edit(&[30, 21, 22, 33, 34, 35], &keep, &input), [10, 21, 22, 13, EOS, PAD], "kept positions reset");
        let ended = window_edit(&[10, 21, EOS, 13, EOS, PAD], &keep, &input);
        assert_eq!(crate::tokenizer::snippet_ids(&ended), [10, 21], "an <eos> in the window still ends the snippet");
    }

    #[test]
    fn localised_repair_rewrites_only_the_window_on_real_benchmark_formulas() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/corpora/benchmarks/repair/excel.json");
        let bench = crate::dataset::load_bench(std::path::Path::new(path)).unwrap();
        let excel = LangId::Excel.language();
        let texts: Vec<String> = bench.iter().map(|i| i.truth.clone()).collect();
        let tokenizer = CodeTokenizer::train(texts.iter(), 400).unwrap();
        let config = ModelConfig {
            vocab_size: 400,
            seq_len: 48,
            d_model: 16,
            n_heads: 2,
            denoiser_layers: 1,
            decoder_layers: 1,
            length_bucket: Some(8),
            ..ModelConfig::tiny()
        };
        let (model, _vars) = crate::model::init_model(&config, &candle_core::Device::Cpu, 0).unwrap();
        let mut inputs: Vec<String> =
            bench.iter().map(|i| i.broken.clone()).filter(|b| excel.check(b).is_err() && b.len() < 60).take(6).collect();
        inputs.push(bench[0].truth.clone()); // a formula the checker accepts
        let localise = Localise { radii: vec![1], inserts: vec![0, 1], constrained: false };
        let repair = RepairConfig {
            levels: vec![0.5],
            samples: 2,
            batch_size: 8,
            sampler: SamplerConfig { stride: Some(200), ..Default::default() },
            seed: 3,
            localise: Some(localise.clone()),
        };
        let repairer = Repairer::new(&model, &tokenizer, excel);
        let out = repairer.repair(&inputs, &repair).unwrap();
        // the same chains read out under the checker: each candidate is the
        // argmax one, or another that passes the check (no rng draw differs)
        let constrained = RepairConfig { localise: Some(Localise { constrained: true, ..localise.clone() }), ..repair.clone() };
        let checked = repairer.repair(&inputs, &constrained).unwrap();
        let mut changed = 0;
        for (free, held) in out.iter().zip(&checked) {
            for (a, b) in free.as_ref().unwrap().iter().zip(held.as_ref().unwrap()) {
                assert!(a.text == b.text || b.valid, "{} -> {}: a constrained read-out passes the check", a.text, b.text);
                changed += usize::from(a.text != b.text);
            }
        }
        assert!(changed > 0, "the checker changed some read-out");
        let (valid, out) = out.split_last().unwrap();
        assert!(valid.as_ref().unwrap().iter().all(|c| &c.text == inputs.last().unwrap()), "a valid input comes back unchanged");
        for (input, candidates) in inputs.iter().zip(out) {
            let candidates = candidates.as_ref().unwrap();
            assert_eq!(candidates.len(), 2 * 2, "two variants for each of two samples");
            let (ids, offsets) = tokenizer.encode_with_offsets(input).unwrap();
            let at = error_token(&offsets, excel.check(input).unwrap_err().offset);
            for c in candidates {
                // an untrained model writes junk, but only inside the window
                let prefix = tokenizer.decode_snippet(&ids[..at.saturating_sub(1)]).unwrap();
                assert!(c.text.starts_with(&prefix), "{input} -> {}: the part before the window is kept", c.text);
            }
        }
    }
}

//! Training data: a corpus split tokenised to the model's fixed length, with
//! the CPD maskable positions, and seeded batch sampling.

use super::PairsSource;
use crate::dataset::read_corpus_split;
use crate::lang::LangId;
use crate::model::ModelConfig;
use crate::tokenizer::{CodeTokenizer, EncodeStats};
use candle_core::{Device, Result as CandleResult, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::Path;

/// Tokenised snippets of one split.
pub struct TokenizedSplit {
    /// `(rows, n)` token ids.
    pub rows: Vec<Vec<u32>>,
    /// `(rows, n)`: whether a position is maskable (identifier/keyword).
    pub maskable: Vec<Vec<bool>>,
    /// What was kept and what did not fit.
    pub stats: EncodeStats,
    /// In a conditioned run, each row's source: its utterance's ids and
    /// `<eos>`, cut to the encoder's length; `None` in code-only pretraining.
    pub sources: Option<Vec<Vec<u32>>>,
}

impl TokenizedSplit {
    /// Reads `split` of the corpus in `dir` and encodes it to length `n`.
    pub fn load(dir: &Path, split: &str, tokenizer: &CodeTokenizer, n: usize) -> Result<Self, super::TrainError> {
        let records = read_corpus_split(dir, split)?;
        let mut out = TokenizedSplit { rows: Vec::new(), maskable: Vec::new(), stats: EncodeStats::default(), sources: None };
        for record in records {
            let lang: LangId = record.lang.parse().map_err(|reason| super::TrainError::Data { path: dir.to_path_buf(), reason })?;
            let spans = lang.language().maskable_spans(&record.text);
            match tokenizer.encode_fixed_marked(&record.text, n, &spans)? {
                Some((ids, marked)) => {
                    out.rows.push(ids);
                    out.maskable.push(marked);
                    out.stats.kept += 1;
                }
                None => out.stats.too_long += 1,
            }
        }
        Ok(out)
    }

    /// The (utterance, code) pairs of an NL-to-code benchmark's train split
    /// for a conditioned run: the held-out items ([`PairsSource::HELD_OUT_EVERY`])
    /// when `held_out`, else the others, their literal-swapped copies
    /// ([`PairsSource::literal_copies`]) and their paraphrased ones
    /// ([`PairsSource::paraphrase_copies`]). Items without an utterance are left out;
    /// code longer than `n` counts as too long; an utterance longer than `m - 1`
    /// tokens is cut. With `slots`, every pair (copies included) has its
    /// utterance's literals replaced by placeholders on both sides
    /// ([`crate::dataset::LiteralSlots`]).
    pub fn load_pairs(
        pairs: &PairsSource,
        held_out: bool,
        slots: bool,
        tokenizer: &CodeTokenizer,
        n: usize,
        m: usize,
    ) -> Result<Self, super::TrainError> {
        let bench = crate::dataset::load_nl2code(&pairs.bench)?;
        let language = pairs.lang.language();
        let mut out = TokenizedSplit { rows: Vec::new(), maskable: Vec::new(), stats: EncodeStats::default(), sources: Some(Vec::new()) };
        let every = PairsSource::HELD_OUT_EVERY;
        let chosen: Vec<(&str, &str)> = bench
            .train
            .iter()
            .enumerate()
            .filter(|(i, _)| (i % every == every - 1) == held_out)
            .filter_map(|(_, item)| item.utterance.as_deref().map(|u| (u, item.code.as_str())))
            .collect();
        let mut texts: Vec<(String, String)> = chosen.iter().map(|&(u, c)| (u.to_string(), c.to_string())).collect();
        if !held_out {
            texts.extend(super::literals::literal_copies(&chosen, pairs.literal_copies));
            texts.extend(super::paraphrase::paraphrase_copies(&chosen, pairs.paraphrase_copies));
        }
        if slots {
            for (utterance, code) in &mut texts {
                let found = crate::dataset::LiteralSlots::of(utterance);
                (*utterance, *code) = (found.mask_utterance(utterance), found.mask_code(code));
            }
        }
        for (utterance, code) in &texts {
            let spans = language.maskable_spans(code);
            match tokenizer.encode_fixed_marked(code, n, &spans)? {
                Some((ids, marked)) => {
                    let mut source = tokenizer.encode(utterance)?;
                    source.truncate(m.saturating_sub(1));
                    source.push(crate::tokenizer::EOS);
                    out.rows.push(ids);
                    out.maskable.push(marked);
                    out.sources.get_or_insert_with(Vec::new).push(source);
                    out.stats.kept += 1;
                }
                None => out.stats.too_long += 1,
            }
        }
        Ok(out)
    }

    /// The sources of the rows at `indices`, right-padded to the longest, with
    /// their lengths; `None` when the split has no sources.
    pub fn source_batch(&self, indices: &[usize], device: &Device) -> CandleResult<Option<(Tensor, Vec<usize>)>> {
        let Some(sources) = &self.sources else { return Ok(None) };
        let rows: Vec<&[u32]> = indices.iter().map(|&i| sources[i].as_slice()).collect();
        crate::diffusion::source_batch(&rows, device).map(Some)
    }

    /// Number of snippets.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A batch of the rows at `indices`: `(b, n)` ids and `(b, n, 1)` CPD mask
    /// (1 = keep clean: the position is *not* maskable).
    pub fn batch(&self, indices: &[usize], device: &Device) -> CandleResult<(Tensor, Tensor)> {
        self.batch_trimmed(indices, self.rows[0].len(), device)
    }

    /// [`TokenizedSplit::batch`] cut to the first `len` positions: `(b, len)`
    /// ids and `(b, len, 1)` CPD mask.
    pub fn batch_trimmed(&self, indices: &[usize], len: usize, device: &Device) -> CandleResult<(Tensor, Tensor)> {
        let keep: Vec<f32> = indices.iter().flat_map(|&i| self.maskable[i][..len].iter().map(|&m| if m { 0.0 } else { 1.0 })).collect();
        Ok((
            crate::diffusion::token_batch(indices.iter().map(|&i| self.rows[i].as_slice()), len, device)?,
            Tensor::from_vec(keep, (indices.len(), len, 1), device)?,
        ))
    }

    /// Ids of row `i` up to and including its `<eos>`.
    pub fn snippet_len(&self, i: usize) -> usize {
        crate::tokenizer::len_with_eos(&self.rows[i])
    }

    /// The row indices of each trimmed length ([`ModelConfig::trimmed_len`]),
    /// for length-bucketed batches.
    pub fn buckets(&self, config: &ModelConfig) -> BTreeMap<usize, Vec<usize>> {
        let mut buckets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..self.len() {
            buckets.entry(config.trimmed_len(self.snippet_len(i))).or_default().push(i);
        }
        buckets
    }

    /// A length-bucketed batch: the first row uniform, the other `b - 1` uniform
    /// within its bucket (so every row is still drawn with equal probability);
    /// returns the indices and the bucket's length.
    pub fn sample_bucketed(
        &self,
        b: usize,
        config: &ModelConfig,
        buckets: &BTreeMap<usize, Vec<usize>>,
        rng: &mut ChaCha8Rng,
    ) -> (Vec<usize>, usize) {
        let first = rng.random_range(0..self.len());
        let len = config.trimmed_len(self.snippet_len(first));
        let bucket = &buckets[&len];
        let mut indices = Vec::with_capacity(b);
        indices.push(first);
        indices.extend((1..b).map(|_| bucket[rng.random_range(0..bucket.len())]));
        (indices, len)
    }

    /// One random window of `1..=span_max` positions of row `i` cut to `len`,
    /// placed anywhere over the snippet, its `<eos>` and the position after it
    /// (where a missing token goes): the positions a span batch noises.
    pub fn span_window(&self, i: usize, len: usize, span_max: usize, rng: &mut ChaCha8Rng) -> std::ops::RangeInclusive<usize> {
        let eos = self.rows[i].iter().position(|&id| id == crate::tokenizer::EOS).unwrap_or(len - 1);
        let reach = (eos + 2).min(len); // positions a window may cover
        let width = rng.random_range(1..=span_max.min(reach));
        let start = rng.random_range(0..=reach - width);
        start..=start + width - 1
    }

    /// `b` indices drawn uniformly with replacement.
    pub fn sample_indices(&self, b: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
        (0..b).map(|_| rng.random_range(0..self.len())).collect()
    }
}

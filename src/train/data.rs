//! Training data: a corpus split tokenised to the model's fixed length, with
//! the CPD maskable positions, and seeded batch sampling.

use crate::dataset::read_corpus_split;
use crate::lang::LangId;
use crate::tokenizer::{CodeTokenizer, EncodeStats};
use candle_core::{Device, Result as CandleResult, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Tokenised snippets of one split.
pub struct TokenizedSplit {
    /// `(rows, n)` token ids.
    pub rows: Vec<Vec<u32>>,
    /// `(rows, n)`: whether a position is maskable (identifier/keyword).
    pub maskable: Vec<Vec<bool>>,
    /// What was kept and what did not fit.
    pub stats: EncodeStats,
}

impl TokenizedSplit {
    /// Reads `split` of the corpus in `dir` and encodes it to length `n`.
    pub fn load(dir: &Path, split: &str, tokenizer: &CodeTokenizer, n: usize) -> Result<Self, super::TrainError> {
        let records = read_corpus_split(dir, split)?;
        let mut out = TokenizedSplit { rows: Vec::new(), maskable: Vec::new(), stats: EncodeStats::default() };
        for record in records {
            let lang: LangId = record.lang.parse().map_err(|reason| super::TrainError::Data {
                path: dir.to_path_buf(),
                reason,
            })?;
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
        let n = self.rows[0].len();
        let ids: Vec<u32> = indices.iter().flat_map(|&i| self.rows[i].iter().copied()).collect();
        let keep: Vec<f32> =
            indices.iter().flat_map(|&i| self.maskable[i].iter().map(|&m| if m { 0.0 } else { 1.0 })).collect();
        Ok((
            Tensor::from_vec(ids, (indices.len(), n), device)?,
            Tensor::from_vec(keep, (indices.len(), n, 1), device)?,
        ))
    }

    /// `b` indices drawn uniformly with replacement.
    pub fn sample_indices(&self, b: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
        (0..b).map(|_| rng.random_range(0..self.len())).collect()
    }
}

//! Token batches as the model runs them: a model trained on length buckets
//! runs a batch at the bucket of its longest snippet instead of the full
//! model length (`ModelConfig::trimmed_len`).

use crate::model::CodeFusion;
use crate::tokenizer::len_with_eos;
use candle_core::{Device, Result, Tensor};

/// The first `len` ids of each row as one `(rows, len)` u32 tensor.
pub fn token_batch<'r>(rows: impl IntoIterator<Item = &'r [u32]>, len: usize, device: &Device) -> Result<Tensor> {
    let mut flat: Vec<u32> = Vec::new();
    let mut count = 0;
    for row in rows {
        flat.extend_from_slice(&row[..len]);
        count += 1;
    }
    Tensor::from_vec(flat, (count, len), device)
}

/// Fixed-length `rows` cut to the bucket that holds every row's snippet with
/// its `<eos>` and at least `min_len` positions (a window that must be
/// inside), at most the rows' own length: the `(b, len)` batch and `len`.
pub fn bucketed_batch(model: &CodeFusion, rows: &[&[u32]], min_len: usize) -> Result<(Tensor, usize)> {
    let longest = rows.iter().map(|row| len_with_eos(row)).max().unwrap_or(0).max(min_len);
    let len = model.config().trimmed_len(longest).min(rows.first().map_or(0, |row| row.len()));
    Ok((token_batch(rows.iter().copied(), len, model.device())?, len))
}

/// Conditioning sources (utterances' ids) right-padded with `<pad>` to the
/// longest as one `(rows, m)` u32 tensor, with each row's length: what
/// [`CodeFusion::encode`] takes.
pub fn source_batch(rows: &[&[u32]], device: &Device) -> Result<(Tensor, Vec<usize>)> {
    let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
    let m = lengths.iter().copied().max().unwrap_or(0).max(1);
    let mut flat = Vec::with_capacity(rows.len() * m);
    for row in rows {
        flat.extend_from_slice(row);
        flat.extend(std::iter::repeat_n(crate::tokenizer::PAD, m - row.len()));
    }
    Ok((Tensor::from_vec(flat, (rows.len(), m), device)?, lengths))
}

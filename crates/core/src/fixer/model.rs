//! The downstream fixer of data ablations (`lastmile fixer train`): a small
//! seq2seq transformer, broken snippet in, fixed snippet out. Its encoder and
//! decoder are CodeFusion's pre-LN [`Stack`]s (with a causal mask and source
//! padding masks), over one token embedding that is also the output head.
//! With `copy` the output is a pointer-generator's (See et al., 2017): a gate
//! mixes the read-out's distribution with an attention over the source's
//! tokens, so that a small fixer copies a long formula exactly and spends its
//! capacity on the edit.

use super::config::FixerConfig;
use crate::kernels::ops::MASKED;
use crate::model::{Masks, Stack};
use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::{embedding, linear, linear_no_bias, Embedding, Linear, VarBuilder};

/// The id the decoder starts from (the tokenizer's `<eos>`, as T5 starts from
/// its pad): targets are `y, <eos>`, decoder inputs `<eos>, y`.
pub const START: u32 = 1;

/// The seq2seq fixer.
#[derive(Debug, Clone)]
pub struct Fixer {
    config: FixerConfig,
    embed: Embedding,
    encoder: Stack,
    decoder: Stack,
    copy: Option<CopyHead>,
}

/// The pointer head: a single-head attention from the decoder's states to the
/// encoder's memory, and the gate `p_gen` between generating and copying.
#[derive(Debug, Clone)]
struct CopyHead {
    query: Linear,
    key: Linear,
    gate: Linear,
}

/// Probabilities are floored here before the log, so that a token neither
/// generated nor copied costs a finite (large) loss.
const PROB_FLOOR: f64 = 1e-9;

impl Fixer {
    /// Builds the fixer; parameter names under `vb` are the checkpoint keys
    /// (`embed`, `encoder.*`, `decoder.*`, and `copy.*` with `copy`).
    pub fn new(config: &FixerConfig, vb: VarBuilder) -> Result<Self> {
        let layers = config.layer_config();
        Ok(Fixer {
            embed: embedding(config.vocab_size, config.d_model, vb.pp("embed"))?,
            encoder: Stack::over_tokens(&layers, config.max_len, config.encoder_layers, false, vb.pp("encoder"))?,
            decoder: Stack::over_tokens(&layers, config.max_len, config.decoder_layers, true, vb.pp("decoder"))?,
            copy: if config.copy {
                let vb = vb.pp("copy");
                Some(CopyHead {
                    query: linear_no_bias(config.d_model, config.d_model, vb.pp("query"))?,
                    key: linear_no_bias(config.d_model, config.d_model, vb.pp("key"))?,
                    gate: linear(config.d_model, 1, vb.pp("gate"))?,
                })
            } else {
                None
            },
            config: config.clone(),
        })
    }

    /// The fixer's sizes.
    pub fn config(&self) -> &FixerConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.embed.embeddings().device()
    }

    /// Token embeddings scaled by `sqrt(d)` (the rows are drawn at norm ~1, so
    /// that the tied read-out starts with logits of unit scale).
    fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        self.embed.forward(ids)? * (self.config.d_model as f64).sqrt()
    }

    /// `source: (b, m)` ids with `source_mask` from [`padding_mask`] → the
    /// encoder's memory `(b, m, d)`.
    pub fn encode(&self, source: &Tensor, source_mask: &Tensor, train: bool) -> Result<Tensor> {
        let masks = Masks { self_attn: Some(source_mask.clone()), cross_attn: None };
        self.encoder.forward_masked(&self.embed_tokens(source)?, None, &masks, None, train)
    }

    /// Teacher-forced decoder: `prefix: (b, L)` ids (starting with [`START`])
    /// attending causally to itself and to `memory: (b, m, d)` → logits `(b, L, V)`.
    pub fn decode(&self, prefix: &Tensor, memory: &Tensor, source_mask: &Tensor, train: bool) -> Result<Tensor> {
        let (b, len) = prefix.dims2()?;
        let xs = self.decode_hidden(prefix, memory, source_mask, train)?; // (b, L, d)
        self.read_out(&xs.reshape((b * len, self.config.d_model))?)?.reshape((b, len, self.config.vocab_size))
    }

    /// The decoder's last hidden states `(b, L, d)` (before the read-out).
    pub fn decode_hidden(&self, prefix: &Tensor, memory: &Tensor, source_mask: &Tensor, train: bool) -> Result<Tensor> {
        let masks = Masks { self_attn: Some(causal_mask(prefix.dim(1)?, prefix.device())?), cross_attn: Some(source_mask.clone()) };
        self.decoder.forward_masked(&self.embed_tokens(prefix)?, None, &masks, Some(memory), train)
    }

    /// The tied read-out: hidden rows `(r, d)` → logits `(r, V)`.
    pub fn read_out(&self, rows: &Tensor) -> Result<Tensor> {
        crate::kernels::ops::matmul(rows, &self.embed.embeddings().t()?)
    }

    /// Whether the output mixes in copying from the source.
    pub fn copies(&self) -> bool {
        self.copy.is_some()
    }

    /// The next token's log-probabilities at the decoder positions `rows`
    /// (indices into the flattened `(b·L)` of `hidden: (b, L, d)`) → `(r, V)`:
    /// the read-out's log-softmax, or with `copy`
    /// `log(g · softmax(read-out) + (1 - g) · attention over the source ids)`,
    /// `source: (b, m)` ids with `source_mask` from [`padding_mask`] and
    /// `memory: (b, m, d)` the encoder's.
    pub fn log_probs(
        &self,
        hidden: &Tensor,
        memory: &Tensor,
        source: &Tensor,
        source_mask: &Tensor,
        rows: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let (b, len, d) = hidden.dims3()?;
        let flat = hidden.reshape((b * len, d))?.index_select(rows, 0)?; // (r, d)
        let logits = self.read_out(&flat)?; // (r, V)
        let Some(copy) = &self.copy else {
            return candle_nn::ops::log_softmax(&logits, D::Minus1);
        };
        let generate = crate::kernels::ops::softmax(&logits, train)?; // (r, V)
        let m = source.dim(1)?;
        let query = copy.query.forward(hidden)?; // (b, L, d)
        let key = copy.key.forward(memory)?; // (b, m, d)
        let scores = (crate::kernels::ops::matmul(&query, &key.t()?.contiguous()?)? / (d as f64).sqrt())?; // (b, L, m)
        let scores = scores.broadcast_add(&source_mask.reshape((b, 1, m))?)?.reshape((b * len, m))?.index_select(rows, 0)?;
        let attention = crate::kernels::ops::softmax(&scores, train)?; // (r, m)
                                                                       // each row's source ids: the weight of a position goes to its token (repeats add up)
        let source_ids = source.to_vec2::<u32>()?;
        let ids: Vec<u32> = rows.to_vec1::<u32>()?.iter().flat_map(|&row| source_ids[row as usize / len].iter().copied()).collect();
        let copied = scatter_to_vocab(&attention, ids, self.config.vocab_size)?; // (r, V)
        let gate = candle_nn::ops::sigmoid(&copy.gate.forward(&flat)?)?; // (r, 1): the weight of generating
        let mixed = (generate.broadcast_mul(&gate)? + copied.broadcast_mul(&(1.0 - &gate)?)?)?;
        (mixed + PROB_FLOOR)?.log()
    }
}

/// `attention: (r, m)` and `ids` (`r · m` token ids) → `(r, vocab)`, each
/// row's weights summed at their ids; differentiable in `attention` (its
/// gradient gathers the output's gradient at the ids).
fn scatter_to_vocab(attention: &Tensor, ids: Vec<u32>, vocab: usize) -> Result<Tensor> {
    let attention = attention.contiguous()?;
    if !attention.device().is_cpu() {
        // elsewhere: a one-hot product, (r, 1, m) · (r, m, V)
        let (r, m) = attention.dims2()?;
        let mut one_hot = vec![0f32; r * m * vocab];
        for (k, &id) in ids.iter().enumerate() {
            one_hot[k * vocab + id as usize] = 1.0;
        }
        let one_hot = Tensor::from_vec(one_hot, (r, m, vocab), attention.device())?.to_dtype(attention.dtype())?;
        return attention.unsqueeze(1)?.matmul(&one_hot)?.squeeze(1);
    }
    attention.apply_op1(ScatterToVocab { ids, vocab })
}

/// The custom op of [`scatter_to_vocab`] on the CPU.
struct ScatterToVocab {
    ids: Vec<u32>,
    vocab: usize,
}

impl candle_core::CustomOp1 for ScatterToVocab {
    fn name(&self) -> &'static str {
        "scatter-to-vocab"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let weights = crate::kernels::fused::slice(storage, layout, self.name())?;
        let (r, m) = layout.shape().dims2()?;
        if self.ids.len() != r * m || self.ids.iter().any(|&id| id as usize >= self.vocab) {
            candle_core::bail!("{}: {} ids for ({r}, {m}) weights, vocabulary {}", self.name(), self.ids.len(), self.vocab);
        }
        let mut out = vec![0f32; r * self.vocab];
        for (row, (weights, ids)) in out.chunks_mut(self.vocab).zip(weights.chunks(m).zip(self.ids.chunks(m))) {
            for (&w, &id) in weights.iter().zip(ids) {
                row[id as usize] += w;
            }
        }
        Ok((candle_core::CpuStorage::F32(out), (r, self.vocab).into()))
    }

    fn bwd(&self, attention: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (r, m) = attention.dims2()?;
        let ids = Tensor::from_vec(self.ids.clone(), (r, m), grad.device())?;
        Ok(Some(grad.contiguous()?.gather(&ids, 1)?))
    }
}

/// `(len, len)`: 0 on and below the diagonal, [`MASKED`] above it.
pub fn causal_mask(len: usize, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..len).flat_map(|i| (0..len).map(move |j| if j > i { MASKED } else { 0.0 })).collect();
    Tensor::from_vec(values, (len, len), device)
}

pub use crate::model::padding_mask;

/// Rows of ids right-padded with `pad` to the longest, as a `(b, L)` u32 tensor.
pub fn padded_batch(rows: &[&[u32]], pad: u32, device: &Device) -> Result<Tensor> {
    let len = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    let mut flat = Vec::with_capacity(rows.len() * len);
    for row in rows {
        flat.extend_from_slice(row);
        flat.extend(std::iter::repeat_n(pad, len - row.len()));
    }
    Tensor::from_vec(flat, (rows.len(), len), device)
}

/// Label-smoothed cross-entropy of `logits: (r, V)` against `targets: (r)`:
/// `(1 - eps) * nll + eps * mean over the vocabulary of -log p`, averaged over
/// rows, from differentiable primitives.
pub fn smoothed_cross_entropy(logits: &Tensor, targets: &Tensor, eps: f64) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?.detach(); // (r, 1)
    let lse = (logits.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?.log()? + &max)?; // (r, 1)
    let picked = logits.gather(&targets.unsqueeze(1)?, 1)?; // (r, 1)
    let uniform = logits.mean_keepdim(D::Minus1)?; // (r, 1)
    let per_row = (lse - ((picked * (1.0 - eps))? + (uniform * eps)?)?)?;
    per_row.mean_all()
}

/// [`smoothed_cross_entropy`] of rows that are already log-probabilities
/// `(r, V)` (the copy head's mixture has no logits).
pub fn smoothed_nll(log_probs: &Tensor, targets: &Tensor, eps: f64) -> Result<Tensor> {
    let picked = log_probs.gather(&targets.unsqueeze(1)?, 1)?; // (r, 1)
    let uniform = log_probs.mean_keepdim(D::Minus1)?; // (r, 1)
    ((picked * (1.0 - eps))? + (uniform * eps)?)?.neg()?.mean_all()
}

/// The mean per-token loss of a batch of pairs (`sources[i]` and `targets[i]`
/// both end with `<eos>`; `pad` fills the rest).
pub fn fixer_loss(model: &Fixer, sources: &[&[u32]], targets: &[&[u32]], pad: u32, eps: f64, train: bool) -> Result<Tensor> {
    let device = model.device().clone();
    let source = padded_batch(sources, pad, &device)?; // (b, m)
    let lengths: Vec<usize> = sources.iter().map(|s| s.len()).collect();
    let source_mask = padding_mask(&lengths, source.dim(1)?, &device)?;
    let prefixes: Vec<Vec<u32>> =
        targets.iter().map(|t| std::iter::once(START).chain(t[..t.len() - 1].iter().copied()).collect()).collect();
    let prefix = padded_batch(&prefixes.iter().map(Vec::as_slice).collect::<Vec<_>>(), pad, &device)?; // (b, L)
    let memory = model.encode(&source, &source_mask, train)?;
    let hidden = model.decode_hidden(&prefix, &memory, &source_mask, train)?; // (b, L, d)
    let (b, len, d) = hidden.dims3()?;
    // the real target positions: rows of the flattened (b·L) and their ids
    let (mut rows, mut wanted) = (Vec::new(), Vec::new());
    for (i, target) in targets.iter().enumerate() {
        for (j, &id) in target.iter().enumerate() {
            rows.push((i * len + j) as u32);
            wanted.push(id);
        }
    }
    let rows = Tensor::from_vec(rows, wanted.len(), &device)?;
    let wanted = Tensor::from_vec(wanted, rows.dim(0)?, &device)?;
    if model.copies() {
        let picked = model.log_probs(&hidden, &memory, &source, &source_mask, &rows, train)?; // (r, V)
        return smoothed_nll(&picked, &wanted, eps);
    }
    // only the real target positions are read out (the largest matmul skips the padding)
    let picked = model.read_out(&hidden.reshape((b * len, d))?.index_select(&rows, 0)?)?; // (r, V)
    smoothed_cross_entropy(&picked, &wanted, eps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::VarMap;
    use rand::SeedableRng;

    fn tiny() -> (Fixer, VarMap) {
        tiny_with(false)
    }

    fn tiny_with(copy: bool) -> (Fixer, VarMap) {
        let config =
            FixerConfig { vocab_size: 16, max_len: 8, d_model: 16, n_heads: 2, d_ff: 32, encoder_layers: 1, decoder_layers: 1, copy };
        let vars = VarMap::new();
        let model = Fixer::new(&config, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
        // the training's initialisation (candle's default embeddings saturate the read-out)
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        crate::model::redraw_seeded(&vars, &mut rng, 0.25, 1.0, &|_, _| None, &Device::Cpu).unwrap();
        (model, vars)
    }

    #[test]
    fn decoder_is_causal_and_ignores_source_padding() {
        let (model, _) = tiny();
        let dev = Device::Cpu;
        let source = Tensor::new(&[[5u32, 6, 1, 0, 0]], &dev).unwrap();
        let padded_other = Tensor::new(&[[5u32, 6, 1, 9, 9]], &dev).unwrap();
        let mask = padding_mask(&[3], 5, &dev).unwrap();
        let logits = |source: &Tensor, prefix: &[u32]| {
            let memory = model.encode(source, &mask, false).unwrap();
            let prefix = Tensor::new(prefix, &dev).unwrap().unsqueeze(0).unwrap();
            model.decode(&prefix, &memory, &mask, false).unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap()
        };
        let short = logits(&source, &[START, 7]);
        let long = logits(&source, &[START, 7, 8, 9]);
        let other_pad = logits(&padded_other, &[START, 7]);
        for (a, b) in short.iter().flatten().zip(long.iter().flatten()) {
            assert!((a - b).abs() < 1e-4, "a later token changed an earlier position's logits");
        }
        for (a, b) in short.iter().flatten().zip(other_pad.iter().flatten()) {
            assert!((a - b).abs() < 1e-4, "padding of the source leaked into the decoder");
        }
    }

    #[test]
    fn every_parameter_receives_a_gradient() {
        for copy in [false, true] {
            let (model, vars) = tiny_with(copy);
            let loss = fixer_loss(&model, &[&[4, 5, 1], &[6, 1]], &[&[4, 1], &[7, 8, 1]], 0, 0.1, true).unwrap();
            let grads = loss.backward().unwrap();
            let data = vars.data().lock().unwrap();
            assert_eq!(data.keys().any(|k| k.starts_with("copy.")), copy);
            for (name, var) in data.iter() {
                let grad = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name} has no gradient"));
                let norm = grad.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(norm > 0.0, "copy {copy}, {name}: zero gradient");
            }
        }
    }

    #[test]
    fn copy_mixture_is_a_distribution_that_follows_the_source() {
        let (model, _) = tiny_with(true);
        let dev = Device::Cpu;
        let source = Tensor::new(&[[5u32, 6, 5, 1, 0]], &dev).unwrap();
        let mask = padding_mask(&[4], 5, &dev).unwrap();
        let memory = model.encode(&source, &mask, false).unwrap();
        let prefix = Tensor::new(&[[START, 5, 6]], &dev).unwrap();
        let hidden = model.decode_hidden(&prefix, &memory, &mask, false).unwrap();
        let rows = Tensor::new(&[0u32, 1, 2], &dev).unwrap();
        let log_probs = model.log_probs(&hidden, &memory, &source, &mask, &rows, false).unwrap();
        let generate = candle_nn::ops::softmax_last_dim(&model.decode(&prefix, &memory, &mask, false).unwrap()).unwrap();
        let probs = log_probs.exp().unwrap().to_vec2::<f32>().unwrap();
        let generate = generate.squeeze(0).unwrap().to_vec2::<f32>().unwrap();
        for (row, gen) in probs.iter().zip(&generate) {
            let total: f32 = row.iter().sum();
            assert!((total - 1.0).abs() < 1e-4, "sums to {total}");
            // every id keeps the same share g of the read-out; only the source's ids
            // (5, 6, <eos>) gain more, and the padding id (0) gains nothing
            let gate = row[9] / gen[9];
            assert!(gate > 0.0 && gate < 1.0, "gate {gate}");
            for id in 0..16 {
                let ratio = row[id] / gen[id];
                if [5, 6, 1].contains(&id) {
                    assert!(ratio > gate * 1.01, "id {id}: {ratio} against {gate}");
                } else {
                    assert!((ratio - gate).abs() < 1e-3 * gate, "id {id}: {ratio} against {gate}");
                }
            }
        }
    }

    #[test]
    fn smoothing_zero_is_plain_cross_entropy() {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[1f32, 2., 3.], [0., 0., 5.]], &dev).unwrap();
        let targets = Tensor::new(&[2u32, 0], &dev).unwrap();
        let ours = smoothed_cross_entropy(&logits, &targets, 0.0).unwrap().to_scalar::<f32>().unwrap();
        let reference = candle_nn::loss::cross_entropy(&logits, &targets).unwrap().to_scalar::<f32>().unwrap();
        assert!((ours - reference).abs() < 1e-5, "{ours} vs {reference}");
    }
}

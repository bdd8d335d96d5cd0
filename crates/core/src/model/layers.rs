//! Transformer layers: layer norm, multi-head (self and cross) attention,
//! feed-forward, pre-LN block, and the `Stack` used by denoiser and decoder.

use super::ModelConfig;
use crate::kernels::{attention, fused, matmul, ops};
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// A linear layer `x W^T + b` (keys `weight`, `bias`, as candle's and PyTorch's)
/// that folds all leading dimensions into one before the matmul: one large GEMM
/// (and its backward) instead of a batch of small ones is ~3x faster on CPU.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

/// A [`Linear`] from `in_dim` to `out_dim` features.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let bound = 1.0 / (in_dim as f64).sqrt();
    let init = candle_nn::Init::Uniform { lo: -bound, up: bound };
    Ok(Linear { weight: vb.get_with_hints((out_dim, in_dim), "weight", init)?, bias: vb.get_with_hints(out_dim, "bias", init)? })
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if fused::applies(xs) && xs.is_contiguous() {
            // the CPU op folds the leading dimensions itself (no reshape nodes)
            return ops::linear(xs, &self.weight, &self.bias);
        }
        let dims = xs.dims().to_vec();
        let in_dim = *dims.last().expect("at least one dimension");
        let rows = xs.elem_count() / in_dim;
        let ys = ops::linear(&xs.reshape((rows, in_dim))?, &self.weight, &self.bias)?; // (rows, out)
        let mut out_dims = dims;
        *out_dims.last_mut().expect("at least one dimension") = ys.dim(1)?;
        ys.reshape(out_dims)
    }
}

impl Linear {
    /// The index of each row's largest output, `x: (rows, in) -> (rows)`
    /// ([`ops::linear_argmax`]: at a reduced precision the outputs are never written).
    pub fn argmax(&self, xs: &Tensor) -> Result<Vec<u32>> {
        ops::linear_argmax(xs, &self.weight, &self.bias)
    }
}

/// Layer norm with learned scale and shift (`weight`, `bias`).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// A layer norm over `d` features.
    pub fn new(d: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(d, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(d, "bias", candle_nn::Init::Const(0.0))?;
        Ok(LayerNorm { weight, bias, eps })
    }

    /// Normalises `xs: (.., d)`; `train` selects the differentiable path.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        ops::layer_norm(xs, &self.weight, &self.bias, self.eps, train)
    }
}

/// Multi-head attention. Self-attention projects q, k, v together (`in_proj`);
/// cross-attention projects q from the sequence (`q_proj`) and k, v from the
/// encoder output (`kv_proj`).
#[derive(Debug, Clone)]
pub struct Attention {
    in_proj: Option<Linear>,
    q_proj: Option<Linear>,
    kv_proj: Option<Linear>,
    out_proj: Linear,
    n_heads: usize,
}

impl Attention {
    /// Self-attention.
    pub fn new_self(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Attention {
            in_proj: Some(linear(d, 3 * d, vb.pp("in_proj"))?),
            q_proj: None,
            kv_proj: None,
            out_proj: linear(d, d, vb.pp("out_proj"))?,
            n_heads: cfg.n_heads,
        })
    }

    /// Cross-attention onto an encoder output.
    pub fn new_cross(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Attention {
            in_proj: None,
            q_proj: Some(linear(d, d, vb.pp("q_proj"))?),
            kv_proj: Some(linear(d, 2 * d, vb.pp("kv_proj"))?),
            out_proj: linear(d, d, vb.pp("out_proj"))?,
            n_heads: cfg.n_heads,
        })
    }

    /// `(b, n, d) -> (b, h, n, d/h)`
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, n, d) = xs.dims3()?;
        xs.reshape((b, n, self.n_heads, d / self.n_heads))?.transpose(1, 2)?.contiguous()
    }

    /// Attends `xs: (b, n, d)` to itself, or to `context: (b, m, d)` when
    /// cross; `mask` is added to the attention scores ([`ops::attention`]).
    pub fn forward_t(&self, xs: &Tensor, context: Option<&Tensor>, mask: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let (b, n, d) = xs.dims3()?;
        if fused::applies(xs) {
            // one op over the packed projections, heads read and merged in place
            let xs = match (&self.in_proj, context) {
                (Some(in_proj), _) => attention::self_attention(&in_proj.forward(xs)?, self.n_heads, mask, train)?,
                (None, Some(context)) => {
                    let q = self.q_proj.as_ref().expect("cross-attention has q_proj").forward(xs)?;
                    let kv = self.kv_proj.as_ref().expect("cross-attention has kv_proj").forward(context)?; // (b, m, 2d)
                    attention::cross_attention(&q, &kv, self.n_heads, mask, train)?
                }
                (None, None) => candle_core::bail!("cross-attention needs an encoder output"),
            }; // (b, n, d)
            return self.out_proj.forward(&xs);
        }
        let (q, k, v) = match (&self.in_proj, context) {
            (Some(in_proj), _) => {
                let qkv = in_proj.forward(xs)?; // (b, n, 3d)
                (qkv.narrow(2, 0, d)?, qkv.narrow(2, d, d)?, qkv.narrow(2, 2 * d, d)?)
            }
            (None, Some(context)) => {
                let q = self.q_proj.as_ref().expect("cross-attention has q_proj").forward(xs)?;
                let kv = self.kv_proj.as_ref().expect("cross-attention has kv_proj").forward(context)?; // (b, m, 2d)
                (q, kv.narrow(2, 0, d)?, kv.narrow(2, d, d)?)
            }
            (None, None) => candle_core::bail!("cross-attention needs an encoder output"),
        };
        let (q, k, v) = (self.split_heads(&q)?, self.split_heads(&k)?, self.split_heads(&v)?);
        let xs = ops::attention(&q, &k, &v, mask, train)?; // (b, h, n, d/h)
        let xs = xs.transpose(1, 2)?.reshape((b, n, d))?;
        self.out_proj.forward(&xs)
    }
}

/// `Linear(d, f) -> GELU -> Linear(f, d)`.
#[derive(Debug, Clone)]
pub struct FeedForward {
    fc1: Linear,
    fc2: Linear,
}

impl FeedForward {
    /// A feed-forward layer of width `cfg.ff()`.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        Ok(FeedForward { fc1: linear(cfg.d_model, cfg.ff(), vb.pp("fc1"))?, fc2: linear(cfg.ff(), cfg.d_model, vb.pp("fc2"))? })
    }
}

impl FeedForward {
    /// `xs: (.., d) -> (.., d)`; for inference (`!train`) on the CPU the GELU
    /// runs in the first product's epilogue ([`matmul::linear_gelu_inference`]).
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if !train && fused::applies(xs) && xs.is_contiguous() {
            return self.fc2.forward(&matmul::linear_gelu_inference(xs, &self.fc1.weight, &self.fc1.bias)?);
        }
        self.fc2.forward(&ops::gelu(&self.fc1.forward(xs)?)?)
    }
}

impl Module for FeedForward {
    /// The differentiable path ([`FeedForward::forward_t`] with `train`).
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_t(xs, true)
    }
}

/// Additive attention masks of one forward pass (see [`ops::attention`]);
/// the default masks nothing, as CodeFusion's bidirectional stacks need.
#[derive(Debug, Clone, Default)]
pub struct Masks {
    /// Added to the self-attention scores: `(n, n)` causal, or `(b, 1, 1, n)` padding.
    pub self_attn: Option<Tensor>,
    /// Added to the cross-attention scores: `(b, 1, 1, m)` source padding.
    pub cross_attn: Option<Tensor>,
}

/// `(b, 1, 1, m)` additive key mask: 0 for the first `lengths[i]` positions of
/// row `i`, [`ops::MASKED`] for its padding.
pub fn padding_mask(lengths: &[usize], m: usize, device: &candle_core::Device) -> Result<Tensor> {
    let values: Vec<f32> = lengths.iter().flat_map(|&len| (0..m).map(move |j| if j < len { 0.0 } else { ops::MASKED })).collect();
    Tensor::from_vec(values, (lengths.len(), 1, 1, m), device)
}

/// Pre-LN transformer block: `x + MHA(LN(x))`, optionally `x + XAttn(LN(x), enc)`,
/// then `x + FFN(LN(x))`.
#[derive(Debug, Clone)]
pub struct Block {
    ln1: LayerNorm,
    attn: Attention,
    cross: Option<(LayerNorm, Attention)>,
    ln2: LayerNorm,
    ffn: FeedForward,
}

impl Block {
    /// A block; with `cross`, a cross-attention sub-layer after self-attention.
    pub fn new(cfg: &ModelConfig, cross: bool, vb: VarBuilder) -> Result<Self> {
        let eps = cfg.layer_norm_eps;
        let cross = if cross {
            Some((LayerNorm::new(cfg.d_model, eps, vb.pp("ln_cross"))?, Attention::new_cross(cfg, vb.pp("cross_attn"))?))
        } else {
            None
        };
        Ok(Block {
            ln1: LayerNorm::new(cfg.d_model, eps, vb.pp("ln1"))?,
            attn: Attention::new_self(cfg, vb.pp("attn"))?,
            cross,
            ln2: LayerNorm::new(cfg.d_model, eps, vb.pp("ln2"))?,
            ffn: FeedForward::new(cfg, vb.pp("ffn"))?,
        })
    }

    /// `xs: (b, n, d) -> (b, n, d)`.
    pub fn forward_t(&self, xs: &Tensor, context: Option<&Tensor>, train: bool) -> Result<Tensor> {
        self.forward_masked(xs, &Masks::default(), context, train)
    }

    /// [`Block::forward_t`] with attention masks (the seq2seq fixer's causal
    /// decoder and padded sources).
    pub fn forward_masked(&self, xs: &Tensor, masks: &Masks, context: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let residual = xs;
        let xs = (self.attn.forward_t(&self.ln1.forward_t(xs, train)?, None, masks.self_attn.as_ref(), train)? + residual)?;
        let xs = match &self.cross {
            Some((ln, attn)) => {
                let residual = &xs;
                (attn.forward_t(&ln.forward_t(&xs, train)?, context, masks.cross_attn.as_ref(), train)? + residual)?
            }
            None => xs,
        };
        let residual = &xs;
        self.ffn.forward_t(&self.ln2.forward_t(&xs, train)?, train)? + residual
    }
}

/// `Linear(d, d)(x) + pos (+ extra)`, blocks, final layer norm: the body of the
/// denoiser N and the decoder D.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `None` for the encoder, whose input is its own embedding.
    inp: Option<Linear>,
    pos: Tensor,
    blocks: Vec<Block>,
    ln: LayerNorm,
}

impl Stack {
    /// A stack of `layers` blocks over sequences of `cfg.seq_len`.
    pub fn new(cfg: &ModelConfig, layers: usize, cross: bool, vb: VarBuilder) -> Result<Self> {
        let inp = linear(cfg.d_model, cfg.d_model, vb.pp("inp"))?;
        Self::build(cfg, cfg.seq_len, layers, cross, Some(inp), vb)
    }

    /// The encoder's body: no input projection, `len` positions, no cross-attention.
    pub fn without_input(cfg: &ModelConfig, len: usize, layers: usize, vb: VarBuilder) -> Result<Self> {
        Self::build(cfg, len, layers, false, None, vb)
    }

    /// A stack over token embeddings (no input projection) of at most `len`
    /// positions, with cross-attention when `cross`: the fixer's encoder and decoder.
    pub fn over_tokens(cfg: &ModelConfig, len: usize, layers: usize, cross: bool, vb: VarBuilder) -> Result<Self> {
        Self::build(cfg, len, layers, cross, None, vb)
    }

    fn build(cfg: &ModelConfig, len: usize, layers: usize, cross: bool, inp: Option<Linear>, vb: VarBuilder) -> Result<Self> {
        let pos = vb.get_with_hints((len, cfg.d_model), "pos", candle_nn::Init::Randn { mean: 0.0, stdev: 0.02 })?;
        let blocks = (0..layers).map(|i| Block::new(cfg, cross, vb.pp(format!("blocks.{i}")))).collect::<Result<Vec<_>>>()?;
        Ok(Stack { inp, pos, blocks, ln: LayerNorm::new(cfg.d_model, cfg.layer_norm_eps, vb.pp("ln"))? })
    }

    /// `xs: (b, L, d)` with `L <= n` (a trimmed batch takes the first `L`
    /// learned positions), `extra: (b, d)` added at every position (the time embedding).
    pub fn forward_t(&self, xs: &Tensor, extra: Option<&Tensor>, context: Option<&Tensor>, train: bool) -> Result<Tensor> {
        self.forward_masked(xs, extra, &Masks::default(), context, train)
    }

    /// [`Stack::forward_t`] with attention masks for every block.
    pub fn forward_masked(
        &self,
        xs: &Tensor,
        extra: Option<&Tensor>,
        masks: &Masks,
        context: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let len = xs.dim(1)?;
        let pos = if len == self.pos.dim(0)? { self.pos.clone() } else { self.pos.narrow(0, 0, len)? };
        let xs = match &self.inp {
            Some(inp) => inp.forward(xs)?,
            None => xs.clone(),
        };
        let mut xs = xs.broadcast_add(&pos)?; // (b, L, d)
        if let Some(extra) = extra {
            xs = xs.broadcast_add(&extra.unsqueeze(1)?)?;
        }
        for block in &self.blocks {
            xs = block.forward_masked(&xs, masks, context, train)?;
        }
        self.ln.forward_t(&xs, train)
    }
}

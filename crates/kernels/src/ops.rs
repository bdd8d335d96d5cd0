//! The costly operations, each in one place so that a fused kernel with its own
//! backward pass can replace it: matrix products, linear layers, layer norm,
//! softmax, GELU, attention.
//!
//! candle's fused `ops::layer_norm` and `ops::softmax_last_dim` have no backward
//! pass, so every function here takes `train`: `true` takes a differentiable
//! path (our own fused CPU kernels of [`crate::fused`], which carry a backward
//! pass, or composed primitives on other devices), `false` the inference path.

use crate::precision::{self, MatmulPrecision};
use crate::{bf16, fused, int8, matmul as faer};
use candle_core::{DType, Result, Tensor, D};

/// Layer norm over the last dimension.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64, train: bool) -> Result<Tensor> {
    // ours before candle's inference kernel too: candle's sums each row in one
    // running `f32` sum, ours in 16 lanes
    if fused::applies(xs) {
        return fused::layer_norm(xs, weight, bias, eps);
    }
    if !train && xs.is_contiguous() && xs.dtype() == DType::F32 {
        return candle_nn::ops::layer_norm(xs, weight, bias, eps as f32);
    }
    layer_norm_composed(xs, weight, bias, eps)
}

/// Layer norm composed of differentiable primitives (any device and dtype).
pub(crate) fn layer_norm_composed(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let hidden = xs.dim(D::Minus1)? as f64;
    let mean = (xs.sum_keepdim(D::Minus1)? / hidden)?;
    let centered = xs.broadcast_sub(&mean)?;
    let var = (centered.sqr()?.sum_keepdim(D::Minus1)? / hidden)?;
    let normed = centered.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.broadcast_mul(weight)?.broadcast_add(bias)
}

/// Softmax over the last dimension.
pub fn softmax(xs: &Tensor, train: bool) -> Result<Tensor> {
    // the fused kernel's vectorised `exp` also beats candle's inference softmax
    // (libm's scalar `expf`) when nothing is trained
    if fused::applies(xs) {
        return fused::softmax(xs);
    }
    if !train {
        return candle_nn::ops::softmax_last_dim(xs);
    }
    softmax_composed(xs)
}

/// Softmax composed of differentiable primitives (any device and dtype).
pub(crate) fn softmax_composed(xs: &Tensor) -> Result<Tensor> {
    let max = xs.max_keepdim(D::Minus1)?.detach();
    let exp = xs.broadcast_sub(&max)?.exp()?;
    exp.broadcast_div(&exp.sum_keepdim(D::Minus1)?)
}

/// `a · b` over the last two dimensions (leading dimensions equal): faer's
/// kernels for `f32` on the CPU ([`crate::matmul`]), candle's matmul elsewhere.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::applies(a) && fused::applies(b) {
        return faer::matmul(a, b);
    }
    a.matmul(b)
}

/// A linear layer `x·wᵀ + b` over `x: (rows, in)`, `w: (out, in)`, `b: (out)`:
/// one faer product with the bias in its epilogue for `f32` on the CPU,
/// candle's matmul and a broadcast add elsewhere.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::applies(x) && fused::applies(w) {
        return faer::linear(x, w, b);
    }
    x.matmul(&w.t()?)?.broadcast_add(b)
}

/// The index of the largest value of each row of `x·wᵀ + b`, for `x: (rows, in)`:
/// at a reduced [`precision`] without writing the product ([`int8::linear_argmax`]
/// at `low` on a CPU with AVX-512 VNNI, [`bf16::linear_argmax`] at `medium` or
/// without VNNI on one with AVX-512 BF16), else the product then a parallel argmax.
pub fn linear_argmax(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Vec<u32>> {
    let precision = precision::matmul_precision();
    if precision.is_reduced() && fused::applies(x) && fused::applies(w) {
        let ((m, k), n) = (x.dims2()?, w.dim(0)?);
        if w.dims2()? != (n, k) || b.dims1()? != n || n == 0 {
            candle_core::bail!("linear argmax: input {:?}, weight {:?}, bias {:?} do not fit", x.dims(), w.dims(), b.dims());
        }
        let ids = fused::with_data(x, "linear argmax", |x| {
            fused::with_data(w, "linear argmax", |w| {
                fused::with_data(b, "linear argmax", |b| {
                    let low = || match precision {
                        MatmulPrecision::Low => int8::linear_argmax(x, w, b, m, n, k),
                        _ => None,
                    };
                    Ok(low().or_else(|| bf16::linear_argmax(x, w, b, m, n, k)))
                })
            })
        })?;
        if let Some(ids) = ids {
            return Ok(ids);
        }
    }
    let ys = linear(x, w, b)?;
    if fused::applies(&ys) {
        return fused::argmax_rows(&ys);
    }
    ys.argmax(D::Minus1)?.to_vec1::<u32>()
}

/// `ys + bias` over the last dimension (the bias add of a linear layer).
pub fn add_bias(ys: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if fused::applies(ys) {
        return fused::add_bias(ys, bias);
    }
    ys.broadcast_add(bias)
}

/// Mean cross-entropy of `logits: (m, V)` against `targets: (m)`, built from
/// differentiable ops: the fused CPU kernel, or candle's `log_softmax` (which
/// composes primitives) elsewhere.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if fused::applies(logits) {
        return fused::cross_entropy(logits, targets);
    }
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = log_probs.gather(&targets.unsqueeze(1)?, 1)?; // (m, 1)
    picked.mean_all()?.neg()
}

/// GELU (exact, erf-based, as PyTorch's default `nn.GELU`).
pub fn gelu(xs: &Tensor) -> Result<Tensor> {
    if fused::applies(xs) {
        return fused::gelu(xs);
    }
    xs.gelu_erf()
}

/// Scaled dot-product attention, `q: (b, h, n, d_head)`, `k, v: (b, h, m, d_head)`
/// → `(b, h, n, d_head)`; `mask` is added to the scores before the softmax
/// (0 where attending is allowed, a large negative number where not) and
/// broadcasts to `(b, h, n, m)`: `(n, m)` for causal, `(b, 1, 1, m)` for padding.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, train: bool) -> Result<Tensor> {
    let d_head = q.dim(D::Minus1)? as f64;
    let scores = (matmul(q, &k.t()?)? / d_head.sqrt())?; // (b, h, n, m)
    let scores = match mask {
        Some(mask) => scores.broadcast_add(mask)?,
        None => scores,
    };
    matmul(&softmax(&scores, train)?, v)
}

/// The additive score mask value for a position that may not be attended to:
/// large enough that its softmax weight is 0 in f32, finite so that a fully
/// masked row (never built here) would not produce NaN.
pub const MASKED: f32 = -1e9;

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn fused_and_differentiable_paths_agree() {
        let dev = Device::Cpu;
        let xs = Tensor::randn(0f32, 3., (2, 5, 8), &dev).unwrap();
        let w = Tensor::randn(1f32, 0.1, 8, &dev).unwrap();
        let b = Tensor::randn(0f32, 0.1, 8, &dev).unwrap();
        let fused = layer_norm(&xs, &w, &b, 1e-5, false).unwrap();
        let plain = layer_norm_composed(&xs, &w, &b, 1e-5).unwrap();
        let diff = (fused - plain).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "{diff}");
        let fused = softmax(&xs, false).unwrap();
        let plain = softmax(&xs, true).unwrap();
        let diff = (fused - plain).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-6, "{diff}");
    }
}

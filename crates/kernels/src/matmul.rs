//! Matrix products of `f32` CPU tensors through faer, with their backward passes:
//! the plain (batched) product and a linear layer with its bias added in the
//! product's epilogue.
//!
//! candle's CPU matmul calls the `gemm` crate. On an AMD Zen 4 (2 cores) its
//! micro-kernel ran the shapes of a training step at 55-75 GFLOP/s, a third of
//! the FMA peak, while faer's x86 kernels reach 175-200 GFLOP/s on the same
//! shapes (docs/benchmarks.md, AMD Zen 4); the products were ~70% of a step.
//! Both ops read strided operands in place (a transposed weight, a transposed
//! gradient), so the backward passes transpose without copying. They run for
//! `f32` on the CPU; [`crate::ops`] falls back to candle's matmul elsewhere,
//! and the tests check both give the same values and gradients.

use crate::bf16::{self, Epilogue};
use crate::int8;
use crate::precision::{self, MatmulPrecision};
use crate::{fused, vmath};
use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// The parallelism of one product: the global rayon pool, unless it has one thread.
fn parallelism() -> Par {
    match rayon::current_num_threads() {
        0 | 1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// A matrix inside a storage: where it starts, its shape and its strides (in elements).
#[derive(Debug, Clone, Copy)]
struct Strided {
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
}

impl Strided {
    /// The matrices of a rank >= 2 layout, one per index of its leading (batch)
    /// dimensions, in row-major order of those indices.
    fn batch(layout: &Layout, op: &str) -> Result<Vec<Strided>> {
        let (dims, stride) = (layout.dims(), layout.stride());
        let rank = dims.len();
        if rank < 2 {
            bail!("{op}: operands need at least 2 dimensions, got {dims:?}");
        }
        let (rows, cols) = (dims[rank - 2], dims[rank - 1]);
        let (row_stride, col_stride) = (stride[rank - 2] as isize, stride[rank - 1] as isize);
        let mut offsets = vec![layout.start_offset()];
        for (&dim, &step) in dims[..rank - 2].iter().zip(&stride[..rank - 2]) {
            offsets = offsets.iter().flat_map(|&o| (0..dim).map(move |i| o + i * step)).collect();
        }
        Ok(offsets.into_iter().map(|offset| Strided { offset, rows, cols, row_stride, col_stride }).collect())
    }

    /// The matrix as a faer view of `data`.
    ///
    /// The view stays inside `data`: candle's layouts describe in-bounds
    /// elements of their storage, which the callers take the slice of.
    fn view<'a>(&self, data: &'a [f32]) -> MatRef<'a, f32> {
        let last = self.offset as isize
            + (self.rows.saturating_sub(1) as isize) * self.row_stride
            + (self.cols.saturating_sub(1) as isize) * self.col_stride;
        assert!(self.rows == 0 || self.cols == 0 || (last >= 0 && (last as usize) < data.len()), "strided view out of its storage");
        // SAFETY: every element (offset + i·row_stride + j·col_stride) lies inside
        // `data` (checked just above for the extreme one; strides are non-negative
        // in candle layouts), and `data` outlives the view.
        unsafe { MatRef::from_raw_parts(data.as_ptr().add(self.offset), self.rows, self.cols, self.row_stride, self.col_stride) }
    }
}

/// `out[i] = alpha·lhs[i]·rhs[i] (+ out[i] when accumulating)` for each matrix `i`
/// of a batch, `out` contiguous `(batch, m, n)`: one parallel product for a
/// single matrix (or a batch smaller than the pool), the batch split over the
/// pool otherwise (attention's many small products).
fn products(out: &mut [f32], accum: Accum, lhs: (&[f32], &[Strided]), rhs: (&[f32], &[Strided])) {
    let (m, n) = (lhs.1[0].rows, rhs.1[0].cols);
    let one = |dst: &mut [f32], i: usize, par: Par| {
        // SAFETY: `dst` is exactly the contiguous m×n row-major block of matrix `i`.
        let dst = unsafe { MatMut::from_raw_parts_mut(dst.as_mut_ptr(), m, n, n as isize, 1) };
        faer::linalg::matmul::matmul(dst, accum, lhs.1[i].view(lhs.0), rhs.1[i].view(rhs.0), 1.0f32, par);
    };
    if m * n == 0 {
        return;
    }
    let batch = lhs.1.len();
    if batch < rayon::current_num_threads() {
        for (i, dst) in out.chunks_mut(m * n).enumerate() {
            one(dst, i, parallelism());
        }
    } else {
        out.par_chunks_mut(m * n).enumerate().for_each(|(i, dst)| one(dst, i, Par::Seq));
    }
}

/// The `f32` data of a CPU storage (the whole buffer; layouts index into it).
fn data<'a>(storage: &'a CpuStorage, op: &str) -> Result<&'a [f32]> {
    match storage {
        CpuStorage::F32(data) => Ok(data),
        other => bail!("{op}: f32 operands only, got {:?}", other.dtype()),
    }
}

/// `(.., m, k) · (.., k, n) → (.., m, n)`, the leading dimensions equal.
struct MatMulOp;

impl CustomOp2 for MatMulOp {
    fn name(&self) -> &'static str {
        "faer-matmul"
    }

    fn cpu_fwd(&self, a: &CpuStorage, a_l: &Layout, b: &CpuStorage, b_l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (ad, bd) = (a_l.dims(), b_l.dims());
        let rank = ad.len();
        if rank < 2 || bd.len() != rank || ad[..rank - 2] != bd[..rank - 2] || ad[rank - 1] != bd[rank - 2] {
            bail!("{}: cannot multiply shapes {ad:?} and {bd:?}", self.name());
        }
        let (lhs, rhs) = (Strided::batch(a_l, self.name())?, Strided::batch(b_l, self.name())?);
        let mut out_dims = ad.to_vec();
        out_dims[rank - 1] = bd[rank - 1];
        let mut out = vec![0f32; out_dims.iter().product()];
        products(&mut out, Accum::Replace, (data(a, self.name())?, &lhs), (data(b, self.name())?, &rhs));
        Ok((CpuStorage::F32(out), Shape::from(out_dims)))
    }

    fn bwd(&self, a: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // dA = dC·Bᵀ, dB = Aᵀ·dC; the transposes are strided views, not copies
        Ok((Some(matmul(grad, &b.t()?)?), Some(matmul(&a.t()?, grad)?)))
    }
}

/// `a · b` over the last two dimensions (leading dimensions equal), for `f32`
/// CPU tensors of any strides.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.apply_op2(b, MatMulOp)
}

/// A linear layer `x·wᵀ + b`: `x: (rows, in)`, `w: (out, in)`, `b: (out)`. The
/// output starts as the bias and the product accumulates into it, so the bias
/// costs no pass of its own; its gradient is a parallel column sum.
struct LinearOp {
    /// `Medium`: the forward product in bf16 where the CPU can ([`crate::bf16`]);
    /// `Low`: in int8 where it can ([`crate::int8`]), else as `Medium`.
    precision: MatmulPrecision,
    /// The output's epilogue; an inference-only [`Epilogue::Gelu`] has no backward.
    epilogue: Epilogue,
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "faer-linear"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_l: &Layout,
        w: &CpuStorage,
        w_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (xd, wd) = (x_l.dims(), w_l.dims());
        if xd.len() < 2 || wd.len() != 2 || xd[xd.len() - 1] != wd[1] || b_l.dims() != [wd[0]] {
            bail!("{}: input {xd:?}, weight {wd:?}, bias {:?} do not fit", self.name(), b_l.dims());
        }
        let (in_dim, out_dim) = (wd[1], wd[0]);
        let rows = x_l.shape().elem_count() / in_dim.max(1);
        // a contiguous `(.., in)` input read as `(rows, in)`: no reshape node (whose
        // backward candle pays with a zero-filled buffer and an add)
        let x_2d = match (xd.len(), x_l.contiguous_offsets()) {
            (2, _) => x_l.clone(),
            (_, Some((start, _))) => Layout::contiguous_with_offset((rows, in_dim), start),
            (_, None) => bail!("{}: an input of rank {} must be contiguous", self.name(), xd.len()),
        };
        let mut out_dims = xd.to_vec();
        out_dims[xd.len() - 1] = out_dim;
        let bias = match b_l.contiguous_offsets() {
            Some((start, end)) => &data(b, self.name())?[start..end],
            None => bail!("{}: the bias must be contiguous", self.name()),
        };
        if self.precision.is_reduced() {
            if let (Some((xs, xe)), Some((ws, we))) = (x_l.contiguous_offsets(), w_l.contiguous_offsets()) {
                // inference in int8 or bf16 ([`crate::precision`]): the kernel adds the bias
                let (x, w) = (&data(x, self.name())?[xs..xe], &data(w, self.name())?[ws..we]);
                let low = || match self.precision {
                    MatmulPrecision::Low => int8::linear_new(x, w, bias, rows, out_dim, in_dim, self.epilogue),
                    _ => None,
                };
                if let Some(out) = low().or_else(|| bf16::linear_new(x, w, bias, rows, out_dim, in_dim, self.epilogue)) {
                    return Ok((CpuStorage::F32(out), Shape::from(out_dims)));
                }
            }
        }
        let mut out = Vec::with_capacity(rows * out_dim);
        for _ in 0..rows {
            out.extend_from_slice(bias);
        }
        // wᵀ: the weight's (out, in) layout read as (in, out)
        let wt = w_l.transpose(0, 1)?;
        let (lhs, rhs) = (Strided::batch(&x_2d, self.name())?, Strided::batch(&wt, self.name())?);
        products(&mut out, Accum::Add, (data(x, self.name())?, &lhs), (data(w, self.name())?, &rhs));
        if self.epilogue == Epilogue::Gelu {
            out.par_chunks_mut(out_dim.max(1) * 64).for_each(vmath::gelu_in_place);
        }
        Ok((CpuStorage::F32(out), Shape::from(out_dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if self.epilogue != Epilogue::None {
            bail!("{}: the fused GELU epilogue is for inference; training composes the linear layer and the GELU", self.name());
        }
        let (out_dim, in_dim) = w.dims2()?;
        let rows = x.elem_count() / in_dim.max(1);
        // (.., out) -> (rows, out): views of contiguous buffers, outside the graph
        let (grad, x_2d) = (grad.reshape((rows, out_dim))?, x.reshape((rows, in_dim))?);
        let gx = matmul(&grad, w)?.reshape(x.shape())?; // (rows, out)·(out, in)
        let gw = matmul(&grad.t()?, &x_2d)?; // (out, rows)·(rows, in)
        let gb = fused::column_sums(&grad, b.elem_count())?;
        Ok((Some(gx), Some(gw), Some(Tensor::from_vec(gb, b.shape(), b.device())?)))
    }
}

/// `x·wᵀ + b` for `x: (.., in)` (contiguous when of rank above 2), `w: (out, in)`,
/// `b: (out)` (`f32`, CPU), at the process's [`precision::matmul_precision`].
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    linear_with(x, w, b, precision::matmul_precision())
}

/// [`linear`] at a given precision (the backward pass is `f32` either way).
pub fn linear_with(x: &Tensor, w: &Tensor, b: &Tensor, precision: MatmulPrecision) -> Result<Tensor> {
    x.apply_op3(w, b, LinearOp { precision, epilogue: Epilogue::None })
}

/// `GELU(x·wᵀ + b)` in one op for inference, the GELU applied to each block of
/// the output while it is in cache (the same values as [`linear`] then the fused
/// GELU); it has no backward pass.
pub fn linear_gelu_inference(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.apply_op3(w, b, LinearOp { precision: precision::matmul_precision(), epilogue: Epilogue::Gelu })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn matmul_matches_candle_on_strided_batches_with_gradients() {
        let dev = Device::Cpu;
        // (b, h, n, k) from a transposed (b, n, h, k): a head split without a copy
        let a = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 7, 4, 5), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 4, 6, 5), &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (3, 4, 7, 6), &dev).unwrap();
        let run = |faer: bool| {
            let (a_t, b_t) = (a.as_tensor().transpose(1, 2).unwrap(), b.as_tensor().t().unwrap());
            let ys = if faer { matmul(&a_t, &b_t).unwrap() } else { a_t.contiguous().unwrap().matmul(&b_t.contiguous().unwrap()).unwrap() };
            let grads = (&ys * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            (ys, grads.get(&a).unwrap().clone(), grads.get(&b).unwrap().clone())
        };
        let (fy, fa, fb) = run(true);
        let (cy, ca, cb) = run(false);
        assert_eq!(fy.dims(), [3, 4, 7, 6]);
        assert!(max_diff(&fy, &cy) < 1e-5, "{}", max_diff(&fy, &cy));
        assert!(max_diff(&fa, &ca) < 1e-5, "da {}", max_diff(&fa, &ca));
        assert!(max_diff(&fb, &cb) < 1e-5, "db {}", max_diff(&fb, &cb));
        // shapes that do not multiply are an error, not a panic
        let bad = Tensor::zeros((3, 5), candle_core::DType::F32, &dev).unwrap();
        assert!(matmul(&bad, &bad).is_err());
    }

    #[test]
    fn linear_matches_matmul_plus_bias_with_gradients() {
        let dev = Device::Cpu;
        // 300 rows and a wide output: more than one kernel block in each direction
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (300, 40), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.2, (70, 40), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 70, &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (300, 70), &dev).unwrap();
        let run = |faer: bool| {
            let ys = if faer {
                linear(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap()
            } else {
                x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap().broadcast_add(b.as_tensor()).unwrap()
            };
            let grads = (&ys * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            (ys, [&x, &w, &b].map(|v| grads.get(v).unwrap().clone()))
        };
        let (fy, fg) = run(true);
        let (cy, cg) = run(false);
        assert!(max_diff(&fy, &cy) < 1e-4, "{}", max_diff(&fy, &cy));
        for (name, (f, c)) in ["dx", "dw", "db"].iter().zip(fg.iter().zip(&cg)) {
            assert!(max_diff(f, c) < 1e-3, "{name} {}", max_diff(f, c));
        }
    }

    #[test]
    fn linear_folds_leading_dimensions_with_gradients() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 9, 24), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.2, (10, 24), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 10, &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (4, 9, 10), &dev).unwrap();
        let run = |folded: bool| {
            let ys = if folded {
                linear(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap()
            } else {
                let x2 = x.as_tensor().reshape((36, 24)).unwrap();
                linear(&x2, w.as_tensor(), b.as_tensor()).unwrap().reshape((4, 9, 10)).unwrap()
            };
            let grads = (&ys * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            (ys, [&x, &w, &b].map(|v| grads.get(v).unwrap().clone()))
        };
        let ((fy, fg), (ry, rg)) = (run(true), run(false));
        assert_eq!(fy.dims(), [4, 9, 10]);
        assert_eq!(max_diff(&fy, &ry), 0.0);
        for (f, r) in fg.iter().zip(&rg) {
            assert_eq!(f.dims(), r.dims());
            assert_eq!(max_diff(f, r), 0.0);
        }
        // a strided input of rank 3 is an error, not a wrong answer
        assert!(linear(&x.as_tensor().transpose(0, 1).unwrap(), w.as_tensor(), b.as_tensor()).is_err());
    }

    #[test]
    fn linear_gelu_inference_is_linear_then_gelu_without_a_backward() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 70, 40), &dev).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 0.3, (130, 40), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 130, &dev).unwrap();
        let fused_ys = linear_gelu_inference(x.as_tensor(), &w, &b).unwrap();
        let composed = fused::gelu(&linear(x.as_tensor(), &w, &b).unwrap()).unwrap();
        assert_eq!(fused_ys.dims(), [3, 70, 130]);
        assert_eq!(max_diff(&fused_ys, &composed), 0.0, "the same bytes as the two ops");
        let err = fused_ys.sum_all().unwrap().backward().unwrap_err().to_string();
        assert!(err.contains("inference"), "{err}");
        // and in bf16: the kernel's products with the same GELU
        if bf16::available() {
            let medium =
                x.as_tensor().apply_op3(&w, &b, LinearOp { precision: MatmulPrecision::Medium, epilogue: Epilogue::Gelu }).unwrap();
            let plain = linear_with(x.as_tensor(), &w, &b, MatmulPrecision::Medium).unwrap();
            assert_eq!(max_diff(&medium, &fused::gelu(&plain).unwrap()), 0.0);
        }
    }

    #[test]
    fn linear_at_reduced_precision_stays_near_f32_and_keeps_f32_gradients() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (130, 96), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (50, 96), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 50, &dev).unwrap()).unwrap();
        let run = |precision| {
            let ys = linear_with(x.as_tensor(), w.as_tensor(), b.as_tensor(), precision).unwrap();
            let grads = ys.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            (ys, grads.get(&w).unwrap().clone())
        };
        let (hy, _) = run(MatmulPrecision::Highest);
        // bf16 keeps 8 bits of each operand: |error| ~ 2^-8 · sqrt(96) · |x||w| ≈ 0.004;
        // int8 a step of 1/255 of x's row range and 1/127 of w's row peak: ~0.01
        for (precision, bound, ran) in
            [(MatmulPrecision::Medium, 0.03, bf16::available()), (MatmulPrecision::Low, 0.08, int8::available() || bf16::available())]
        {
            let (ry, rg) = run(precision);
            let diff = max_diff(&hy, &ry);
            assert!(diff < bound, "{precision} vs highest {diff}");
            if ran {
                assert!(diff > 0.0, "the {precision} kernel did not run");
            }
            // the gradient is the f32 product's formula applied to the reduced output
            let expected = (ry * 2.0).unwrap().t().unwrap().matmul(x.as_tensor()).unwrap();
            assert!(max_diff(&rg, &expected) < 1e-3, "{precision} dw {}", max_diff(&rg, &expected));
        }
    }

    #[test]
    fn products_are_the_same_bytes_every_run() {
        // same seed, same bytes: the parallel split must not change the sums' order
        let dev = Device::Cpu;
        let a = Tensor::randn(0f32, 1.0, (513, 300), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (300, 257), &dev).unwrap();
        let first = matmul(&a, &b).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for _ in 0..3 {
            assert_eq!(matmul(&a, &b).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), first);
        }
    }
}

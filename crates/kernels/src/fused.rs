//! Fused CPU kernels with their own backward passes: layer norm, softmax, GELU,
//! a linear layer's bias add and token cross-entropy.
//!
//! Composed from candle primitives, each of these is 5-20 tensor ops forward and
//! as many again backward, every one a full pass over memory and a fresh
//! allocation; on the 2-core CPU that was about half of a training step, the
//! matmuls the other half. Here each is one pass forward and one backward, split
//! over rows with rayon. They run for contiguous `f32` tensors on the CPU;
//! [`crate::ops`] falls back to the composed path everywhere else (CUDA, other
//! dtypes), and the tests check both paths give the same values and gradients.

use crate::vmath;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, InplaceOp1, Layout, Result, Shape, Storage, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

/// Rows handed to one rayon task: enough work per task to amortise the spawn.
const ROWS_PER_TASK: usize = 64;

/// The row length element-wise kernels split their input into.
const ELEMENTWISE_ROW: usize = 1024;

/// The contiguous `f32` data of a CPU storage, or an error naming `op`.
pub fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op}: the input must be contiguous"),
    }
}

/// Runs `f` on the contiguous `f32` data of a CPU tensor (copying it first when
/// it is strided).
pub fn with_data<R>(xs: &Tensor, op: &str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let xs = xs.contiguous()?;
    let (storage, layout) = xs.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(slice(cpu, layout, op)?),
        _ => bail!("{op}: the fused kernel runs on the CPU only"),
    }
}

/// Runs `f` on the `f32` data of a contiguous CPU tensor, writable in place: the
/// optimizer's update writes its weights and moments where they are instead of into
/// fresh zero-filled buffers that are then copied back. Every tensor sharing the
/// storage (the model's clones of a variable) sees the new values, as after
/// `Var::set`.
pub fn with_data_mut(xs: &Tensor, op: &'static str, f: impl FnOnce(&mut [f32]) -> Result<()>) -> Result<()> {
    /// `f` behind a lock, because candle hands an in-place op `&self` only.
    struct InPlace<F> {
        op: &'static str,
        f: Mutex<Option<F>>,
    }
    impl<F: FnOnce(&mut [f32]) -> Result<()>> InplaceOp1 for InPlace<F> {
        fn name(&self) -> &'static str {
            self.op
        }
        fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
            let Some((start, end)) = layout.contiguous_offsets() else { bail!("{}: the tensor must be contiguous", self.op) };
            let CpuStorage::F32(data) = storage else { bail!("{}: the tensor must be f32", self.op) };
            let f = self.f.lock().map_err(|_| candle_core::Error::Msg(format!("{}: poisoned", self.op)))?.take();
            match f {
                Some(f) => f(&mut data[start..end]),
                None => bail!("{}: run twice", self.op),
            }
        }
    }
    // `cpu_fwd` refuses a strided layout: it needs the contiguous offsets anyway
    xs.inplace_op1(&InPlace { op, f: Mutex::new(Some(f)) })
}

/// The sum of the squares of a CPU `f32` tensor's elements, in f64, in parallel over
/// fixed chunks added in order (the same value every run): one read, where
/// `sqr().sum_all()` writes the squares and sums them on one thread.
pub fn sum_of_squares(xs: &Tensor) -> Result<f64> {
    const CHUNK: usize = 1 << 14;
    with_data(xs, "sum_of_squares", |data| {
        let partial: Vec<f64> = data
            .par_chunks(CHUNK)
            .map(|c| {
                // eight independent sums, so the loop vectorises (a single running
                // sum is one dependent add per element)
                let mut lanes = [0f64; 8];
                let mut rows = c.chunks_exact(8);
                for row in rows.by_ref() {
                    for (lane, &x) in lanes.iter_mut().zip(row) {
                        *lane += (x as f64) * (x as f64);
                    }
                }
                let tail: f64 = rows.remainder().iter().map(|&x| (x as f64) * (x as f64)).sum();
                lanes.iter().sum::<f64>() + tail
            })
            .collect();
        Ok(partial.iter().sum())
    })
}

/// Whether the fused kernels apply to `xs`.
pub fn applies(xs: &Tensor) -> bool {
    xs.device().is_cpu() && xs.dtype() == candle_core::DType::F32
}

/// `f(row, out_row)` over the rows of length `d` of `x`, in parallel: the shape of
/// every forward pass here.
fn map_rows(x: &[f32], d: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(d * ROWS_PER_TASK).zip(x.par_chunks(d * ROWS_PER_TASK)).for_each(|(out, x)| {
        for (out, row) in out.chunks_mut(d).zip(x.chunks(d)) {
            f(row, out);
        }
    });
    out
}

/// `f(a_row, b_row, out_row)` over the rows of length `d` of `a` and `b`, in
/// parallel: the shape of the element-wise backward passes.
fn map_rows2(a: &[f32], b: &[f32], d: usize, f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(d * ROWS_PER_TASK).zip(a.par_chunks(d * ROWS_PER_TASK).zip(b.par_chunks(d * ROWS_PER_TASK))).for_each(
        |(out, (a, b))| {
            for (out, (a, b)) in out.chunks_mut(d).zip(a.chunks(d).zip(b.chunks(d))) {
                f(a, b, out);
            }
        },
    );
    out
}

/// The element-wise sum of rows of length `d` (per-task partial sums, or the rows
/// of one task), added in order: rayon's own reductions combine in an order that depends on scheduling,
/// and the same seed must give the same bytes.
fn sum_in_order<P: AsRef<[f32]>>(partials: impl IntoIterator<Item = P>, d: usize) -> Vec<f32> {
    let mut total = vec![0f32; d];
    for partial in partials {
        total.iter_mut().zip(partial.as_ref()).for_each(|(a, b)| *a += b);
    }
    total
}

/// Layer norm over the last dimension: `(x - mean) / sqrt(var + eps) * w + b`.
struct LayerNormOp {
    eps: f32,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xs_l: &Layout,
        w: &CpuStorage,
        w_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (slice(xs, xs_l, self.name())?, slice(w, w_l, self.name())?, slice(b, b_l, self.name())?);
        let out = map_rows(x, w.len(), |row, out| vmath::layer_norm_row(row, w, b, self.eps, out));
        Ok((CpuStorage::F32(out), xs_l.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = w.elem_count();
        let (gx, gw, gb) = with_data(xs, self.name(), |x| {
            with_data(w, self.name(), |w| {
                with_data(grad, self.name(), |g| {
                    let mut gx = vec![0f32; x.len()];
                    // per task: (d(loss)/dw, d(loss)/db) over its rows, summed after
                    let partial: Vec<(Vec<f32>, Vec<f32>)> = gx
                        .par_chunks_mut(d * ROWS_PER_TASK)
                        .zip(x.par_chunks(d * ROWS_PER_TASK).zip(g.par_chunks(d * ROWS_PER_TASK)))
                        .map(|(gx, (x, g))| {
                            let (mut gw, mut gb) = (vec![0f32; d], vec![0f32; d]);
                            for (gx, (row, g)) in gx.chunks_mut(d).zip(x.chunks(d).zip(g.chunks(d))) {
                                vmath::layer_norm_backward_row(row, w, g, self.eps, gx, &mut gw, &mut gb);
                            }
                            (gw, gb)
                        })
                        .collect();
                    let (pw, pb): (Vec<_>, Vec<_>) = partial.into_iter().unzip();
                    Ok((gx, sum_in_order(pw, d), sum_in_order(pb, d)))
                })
            })
        })?;
        let dev = xs.device();
        Ok((Some(Tensor::from_vec(gx, xs.shape(), dev)?), Some(Tensor::from_vec(gw, d, dev)?), Some(Tensor::from_vec(gb, d, dev)?)))
    }
}

/// Fused layer norm of `xs: (.., d)` with `weight, bias: (d)`.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    xs.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, LayerNormOp { eps: eps as f32 })
}

/// Softmax over the last dimension.
struct SoftmaxOp;

impl CustomOp1 for SoftmaxOp {
    fn name(&self) -> &'static str {
        "fused-softmax"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(xs, layout, self.name())?;
        let d = layout.dims().last().copied().unwrap_or(1).max(1);
        let out = map_rows(x, d, vmath::softmax_row);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _xs: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let d = res.dims().last().copied().unwrap_or(1).max(1);
        let gx = with_data(res, self.name(), |y| with_data(grad, self.name(), |g| Ok(map_rows2(y, g, d, vmath::softmax_backward_row))))?;
        Ok(Some(Tensor::from_vec(gx, res.shape(), res.device())?))
    }
}

/// Fused softmax of `xs` over its last dimension.
pub fn softmax(xs: &Tensor) -> Result<Tensor> {
    xs.contiguous()?.apply_op1(SoftmaxOp)
}

/// Exact (erf) GELU.
struct GeluOp;

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "fused-gelu"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(xs, layout, self.name())?;
        // element-wise: any row length will do
        let out = map_rows(x, ELEMENTWISE_ROW, vmath::gelu);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, xs: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let gx =
            with_data(xs, self.name(), |x| with_data(grad, self.name(), |g| Ok(map_rows2(x, g, ELEMENTWISE_ROW, vmath::gelu_backward))))?;
        Ok(Some(Tensor::from_vec(gx, xs.shape(), xs.device())?))
    }
}

/// The index of each row's largest value over the last dimension of a CPU
/// `f32` tensor, rows in parallel: candle's `argmax` gives the same indices
/// (the first of equal maxima; a NaN is never chosen over a number after it) on
/// one thread, which was a tenth of a sampling step over a 4,096-token vocabulary.
pub fn argmax_rows(xs: &Tensor) -> Result<Vec<u32>> {
    let d = xs.dims().last().copied().unwrap_or(0);
    if d == 0 {
        bail!("argmax: an empty last dimension");
    }
    with_data(xs, "argmax", |data| {
        let mut ids = vec![0u32; data.len() / d];
        ids.par_chunks_mut(ROWS_PER_TASK).zip(data.par_chunks(ROWS_PER_TASK * d)).for_each(|(ids, rows)| {
            for (id, row) in ids.iter_mut().zip(rows.chunks(d)) {
                *id = row_argmax(row) as u32;
            }
        });
        Ok(ids)
    })
}

/// The first index of a row's maximum, by candle's comparison (`best < x`).
pub(crate) fn row_argmax(row: &[f32]) -> usize {
    let (mut best, mut at) = (row[0], 0);
    for (i, &x) in row.iter().enumerate().skip(1) {
        if best < x {
            (best, at) = (x, i);
        }
    }
    at
}

/// Fused exact GELU.
pub fn gelu(xs: &Tensor) -> Result<Tensor> {
    xs.contiguous()?.apply_op1(GeluOp)
}

/// `xs + bias` for `xs: (rows, d)` and `bias: (d)`, the epilogue of a linear layer.
/// candle's broadcast add is fast forward, but its backward sums the gradient over
/// rows with a strided single-threaded reduction; here it is a parallel column sum.
struct AddBiasOp;

impl CustomOp2 for AddBiasOp {
    fn name(&self) -> &'static str {
        "fused-add-bias"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, l1: &Layout, bias: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, b) = (slice(xs, l1, self.name())?, slice(bias, l2, self.name())?);
        let d = b.len().max(1);
        if l1.dims().last() != Some(&b.len()) {
            bail!("{}: bias of {} for input of shape {:?}", self.name(), b.len(), l1.dims());
        }
        let out = map_rows(x, d, |row, out| {
            for i in 0..d {
                out[i] = row[i] + b[i];
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(&self, _xs: &Tensor, bias: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let gb = column_sums(grad, bias.elem_count())?;
        Ok((Some(grad.clone()), Some(Tensor::from_vec(gb, bias.shape(), bias.device())?)))
    }
}

/// The sums of the columns of `grad` read as rows of length `d` (a bias's
/// gradient): per-task partial sums in parallel, added in order.
pub(crate) fn column_sums(grad: &Tensor, d: usize) -> Result<Vec<f32>> {
    let d = d.max(1);
    with_data(grad, "column-sums", |g| {
        let partial: Vec<Vec<f32>> = g.par_chunks(d * ROWS_PER_TASK * 4).map(|g| sum_in_order(g.chunks(d), d)).collect();
        Ok(sum_in_order(partial, d))
    })
}

/// Fused `xs + bias` over the last dimension of `xs`.
pub fn add_bias(xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
    xs.contiguous()?.apply_op2(&bias.contiguous()?, AddBiasOp)
}

/// Mean token cross-entropy of `logits: (m, V)` against `targets: (m)` (u32).
struct CrossEntropyOp;

impl CustomOp2 for CrossEntropyOp {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(&self, logits: &CpuStorage, l1: &Layout, targets: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(logits, l1, self.name())?;
        let Some((start, end)) = l2.contiguous_offsets() else { bail!("{}: the targets must be contiguous", self.name()) };
        let t = &targets.as_slice::<u32>()?[start..end];
        let v = l1.dims().last().copied().unwrap_or(1).max(1);
        if t.len() * v != x.len() {
            bail!("{}: {} targets for logits of shape {:?}", self.name(), t.len(), l1.dims());
        }
        if let Some(&bad) = t.iter().find(|&&t| t as usize >= v) {
            bail!("{}: target {bad} is outside the vocabulary of {v}", self.name());
        }
        // per-task sums collected in order and added sequentially: rayon's own
        // `sum` reduces in an order that depends on scheduling, and the same seed
        // must give the same bytes
        let partial: Vec<f64> = x
            .par_chunks(v * ROWS_PER_TASK)
            .zip(t.par_chunks(ROWS_PER_TASK))
            .map(|(x, t)| x.chunks(v).zip(t).map(|(row, &t)| (vmath::log_sum_exp(row) - row[t as usize]) as f64).sum::<f64>())
            .collect();
        let total: f64 = partial.iter().sum();
        Ok((CpuStorage::F32(vec![(total / t.len().max(1) as f64) as f32]), Shape::from(())))
    }

    fn bwd(&self, logits: &Tensor, targets: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let v = logits.dims().last().copied().unwrap_or(1).max(1);
        let targets = targets.flatten_all()?.to_vec1::<u32>()?;
        let scale = grad.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?[0] / targets.len().max(1) as f32;
        let gx = with_data(logits, self.name(), |x| {
            let mut gx = vec![0f32; x.len()];
            gx.par_chunks_mut(v * ROWS_PER_TASK).zip(x.par_chunks(v * ROWS_PER_TASK).zip(targets.par_chunks(ROWS_PER_TASK))).for_each(
                |(gx, (x, t))| {
                    for ((gx, row), &t) in gx.chunks_mut(v).zip(x.chunks(v)).zip(t) {
                        vmath::scaled_exp_shifted(row, vmath::log_sum_exp(row), scale, gx);
                        gx[t as usize] -= scale;
                    }
                },
            );
            Ok(gx)
        })?;
        Ok((Some(Tensor::from_vec(gx, logits.shape(), logits.device())?), None))
    }
}

/// Fused mean cross-entropy of `logits: (m, V)` against `targets: (m)` u32.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    logits.contiguous()?.apply_op2(&targets.contiguous()?, CrossEntropyOp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var, D};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    /// `(value, gradient)` of `sum(f(x) * probe)` for a fixed random probe, so
    /// that the gradient of every output element is exercised.
    fn value_and_grad(x: &Var, probe: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> (Tensor, Tensor) {
        let ys = f(x.as_tensor());
        let loss = (&ys * probe).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        (ys, grads.get(x).unwrap().clone())
    }

    #[test]
    fn layer_norm_matches_the_composed_version_and_its_gradients() {
        let dev = Device::Cpu;
        // 150 rows: more than one rayon task, and a ragged last one
        let x = Var::from_tensor(&Tensor::randn(0.5f32, 2.0, (3, 50, 24), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 24, &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, 24, &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (3, 50, 24), &dev).unwrap();
        let run = |fused: bool| {
            let ys = if fused {
                layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5).unwrap()
            } else {
                crate::ops::layer_norm_composed(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5).unwrap()
            };
            let grads = (&ys * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            (ys, grads.get(&x).unwrap().clone(), grads.get(&w).unwrap().clone(), grads.get(&b).unwrap().clone())
        };
        let (fy, fx, fw, fb) = run(true);
        let (cy, cx, cw, cb) = run(false);
        assert!(max_diff(&fy, &cy) < 1e-4);
        assert!(max_diff(&fx, &cx) < 1e-3, "dx {}", max_diff(&fx, &cx));
        assert!(max_diff(&fw, &cw) < 1e-3, "dw {}", max_diff(&fw, &cw));
        assert!(max_diff(&fb, &cb) < 1e-3, "db {}", max_diff(&fb, &cb));
    }

    #[test]
    fn softmax_matches_the_composed_version_and_its_gradient() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 3.0, (2, 3, 70, 9), &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (2, 3, 70, 9), &dev).unwrap();
        let (fy, fg) = value_and_grad(&x, &probe, |x| softmax(x).unwrap());
        let (cy, cg) = value_and_grad(&x, &probe, |x| crate::ops::softmax_composed(x).unwrap());
        assert!(max_diff(&fy, &cy) < 1e-6);
        assert!(max_diff(&fg, &cg) < 1e-5, "{}", max_diff(&fg, &cg));
    }

    #[test]
    fn argmax_rows_matches_candle_with_ties_and_nan() {
        let dev = Device::Cpu;
        let mut data = Tensor::randn(0f32, 1.0, (200, 37), &dev).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        data[37..74].fill(1.0); // a row of ties
        data[74] = f32::NAN; // NaN first: candle keeps index 0
        data[111 + 5] = f32::NAN; // NaN inside a row
        let xs = Tensor::from_vec(data, (200, 37), &dev).unwrap();
        let candle = xs.argmax(candle_core::D::Minus1).unwrap().to_vec1::<u32>().unwrap();
        assert_eq!(argmax_rows(&xs).unwrap(), candle);
        assert_eq!(candle[1], 0);
        assert!(argmax_rows(&Tensor::zeros((3, 0), candle_core::DType::F32, &dev).unwrap()).is_err());
    }

    #[test]
    fn gelu_matches_candle_and_its_gradient() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 3.0, (5, 1000), &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (5, 1000), &dev).unwrap();
        let (fy, fg) = value_and_grad(&x, &probe, |x| gelu(x).unwrap());
        let (cy, cg) = value_and_grad(&x, &probe, |x| x.gelu_erf().unwrap());
        assert!(max_diff(&fy, &cy) < 1e-5);
        assert!(max_diff(&fg, &cg) < 1e-4, "{}", max_diff(&fg, &cg));
    }

    #[test]
    fn add_bias_matches_broadcast_add_and_its_gradients() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (333, 40), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 40, &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (333, 40), &dev).unwrap();
        let run = |fused: bool| {
            let ys = if fused { add_bias(x.as_tensor(), b.as_tensor()).unwrap() } else { x.broadcast_add(&b).unwrap() };
            let grads = (&ys * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            (ys, grads.get(&x).unwrap().clone(), grads.get(&b).unwrap().clone())
        };
        let (fy, fx, fb) = run(true);
        let (cy, cx, cb) = run(false);
        assert!(max_diff(&fy, &cy) == 0.0);
        assert!(max_diff(&fx, &cx) == 0.0);
        assert!(max_diff(&fb, &cb) < 1e-4, "{}", max_diff(&fb, &cb));
    }

    #[test]
    fn cross_entropy_matches_log_softmax_and_its_gradient() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 4.0, (130, 37), &dev).unwrap()).unwrap();
        let targets = Tensor::from_vec((0..130u32).map(|i| (i * 7) % 37).collect::<Vec<_>>(), 130, &dev).unwrap();
        let composed = |x: &Tensor| {
            let log_probs = candle_nn::ops::log_softmax(x, D::Minus1).unwrap();
            log_probs.gather(&targets.unsqueeze(1).unwrap(), 1).unwrap().mean_all().unwrap().neg().unwrap()
        };
        let scale = Tensor::new(2.5f32, &dev).unwrap();
        let (fy, fg) = value_and_grad(&x, &scale, |x| cross_entropy(x, &targets).unwrap());
        let (cy, cg) = value_and_grad(&x, &scale, composed);
        assert!(max_diff(&fy, &cy) < 1e-4, "{} vs {}", fy, cy);
        assert!(max_diff(&fg, &cg) < 1e-5, "{}", max_diff(&fg, &cg));
        // a target outside the vocabulary is an error, not a panic
        let bad = Tensor::from_vec(vec![37u32; 130], 130, &dev).unwrap();
        assert!(cross_entropy(x.as_tensor(), &bad).is_err());
    }

    #[test]
    fn sum_of_squares_matches_candle_and_is_the_same_every_run() {
        let dev = candle_core::Device::Cpu;
        // not a multiple of the chunk or of the eight lanes
        let x = Tensor::randn(0f32, 1.0, (3, 12_347), &dev).unwrap();
        let ours = sum_of_squares(&x).unwrap();
        let theirs = x.to_dtype(candle_core::DType::F64).unwrap().sqr().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
        assert!((ours - theirs).abs() < 1e-9 * theirs, "{ours} vs {theirs}");
        assert_eq!(ours.to_bits(), sum_of_squares(&x).unwrap().to_bits());
    }

    #[test]
    fn data_written_in_place_is_seen_by_every_clone_and_strided_tensors_are_refused() {
        let dev = candle_core::Device::Cpu;
        let x = Tensor::arange(0f32, 6.0, &dev).unwrap().reshape((2, 3)).unwrap();
        let clone = x.clone();
        with_data_mut(&x, "test", |data| {
            data.iter_mut().for_each(|v| *v *= 2.0);
            Ok(())
        })
        .unwrap();
        assert_eq!(clone.to_vec2::<f32>().unwrap(), [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]);
        assert!(with_data_mut(&x.t().unwrap(), "test", |_| Ok(())).is_err());
    }
}

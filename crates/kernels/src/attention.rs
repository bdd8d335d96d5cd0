//! Multi-head scaled dot-product attention as one CPU op with its own backward
//! pass, reading the heads straight out of the packed projections.
//!
//! Composed of candle ops, attention was a head split (three copies), the
//! score product, a scale pass, the softmax, the value product and a head merge
//! (one more copy), each a tensor of its own; backward, every one of those again,
//! plus the zero-fill and add candle's backprop spends on each node's gradient and
//! the zero-padded gradients of the three `narrow`s of `qkv`. Here each
//! `(batch, head)` pair is one task: faer products over strided views of the
//! packed `qkv` (the scale in the product's `alpha`), the softmax in place, the
//! output written into its head's columns; backward writes `dq`, `dk`, `dv`
//! into one packed gradient. The softmax probabilities are kept for the
//! backward pass when training (the composed path kept them too).
//!
//! The ops run for `f32` on the CPU; [`crate::ops::attention`] stays the
//! composed path elsewhere, and the tests check both give the same values and
//! gradients, with and without masks.

use crate::{fused, vmath};
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::sync::Mutex;

/// Where one projection's heads lie in a row-major `(batch, len, width)` buffer:
/// head `h` is columns `col + h·d_head ..` of every row.
#[derive(Debug, Clone, Copy)]
struct Packed {
    len: usize,
    width: usize,
    col: usize,
}

impl Packed {
    /// The offset of head `h` of batch item `i`.
    fn offset(&self, i: usize, h: usize, d_head: usize) -> usize {
        i * self.len * self.width + self.col + h * d_head
    }

    /// Whether every head of `batch` items lies inside a buffer of `total` elements.
    fn fits(&self, batch: usize, heads: usize, d_head: usize, total: usize) -> bool {
        self.col + heads * d_head <= self.width && batch * self.len * self.width <= total
    }
}

/// The shapes of one attention: `batch` items, `heads` heads of `d_head`
/// features, `n` queries onto `m` keys.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    heads: usize,
    d_head: usize,
    n: usize,
    m: usize,
    q: Packed,
    k: Packed,
    v: Packed,
    scale: f32,
}

impl Geometry {
    /// The `(batch, n, heads·d_head)` layout of the output (and its gradient).
    fn out(&self) -> Packed {
        Packed { len: self.n, width: self.heads * self.d_head, col: 0 }
    }
}

/// An additive mask broadcast to `(batch, heads, n, m)`: its data and strides.
#[derive(Debug, Clone)]
struct Mask {
    data: Vec<f32>,
    offset: usize,
    stride: [usize; 4],
}

impl Mask {
    /// Copies the mask's own elements (not the storage it may be a view of) and
    /// the strides that broadcast them to `(batch, heads, n, m)`.
    fn new(mask: &Tensor, g: &Geometry) -> Result<Mask> {
        let mask = mask.contiguous()?;
        let data = fused::with_data(&mask, "fused attention mask", |data| Ok(data.to_vec()))?;
        let broadcast = mask.broadcast_as((g.batch, g.heads, g.n, g.m))?;
        // the copy starts where the contiguous mask did
        let offset = broadcast.layout().start_offset() - mask.layout().start_offset();
        let stride = broadcast.stride();
        Ok(Mask { data, offset, stride: [stride[0], stride[1], stride[2], stride[3]] })
    }

    /// The mask's values for query row `r` of head `h` of item `i`, `m` long.
    fn add_row(&self, i: usize, h: usize, r: usize, row: &mut [f32]) {
        let base = self.offset + i * self.stride[0] + h * self.stride[1] + r * self.stride[2];
        for (c, x) in row.iter_mut().enumerate() {
            *x += self.data[base + c * self.stride[3]];
        }
    }
}

/// A raw pointer that rayon tasks share to write disjoint blocks of one buffer.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32, usize);

// SAFETY: the tasks that share a `SharedMut` write disjoint elements (each its own
// head's columns), and the buffer outlives the parallel loop.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

/// Head `h` of item `i` in `data`, `len × d_head` with the buffer's row stride.
fn head(data: &[f32], p: Packed, i: usize, h: usize, d_head: usize) -> MatRef<'_, f32> {
    let offset = p.offset(i, h, d_head);
    assert!(p.len == 0 || offset + (p.len - 1) * p.width + d_head <= data.len(), "attention head out of its buffer");
    // SAFETY: rows `offset + r·width .. + d_head` for r < len lie inside `data`
    // (checked above), and the view lives no longer than `data`.
    unsafe { MatRef::from_raw_parts(data.as_ptr().add(offset), p.len, d_head, p.width as isize, 1) }
}

/// The writable head `h` of item `i` in a shared buffer.
///
/// # Safety
/// No other live view may touch the same elements.
unsafe fn head_mut<'a>(buf: SharedMut, p: Packed, i: usize, h: usize, d_head: usize) -> MatMut<'a, f32> {
    let offset = p.offset(i, h, d_head);
    assert!(p.len == 0 || offset + (p.len - 1) * p.width + d_head <= buf.1, "attention head out of its buffer");
    MatMut::from_raw_parts_mut(buf.0.add(offset), p.len, d_head, p.width as isize, 1)
}

/// A contiguous row-major `rows × cols` matrix.
fn dense(data: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(&data[..rows * cols], rows, cols)
}

/// The writable contiguous row-major `rows × cols` matrix.
fn dense_mut(data: &mut [f32], rows: usize, cols: usize) -> MatMut<'_, f32> {
    MatMut::from_row_major_slice_mut(&mut data[..rows * cols], rows, cols)
}

/// `dst = alpha·lhs·rhs` on the calling thread (the tasks are the parallelism).
fn product(dst: MatMut<'_, f32>, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>, alpha: f32) {
    faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, alpha, Par::Seq);
}

/// The forward pass: the `(batch, n, d)` output and, when `keep_probs` (training),
/// the `(batch, heads, n, m)` softmax probabilities that the backward reads. At
/// inference each task's probabilities live in a scratch buffer reused across tasks:
/// for `small` the kept ones were a zero-filled 12.6 MB per layer and step, most of a
/// sampling step's `memset` and page faults. Both ways give the same bytes.
fn forward(g: &Geometry, mask: Option<&Mask>, q: &[f32], kv: &[f32], keep_probs: bool) -> (Vec<f32>, Option<Vec<f32>>) {
    let out_p = g.out();
    let mut out = vec![0f32; g.batch * g.n * out_p.width];
    let out_buf = SharedMut(out.as_mut_ptr(), out.len());
    let nm = (g.n * g.m).max(1);
    // head `h` of item `i`: scores, softmax into `p`, then `p·V` into the output
    let task = |t: usize, scores: &mut [f32], p: &mut [f32]| {
        let (i, h) = (t / g.heads, t % g.heads);
        let (qh, kh, vh) = (head(q, g.q, i, h, g.d_head), head(kv, g.k, i, h, g.d_head), head(kv, g.v, i, h, g.d_head));
        product(dense_mut(scores, g.n, g.m), qh, kh.transpose(), g.scale); // (n, m)
        for (r, (row, out)) in scores.chunks_mut(g.m).zip(p.chunks_mut(g.m)).enumerate() {
            if let Some(mask) = mask {
                mask.add_row(i, h, r, row);
            }
            vmath::softmax_row(row, out);
        }
        // SAFETY: task (i, h) alone writes head h of item i of the output.
        let oh = unsafe { head_mut(out_buf, out_p, i, h, g.d_head) };
        product(oh, dense(p, g.n, g.m), vh, 1.0); // (n, d_head)
    };
    if keep_probs {
        let mut probs = vec![0f32; g.batch * g.heads * g.n * g.m];
        probs.par_chunks_mut(nm).enumerate().for_each_init(|| vec![0f32; nm], |scores, (t, p)| task(t, scores, p));
        (out, Some(probs))
    } else {
        (0..g.batch * g.heads).into_par_iter().for_each_init(|| (vec![0f32; nm], vec![0f32; nm]), |(scores, p), t| task(t, scores, p));
        (out, None)
    }
}

/// The backward pass: writes `dq` into `gq` and `dk`, `dv` into `gkv` (the same
/// buffer for self-attention, whose heads lie in disjoint columns).
fn backward(g: &Geometry, q: &[f32], kv: &[f32], probs: &[f32], grad: &[f32], gq: SharedMut, gkv: SharedMut) {
    let out_p = g.out();
    (0..g.batch * g.heads).into_par_iter().for_each(|task| {
        let (i, h) = (task / g.heads, task % g.heads);
        let (qh, kh, vh) = (head(q, g.q, i, h, g.d_head), head(kv, g.k, i, h, g.d_head), head(kv, g.v, i, h, g.d_head));
        let go = head(grad, out_p, i, h, g.d_head); // (n, d_head)
        let p = &probs[task * g.n * g.m..(task + 1) * g.n * g.m];
        // SAFETY: task (i, h) alone writes head h of item i of dq, dk and dv,
        // which lie in disjoint columns even when gq and gkv are one buffer.
        let (dq, dk, dv) =
            unsafe { (head_mut(gq, g.q, i, h, g.d_head), head_mut(gkv, g.k, i, h, g.d_head), head_mut(gkv, g.v, i, h, g.d_head)) };
        product(dv, dense(p, g.n, g.m).transpose(), go, 1.0); // dV = Pᵀ·dO: (m, d_head)
        let mut dp = vec![0f32; g.n * g.m];
        product(dense_mut(&mut dp, g.n, g.m), go, vh.transpose(), 1.0); // dP = dO·Vᵀ: (n, m)
        let mut ds = vec![0f32; g.n * g.m];
        for ((y, gy), gx) in p.chunks(g.m).zip(dp.chunks(g.m)).zip(ds.chunks_mut(g.m)) {
            vmath::softmax_backward_row(y, gy, gx);
        }
        // the scores were scale·Q·Kᵀ: the scale goes into the products' alpha
        product(dq, dense(&ds, g.n, g.m), kh, g.scale); // dQ: (n, d_head)
        product(dk, dense(&ds, g.n, g.m).transpose(), qh, g.scale); // dK: (m, d_head)
    });
}

/// The op's state: its shapes, its mask, and the probabilities kept for backward.
struct State {
    geometry: Geometry,
    mask: Option<Mask>,
    /// Filled by the forward pass when training.
    probs: Mutex<Option<Vec<f32>>>,
    train: bool,
}

impl State {
    fn new(geometry: Geometry, mask: Option<&Tensor>, train: bool) -> Result<State> {
        let mask = mask.map(|mask| Mask::new(mask, &geometry)).transpose()?;
        Ok(State { geometry, mask, probs: Mutex::new(None), train })
    }

    /// Runs the forward pass over the storages and keeps the probabilities when training.
    fn run(&self, q: &[f32], kv: &[f32], name: &str) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        if !g.q.fits(g.batch, g.heads, g.d_head, q.len()) || !g.k.fits(g.batch, g.heads, g.d_head, kv.len()) {
            bail!("{name}: the projections do not hold {} heads of {}", g.heads, g.d_head);
        }
        let (out, probs) = forward(g, self.mask.as_ref(), q, kv, self.train);
        if self.train {
            *self.probs.lock().map_err(|_| candle_core::Error::Msg(format!("{name}: poisoned state")))? = probs;
        }
        Ok((CpuStorage::F32(out), Shape::from((g.batch, g.n, g.heads * g.d_head))))
    }

    /// The gradients of the packed inputs: `(dq_src, dkv_src)`, or one buffer
    /// when `same` (self-attention).
    fn grads(&self, q: &[f32], kv: &[f32], grad: &Tensor, same: bool, name: &str) -> Result<(Vec<f32>, Vec<f32>)> {
        let probs = self.probs.lock().map_err(|_| candle_core::Error::Msg(format!("{name}: poisoned state")))?;
        let Some(probs) = probs.as_ref() else {
            bail!("{name}: no probabilities kept; backward needs the training forward pass");
        };
        fused::with_data(grad, name, |grad| {
            let mut gq = vec![0f32; q.len()];
            let mut gkv = if same { Vec::new() } else { vec![0f32; kv.len()] };
            let gq_buf = SharedMut(gq.as_mut_ptr(), gq.len());
            let gkv_buf = if same { gq_buf } else { SharedMut(gkv.as_mut_ptr(), gkv.len()) };
            backward(&self.geometry, q, kv, probs, grad, gq_buf, gkv_buf);
            Ok((gq, gkv))
        })
    }
}

/// Self-attention over a packed `qkv: (b, n, 3d)`.
struct SelfAttentionOp(State);

impl CustomOp1 for SelfAttentionOp {
    fn name(&self) -> &'static str {
        "fused-self-attention"
    }

    fn cpu_fwd(&self, qkv: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = fused::slice(qkv, layout, self.name())?;
        self.0.run(qkv, qkv, self.name())
    }

    fn bwd(&self, qkv: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (gqkv, _) = fused::with_data(qkv, self.name(), |data| self.0.grads(data, data, grad, true, self.name()))?;
        Ok(Some(Tensor::from_vec(gqkv, qkv.shape(), qkv.device())?))
    }
}

/// Cross-attention of `q: (b, n, d)` onto a packed `kv: (b, m, 2d)`.
struct CrossAttentionOp(State);

impl CustomOp2 for CrossAttentionOp {
    fn name(&self) -> &'static str {
        "fused-cross-attention"
    }

    fn cpu_fwd(&self, q: &CpuStorage, q_l: &Layout, kv: &CpuStorage, kv_l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.0.run(fused::slice(q, q_l, self.name())?, fused::slice(kv, kv_l, self.name())?, self.name())
    }

    fn bwd(&self, q: &Tensor, kv: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (gq, gkv) = fused::with_data(q, self.name(), |qd| {
            fused::with_data(kv, self.name(), |kvd| self.0.grads(qd, kvd, grad, false, self.name()))
        })?;
        Ok((Some(Tensor::from_vec(gq, q.shape(), q.device())?), Some(Tensor::from_vec(gkv, kv.shape(), kv.device())?)))
    }
}

/// Self-attention of `qkv: (b, n, 3d)` (queries, keys, values side by side, as
/// an `in_proj` writes them) with `heads` heads → `(b, n, d)`, heads merged;
/// `mask` is added to the scores and broadcasts to `(b, heads, n, n)`.
pub fn self_attention(qkv: &Tensor, heads: usize, mask: Option<&Tensor>, train: bool) -> Result<Tensor> {
    let (batch, n, width) = qkv.dims3()?;
    if heads == 0 || width % (3 * heads) != 0 {
        bail!("self-attention: width {width} is not 3 × {heads} heads");
    }
    let (d, d_head) = (width / 3, width / 3 / heads);
    let packed = |col| Packed { len: n, width, col };
    let geometry =
        Geometry { batch, heads, d_head, n, m: n, q: packed(0), k: packed(d), v: packed(2 * d), scale: 1.0 / (d_head as f32).sqrt() };
    qkv.contiguous()?.apply_op1(SelfAttentionOp(State::new(geometry, mask, train)?))
}

/// Cross-attention of `q: (b, n, d)` onto `kv: (b, m, 2d)` (keys, then values,
/// as a `kv_proj` writes them) with `heads` heads → `(b, n, d)`; `mask`
/// broadcasts to `(b, heads, n, m)`.
pub fn cross_attention(q: &Tensor, kv: &Tensor, heads: usize, mask: Option<&Tensor>, train: bool) -> Result<Tensor> {
    let ((batch, n, d), (kv_batch, m, kv_width)) = (q.dims3()?, kv.dims3()?);
    if heads == 0 || d % heads != 0 || kv_width != 2 * d || kv_batch != batch {
        bail!("cross-attention: q {:?} and kv {:?} do not fit {heads} heads", q.dims(), kv.dims());
    }
    let d_head = d / heads;
    let geometry = Geometry {
        batch,
        heads,
        d_head,
        n,
        m,
        q: Packed { len: n, width: d, col: 0 },
        k: Packed { len: m, width: 2 * d, col: 0 },
        v: Packed { len: m, width: 2 * d, col: d },
        scale: 1.0 / (d_head as f32).sqrt(),
    };
    q.contiguous()?.apply_op2(&kv.contiguous()?, CrossAttentionOp(State::new(geometry, mask, train)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    /// `(b, n, d) -> (b, h, n, d/h)`, as `Attention` splits heads.
    fn split(xs: &Tensor, heads: usize) -> Tensor {
        let (b, n, d) = xs.dims3().unwrap();
        xs.reshape((b, n, heads, d / heads)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap()
    }

    /// The composed path: split heads, `ops::attention` with softmax's
    /// differentiable kernel, merge heads.
    fn composed(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, mask: Option<&Tensor>) -> Tensor {
        let (b, n, d) = q.dims3().unwrap();
        let xs = ops::attention(&split(q, heads), &split(k, heads), &split(v, heads), mask, true).unwrap();
        xs.transpose(1, 2).unwrap().reshape((b, n, d)).unwrap()
    }

    fn causal(n: usize) -> Tensor {
        let data: Vec<f32> = (0..n * n).map(|i| if i % n > i / n { ops::MASKED } else { 0.0 }).collect();
        Tensor::from_vec(data, (n, n), &Device::Cpu).unwrap()
    }

    #[test]
    fn self_attention_matches_the_composed_path_with_gradients() {
        let dev = Device::Cpu;
        let (b, n, d, heads) = (3, 7, 12, 3);
        let qkv = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, n, 3 * d), &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (b, n, d), &dev).unwrap();
        let padding = {
            // item 1 may not attend to its last two positions
            let data: Vec<f32> = (0..b * n).map(|i| if i / n == 1 && i % n >= n - 2 { ops::MASKED } else { 0.0 }).collect();
            Tensor::from_vec(data, (b, 1, 1, n), &dev).unwrap()
        };
        // the same padding as a view into a larger storage (the copy must start at its offset)
        let padding_view =
            Tensor::cat(&[Tensor::full(ops::MASKED, (1, 1, 1, n), &dev).unwrap(), padding.clone()], 0).unwrap().narrow(0, 1, b).unwrap();
        for mask in [None, Some(causal(n)), Some(padding), Some(padding_view)] {
            let run = |fused: bool| {
                let qkv_t = qkv.as_tensor();
                let ys = if fused {
                    self_attention(qkv_t, heads, mask.as_ref(), true).unwrap()
                } else {
                    let part = |i| qkv_t.narrow(2, i * d, d).unwrap();
                    composed(&part(0), &part(1), &part(2), heads, mask.as_ref())
                };
                let grads = (&ys * &probe).unwrap().sum_all().unwrap().backward().unwrap();
                (ys, grads.get(&qkv).unwrap().clone())
            };
            let ((fy, fg), (cy, cg)) = (run(true), run(false));
            assert_eq!(fy.dims(), [b, n, d]);
            assert!(max_diff(&fy, &cy) < 1e-5, "values {}", max_diff(&fy, &cy));
            assert!(max_diff(&fg, &cg) < 1e-4, "gradients {}", max_diff(&fg, &cg));
        }
    }

    #[test]
    fn cross_attention_matches_the_composed_path_with_gradients() {
        let dev = Device::Cpu;
        let (b, n, m, d, heads) = (2, 5, 9, 8, 2);
        let q = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, n, d), &dev).unwrap()).unwrap();
        let kv = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, m, 2 * d), &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (b, n, d), &dev).unwrap();
        let data: Vec<f32> = (0..b * m).map(|i| if i / m == 0 && i % m >= 6 { ops::MASKED } else { 0.0 }).collect();
        let mask = Tensor::from_vec(data, (b, 1, 1, m), &dev).unwrap();
        let run = |fused: bool| {
            let ys = if fused {
                cross_attention(q.as_tensor(), kv.as_tensor(), heads, Some(&mask), true).unwrap()
            } else {
                let kv_t = kv.as_tensor();
                composed(q.as_tensor(), &kv_t.narrow(2, 0, d).unwrap(), &kv_t.narrow(2, d, d).unwrap(), heads, Some(&mask))
            };
            let grads = (&ys * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            (ys, grads.get(&q).unwrap().clone(), grads.get(&kv).unwrap().clone())
        };
        let ((fy, fq, fkv), (cy, cq, ckv)) = (run(true), run(false));
        assert!(max_diff(&fy, &cy) < 1e-5, "values {}", max_diff(&fy, &cy));
        assert!(max_diff(&fq, &cq) < 1e-4, "dq {}", max_diff(&fq, &cq));
        assert!(max_diff(&fkv, &ckv) < 1e-4, "dkv {}", max_diff(&fkv, &ckv));
    }

    #[test]
    fn inference_keeps_nothing_and_runs_are_the_same_bytes() {
        let dev = Device::Cpu;
        let qkv = Tensor::randn(0f32, 1.0, (8, 16, 3 * 32), &dev).unwrap();
        let first = self_attention(&qkv, 4, None, false).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for _ in 0..3 {
            assert_eq!(self_attention(&qkv, 4, None, false).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), first);
        }
        // the training forward (which keeps the probabilities) gives the same bytes
        let var = candle_core::Var::from_tensor(&qkv).unwrap();
        let trained = self_attention(var.as_tensor(), 4, None, true).unwrap();
        assert_eq!(trained.flatten_all().unwrap().to_vec1::<f32>().unwrap(), first);
        // a width that does not split into heads is an error, not a panic
        assert!(self_attention(&qkv, 5, None, false).is_err());
        let q = Tensor::zeros((8, 16, 32), candle_core::DType::F32, &dev).unwrap();
        assert!(cross_attention(&q, &q, 4, None, false).is_err());
    }
}

//! Linear layers in 8-bit integers for inference on CPUs with AVX-512 VNNI:
//! activations quantized per row to `u8`, weights per output to `i8`, the
//! products summed exactly in `i32` (`vpdpbusd`), scaled back to `f32` with the
//! bias in the epilogue. PyTorch's dynamic quantization, on our kernels.
//!
//! Why: `vpdpbusd` does four 8-bit multiply-adds per 32-bit lane, twice the
//! products per instruction of [`crate::bf16`]'s `vdpbf16ps` and four times an
//! f32 FMA's. On a Zen 5 EPYC the micro-kernel runs at ~1,080 GOP/s a core
//! against bf16's ~530 GFLOP/s (docs/benchmarks.md). It is used only at
//! [`crate::precision::MatmulPrecision::Low`], and only where the CPU has the
//! instructions; elsewhere `Low` falls back to bf16, then to f32.
//!
//! Quantization (each row of `x` and each row of `w` on its own, so one outlier
//! costs only its own row's resolution):
//! - a row of `x` over `[lo, hi]` (widened to hold 0) gets the scale
//!   `s = (hi - lo) / 255` and zero point `z = round(-lo / s)`: `x ≈ s·(q - z)`,
//!   `q` in `0..=255`, so GELU outputs (mostly positive) keep all 8 bits;
//! - a row `j` of `w` gets `t_j = max|w_j| / 127`: `w ≈ t_j·p`, `p` in `-127..=127`.
//!
//! Then `x·w_jᵀ ≈ s·t_j·(Σ q·p - z·Σ p)`: the accumulator starts at `-z·Σ_l p_jl`
//! (the weight's row sums, computed once per product) and the `u8 × i8` sums are
//! exact. Rounding is to nearest, ties to even, everywhere. Every output
//! element is summed by one task in one order: same bytes every run.
//!
//! Layout as [`crate::bf16`]'s with quads for pairs: a row of `x` becomes
//! `⌈k/4⌉` quads (four `u8` in a `u32`), interleaved in blocks of 8 rows; `w` is
//! packed into panels of 16 outputs, quad `q` of a panel being the 16 outputs'
//! quad `q` side by side. Padding quads are zero in `w`, so they add nothing.

use crate::blocked::{self, padded_bias, Epilogue, MR, PANEL};
use rayon::prelude::*;

/// Whether this CPU runs the int8 kernel (AVX-512 F, BW and VNNI, checked once).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The scale and zero point of a row of activations: `x ≈ scale·(q - zero)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RowQuant {
    scale: f32,
    zero: i32,
}

/// Quantizes `src` to `u8` in `dst` (the rest of `dst` zero); see the module
/// header. A row of zeros (or non-finite range) gets scale 1 and zero point 0.
fn quantize_row(src: &[f32], dst: &mut [u8]) -> RowQuant {
    // SAFETY: `available()` (checked by every caller) includes AVX-512 F and BW
    let (lo, hi) = unsafe { kernel::range(src) };
    let range = hi - lo;
    let scale = if range > 0.0 && range.is_finite() { range / 255.0 } else { 1.0 };
    let inv = 1.0 / scale;
    let zero = (-lo * inv).round_ties_even().clamp(0.0, 255.0);
    // SAFETY: as above
    unsafe { kernel::quantize(src, &mut dst[..src.len()], inv, zero, 0.0, 255.0) };
    dst[src.len()..].fill(0);
    RowQuant { scale, zero: zero as i32 }
}

/// Quantizes a weight row to `i8` (as bytes) in `dst` (the rest zero); returns
/// its scale and the sum of its quantized values.
fn quantize_weight_row(src: &[f32], dst: &mut [u8]) -> (f32, i32) {
    // SAFETY: as in `quantize_row`
    let (lo, hi) = unsafe { kernel::range(src) };
    let peak = hi.max(-lo);
    let scale = if peak > 0.0 && peak.is_finite() { peak / 127.0 } else { 1.0 };
    // SAFETY: as in `quantize_row`
    unsafe { kernel::quantize(src, &mut dst[..src.len()], 1.0 / scale, 0.0, -127.0, 127.0) };
    dst[src.len()..].fill(0);
    let sum = dst[..src.len()].iter().map(|&b| b as i8 as i32).sum();
    (scale, sum)
}

/// One value quantized: `clamp(round_even(v·inv) + zero, lo, hi)` as a byte
/// (two's complement for negative values); the vector body does the same
/// operations lane by lane, so a row's tail rounds as its body.
#[inline(always)]
fn quantize_one(v: f32, inv: f32, zero: f32, lo: f32, hi: f32) -> u8 {
    ((v * inv).round_ties_even() + zero).max(lo).min(hi) as i32 as u8
}

/// Quantized activations: blocks of [`MR`] rows, quad-major inside a block,
/// and every row's scale and zero point (zero rows pad the last block).
struct Rows {
    packed: Vec<u32>,
    quant: Vec<RowQuant>,
}

fn quantize_rows(x: &[f32], m: usize, k: usize, kq: usize) -> Rows {
    let blocks = m.div_ceil(MR);
    let mut packed = vec![0u32; blocks * MR * kq];
    let mut quant = vec![RowQuant { scale: 0.0, zero: 0 }; blocks * MR];
    packed.par_chunks_mut(kq * MR).zip(quant.par_chunks_mut(MR)).enumerate().for_each_init(
        || vec![0u8; 4 * kq],
        |bytes, (block, (dst, quant))| {
            for r in 0..MR.min(m - block * MR) {
                let row = block * MR + r;
                quant[r] = quantize_row(&x[row * k..(row + 1) * k], bytes);
                for (q, quad) in bytes.chunks_exact(4).enumerate() {
                    dst[q * MR + r] = u32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]);
                }
            }
        },
    );
    Rows { packed, quant }
}

/// Quantized weights: panels of [`PANEL`] outputs (an even count of them),
/// quad-major inside a panel, and every output's scale and quantized row sum
/// (zero past `n`).
struct Panels {
    packed: Vec<u32>,
    scale: Vec<f32>,
    sum: Vec<i32>,
}

fn quantize_panels(w: &[f32], n: usize, k: usize, kq: usize) -> Panels {
    let panels = n.div_ceil(2 * PANEL) * 2;
    let mut packed = vec![0u32; panels * kq * PANEL];
    let mut scale = vec![0f32; panels * PANEL];
    let mut sum = vec![0i32; panels * PANEL];
    packed.par_chunks_mut(kq * PANEL).zip(scale.par_chunks_mut(PANEL).zip(sum.par_chunks_mut(PANEL))).enumerate().for_each_init(
        || vec![0u8; 4 * kq],
        |bytes, (p, (panel, (scale, sum)))| {
            for c in 0..PANEL {
                let j = p * PANEL + c;
                if j >= n {
                    break;
                }
                (scale[c], sum[c]) = quantize_weight_row(&w[j * k..(j + 1) * k], bytes);
                for (q, quad) in bytes.chunks_exact(4).enumerate() {
                    panel[q * PANEL + c] = u32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]);
                }
            }
        },
    );
    Panels { packed, scale, sum }
}

/// The operands of one product, quantized and packed, with the padded bias.
struct Operands {
    rows: Rows,
    panels: Panels,
    bias: Vec<f32>,
    kq: usize,
}

impl Operands {
    fn new(x: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Operands {
        // k = 0 packs one zero quad: the products are 0 and the bias decides
        let kq = k.div_ceil(4).max(1);
        let (rows, panels) = rayon::join(|| quantize_rows(x, m, k, kq), || quantize_panels(w, n, k, kq));
        Operands { rows, panels, bias: padded_bias(bias, n), kq }
    }

    /// The micro-kernel as a [`blocked::Block`].
    fn block(&self) -> impl blocked::Block + '_ {
        let kq = self.kq;
        move |row, pp, out, stride, col, valid_rows, valid_cols| {
            let cols = pp * 2 * PANEL..(pp + 1) * 2 * PANEL;
            let block = Block {
                a: &self.rows.packed[row * kq..(row + MR) * kq],
                quant: &self.rows.quant[row..row + MR],
                panels: &self.panels.packed[pp * 2 * kq * PANEL..(pp + 1) * 2 * kq * PANEL],
                scale: &self.panels.scale[cols.clone()],
                sum: &self.panels.sum[cols.clone()],
                bias: &self.bias[cols],
                kq,
            };
            // SAFETY: `available()` was checked by the caller; the slices are whole
            // blocks and panel pairs; `blocked` hands out `out` pointers to
            // `valid_rows` rows of `stride` with `valid_cols` columns from `col`.
            unsafe { kernel::block(&block, out, stride, col, valid_rows, valid_cols) }
        }
    }
}

/// `out = x·wᵀ + bias` in int8 products (see the module header) into a new
/// buffer, never zero-filled, then `epilogue`, for row-major `x: (m, k)`,
/// `w: (n, k)`, `bias: (n)`; `None` when the CPU lacks AVX-512 VNNI.
pub fn linear_new(x: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize, epilogue: Epilogue) -> Option<Vec<f32>> {
    assert!(x.len() == m * k && w.len() == n * k && bias.len() == n, "int8 linear: shapes do not fit");
    if !available() {
        return None;
    }
    let mut out = Vec::with_capacity(m * n);
    if m * n > 0 {
        let operands = Operands::new(x, w, bias, m, n, k);
        blocked::fill(&mut out.spare_capacity_mut()[..m * n], m, n, 4 * operands.kq, operands.block(), epilogue);
    }
    // SAFETY: `blocked::fill` wrote all `m·n` elements
    unsafe { out.set_len(m * n) };
    Some(out)
}

/// The index of each row's largest value of `x·wᵀ + bias` in int8 products,
/// the `(m, n)` product never written; `None` without AVX-512 VNNI.
pub fn linear_argmax(x: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Option<Vec<u32>> {
    assert!(x.len() == m * k && w.len() == n * k && bias.len() == n && n > 0, "int8 linear: shapes do not fit");
    if !available() {
        return None;
    }
    let operands = Operands::new(x, w, bias, m, n, k);
    Some(blocked::argmax(m, n, 4 * operands.kq, operands.block()))
}

/// One `MR × 32` block's packed operands, for [`kernel::block`].
struct Block<'a> {
    /// `kq·MR` quads of the block's rows.
    a: &'a [u32],
    /// The block's `MR` rows' scales and zero points.
    quant: &'a [RowQuant],
    /// Two panels of `kq·16` quads.
    panels: &'a [u32],
    /// The 32 outputs' weight scales.
    scale: &'a [f32],
    /// The 32 outputs' quantized row sums.
    sum: &'a [i32],
    /// The 32 outputs' biases.
    bias: &'a [f32],
    /// Quads per row.
    kq: usize,
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::{Block, MR, PANEL};
    use crate::blocked::lanes;
    use std::arch::x86_64::*;

    /// `out[r][col + c] = bias[c] + s_r·t_c·(Σ_q a[q][r]·panels[q][c] - z_r·sum[c])`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI; the block's slices have the lengths
    /// documented on [`Block`]; `out` points at `valid_rows` writable rows of
    /// `stride` elements, of which columns `col .. col + valid_cols` are written.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn block(b: &Block, out: *mut f32, stride: usize, col: usize, valid_rows: usize, valid_cols: usize) {
        debug_assert!(b.a.len() >= MR * b.kq && b.panels.len() >= 2 * b.kq * PANEL && b.quant.len() >= MR);
        debug_assert!(b.scale.len() >= 2 * PANEL && b.sum.len() >= 2 * PANEL && b.bias.len() >= 2 * PANEL);
        let sums = [_mm512_loadu_si512(b.sum.as_ptr().cast()), _mm512_loadu_si512(b.sum.as_ptr().add(PANEL).cast())];
        // the zero point's share, -z·Σp, is where each sum starts
        let mut acc = [[_mm512_setzero_si512(); 2]; MR];
        for (r, acc) in acc.iter_mut().enumerate() {
            let z = _mm512_set1_epi32(-b.quant[r].zero);
            *acc = [_mm512_mullo_epi32(z, sums[0]), _mm512_mullo_epi32(z, sums[1])];
        }
        let (mut p0, mut p1) = (b.panels.as_ptr(), b.panels.as_ptr().add(b.kq * PANEL));
        let mut a = b.a.as_ptr();
        for _ in 0..b.kq {
            let w0 = _mm512_loadu_si512(p0.cast());
            let w1 = _mm512_loadu_si512(p1.cast());
            // a constant trip count: the compiler unrolls the 8 rows
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_epi32(*a.add(r) as i32);
                *acc = [_mm512_dpbusd_epi32(acc[0], x, w0), _mm512_dpbusd_epi32(acc[1], x, w1)];
            }
            a = a.add(MR);
            p0 = p0.add(PANEL);
            p1 = p1.add(PANEL);
        }
        let scales = [_mm512_loadu_ps(b.scale.as_ptr()), _mm512_loadu_ps(b.scale.as_ptr().add(PANEL))];
        let biases = [_mm512_loadu_ps(b.bias.as_ptr()), _mm512_loadu_ps(b.bias.as_ptr().add(PANEL))];
        let masks = [lanes(valid_cols), lanes(valid_cols.saturating_sub(PANEL))];
        for (r, acc) in acc.iter().enumerate().take(valid_rows) {
            let s = _mm512_set1_ps(b.quant[r].scale);
            let dst = out.add(r * stride + col);
            for h in 0..2 {
                let y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[h]), _mm512_mul_ps(s, scales[h]), biases[h]);
                _mm512_mask_storeu_ps(dst.add(h * PANEL), masks[h], y);
            }
        }
    }

    /// The smallest and largest value of `src` and 0 (the range a quantized
    /// row must hold: zero exactly representable).
    ///
    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn range(src: &[f32]) -> (f32, f32) {
        let mut chunks = src.chunks_exact(PANEL);
        let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        for c in &mut chunks {
            let v = _mm512_loadu_ps(c.as_ptr());
            (lo, hi) = (_mm512_min_ps(lo, v), _mm512_max_ps(hi, v));
        }
        let (mut lo, mut hi) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
        for &v in chunks.remainder() {
            (lo, hi) = (lo.min(v), hi.max(v));
        }
        (lo, hi)
    }

    /// `dst[i] = quantize_one(src[i], ..)`, 16 values per instruction.
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `dst` is as long as `src`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize(src: &[f32], dst: &mut [u8], inv: f32, zero: f32, lo: f32, hi: f32) {
        assert_eq!(src.len(), dst.len(), "int8 quantize: lengths differ");
        let (vinv, vzero, vlo, vhi) = (_mm512_set1_ps(inv), _mm512_set1_ps(zero), _mm512_set1_ps(lo), _mm512_set1_ps(hi));
        let body = src.len() / PANEL * PANEL;
        for i in (0..body).step_by(PANEL) {
            let v = _mm512_mul_ps(_mm512_loadu_ps(src.as_ptr().add(i)), vinv);
            // round to nearest even, then the zero point and the clamp: exact
            // integers in range, so the truncating conversion keeps them
            let v = _mm512_add_ps(_mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v), vzero);
            let v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
            let bytes = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v));
            _mm_storeu_si128(dst.as_mut_ptr().add(i).cast(), bytes);
        }
        for (d, &v) in dst[body..].iter_mut().zip(&src[body..]) {
            *d = super::quantize_one(v, inv, zero, lo, hi);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernel {
    use super::Block;

    /// Never called: [`super::available`] is false off x86-64.
    pub(super) unsafe fn block(_: &Block, _: *mut f32, _: usize, _: usize, _: usize, _: usize) {
        unreachable!("the int8 kernel runs on x86-64 only")
    }

    /// Never called: [`super::available`] is false off x86-64.
    pub(super) unsafe fn range(_: &[f32]) -> (f32, f32) {
        unreachable!("the int8 kernel runs on x86-64 only")
    }

    /// Never called: [`super::available`] is false off x86-64.
    pub(super) unsafe fn quantize(_: &[f32], _: &mut [u8], _: f32, _: f32, _: f32, _: f32) {
        unreachable!("the int8 kernel runs on x86-64 only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocked::testing::{argmax_and_gelu_agree_with_the_plain_product, random};
    use rand::SeedableRng;

    /// The dequantized operands' product in f64: what the kernel must give up
    /// to the f32 rounding of its epilogue (the integer sums are exact).
    fn reference(x: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut bytes = vec![0u8; k];
        let xs: Vec<Vec<f64>> = x
            .chunks(k.max(1))
            .take(m)
            .map(|row| {
                let q = quantize_row(row, &mut bytes);
                bytes.iter().map(|&b| q.scale as f64 * (b as f64 - q.zero as f64)).collect()
            })
            .collect();
        let ws: Vec<Vec<f64>> = w
            .chunks(k.max(1))
            .take(n)
            .map(|row| {
                let (scale, _) = quantize_weight_row(row, &mut bytes);
                bytes.iter().map(|&b| scale as f64 * b as i8 as f64).collect()
            })
            .collect();
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = if k == 0 { 0.0 } else { xs[i].iter().zip(&ws[j]).map(|(a, b)| a * b).sum() };
                out[i * n + j] = (dot + bias[j] as f64) as f32;
            }
        }
        out
    }

    #[test]
    fn quantized_rows_are_within_half_a_step() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        // random, all-positive (a GELU output), all-zero, one huge outlier
        let mut rows = vec![random(&mut rng, 37), random(&mut rng, 64).iter().map(|v| v.abs() + 0.5).collect(), vec![0.0; 9]];
        // exact halves between steps: ties go to even in the body and the tail alike
        rows.push((0..40).map(|i| (i as f32 - 20.0) * 0.5 * (2.0 / 255.0) * 10.0).collect());
        rows.push((0..20).map(|i| if i == 7 { 1000.0 } else { 0.01 * i as f32 }).collect());
        for row in &rows {
            let mut bytes = vec![0xffu8; row.len() + 3];
            let q = quantize_row(row, &mut bytes);
            assert!((0..=255).contains(&q.zero) && q.scale > 0.0);
            for (&v, &b) in row.iter().zip(&bytes) {
                // the vector body rounds as the scalar tail
                assert_eq!(b, quantize_one(v, 1.0 / q.scale, q.zero as f32, 0.0, 255.0), "{v}");
                let back = q.scale * (b as f32 - q.zero as f32);
                assert!((back - v).abs() <= 0.5 * q.scale * 1.0001 + 1e-6, "{v} -> {b} -> {back} (scale {})", q.scale);
            }
            assert_eq!(&bytes[row.len()..], &[0, 0, 0], "padding is zero");
            let (scale, sum) = quantize_weight_row(row, &mut bytes);
            let values: Vec<i32> = bytes[..row.len()].iter().map(|&b| b as i8 as i32).collect();
            assert_eq!(sum, values.iter().sum::<i32>());
            for (&v, &p) in row.iter().zip(&values) {
                assert!((-127..=127).contains(&p) && (scale * p as f32 - v).abs() <= 0.5 * scale * 1.0001 + 1e-6);
            }
        }
    }

    #[test]
    fn linear_matches_the_quantized_reference_and_stays_near_f32() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI (bf16 or f32 runs instead)");
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // edges in every direction: rows not a multiple of 8 or of a task,
        // columns not a multiple of 32, k not a multiple of 4, k = 0
        for (m, n, k) in [(3, 5, 0), (1, 1, 1), (7, 33, 5), (70, 50, 17), (130, 96, 64), (9, 17, 384), (600, 40, 256)] {
            let (x, w, bias) = (random(&mut rng, m * k), random(&mut rng, n * k), random(&mut rng, n));
            let out = linear_new(&x, &w, &bias, m, n, k, Epilogue::None).unwrap();
            let want = reference(&x, &w, &bias, m, n, k);
            for (i, (got, want)) in out.iter().zip(&want).enumerate() {
                assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "({m}, {n}, {k}) element {i}: {got} vs {want}");
            }
            // against the f32 product: each operand is off by at most half a step
            // (1/255 of x's range, 1/127 of w's peak), errors summing like a random walk
            for i in 0..m {
                for j in 0..n {
                    let exact: f32 = (0..k).map(|l| x[i * k + l] * w[j * k + l]).sum::<f32>() + bias[j];
                    let bound = 4.0 * (k as f32).sqrt() * (1.0 / 255.0 + 0.5 / 127.0) + 1e-5;
                    assert!((out[i * n + j] - exact).abs() <= bound, "({m}, {n}, {k}) [{i}, {j}]: {} vs {exact}", out[i * n + j]);
                }
            }
        }
    }

    #[test]
    fn gelu_epilogue_and_argmax_agree_with_the_plain_product() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        argmax_and_gelu_agree_with_the_plain_product(linear_new, linear_argmax);
    }

    #[test]
    fn linear_is_the_same_bytes_every_run() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let (m, n, k) = (300, 200, 96);
        let (x, w, bias) = (random(&mut rng, m * k), random(&mut rng, n * k), random(&mut rng, n));
        let first = linear_new(&x, &w, &bias, m, n, k, Epilogue::None).unwrap();
        for _ in 0..3 {
            assert_eq!(linear_new(&x, &w, &bias, m, n, k, Epilogue::None).unwrap(), first);
        }
    }
}

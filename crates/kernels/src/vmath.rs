//! The fused kernels' inner loops, vectorised: `exp`, `erf`, sums, and the
//! row and element kernels built on them (softmax, log-sum-exp, GELU).
//!
//! libm's `expf` and `erff` are scalar calls: in a `tiny` training step they
//! were a fifth of the time (`perf`, AMD Zen 4), spent in the GELU and in the
//! cross-entropy over the 4,096-token vocabulary. Here they are branch-free
//! polynomials, and each loop is compiled once per instruction set by
//! `multiversion` (AVX-512, AVX2+FMA, baseline; the widest the CPU has is picked
//! at run time), so they run 8 or 16 lanes per instruction: candle and lastmile
//! are built for baseline x86-64, where the compiler could only use SSE.
//! Accuracy, checked in the tests: `exp` within 3e-7 relative error, `erf`
//! within 5e-7 absolute (1.5e-7 of the formula, the rest f32 rounding).

use multiversion::multiversion;

/// `log2(e)`, and `ln 2` split in two so that `x - n·ln 2` keeps its low bits.
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `1.5 · 2^23`: adding and subtracting it rounds an `f32` of magnitude below
/// 2^22 to the nearest integer without a call or a branch.
const ROUNDER: f32 = 12_582_912.0;

/// `e^x`. Inputs below -87.3 give ~1e-38 (not 0), above 88.3 saturate at
/// `e^88.3`; NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // e^x = 2^n · e^r with n = round(x·log2 e) and |r| <= ln 2 / 2
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + ROUNDER) - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Cephes' minimax polynomial for e^r on that interval
    let mut p = 1.987_569_2e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // 2^n built from its exponent bits (n + 127 is in 1..=254 after the clamp):
    // adding 1.5·2^23 puts the integer n + 127 in the low mantissa bits, read out
    // with a bit cast. A float-to-int `as` cast (saturating, NaN to 0) compiled
    // to 16 scalar conversions per vector, most of a GELU's time (`perf`, AMD
    // Zen 4); wrapping integer ops carry no overflow check into the loop
    er * f32::from_bits(((n + 127.0) + ROUNDER).to_bits().wrapping_sub(ROUNDER.to_bits()).wrapping_shl(23))
}

/// The error function (Abramowitz and Stegun 7.1.26, 1.5e-7 absolute error).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let mut p = 1.061_405_4;
    p = p * t - 1.453_152;
    p = p * t + 1.421_413_8;
    p = p * t - 0.284_496_74;
    p = p * t + 0.254_829_6;
    let y = 1.0 - p * t * exp(-a * a);
    y.copysign(x)
}

/// The sum of `xs`, in 16 interleaved partial sums (so it vectorises; the
/// order is fixed, so the bytes are the same every run).
#[inline(always)]
pub fn sum(xs: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = xs.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `e^x` at every element of `xs`, in place (for the tests and other callers).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn exp_in_place(xs: &mut [f32]) {
    xs.iter_mut().for_each(|x| *x = exp(*x));
}

/// The softmax of `row` into `out`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn softmax_row(row: &[f32], out: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (o, &v) in out.iter_mut().zip(row) {
        *o = exp(v - max);
    }
    let inv = 1.0 / sum(out);
    out.iter_mut().for_each(|o| *o *= inv);
}

/// The softmax's backward over one row: `gx = y·(g - <y, g>)`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn softmax_backward_row(y: &[f32], g: &[f32], gx: &mut [f32]) {
    let mut lanes = [0f32; 16];
    for (y, g) in y.chunks(16).zip(g.chunks(16)) {
        for ((lane, y), g) in lanes.iter_mut().zip(y).zip(g) {
            *lane += y * g;
        }
    }
    let dot = sum(&lanes);
    for (gx, (&y, &g)) in gx.iter_mut().zip(y.iter().zip(g)) {
        *gx = y * (g - dot);
    }
}

/// `log(sum(exp(row)))`, stably (the row's maximum taken out first).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut lanes = [0f32; 16];
    let chunks = row.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().map(|&v| exp(v - max)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += exp(v - max);
        }
    }
    max + (sum(&lanes) + tail).ln()
}

/// `out = exp(row - shift) · scale` (the cross-entropy's gradient before the
/// target's `-scale`).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn scaled_exp_shifted(row: &[f32], shift: f32, scale: f32, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(row) {
        *o = exp(v - shift) * scale;
    }
}

/// `sqrt(2)` and `1 / sqrt(2 pi)`.
const SQRT_2: f32 = std::f32::consts::SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// Exact (erf) GELU of `x` into `out`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn gelu(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = 0.5 * v * (1.0 + erf(v / SQRT_2));
    }
}

/// Exact (erf) GELU of `xs` in place (the epilogue of a product still in cache).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn gelu_in_place(xs: &mut [f32]) {
    for v in xs.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v / SQRT_2));
    }
}

/// The GELU's backward: `gx = g·(Φ(x) + x·φ(x))`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn gelu_backward(x: &[f32], g: &[f32], gx: &mut [f32]) {
    for (gx, (&v, &g)) in gx.iter_mut().zip(x.iter().zip(g)) {
        let cdf = 0.5 * (1.0 + erf(v / SQRT_2));
        let pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
        *gx = g * (cdf + v * pdf);
    }
}

/// Mean and reciprocal standard deviation `1 / sqrt(var + eps)` of one row,
/// both sums in 16 lanes. A running `f32` sum is one dependent add per
/// element, which the compiler may not reorder: the layer norm's statistics
/// were ~8% of a `tiny` training step that way (`perf`, AMD Zen 5).
#[inline(always)]
pub fn mean_rstd(row: &[f32], eps: f32) -> (f32, f32) {
    let d = row.len() as f32;
    let mean = sum(row) / d;
    let mut lanes = [0f32; 16];
    let chunks = row.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().map(|&x| (x - mean) * (x - mean)).sum();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += (x - mean) * (x - mean);
        }
    }
    let var = (sum(&lanes) + tail) / d;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Layer norm of one row into `out`: `(x - mean) · rstd · w + b`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn layer_norm_row(row: &[f32], w: &[f32], b: &[f32], eps: f32, out: &mut [f32]) {
    let (mean, rstd) = mean_rstd(row, eps);
    for (o, (&x, (&w, &b))) in out.iter_mut().zip(row.iter().zip(w.iter().zip(b))) {
        *o = (x - mean) * rstd * w + b;
    }
}

/// The layer norm's backward over one row `x` with output gradient `g`: writes
/// `gx` and adds this row's share of the weight and bias gradients into `gw`
/// and `gb`. With `x̂ = (x - mean) · rstd`:
/// `gx = rstd · (g·w - mean(g·w) - x̂ · mean(g·w·x̂))`, `gw += g·x̂`, `gb += g`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn layer_norm_backward_row(x: &[f32], w: &[f32], g: &[f32], eps: f32, gx: &mut [f32], gw: &mut [f32], gb: &mut [f32]) {
    let d = x.len();
    let (mean, rstd) = mean_rstd(x, eps);
    // the two row sums in 16 lanes each, and the weight and bias gradients in the same pass
    let (mut lanes_gw, mut lanes_gw_xhat) = ([0f32; 16], [0f32; 16]);
    let whole = d - d % 16;
    for ((((x, w), g), gw), gb) in x[..whole]
        .chunks_exact(16)
        .zip(w.chunks_exact(16))
        .zip(g.chunks_exact(16))
        .zip(gw.chunks_exact_mut(16))
        .zip(gb.chunks_exact_mut(16))
    {
        for l in 0..16 {
            let xhat = (x[l] - mean) * rstd;
            let gwi = g[l] * w[l];
            lanes_gw[l] += gwi;
            lanes_gw_xhat[l] += gwi * xhat;
            gw[l] += g[l] * xhat;
            gb[l] += g[l];
        }
    }
    let (mut tail_gw, mut tail_gw_xhat) = (0f32, 0f32);
    for i in whole..d {
        let xhat = (x[i] - mean) * rstd;
        let gwi = g[i] * w[i];
        tail_gw += gwi;
        tail_gw_xhat += gwi * xhat;
        gw[i] += g[i] * xhat;
        gb[i] += g[i];
    }
    let mean_gw = (sum(&lanes_gw) + tail_gw) / d as f32;
    let mean_gw_xhat = (sum(&lanes_gw_xhat) + tail_gw_xhat) / d as f32;
    for (gx, ((&x, &w), &g)) in gx.iter_mut().zip(x.iter().zip(w).zip(g)) {
        let xhat = (x - mean) * rstd;
        *gx = rstd * (g * w - mean_gw - xhat * mean_gw_xhat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exp_builds_two_to_the_n_as_the_float_cast_did() {
        // the bit-cast exponent gives the same bits as `((n + 127)·2^23) as u32`
        // for every n the clamp allows, so no output changed with it
        for n in -126..=127 {
            let n = n as f32;
            let cast = ((n + 127.0) * 8_388_608.0) as u32;
            let bits = ((n + 127.0) + ROUNDER).to_bits().wrapping_sub(ROUNDER.to_bits()).wrapping_shl(23);
            assert_eq!(bits, cast, "n = {n}");
        }
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-1000.0), exp(-87.3));
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn exp_matches_libm_over_the_range_softmax_uses() {
        let mut worst = 0f32;
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let (ours, libm) = (exp(x), x.exp());
            worst = worst.max(((ours - libm) / libm).abs());
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert!(exp(-1e9) < 1e-37 && exp(-1e9) >= 0.0, "a masked score weighs nothing");
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn erf_matches_a_double_precision_erf() {
        let worst = (-6000..=6000)
            .map(|i| i as f32 / 1000.0)
            .map(|x| (erf(x) as f64 - candle_core::cpu::erf::erf_f64(x as f64)).abs() as f32)
            .fold(0f32, f32::max);
        assert!(worst < 5e-7, "absolute error {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
    }

    #[test]
    fn the_dispatched_loop_gives_the_scalar_results() {
        let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let mut vector = xs.clone();
        exp_in_place(&mut vector);
        for (v, x) in vector.iter().zip(&xs) {
            let s = exp(*x);
            assert!((v - s).abs() <= 1e-6 * s.abs(), "{v} vs {s}");
        }
    }

    #[test]
    fn log_sum_exp_and_softmax_agree_with_f64() {
        let row: Vec<f32> = (0..100).map(|i| ((i * 37) % 23) as f32 / 3.0 - 4.0).collect();
        let exact = row.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
        assert!((log_sum_exp(&row) as f64 - exact).abs() < 1e-5);
        let mut out = vec![0f32; 100];
        softmax_row(&row, &mut out);
        for (o, &v) in out.iter().zip(&row) {
            assert!((*o as f64 - ((v as f64) - exact).exp()).abs() < 1e-6);
        }
    }

    proptest! {
        #[test]
        fn mean_rstd_matches_f64(xs in proptest::collection::vec(-100f32..100.0, 1..300)) {
            let d = xs.len() as f64;
            let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / d;
            let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / d;
            let (ours_mean, ours_rstd) = mean_rstd(&xs, 1e-5);
            prop_assert!((ours_mean as f64 - mean).abs() < 1e-3);
            let rstd = 1.0 / (var + 1e-5).sqrt();
            prop_assert!((ours_rstd as f64 - rstd).abs() <= 1e-4 * rstd, "{} vs {}", ours_rstd, rstd);
        }

        #[test]
        fn sum_matches_a_sequential_sum(xs in proptest::collection::vec(-100f32..100.0, 0..300)) {
            let exact: f64 = xs.iter().map(|&x| x as f64).sum();
            prop_assert!((sum(&xs) as f64 - exact).abs() < 1e-3);
        }
    }
}

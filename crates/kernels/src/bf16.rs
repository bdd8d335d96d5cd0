//! Linear layers in bfloat16 for inference on CPUs with AVX-512 BF16: the
//! operands rounded to bf16, the products summed in f32 (`vdpbf16ps`).
//!
//! A sampling step (denoiser, decoder, vocabulary head) is ~55% matrix
//! products, which faer runs in f32 at 175-200 GFLOP/s on the 2-core Zen 4
//! (docs/benchmarks.md). `vdpbf16ps` does a pair of bf16 multiply-adds per f32
//! lane, twice an FMA's work per instruction, and candle 0.11's int8 `QMatMul`
//! measured slower than faer's f32 on these shapes (`cargo bench --bench model_step`,
//! AMD Zen 4), so the kernel
//! is our own. It is used only when [`crate::precision`] asks for it (as
//! PyTorch's `set_float32_matmul_precision("medium")` does) and the CPU has the
//! instructions; otherwise the f32 products run.
//!
//! Layout: `y = x·wᵀ + b` with `x: (m, k)`, `w: (n, k)`, both row-major. Each
//! row of `x` becomes `⌈k/2⌉` packed pairs (two bf16 in a `u32`, the product's
//! `k` pairs), interleaved in blocks of 8 rows (pair `q` of the 8 rows side by
//! side); `w` is packed into panels of 16 output columns, pair `q` of a
//! panel being the 16 columns' pair `q` side by side: one 512-bit load. The
//! micro-kernel keeps an 8-row × 32-column block of `y` in 16 registers,
//! starting from the bias, and for every pair broadcasts one `x` pair per row
//! against two panel loads. An odd `k` pads with a zero pair element; rows and
//! columns past the edges are computed into padding and not stored.
//! Every output element is summed by one task in one order: same bytes every run.

pub use crate::blocked::Epilogue;
use crate::blocked::{self, padded_bias, MR, PANEL};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Whether this CPU runs the bf16 kernel (AVX-512 F and BF16, checked once).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `f32 -> bf16` rounded to nearest, ties to even, subnormals flushed to a
/// signed zero, NaN kept a NaN: what `vcvtne2ps2bf16` does, so that the scalar
/// tail of a row rounds as its vector body.
#[inline(always)]
fn to_bf16(x: f32) -> u32 {
    let bits = x.to_bits();
    if x.is_nan() {
        return (bits >> 16) | 0x40;
    }
    if x.is_subnormal() {
        return (bits >> 16) & 0x8000;
    }
    (bits + 0x7fff + ((bits >> 16) & 1)) >> 16
}

/// The bf16 value back as an `f32` (exact).
#[cfg(test)]
fn from_bf16(h: u32) -> f32 {
    f32::from_bits(h << 16)
}

/// Two bf16 in one `u32`: `lo` in the low half, as `vdpbf16ps` pairs them.
#[inline(always)]
fn pair(lo: f32, hi: f32) -> u32 {
    to_bf16(lo) | (to_bf16(hi) << 16)
}

/// A row of `k` values as `⌈k/2⌉` pairs into `dst`: 32 values per instruction
/// where the CPU has AVX-512 BF16, the rest one by one.
fn pack_row(src: &[f32], dst: &mut [u32]) {
    let done = if available() {
        // SAFETY: `available()` checked the instructions.
        unsafe { kernel::pack_row(src, dst) }
    } else {
        0
    };
    let (src, dst) = (&src[2 * done..], &mut dst[done..]);
    let mut pairs = src.chunks_exact(2);
    for (d, p) in dst.iter_mut().zip(&mut pairs) {
        *d = pair(p[0], p[1]);
    }
    if let [last] = pairs.remainder() {
        dst[dst.len() - 1] = pair(*last, 0.0);
    }
}

/// `x: (m, k)` as blocks of [`MR`] rows (zero rows pad the last), pair-major
/// inside a block: pair `q` of the block's rows side by side, the `MR` values
/// the micro-kernel broadcasts for one step, in one cache line.
fn pack_rows(x: &[f32], m: usize, k: usize) -> Vec<u32> {
    let kp = k.div_ceil(2);
    let mut packed = vec![0u32; m.div_ceil(MR) * MR * kp];
    packed.par_chunks_mut(kp * MR).zip(x.par_chunks(k * MR)).for_each_init(
        || vec![0u32; kp],
        |row, (dst, src)| {
            for (r, s) in src.chunks(k).enumerate() {
                pack_row(s, row);
                for (q, &v) in row.iter().enumerate() {
                    dst[q * MR + r] = v;
                }
            }
        },
    );
    packed
}

/// `w: (n, k)` as panels of [`PANEL`] columns, pair-major inside a panel, the
/// columns past `n` zero. The panel count is rounded up to an even number so
/// that the micro-kernel always reads two.
fn pack_panels(w: &[f32], n: usize, k: usize) -> Vec<u32> {
    let kp = k.div_ceil(2);
    let panels = n.div_ceil(2 * PANEL) * 2;
    let mut packed = vec![0u32; panels * kp * PANEL];
    packed.par_chunks_mut(kp * PANEL).enumerate().for_each(|(p, panel)| {
        let mut row = vec![0u32; kp];
        for c in 0..PANEL {
            let j = p * PANEL + c;
            if j >= n {
                break;
            }
            pack_row(&w[j * k..(j + 1) * k], &mut row);
            for (q, &v) in row.iter().enumerate() {
                panel[q * PANEL + c] = v;
            }
        }
    });
    packed
}

/// `out = x·wᵀ + bias` in bf16 products with f32 sums, for row-major
/// `x: (m, k)`, `w: (n, k)`, `bias: (n)` and `out: (m, n)`. Returns `false`
/// (and leaves `out` alone) when the CPU lacks AVX-512 BF16.
pub fn linear(x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32], m: usize, n: usize, k: usize) -> bool {
    // SAFETY: initialised f32s are valid `MaybeUninit<f32>`s, and `run` writes only f32s
    let out = unsafe { &mut *(out as *mut [f32] as *mut [MaybeUninit<f32>]) };
    run(x, w, bias, out, m, n, k, Epilogue::None)
}

/// [`linear`] into a new buffer, never zero-filled (the kernel writes every
/// element), then `epilogue`; `None` when the CPU lacks AVX-512 BF16.
pub fn linear_new(x: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize, epilogue: Epilogue) -> Option<Vec<f32>> {
    let mut out = Vec::with_capacity(m * n);
    if !run(x, w, bias, &mut out.spare_capacity_mut()[..m * n], m, n, k, epilogue) {
        return None;
    }
    // SAFETY: `run` wrote all `m·n` elements (every row, every column)
    unsafe { out.set_len(m * n) };
    Some(out)
}

/// The product into `out`, every element written; `false` without the instructions.
#[allow(clippy::too_many_arguments)]
fn run(x: &[f32], w: &[f32], bias: &[f32], out: &mut [MaybeUninit<f32>], m: usize, n: usize, k: usize, epilogue: Epilogue) -> bool {
    assert!(x.len() == m * k && w.len() == n * k && bias.len() == n && out.len() == m * n, "bf16 linear: shapes do not fit");
    if !available() {
        return false;
    }
    if m * n == 0 {
        return true;
    }
    if k == 0 {
        for row in out.chunks_mut(n) {
            for (o, &b) in row.iter_mut().zip(bias) {
                o.write(b);
            }
            if epilogue == Epilogue::Gelu {
                // SAFETY: every element of the row was just written
                crate::vmath::gelu_in_place(unsafe { &mut *(row as *mut [MaybeUninit<f32>] as *mut [f32]) });
            }
        }
        return true;
    }
    let kp = k.div_ceil(2);
    let (a, b) = rayon::join(|| pack_rows(x, m, k), || pack_panels(w, n, k));
    let bias = padded_bias(bias, n);
    blocked::fill(out, m, n, 4 * kp, block_fn(&a, &b, &bias, kp), epilogue);
    true
}

/// The micro-kernel over packed rows `a` and panels `b` as a [`blocked::Block`].
fn block_fn<'a>(a: &'a [u32], b: &'a [u32], bias: &'a [f32], kp: usize) -> impl blocked::Block + 'a {
    move |row, pp, out, stride, col, valid_rows, valid_cols| {
        let panels = &b[pp * 2 * kp * PANEL..(pp + 1) * 2 * kp * PANEL];
        let a = &a[row * kp..(row + MR) * kp];
        // SAFETY: `available()` was checked by the caller; the slices hold MR rows of
        // kp pairs and two panels of kp·16 pairs; `blocked` hands out `out` pointers
        // to `valid_rows` rows of `stride` with `valid_cols` columns from `col`.
        unsafe { kernel::block(a, panels, &bias[pp * 2 * PANEL..(pp + 1) * 2 * PANEL], kp, out, stride, col, valid_rows, valid_cols) }
    }
}

/// The index of each row's largest value of `x·wᵀ + bias` (bf16 products, f32
/// sums), without writing the `(m, n)` product: the decode of a sampling step
/// needs only the argmax over the vocabulary ([`blocked::argmax`]). `None`
/// when the CPU lacks AVX-512 BF16.
pub fn linear_argmax(x: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Option<Vec<u32>> {
    assert!(x.len() == m * k && w.len() == n * k && bias.len() == n && n > 0, "bf16 linear: shapes do not fit");
    if !available() {
        return None;
    }
    let kp = k.div_ceil(2).max(1);
    // k = 0 packs one zero pair: the products are 0 and the bias decides
    let (a, b) = rayon::join(|| pack_rows_padded(x, m, k, kp), || pack_panels_padded(w, n, k, kp));
    let bias = padded_bias(bias, n);
    Some(blocked::argmax(m, n, 4 * kp, block_fn(&a, &b, &bias, kp)))
}

/// [`pack_rows`] with `kp` pairs per row (at least one, zero when `k` is 0).
fn pack_rows_padded(x: &[f32], m: usize, k: usize, kp: usize) -> Vec<u32> {
    if k == 0 {
        return vec![0u32; m.div_ceil(MR) * MR * kp];
    }
    pack_rows(x, m, k)
}

/// [`pack_panels`] with `kp` pairs per column (at least one, zero when `k` is 0).
fn pack_panels_padded(w: &[f32], n: usize, k: usize, kp: usize) -> Vec<u32> {
    if k == 0 {
        return vec![0u32; n.div_ceil(2 * PANEL) * 2 * kp * PANEL];
    }
    pack_panels(w, n, k)
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::{MR, PANEL};
    use crate::blocked::lanes;
    use std::arch::x86_64::*;

    /// One `MR × 32` block: `out[r][col + c] = bias[c] + Σ_q a[q][r] · panels[q][c]`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BF16; `a` holds `kp·MR` pairs (a packed block), `panels`
    /// `2·kp·16`, `bias` 32 values; `out` points at `valid_rows` writable rows of
    /// `stride` elements, of which columns `col .. col + valid_cols` are written.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block(
        a: &[u32],
        panels: &[u32],
        bias: &[f32],
        kp: usize,
        out: *mut f32,
        stride: usize,
        col: usize,
        valid_rows: usize,
        valid_cols: usize,
    ) {
        debug_assert!(a.len() >= MR * kp && panels.len() >= 2 * kp * PANEL && bias.len() >= 2 * PANEL);
        const { assert!(MR == 8, "the step below is unrolled for 8 rows") };
        let (lo, hi) = (_mm512_loadu_ps(bias.as_ptr()), _mm512_loadu_ps(bias.as_ptr().add(PANEL)));
        let mut acc = [[lo, hi]; MR];
        // pointers stepped through the packed operands: no index arithmetic (or
        // its overflow checks, on in the dev profile) inside the loop
        let (mut p0, mut p1) = (panels.as_ptr(), panels.as_ptr().add(kp * PANEL));
        let mut a = a.as_ptr();
        for _ in 0..kp {
            let b0 = std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p0 as *const _));
            let b1 = std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p1 as *const _));
            macro_rules! row {
                ($r:literal) => {{
                    let x = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*a.add($r) as i32));
                    acc[$r][0] = _mm512_dpbf16_ps(acc[$r][0], x, b0);
                    acc[$r][1] = _mm512_dpbf16_ps(acc[$r][1], x, b1);
                }};
            }
            row!(0);
            row!(1);
            row!(2);
            row!(3);
            row!(4);
            row!(5);
            row!(6);
            row!(7);
            a = a.add(MR);
            p0 = p0.add(PANEL);
            p1 = p1.add(PANEL);
        }
        let (mask0, mask1) = (lanes(valid_cols), lanes(valid_cols.saturating_sub(PANEL)));
        for (r, acc) in acc.iter().enumerate().take(valid_rows) {
            let dst = out.add(r * stride + col);
            _mm512_mask_storeu_ps(dst, mask0, acc[0]);
            _mm512_mask_storeu_ps(dst.add(PANEL), mask1, acc[1]);
        }
    }

    /// Packs the leading multiple of 32 values of `src` into pairs in `dst`;
    /// returns how many pairs it wrote.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BF16; `dst` holds at least `src.len() / 2` pairs.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn pack_row(src: &[f32], dst: &mut [u32]) -> usize {
        let chunks = src.len() / (2 * PANEL);
        assert!(dst.len() >= chunks * PANEL, "bf16 pack: destination too short");
        for c in 0..chunks {
            let lo = _mm512_loadu_ps(src.as_ptr().add(c * 2 * PANEL));
            let hi = _mm512_loadu_ps(src.as_ptr().add(c * 2 * PANEL + PANEL));
            // bf16 element e is src[e]: pair q is (src[2q], src[2q+1]), low half first
            let packed = _mm512_cvtne2ps_pbh(hi, lo);
            _mm512_storeu_si512(dst.as_mut_ptr().add(c * PANEL) as *mut _, std::mem::transmute::<__m512bh, __m512i>(packed));
        }
        chunks * PANEL
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernel {
    /// Never called: [`super::available`] is false off x86-64.
    pub(super) unsafe fn pack_row(_: &[f32], _: &mut [u32]) -> usize {
        unreachable!("the bf16 kernel runs on x86-64 only")
    }

    /// Never called: [`super::available`] is false off x86-64.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block(_: &[u32], _: &[u32], _: &[f32], _: usize, _: *mut f32, _: usize, _: usize, _: usize, _: usize) {
        unreachable!("the bf16 kernel runs on x86-64 only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocked::testing::{argmax_and_gelu_agree_with_the_plain_product, random};
    use rand::SeedableRng;

    /// `x·wᵀ + b` in f64 from the bf16-rounded operands: what the kernel must
    /// give up to the f32 rounding of its sums.
    fn reference(x: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let round = |v: f32| from_bf16(to_bf16(v)) as f64;
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|l| round(x[i * k + l]) * round(w[j * k + l])).sum();
                out[i * n + j] = (dot + bias[j] as f64) as f32;
            }
        }
        out
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties go to even (1.0)
        assert_eq!(from_bf16(to_bf16(1.0 + 2f32.powi(-8))), 1.0);
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 * 2f32.powi(-8))), 1.015625);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
    }

    #[test]
    fn packed_rows_round_every_value_as_the_scalar_conversion() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        // 32-value vector chunks, a scalar tail, an odd last value; ties,
        // subnormals, infinities and NaN among random values
        let mut src = random(&mut rng, 71);
        src[..6].copy_from_slice(&[1.0 + 2f32.powi(-8), -(1.0 + 3.0 * 2f32.powi(-8)), 1e-40, -1e-40, f32::INFINITY, f32::NAN]);
        src[40] = 1.0 + 2f32.powi(-8);
        let mut dst = vec![0u32; 36];
        pack_row(&src, &mut dst);
        for (i, &x) in src.iter().enumerate() {
            let got = (dst[i / 2] >> (16 * (i % 2))) & 0xffff;
            let want = to_bf16(x);
            if x.is_nan() {
                assert!(from_bf16(got).is_nan(), "value {i}");
            } else {
                assert_eq!(got, want, "value {i}: {x}");
            }
        }
        assert_eq!(dst[35] >> 16, 0, "the odd row's last pair is padded with zero");
    }

    #[test]
    fn linear_matches_the_rounded_reference_on_ragged_shapes() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 BF16 (the f32 path runs instead)");
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // edges in every direction: rows not a multiple of 8 or of a task,
        // columns not a multiple of 32, odd and tiny k
        for (m, n, k) in [(3, 5, 0), (1, 1, 1), (7, 33, 5), (70, 50, 17), (130, 96, 64), (9, 17, 384)] {
            let (x, w, bias) = (random(&mut rng, m * k), random(&mut rng, n * k), random(&mut rng, n));
            let mut out = vec![f32::NAN; m * n];
            assert!(linear(&x, &w, &bias, &mut out, m, n, k));
            let want = reference(&x, &w, &bias, m, n, k);
            for (i, (got, want)) in out.iter().zip(&want).enumerate() {
                assert!((got - want).abs() <= 1e-5 * (k as f32).sqrt().max(1.0), "({m}, {n}, {k}) element {i}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn linear_argmax_and_the_gelu_epilogue_agree_with_the_plain_product() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        argmax_and_gelu_agree_with_the_plain_product(linear_new, linear_argmax);
    }

    #[test]
    fn linear_is_the_same_bytes_every_run() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let (m, n, k) = (300, 200, 96);
        let (x, w, bias) = (random(&mut rng, m * k), random(&mut rng, n * k), random(&mut rng, n));
        let run = || {
            let mut out = vec![0f32; m * n];
            linear(&x, &w, &bias, &mut out, m, n, k);
            out
        };
        let first = run();
        for _ in 0..3 {
            assert_eq!(run(), first);
        }
    }
}

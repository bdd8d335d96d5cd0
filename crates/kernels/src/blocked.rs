//! The loops shared by the reduced-precision linear kernels ([`crate::bf16`],
//! [`crate::int8`]): which rayon task computes which rows, and in which order a
//! task walks its `MR × 32` output blocks, so that both kernels stream their
//! packed operands through the caches the same way.
//!
//! A task owns a run of whole rows and, for every pair of 16-column panels of
//! the packed weight, passes its rows' packed blocks under the pair (the pair
//! stays in L1, the task's rows in L2). A task's rows are sized from the
//! packed row bytes (and, for [`fill`], the output row bytes) so that they fit
//! in L2 (~256 KiB of them), and there are at most about two tasks per thread:
//! with few tasks the vocabulary head's argmax (4,096 × 256) streams its weight
//! from L3 4 times per product instead of 32 (64-row tasks). With the argmax's
//! skip of rows that cannot win, the tiny head went from 650 to 840 GFLOP/s at
//! bf16 on a Zen 5 EPYC; the two effects were not measured apart.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Rows of one micro-kernel block.
pub(super) const MR: usize = 8;
/// Output columns of one packed panel (one 512-bit register of f32).
pub(super) const PANEL: usize = 16;
/// Bytes of packed rows a task keeps in L2 while the weight passes.
const TASK_ROW_BYTES: usize = 256 * 1024;

/// Rows per task for `m` rows of `row_bytes` bytes each (packed input and
/// written output): a multiple of [`MR`], at most what fits [`TASK_ROW_BYTES`]
/// but at least `floor` rows (or one block), and small enough that each thread
/// gets two tasks.
fn rows_per_task(m: usize, row_bytes: usize, floor: usize) -> usize {
    let fits = (TASK_ROW_BYTES / row_bytes.max(1)) / MR * MR;
    let balanced = m.div_ceil(2 * rayon::current_num_threads()).div_ceil(MR) * MR;
    fits.max(floor).min(balanced).max(MR)
}

/// The fewest rows a [`fill`] task takes whatever its output's width: fewer,
/// and a wide weight would stream from L3 once per few rows.
const FILL_FLOOR: usize = 8 * MR;

/// The epilogue applied to each task's output rows while they are still in cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// The product plus the bias.
    None,
    /// The exact GELU of it (a feed-forward layer's first half), without a
    /// second pass over the `(m, n)` output.
    Gelu,
}

/// The bias padded with zeros to the packed panels' width (whole panel pairs).
pub(super) fn padded_bias(bias: &[f32], n: usize) -> Vec<f32> {
    let mut padded = bias.to_vec();
    padded.resize(n.div_ceil(2 * PANEL) * 2 * PANEL, 0.0);
    padded
}

/// A micro-kernel call: `(first row of the block, panel pair, out, stride, col,
/// valid rows, valid cols)` writes the block's `valid rows × valid cols`
/// values at `out[r · stride + col + c]`.
pub(super) trait Block: Fn(usize, usize, *mut f32, usize, usize, usize, usize) + Sync {}
impl<F: Fn(usize, usize, *mut f32, usize, usize, usize, usize) + Sync> Block for F {}

/// Fills `out: (m, n)`, every element, block by block; `epilogue` runs on each
/// task's rows once they are written (while still in this core's cache).
pub(super) fn fill(out: &mut [MaybeUninit<f32>], m: usize, n: usize, row_bytes: usize, block: impl Block, epilogue: Epilogue) {
    debug_assert_eq!(out.len(), m * n);
    if m * n == 0 {
        return;
    }
    // a task's output rows stay in cache until the epilogue too
    let rows_per_task = rows_per_task(m, row_bytes + 4 * n, FILL_FLOOR);
    let pairs = n.div_ceil(2 * PANEL);
    out.par_chunks_mut(rows_per_task * n).enumerate().for_each(|(task, out)| {
        let row0 = task * rows_per_task;
        let rows = out.len() / n;
        for pp in 0..pairs {
            let col = pp * 2 * PANEL;
            let valid_cols = (n - col).min(2 * PANEL);
            for b in (0..rows).step_by(MR) {
                block(row0 + b, pp, out[b * n..].as_mut_ptr().cast(), n, col, (rows - b).min(MR), valid_cols);
            }
        }
        if epilogue == Epilogue::Gelu {
            // SAFETY: the loops above wrote every element of the task's rows
            crate::vmath::gelu_in_place(unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) });
        }
    });
}

/// The index of each row's largest value, the `(m, n)` product never written:
/// each block goes to a buffer on the stack and is folded into its rows'
/// running maxima, columns in order, by [`crate::fused::row_argmax`]'s
/// comparison (the first of equal maxima). A block row whose maximum does not
/// beat the running one is skipped after one vector reduction (it could not
/// change the fold): past the first panels almost every row is.
///
/// Only for CPUs with AVX-512 F (the kernels that call it need more).
pub(super) fn argmax(m: usize, n: usize, row_bytes: usize, block: impl Block) -> Vec<u32> {
    let mut ids = vec![0u32; m];
    if m == 0 || n == 0 {
        return ids;
    }
    let rows_per_task = rows_per_task(m, row_bytes, MR);
    let pairs = n.div_ceil(2 * PANEL);
    ids.par_chunks_mut(rows_per_task).enumerate().for_each(|(task, ids)| {
        let row0 = task * rows_per_task;
        let mut best = vec![f32::NAN; ids.len()];
        let mut block_out = [0f32; MR * 2 * PANEL];
        for pp in 0..pairs {
            let col = pp * 2 * PANEL;
            let valid_cols = (n - col).min(2 * PANEL);
            for b in (0..ids.len()).step_by(MR) {
                let valid_rows = (ids.len() - b).min(MR);
                block(row0 + b, pp, block_out.as_mut_ptr(), 2 * PANEL, 0, valid_rows, valid_cols);
                for r in 0..valid_rows {
                    let row = &block_out[r * 2 * PANEL..r * 2 * PANEL + valid_cols];
                    let (i, best) = (b + r, &mut best[b + r]);
                    // SAFETY: the callers' kernels run only where AVX-512 F is
                    if col > 0 && valid_cols == 2 * PANEL && unsafe { max_of_32(row) } <= *best {
                        continue;
                    }
                    for (c, &v) in row.iter().enumerate() {
                        // the row's first column starts the fold, as `row_argmax` does
                        if (col == 0 && c == 0) || *best < v {
                            (*best, ids[i]) = (v, (col + c) as u32);
                        }
                    }
                }
            }
        }
    });
    ids
}

/// The largest of 32 values.
///
/// # Safety
/// The CPU has AVX-512 F; `row` holds 32 values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_of_32(row: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    debug_assert!(row.len() >= 2 * PANEL);
    let v = _mm512_max_ps(_mm512_loadu_ps(row.as_ptr()), _mm512_loadu_ps(row.as_ptr().add(PANEL)));
    _mm512_reduce_max_ps(v)
}

/// The store mask of a block's first `n` (at most 16) columns of a panel.
#[cfg(target_arch = "x86_64")]
pub(super) fn lanes(n: usize) -> std::arch::x86_64::__mmask16 {
    if n >= PANEL {
        0xffff
    } else {
        ((1u32 << n) - 1) as u16
    }
}

/// Off x86-64 no kernel calls [`argmax`]; the fold stays exact without the shortcut.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn max_of_32(_: &[f32]) -> f32 {
    f32::INFINITY
}

/// Test helpers shared by the bf16 and int8 kernels, whose `linear_new` and
/// `linear_argmax` have the same signatures.
#[cfg(test)]
pub(crate) mod testing {
    use super::Epilogue;
    use rand::{Rng, SeedableRng};

    /// `len` values uniform in `[-1, 1)`.
    pub(crate) fn random(rng: &mut rand::rngs::StdRng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// A kernel's product into a new buffer (`None` without its instructions).
    pub(crate) type LinearNew = fn(&[f32], &[f32], &[f32], usize, usize, usize, Epilogue) -> Option<Vec<f32>>;
    /// A kernel's argmax of each row of the product.
    pub(crate) type LinearArgmax = fn(&[f32], &[f32], &[f32], usize, usize, usize) -> Option<Vec<u32>>;

    /// The argmax kernel picks each row's argmax of the kernel's own plain
    /// product, and the GELU epilogue gives the GELU of that product, on ragged
    /// shapes and `k = 0` (where the bias alone decides).
    pub(crate) fn argmax_and_gelu_agree_with_the_plain_product(linear_new: LinearNew, linear_argmax: LinearArgmax) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for (m, n, k) in [(3, 5, 0), (70, 33, 17), (130, 100, 64), (5, 1, 8)] {
            let (x, w, mut bias) = (random(&mut rng, m * k), random(&mut rng, n * k), random(&mut rng, n));
            if k == 0 {
                bias[3] = 2.0; // the bias alone decides
            }
            let plain = linear_new(&x, &w, &bias, m, n, k, Epilogue::None).unwrap();
            let ids = linear_argmax(&x, &w, &bias, m, n, k).unwrap();
            let want: Vec<u32> = plain.chunks(n).map(|row| crate::fused::row_argmax(row) as u32).collect();
            assert_eq!(ids, want, "({m}, {n}, {k})");
            let mut gelu = plain.clone();
            crate::vmath::gelu_in_place(&mut gelu);
            assert_eq!(linear_new(&x, &w, &bias, m, n, k, Epilogue::Gelu).unwrap(), gelu, "({m}, {n}, {k})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_whole_blocks_that_fit_and_balance() {
        let threads = rayon::current_num_threads();
        for (m, row_bytes, floor) in
            [(2048, 512, MR), (2048, 2048, MR), (7, 512, MR), (100_000, 64, MR), (1, 0, MR), (2048, 16896, FILL_FLOOR)]
        {
            let rows = rows_per_task(m, row_bytes, floor);
            assert!(rows % MR == 0 && rows >= MR.max(floor.min(m)), "({m}, {row_bytes}): {rows}");
            assert!(rows <= floor || rows * row_bytes <= TASK_ROW_BYTES, "({m}, {row_bytes}): {rows} rows overflow L2");
            assert!(rows == MR || m.div_ceil(rows) >= 2 * threads - 1, "({m}, {row_bytes}): {rows} rows leave threads idle");
        }
    }
}

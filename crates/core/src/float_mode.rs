//! The floating-point mode of the processes that train and sample.
//!
//! Fine-tuning with attention over padded sources and zero-initialised
//! projections produces subnormal activations and gradients. On Intel cores
//! each subnormal operand or result costs a microcode assist inside the matmul
//! kernels: an NL-to-code fine-tuning step ran at 20-50 tokens/s on a 2-core
//! Intel Xeon, ~900 with subnormals flushed (AMD cores pay far less). Values
//! below 1.2e-38 carry nothing a model needs.

/// Treats subnormal floats as zero in this thread (x86 MXCSR flush-to-zero and
/// denormals-are-zero). Threads inherit the mode from the thread that creates
/// them, so `main` calls it before any pool starts; elsewhere it does nothing.
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: setting MXCSR's FTZ (bit 15) and DAZ (bit 6) changes only how
    // this thread rounds subnormal operands and results; no memory is touched.
    #[allow(deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use std::hint::black_box;

    /// A quarter of the smallest normal f32, computed in a new thread: the
    /// compiler assumes the default mode and may move arithmetic across a mode
    /// change in the same function, never across a thread start.
    fn quarter_of_min_normal_in_a_new_thread() -> f32 {
        std::thread::spawn(|| black_box(f32::MIN_POSITIVE) / black_box(4.0f32)).join().unwrap()
    }

    #[test]
    fn threads_started_after_it_flush_subnormals_to_zero() {
        // in a thread of its own, which first clears both bits: the test
        // process may start with them set, and the harness's threads keep theirs
        let (before, after) = std::thread::spawn(|| {
            #[allow(deprecated)]
            // SAFETY: as in `flush_subnormals`, only this thread's rounding mode changes
            unsafe {
                use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
                _mm_setcsr(_mm_getcsr() & !0x8040);
            }
            let before = quarter_of_min_normal_in_a_new_thread();
            super::flush_subnormals();
            (before, quarter_of_min_normal_in_a_new_thread())
        })
        .join()
        .unwrap();
        // compared as bits: this thread's own mode may read a subnormal as zero
        assert!(before.is_subnormal(), "with both bits clear, subnormals are kept");
        assert_eq!(after.to_bits(), 0, "a thread started afterwards flushes them to zero");
    }
}

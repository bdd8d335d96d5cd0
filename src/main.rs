//! The `lastmile` binary: parse the command line, run, print the cause chain
//! of any failure and exit non-zero.

use clap::Parser;
use std::process::ExitCode;

mod cli;

/// mimalloc instead of the system allocator: a training step allocates and frees
/// hundreds of multi-megabyte tensors, and glibc returns each one to the kernel
/// (`munmap`) only to fault fresh zeroed pages in on the next; `tiny` trains ~25%
/// faster with mimalloc keeping them (`cargo bench --bench model_step`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Treats subnormal floats as zero (x86 MXCSR flush-to-zero and
/// denormals-are-zero) before any thread starts, so every worker inherits it.
/// Fine-tuning with attention over padded sources and zero-initialised
/// projections produces subnormal activations and gradients; on Intel cores each
/// one costs a microcode assist in the matmul kernels, and an NL-to-code step ran
/// 50-100x slower than on AMD. Values below 1.2e-38 carry nothing a model needs.
fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: setting MXCSR's FTZ (bit 15) and DAZ (bit 6) changes only how
    // this thread rounds subnormal results; no memory is touched.
    #[allow(deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

fn main() -> ExitCode {
    lastmile::alloc::tune_for_tensors();
    flush_subnormals();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

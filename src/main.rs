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

fn main() -> ExitCode {
    lastmile::alloc::tune_for_tensors();
    // before any thread starts, so that every worker inherits it
    lastmile::float_mode::flush_subnormals();
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

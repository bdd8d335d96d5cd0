//! lastmile: a code diffusion model (CodeFusion) as a factory for last-mile
//! repair data, and as a repairer.
//!
//! The library of the `lastmile` command (`crates/core`, package
//! `lastmile-core`), laid out by pipeline stage; only the binary prints. Data
//! flows one way and each arrow is a file format on disk (see
//! `docs/architecture.md`):
//!
//! ```text
//! corpora/ --mine--> corpus Parquet --tokenizer--> tokenizer.json --pretrain--> checkpoint/
//! checkpoint/ --rollout--> dataset Parquet --stats--> stats.json, plots
//! checkpoint/ + broken code --repair--> candidates --eval--> results
//! ```

pub mod alloc;
mod caught_panic;
pub mod checkpoint;
pub mod dataset;
pub mod diffusion;
pub mod dist;
pub mod eval;
pub mod fixer;
pub mod float_mode;
pub mod generate;
pub mod io_error;
pub mod machine;
pub mod mine;
pub mod model;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod repair;
pub mod rollout;
mod serde_skip;
pub mod stats;
pub mod tokenizer;
pub mod train;

/// A path inside the repository, found when the tests run (`cargo test` sets
/// `CARGO_MANIFEST_DIR`): a test binary built from a checkout elsewhere that
/// shares the target directory reads this checkout's files, where `env!` would
/// keep the first checkout's path.
#[cfg(test)]
pub(crate) fn repo_file(relative: &str) -> std::path::PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR");
    std::path::Path::new(&crate_dir).join("../..").join(relative)
}

#[cfg(test)]
mod test_models;

/// The CPU kernels (crate `lastmile-kernels`, `crates/kernels/`).
pub use lastmile_kernels as kernels;
/// The languages (crate `lastmile-lang`, `crates/lang/`).
pub use lastmile_lang as lang;

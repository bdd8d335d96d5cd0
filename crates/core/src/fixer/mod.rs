//! The seq2seq fixer of the data-quality comparison, in one place: the
//! model (a transformer encoder-decoder built from `model/`'s layers, with a
//! copy head), its config, label-smoothed loss and beam search; its one
//! training recipe over pair datasets, resumable, from scratch or from a fixer
//! pretrained by text infilling on a mined corpus; loading a trained fixer and
//! decoding a benchmark with it. What the fixers' scores mean (ranked
//! candidates, the data-quality report) is `eval/`'s.
//!
//! Imports `model/`, `kernels`, `train/` (the optimiser and metrics file),
//! `checkpoint/` (file names), `eval/` (scoring), `dataset/`, `tokenizer/`,
//! `lang`; nothing but the CLI imports it.

mod beam;
mod checkpoint;
mod config;
pub mod denoise;
mod eval;
mod model;
mod train;

pub use beam::{beam_search, Hypothesis};
pub use checkpoint::{load_fixer, LoadedFixer};
pub use config::FixerConfig;
pub use eval::{fixer_generate, run_fixer_eval, FixerEvalError};
pub use model::{causal_mask, fixer_loss, padded_batch, padding_mask, smoothed_cross_entropy, Fixer, START};
pub use train::{train_fixer, FixerData, FixerRecipe, FixerRunOptions, FixerSummary, PairSource};

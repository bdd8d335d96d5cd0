//! Diffusion: the noise schedule, forward noising and the one reverse-process
//! entry point, [`Sampler::run`] from a [`Start`] (pure noise, noised tokens,
//! or noised windows of tokens); windows of partial noising and their splice
//! back into the clean row; the read-outs (restricted to a token family, or
//! constrained by a checker's verdict); length-bucketed token batches.
//!
//! Imports `model/` and `tokenizer/` (the special ids); no language: a
//! constrained read-out takes the checker as a closure.

mod batch;
pub mod constrained;
mod noise;
mod readout;
mod sampler;
mod schedule;
mod window;

pub use batch::{bucketed_batch, source_batch, token_batch};
pub use noise::{q_sample, randn};
pub use readout::RestrictedReadout;
pub use sampler::{input_likelihood, ChainStep, Sampled, Sampler, SamplerConfig, Start, Update};
pub use schedule::NoiseSchedule;
pub use window::{EosInWindow, Window};

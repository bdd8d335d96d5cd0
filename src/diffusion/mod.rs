//! Diffusion: the noise schedule, forward noising and the samplers (full,
//! respaced, clamped; the paper's re-noising update or the DDPM posterior).

mod noise;
mod sampler;
mod schedule;

pub use noise::{q_sample, randn};
pub use sampler::{
    from_tokens, from_tokens_partial, from_tokens_partial_scored, generate, generate_scored, input_likelihood, reverse, window_keep,
    Anchor, ChainStep, RestrictedReadout, SamplerConfig, Update,
};
pub use schedule::NoiseSchedule;

//! The training loss of the spec:
//! `L = mse(x0_hat, x0) + mse(D(x0_hat), x0) + ce(H(D(x0_hat)), c)`, means over
//! all `b * n` positions (pads included), gradients into E through `x0`.

use crate::diffusion::{q_sample, NoiseSchedule};
use crate::model::{CodeFusion, Context};
use candle_core::{Result, Tensor};

/// The loss and its three terms.
pub struct LossTerms {
    /// The differentiable total.
    pub total: Tensor,
    /// `mse(x0_hat, x0)`.
    pub mse_x0: f32,
    /// `mse(D(x0_hat), x0)`.
    pub mse_decoded: f32,
    /// Token cross-entropy of `H(D(x0_hat))`.
    pub ce: f32,
}

pub use crate::kernels::ops::cross_entropy;

/// Computes the loss for `tokens: (b, n)` at timesteps `t` with noise `eps: (b, n, d)`.
/// With `keep_clean: (b, n, 1)` (1 = keep the clean embedding, the CPD
/// objective), only the other positions are noised. `context` is the encoded
/// utterance of a conditioned model. `mse_weight` scales both mse terms (1 in
/// the spec); the reported terms are unweighted.
#[allow(clippy::too_many_arguments)]
pub fn diffusion_loss(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    tokens: &Tensor,
    t: &[u32],
    eps: &Tensor,
    keep_clean: Option<&Tensor>,
    context: Option<&Context>,
    mse_weight: f64,
    train: bool,
) -> Result<LossTerms> {
    let x0 = model.embed(tokens)?; // (b, n, d)
    let x_t = q_sample(schedule, &x0, t, eps)?;
    let x_t = match keep_clean {
        Some(mask) => (x0.broadcast_mul(mask)? + x_t.broadcast_mul(&(1.0 - mask)?)?)?,
        None => x_t,
    };
    let x0_hat = model.denoise(&x_t, t, context, train)?;
    let decoded = model.decode(&x0_hat, context, train)?;
    let logits = model.logits(&decoded)?; // (b, n, V)
    let (b, n, v) = logits.dims3()?;
    let mse_x0 = (&x0_hat - &x0)?.sqr()?.mean_all()?;
    let mse_decoded = (&decoded - &x0)?.sqr()?.mean_all()?;
    let flat_logits = logits.reshape((b * n, v))?;
    let flat_targets = tokens.flatten_all()?;
    let ce = cross_entropy(&flat_logits, &flat_targets)?;
    Ok(LossTerms {
        mse_x0: mse_x0.to_scalar()?,
        mse_decoded: mse_decoded.to_scalar()?,
        ce: ce.to_scalar()?,
        total: if mse_weight == 1.0 { ((mse_x0 + mse_decoded)? + ce)? } else { (((mse_x0 + mse_decoded)? * mse_weight)? + ce)? },
    })
}

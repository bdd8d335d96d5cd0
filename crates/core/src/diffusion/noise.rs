//! Seeded Gaussian noise. Noise comes from our own ChaCha generator (candle's
//! CPU `randn` cannot be seeded), so runs are reproducible and resumable.

use candle_core::{Device, Result, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A tensor of standard normal samples drawn from `rng`.
pub fn randn(rng: &mut ChaCha8Rng, shape: &[usize], device: &Device) -> Result<Tensor> {
    let count: usize = shape.iter().product();
    let data: Vec<f32> = (0..count).map(|_| rng.sample(StandardNormal)).collect();
    Tensor::from_vec(data, shape, device)
}

/// `x_t = sqrt(abar[t]) * x0 + sqrt(1 - abar[t]) * eps`, one `t` per example.
pub fn q_sample(schedule: &super::NoiseSchedule, x0: &Tensor, t: &[u32], eps: &Tensor) -> Result<Tensor> {
    let b = t.len();
    let signal: Vec<f32> = t.iter().map(|&t| schedule.alpha_bar(t as usize).sqrt() as f32).collect();
    let noise: Vec<f32> = t.iter().map(|&t| (1.0 - schedule.alpha_bar(t as usize)).sqrt() as f32).collect();
    let signal = Tensor::from_vec(signal, (b, 1, 1), x0.device())?;
    let noise = Tensor::from_vec(noise, (b, 1, 1), x0.device())?;
    x0.broadcast_mul(&signal)? + eps.broadcast_mul(&noise)?
}

//! Timestep embedding: sinusoidal features of `t * 1000 / T` (`[cos, sin]`, max
//! period 10000), then `Linear(128, 4d) -> SiLU -> Linear(4d, d)`.

use super::layers::{linear, Linear};
use super::ModelConfig;
use candle_core::{Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

/// Sinusoidal features `(b, dim)` of timesteps `t` (indices `0..T-1`).
pub fn timestep_features(t: &[u32], steps: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let mut data = Vec::with_capacity(t.len() * dim);
    for &step in t {
        let scaled = step as f64 * 1000.0 / steps as f64;
        let args: Vec<f64> = (0..half).map(|i| scaled * (-(10000f64.ln()) * i as f64 / half as f64).exp()).collect();
        data.extend(args.iter().map(|a| a.cos() as f32));
        data.extend(args.iter().map(|a| a.sin() as f32));
    }
    Tensor::from_vec(data, (t.len(), dim), device)
}

/// The learned part of the time embedding.
#[derive(Debug, Clone)]
pub struct TimeEmbedding {
    fc1: Linear,
    fc2: Linear,
    steps: usize,
    features: usize,
}

impl TimeEmbedding {
    /// `Linear(features, 4d) -> SiLU -> Linear(4d, d)`.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        Ok(TimeEmbedding {
            fc1: linear(cfg.time_features, 4 * cfg.d_model, vb.pp("fc1"))?,
            fc2: linear(4 * cfg.d_model, cfg.d_model, vb.pp("fc2"))?,
            steps: cfg.diffusion_steps,
            features: cfg.time_features,
        })
    }

    /// `(b, d)` embeddings of timesteps `t`.
    pub fn forward(&self, t: &[u32], device: &Device) -> Result<Tensor> {
        let xs = timestep_features(t, self.steps, self.features, device)?;
        self.fc2.forward(&self.fc1.forward(&xs)?.silu()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_cos_then_sin() {
        let f = timestep_features(&[0, 600], 1200, 8, &Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(f[0], vec![1., 1., 1., 1., 0., 0., 0., 0.]);
        // t = 600 of 1200 -> 500; first frequency 1
        assert!((f[1][0] - 500f32.cos()).abs() < 1e-4 && (f[1][4] - 500f32.sin()).abs() < 1e-4);
    }
}

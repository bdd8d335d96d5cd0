//! The sqrt noise schedule (Diffusion-LM, GENIE, AR-Diffusion):
//! `abar(u) = 1 - sqrt(u + 1e-4)`, `beta_i = min(1 - abar((i+1)/T)/abar(i/T), 0.999)`,
//! `alphas_cumprod[i] = prod_{j<=i} (1 - beta_j)`.

/// Cumulative signal levels of a diffusion process with `T` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    alphas_cumprod: Vec<f64>,
}

impl NoiseSchedule {
    /// The sqrt schedule with `steps` steps.
    pub fn sqrt(steps: usize) -> Self {
        let abar = |u: f64| 1.0 - (u + 1e-4).sqrt();
        let mut product = 1.0;
        let alphas_cumprod = (0..steps)
            .map(|i| {
                let beta = (1.0 - abar((i + 1) as f64 / steps as f64) / abar(i as f64 / steps as f64)).min(0.999);
                product *= 1.0 - beta;
                product
            })
            .collect();
        NoiseSchedule { alphas_cumprod }
    }

    /// Number of steps `T`.
    pub fn steps(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// The timestep of a noise level given as a fraction of `T - 1` (repair
    /// levels, rollout start levels), rounded and kept within `1..=T-1`.
    pub fn level(&self, frac: f64) -> usize {
        let t_max = self.steps() - 1;
        ((frac * t_max as f64).round() as usize).clamp(1, t_max)
    }

    /// `alphas_cumprod[t]`.
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.alphas_cumprod[t]
    }

    /// The timesteps a sampler visits going from `start` down to 0: all of them
    /// when `steps` is `None` or at least `start + 1`, else `steps` timesteps
    /// spread evenly over `[0, start]`, always including `start` and 0.
    pub fn timesteps(&self, start: usize, steps: Option<usize>) -> Vec<usize> {
        let start = start.min(self.steps() - 1);
        match steps {
            Some(s) if s >= 2 && s < start + 1 => {
                let mut ts: Vec<usize> = (0..s).map(|k| ((start as f64) * (s - 1 - k) as f64 / (s - 1) as f64).round() as usize).collect();
                ts.dedup();
                ts
            }
            Some(1) => vec![start],
            _ => (0..=start).rev().collect(),
        }
    }

    /// Coefficients of the DDPM posterior `q(x_{t'} | x_t, x0)` for a jump from
    /// `t` to an earlier `t_prev` of a respaced schedule: the step's beta is
    /// recomputed as `1 - abar(t)/abar(t')`, not taken from the full schedule.
    /// Returns `(coef_x0, coef_xt, variance)`.
    pub fn posterior(&self, t: usize, t_prev: usize) -> (f64, f64, f64) {
        let (abar_t, abar_prev) = (self.alpha_bar(t), self.alpha_bar(t_prev));
        let beta = 1.0 - abar_t / abar_prev;
        let alpha = 1.0 - beta;
        let coef_x0 = abar_prev.sqrt() * beta / (1.0 - abar_t);
        let coef_xt = alpha.sqrt() * (1.0 - abar_prev) / (1.0 - abar_t);
        let variance = beta * (1.0 - abar_prev) / (1.0 - abar_t);
        (coef_x0, coef_xt, variance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_spec_numbers() {
        let s = NoiseSchedule::sqrt(1200);
        assert_eq!(s.steps(), 1200);
        assert!((s.alpha_bar(0) - 0.97924).abs() < 5e-6, "{}", s.alpha_bar(0));
        // the spec gives 0.295 "to 3 digits"; the formula gives 0.29578
        assert!((s.alpha_bar(599) - 0.295).abs() < 1e-3, "{}", s.alpha_bar(599));
        assert!(s.alpha_bar(1199) < 1e-6);
        assert!(s.alphas_cumprod.windows(2).all(|w| w[1] < w[0]), "strictly decreasing");
    }

    #[test]
    fn respaced_timesteps_cover_the_range() {
        let s = NoiseSchedule::sqrt(1200);
        assert_eq!(s.timesteps(1199, None).len(), 1200);
        let ts = s.timesteps(1199, Some(50));
        assert_eq!((ts.len(), ts[0], *ts.last().unwrap()), (50, 1199, 0));
        assert!(ts.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(s.timesteps(120, Some(500)).len(), 121);
        assert_eq!(s.timesteps(5, Some(3)), vec![5, 3, 0]);
    }

    #[test]
    fn respaced_posterior_recomputes_the_step() {
        let s = NoiseSchedule::sqrt(1200);
        // one full-schedule step: beta is the schedule's own
        let (c0, ct, var) = s.posterior(600, 599);
        let beta = 1.0 - s.alpha_bar(600) / s.alpha_bar(599);
        assert!((var - beta * (1.0 - s.alpha_bar(599)) / (1.0 - s.alpha_bar(600))).abs() < 1e-12);
        // the posterior mean of x_t = sqrt(abar_t) x0 (no noise) is sqrt(abar_prev) x0
        for (t, prev) in [(600, 599), (1199, 900), (300, 0)] {
            let (c0, ct, _) = s.posterior(t, prev);
            let mean = c0 + ct * s.alpha_bar(t).sqrt();
            assert!((mean - s.alpha_bar(prev).sqrt()).abs() < 1e-9, "{t}->{prev}");
        }
        assert!(c0 > 0.0 && ct > 0.0);
    }
}

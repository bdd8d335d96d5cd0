//! Seeded initialisation of a fresh model (documented deviation 3 of
//! `docs/model-spec.md`): PyTorch's default initialisers, drawn from our
//! ChaCha generator so that a run is reproducible.

use super::{CodeFusion, ModelConfig};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Builds a fresh model with seeded initialisation: candle's CPU RNG cannot be
/// seeded, so every variable is drawn again, in name order, from our ChaCha
/// generator, with PyTorch's defaults: `U(±1/sqrt(fan_in))` for linear weights
/// and biases, `N(0, 1)` embeddings, `N(0, 0.02)` positions, unit layer norms
/// (with a tied head, the decoder's final one at the embedding rows' scale).
pub fn init_model(config: &ModelConfig, device: &Device, seed: u64) -> Result<(CodeFusion, VarMap), candle_core::Error> {
    let vars = VarMap::new();
    let model = CodeFusion::new(config, VarBuilder::from_varmap(&vars, DType::F32, device))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1417_1e5e_ed00);
    // a tied head reads D's output against rows of norm `embed_norm`: its
    // final layer norm starts at that scale (rows of norm r, not sqrt(d)), so
    // `mse(D(x0_hat), x0)` does not start far off
    let tied_scale = |name: &str, count: usize| -> Option<Vec<f32>> {
        (config.tied_head && name == "decoder.ln.weight").then(|| {
            let norm = config.embed_norm.unwrap_or((config.d_model as f64).sqrt());
            vec![(norm / (config.d_model as f64).sqrt()) as f32; count]
        })
    };
    redraw_seeded(&vars, &mut rng, 1.0, 0.02, &tied_scale, device)?;
    Ok((model, vars))
}

/// Draws every variable of `vars` again, in name order, from `rng`, with
/// PyTorch's defaults (`U(±1/sqrt(fan_in))` for linear weights and biases,
/// unit layer norms), `N(0, embed_std)` for `embed.weight` and
/// `N(0, pos_std)` for the learned positions; `overrides` may give a
/// variable's values instead (it draws nothing from `rng`). Shared by every model this crate trains.
pub fn redraw_seeded(
    vars: &VarMap,
    rng: &mut ChaCha8Rng,
    embed_std: f32,
    pos_std: f32,
    overrides: &dyn Fn(&str, usize) -> Option<Vec<f32>>,
    device: &Device,
) -> Result<(), candle_core::Error> {
    let data = vars.data().lock().expect("no poisoned lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let mut parts = name.rsplit('.');
        let (leaf, parent) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let count = var.elem_count();
        let normal = |rng: &mut ChaCha8Rng, std: f32| -> Vec<f32> {
            (0..count).map(|_| std * rng.sample::<f32, _>(rand_distr::StandardNormal)).collect()
        };
        let values: Vec<f32> = match (overrides(name, count), parent, leaf) {
            (Some(values), _, _) => values,
            (None, p, "weight") if p.starts_with("ln") => vec![1.0; count],
            (None, p, "bias") if p.starts_with("ln") => vec![0.0; count],
            (None, "embed", "weight") => normal(rng, embed_std),
            (None, _, "pos") => normal(rng, pos_std),
            (None, _, leaf) => {
                let weight = if leaf == "bias" { &data[&format!("{}weight", &name[..name.len() - 4])] } else { var };
                let bound = 1.0 / (weight.dims()[1] as f32).sqrt();
                (0..count).map(|_| rng.random_range(-bound..bound)).collect()
            }
        };
        var.set(&Tensor::from_vec(values, var.dims(), device)?)?;
    }
    Ok(())
}

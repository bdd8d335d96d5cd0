//! The CodeFusion model in candle (`docs/model-spec.md`): configuration,
//! layers and the model (the seq2seq fixer of data ablations, `fixer/`, is
//! built from the same layers). The CPU kernels they run on are `lastmile-kernels`
//! ([`crate::kernels`]). No tokenizers or languages here.
//!
//! Imports `kernels`; no files, tokenizers or languages.

mod codefusion;
mod config;
mod init;
mod layers;
mod time;

pub use codefusion::{CodeFusion, Encoder};
pub use config::ModelConfig;
pub use init::{init_model, redraw_seeded};
pub use layers::{linear, Attention, Block, FeedForward, LayerNorm, Linear, Masks, Stack};
pub use time::{timestep_features, TimeEmbedding};

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor, D};
    use candle_nn::{VarBuilder, VarMap};

    fn tiny_config(encoder_layers: usize) -> ModelConfig {
        ModelConfig {
            vocab_size: 50,
            seq_len: 8,
            d_model: 16,
            n_heads: 2,
            d_ff: None,
            denoiser_layers: 2,
            decoder_layers: 1,
            encoder_layers,
            encoder_seq_len: Some(6),
            diffusion_steps: 1200,
            time_features: 128,
            layer_norm_eps: 1e-5,
            embed_norm: None,
            tied_head: false,
            length_bucket: None,
        }
    }

    #[test]
    fn shapes_and_parameter_count() {
        for encoder_layers in [0, 1] {
            let cfg = tiny_config(encoder_layers);
            let vars = VarMap::new();
            let model = CodeFusion::new(&cfg, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
            let count: usize = vars.all_vars().iter().map(|v| v.elem_count()).sum();
            assert_eq!(count, cfg.parameter_count());
            let tokens = Tensor::new(&[[4u32, 5, 6, 1, 0, 0, 0, 0], [7, 8, 1, 0, 0, 0, 0, 0]], &Device::Cpu).unwrap();
            let x0 = model.embed(&tokens).unwrap();
            assert_eq!(x0.dims(), &[2, 8, 16]);
            let source = Tensor::new(&[[9u32, 10, 11, 1, 0, 0], [12, 1, 0, 0, 0, 0]], &Device::Cpu).unwrap();
            let context = model.encode(&source, false).unwrap();
            assert_eq!(context.is_some(), encoder_layers > 0);
            let x0_hat = model.denoise(&x0, &[0, 1199], context.as_ref(), false).unwrap();
            assert_eq!(x0_hat.dims(), &[2, 8, 16]);
            let logits = model.logits(&model.decode(&x0_hat, context.as_ref(), false).unwrap()).unwrap();
            assert_eq!(logits.dims(), &[2, 8, 50]);
        }
    }

    #[test]
    fn a_tied_head_scores_tokens_by_their_embedding_rows() {
        let cfg = ModelConfig { tied_head: true, embed_norm: Some(4.0), ..tiny_config(0) };
        let vars = VarMap::new();
        let model = CodeFusion::new(&cfg, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
        let count: usize = vars.all_vars().iter().map(|v| v.elem_count()).sum();
        assert_eq!(count, cfg.parameter_count());
        assert!(!vars.data().lock().unwrap().keys().any(|k| k.starts_with("head")), "a tied model has no head keys");
        // the embeddings themselves, read out, give their own tokens back
        let tokens = Tensor::new(&[[4u32, 5, 6, 1, 0, 0, 0, 0]], &Device::Cpu).unwrap();
        let x0 = model.embed(&tokens).unwrap();
        let logits = model.logits(&x0).unwrap();
        assert_eq!(logits.dims(), &[1, 8, 50]);
        assert_eq!(logits.argmax(D::Minus1).unwrap().to_vec2::<u32>().unwrap(), tokens.to_vec2::<u32>().unwrap());
        assert_eq!(model.nearest_rows(&x0).unwrap(), tokens.to_vec2::<u32>().unwrap());
        // and an untied config serialises exactly as before the option existed
        assert!(!serde_json::to_string(&tiny_config(0)).unwrap().contains("tied_head"));
    }

    #[test]
    fn presets_have_documented_sizes() {
        assert_eq!(ModelConfig::paper().parameter_count() / 100_000, 856, "the spec says about 85M");
        assert!(ModelConfig::tiny().parameter_count() < ModelConfig::small().parameter_count());
    }

    #[test]
    fn cross_attention_changes_the_output() {
        let cfg = tiny_config(1);
        let vars = VarMap::new();
        let model = CodeFusion::new(&cfg, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
        let x = Tensor::randn(0f32, 1., (1, 8, 16), &Device::Cpu).unwrap();
        let out = |src: [u32; 6]| {
            let ctx = model.encode(&Tensor::new(&[src], &Device::Cpu).unwrap(), false).unwrap();
            model.denoise(&x, &[10], ctx.as_ref(), false).unwrap()
        };
        let diff = (out([9, 10, 11, 1, 0, 0]) - out([20, 21, 1, 0, 0, 0])).unwrap().abs().unwrap().sum_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() > 1e-3);
    }
}

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

pub use codefusion::{CodeFusion, Context, Encoder};
pub use config::ModelConfig;
pub use init::{init_model, redraw_seeded};
pub use layers::{linear, padding_mask, Attention, Block, FeedForward, LayerNorm, Linear, Masks, Stack};
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
            shared_source_embedding: false,
            diffusion_steps: 1200,
            time_features: 128,
            layer_norm_eps: 1e-5,
            embed_norm: None,
            tied_head: false,
            length_bucket: None,
            literal_slots: false,
        }
    }

    #[test]
    fn shapes_and_parameter_count() {
        for (encoder_layers, shared) in [(0, false), (1, false), (1, true)] {
            let cfg = ModelConfig { shared_source_embedding: shared, ..tiny_config(encoder_layers) };
            let vars = VarMap::new();
            let model = CodeFusion::new(&cfg, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
            let count: usize = vars.all_vars().iter().map(|v| v.elem_count()).sum();
            assert_eq!(count, cfg.parameter_count());
            let tokens = Tensor::new(&[[4u32, 5, 6, 1, 0, 0, 0, 0], [7, 8, 1, 0, 0, 0, 0, 0]], &Device::Cpu).unwrap();
            let x0 = model.embed(&tokens).unwrap();
            assert_eq!(x0.dims(), &[2, 8, 16]);
            let source = Tensor::new(&[[9u32, 10, 11, 1, 0, 0], [12, 1, 0, 0, 0, 0]], &Device::Cpu).unwrap();
            let context = model.encode(&source, &[4, 2], false).unwrap();
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
            let len = src.iter().position(|&id| id == 0).unwrap_or(6);
            let ctx = model.encode(&Tensor::new(&[src], &Device::Cpu).unwrap(), &[len], false).unwrap();
            model.denoise(&x, &[10], ctx.as_ref(), false).unwrap()
        };
        let diff = (out([9, 10, 11, 1, 0, 0]) - out([20, 21, 1, 0, 0, 0])).unwrap().abs().unwrap().sum_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() > 1e-3);
    }

    #[test]
    fn source_padding_changes_nothing() {
        // what sits in a padded source position (and how much padding there is)
        // never reaches the denoiser or the decoder: the self- and cross-attention
        // masks hide it
        for shared in [false, true] {
            let cfg = ModelConfig { shared_source_embedding: shared, ..tiny_config(2) };
            let vars = VarMap::new();
            let model = CodeFusion::new(&cfg, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
            let x = Tensor::randn(0f32, 1., (2, 8, 16), &Device::Cpu).unwrap();
            let run = |src: &[[u32; 6]; 2], lengths: &[usize]| {
                let ctx = model.encode(&Tensor::new(src, &Device::Cpu).unwrap(), lengths, false).unwrap();
                let x0_hat = model.denoise(&x, &[10, 900], ctx.as_ref(), false).unwrap();
                model.decode(&x0_hat, ctx.as_ref(), false).unwrap()
            };
            let a = run(&[[9, 10, 11, 1, 0, 0], [12, 1, 0, 0, 0, 0]], &[4, 2]);
            let b = run(&[[9, 10, 11, 1, 30, 31], [12, 1, 44, 45, 46, 47]], &[4, 2]);
            let diff = (&a - &b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "padding leaked into the output by {diff} (shared: {shared})");
            // the same source, trimmed to its longest row, reads the same
            let short = {
                let src = Tensor::new(&[[9u32, 10, 11, 1], [12, 1, 0, 0]], &Device::Cpu).unwrap();
                let ctx = model.encode(&src, &[4, 2], false).unwrap();
                let x0_hat = model.denoise(&x, &[10, 900], ctx.as_ref(), false).unwrap();
                model.decode(&x0_hat, ctx.as_ref(), false).unwrap()
            };
            let diff = (&a - &short).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "the padding length matters by {diff}");
            // a real token in place of padding does change it
            let c = run(&[[9, 10, 11, 1, 0, 0], [12, 1, 44, 0, 0, 0]], &[4, 3]);
            assert!((&a - &c).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() > 1e-4);
        }
    }
}

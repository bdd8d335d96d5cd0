//! Small untrained models the stages' unit tests share.

use crate::model::{CodeFusion, ModelConfig};
use crate::tokenizer::CodeTokenizer;

/// An untrained model of length 16 and width 16 (one denoiser and one decoder
/// block) with a 300-id tokenizer trained on generated `=SUM` formulas.
pub fn tiny_excel() -> (CodeFusion, CodeTokenizer) {
    let texts: Vec<String> = (0..200).map(|i| format!("=SUM(A{i}:B{})*{i}", i + 3)).collect();
    let tokenizer = CodeTokenizer::train(texts.iter(), 300).unwrap();
    let config =
        ModelConfig { vocab_size: 300, seq_len: 16, d_model: 16, n_heads: 2, denoiser_layers: 1, decoder_layers: 1, ..ModelConfig::tiny() };
    let (model, _vars) = crate::model::init_model(&config, &candle_core::Device::Cpu, 0).unwrap();
    (model, tokenizer)
}

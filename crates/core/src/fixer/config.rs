//! The fixer's sizes, saved as `config.json` beside its weights.

use crate::model::ModelConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Sizes of a seq2seq fixer: a pre-LN transformer encoder over the broken
/// snippet and a causal decoder with cross-attention writing the fixed one,
/// sharing one token embedding that is also the output head (tied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixerConfig {
    /// Vocabulary size (the tokenizer's).
    pub vocab_size: usize,
    /// Longest source and target in tokens, `<eos>` included.
    pub max_len: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Encoder blocks.
    pub encoder_layers: usize,
    /// Decoder blocks.
    pub decoder_layers: usize,
    /// A pointer-generator output: each step mixes the vocabulary read-out
    /// with an attention over the source's tokens (copying), weighted by a
    /// learned gate. Fixers of earlier versions have none.
    #[serde(default)]
    pub copy: bool,
}

impl FixerConfig {
    /// The fixed architecture of `make data-quality` for a tokenizer of
    /// `vocab_size` ids: d = 128, 2 + 2 blocks, a copy head, 1.50M parameters
    /// at V = 4,096.
    pub fn standard(vocab_size: usize, max_len: usize) -> Self {
        FixerConfig { vocab_size, max_len, d_model: 128, n_heads: 4, d_ff: 512, encoder_layers: 2, decoder_layers: 2, copy: true }
    }

    /// The shared transformer layers are built from a [`ModelConfig`]: the
    /// widths of this fixer in that shape.
    pub fn layer_config(&self) -> ModelConfig {
        ModelConfig {
            vocab_size: self.vocab_size,
            seq_len: self.max_len,
            d_model: self.d_model,
            n_heads: self.n_heads,
            d_ff: Some(self.d_ff),
            denoiser_layers: 0,
            decoder_layers: self.decoder_layers,
            encoder_layers: self.encoder_layers,
            encoder_seq_len: None,
            shared_source_embedding: false,
            diffusion_steps: 1,
            time_features: 2,
            layer_norm_eps: 1e-5,
            embed_norm: None,
            tied_head: true,
            length_bucket: None,
            literal_slots: false,
        }
    }

    /// Loads a fixer config (JSON).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

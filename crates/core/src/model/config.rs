//! The model configuration, saved as `config.json` beside the weights.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Sizes of a CodeFusion model (see `docs/model-spec.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// Fixed sequence length `n`.
    pub seq_len: usize,
    /// Model width `d`.
    pub d_model: usize,
    /// Attention heads `h`.
    pub n_heads: usize,
    /// Feed-forward width `f` (default `4d`).
    #[serde(default)]
    pub d_ff: Option<usize>,
    /// Denoiser blocks `L_N`.
    pub denoiser_layers: usize,
    /// Decoder blocks `L_D`.
    pub decoder_layers: usize,
    /// Encoder blocks `L_E` for conditioned tasks; 0 means no encoder and no
    /// cross-attention.
    #[serde(default)]
    pub encoder_layers: usize,
    /// Source length of the encoder (defaults to `seq_len`).
    #[serde(default)]
    pub encoder_seq_len: Option<usize>,
    /// The encoder reads its source through the code embedding `E` (rescaled
    /// rows included) instead of its own table: one vocabulary for utterance
    /// and code, so that a word the utterance shows (a number, a name) has
    /// the vector the code side reads back. Such models have no
    /// `encoder.embed` keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_source_embedding: bool,
    /// Diffusion steps `T`.
    #[serde(default = "default_steps")]
    pub diffusion_steps: usize,
    /// Width of the sinusoidal timestep features.
    #[serde(default = "default_time_features")]
    pub time_features: usize,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Deviation from the spec (documented in `docs/model-spec.md`): when set,
    /// every embedding row is rescaled to this L2 norm, so the embedding can
    /// neither collapse nor grow until the noise stops mattering.
    #[serde(default)]
    pub embed_norm: Option<f64>,
    /// Deviation from the spec (documented in `docs/model-spec.md`): the head
    /// `H` scores each token by the dot product of `D(x0_hat)` with its
    /// embedding row (`logits = D(x0_hat) E^T`) instead of a free
    /// `Linear(d, V)`, so a token the input shows can be read back even when
    /// it is rare. Such models have no `head` keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tied_head: bool,
    /// Deviation from the spec (documented in `docs/model-spec.md`): the model
    /// is trained on batches of similar-length snippets cut to a multiple of
    /// this many positions (see [`ModelConfig::trimmed_len`]) instead of always
    /// `n`, and inference on known snippets (repair, anchored rollout) cuts its
    /// batches the same way. The learned positions are the first `L` rows of
    /// the `n`-row table. Unset: every sequence is `n` long, as in the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_bucket: Option<usize>,
    /// NL-to-code models: trained on pairs whose utterance's numbers and
    /// quoted text values were replaced by placeholders on both sides
    /// ([`crate::dataset::LiteralSlots`]); generation masks the utterance the
    /// same way and fills the placeholders back into every candidate. The
    /// weights are those of a model without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub literal_slots: bool,
}

fn default_steps() -> usize {
    1200
}
fn default_time_features() -> usize {
    128
}
fn default_eps() -> f64 {
    1e-5
}

impl ModelConfig {
    /// Feed-forward width.
    pub fn ff(&self) -> usize {
        self.d_ff.unwrap_or(4 * self.d_model)
    }

    /// The `tiny` preset (V=4096, n=64, d=256, h=4, L_N=4, L_D=2).
    pub fn tiny() -> Self {
        Self::preset(4096, 64, 256, 4, 4, 2)
    }

    /// The `small` preset (V=8192, n=128, d=384, h=6, L_N=6, L_D=3).
    pub fn small() -> Self {
        Self::preset(8192, 128, 384, 6, 6, 3)
    }

    /// The `paper` preset (V=32128, n=128, d=512, h=8, L_N=10, L_D=6).
    pub fn paper() -> Self {
        Self::preset(32128, 128, 512, 8, 10, 6)
    }

    fn preset(vocab_size: usize, seq_len: usize, d_model: usize, n_heads: usize, ln: usize, ld: usize) -> Self {
        ModelConfig {
            vocab_size,
            seq_len,
            d_model,
            n_heads,
            d_ff: None,
            denoiser_layers: ln,
            decoder_layers: ld,
            encoder_layers: 0,
            encoder_seq_len: None,
            shared_source_embedding: false,
            diffusion_steps: default_steps(),
            time_features: default_time_features(),
            layer_norm_eps: default_eps(),
            embed_norm: None,
            tied_head: false,
            length_bucket: None,
            literal_slots: false,
        }
    }

    /// The sequence length a batch is cut to when its longest snippet has
    /// `tokens` ids with its `<eos>`: `n` without `length_bucket`, else that
    /// count rounded up to a multiple of the bucket, at most `n`.
    pub fn trimmed_len(&self, tokens: usize) -> usize {
        match self.length_bucket {
            Some(width) if width > 0 => (tokens.max(1).div_ceil(width) * width).min(self.seq_len),
            _ => self.seq_len,
        }
    }

    /// The same model without its encoder and cross-attention: what a code-only
    /// checkpoint must equal for [`crate::model`]'s conditional fine-tuning to
    /// start from it.
    pub fn unconditioned(&self) -> Self {
        ModelConfig { encoder_layers: 0, encoder_seq_len: None, shared_source_embedding: false, ..self.clone() }
    }

    /// The encoder's source length.
    pub fn source_len(&self) -> usize {
        self.encoder_seq_len.unwrap_or(self.seq_len)
    }

    /// Checks the sizes fit together.
    pub fn validate(&self) -> Result<(), String> {
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(format!("d_model {} is not divisible by n_heads {}", self.d_model, self.n_heads));
        }
        if !self.time_features.is_multiple_of(2) {
            return Err("time_features must be even".into());
        }
        if self.vocab_size < 5 || self.seq_len < 2 || self.diffusion_steps < 2 {
            return Err("vocab_size, seq_len or diffusion_steps too small".into());
        }
        // bounds far above any model this tool trains, so that a damaged or
        // mistyped config is refused here instead of asking for terabytes
        let bounds = [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("seq_len", self.seq_len, 1 << 16),
            ("d_model", self.d_model, 1 << 15),
            ("n_heads", self.n_heads, 1 << 10),
            ("d_ff", self.d_ff.unwrap_or(0), 1 << 17),
            ("denoiser_layers", self.denoiser_layers, 256),
            ("decoder_layers", self.decoder_layers, 256),
            ("encoder_layers", self.encoder_layers, 256),
            ("encoder_seq_len", self.encoder_seq_len.unwrap_or(0), 1 << 16),
            ("diffusion_steps", self.diffusion_steps, 1 << 20),
            ("time_features", self.time_features, 1 << 15),
        ];
        for (name, value, most) in bounds {
            if value > most {
                return Err(format!("{name} = {value} is above the supported {most}"));
            }
        }
        if self.n_heads == 0 || self.d_model == 0 {
            return Err("d_model and n_heads must be positive".into());
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!("layer_norm_eps = {} must be a positive number", self.layer_norm_eps));
        }
        if self.embed_norm.is_some_and(|n| !(n.is_finite() && n > 0.0)) {
            return Err("embed_norm must be a positive number".into());
        }
        Ok(())
    }

    /// Loads a config from TOML (`configs/model/*.toml`) or JSON (`config.json`).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let config: ModelConfig = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        } else {
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        };
        config.validate().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// Number of trainable parameters, computed from the sizes (equals the sum
    /// over the built model's variables; a test checks it).
    pub fn parameter_count(&self) -> usize {
        let d = self.d_model;
        let linear = |i: usize, o: usize| i * o + o;
        let ln = 2 * d;
        let block = |cross: bool| {
            let attn = linear(d, 3 * d) + linear(d, d);
            ln + attn + ln + linear(d, self.ff()) + linear(self.ff(), d) + if cross { ln + attn } else { 0 }
        };
        let cross = self.encoder_layers > 0;
        let stack = |layers: usize, cross: bool| linear(d, d) + self.seq_len * d + layers * block(cross) + ln;
        let mut total = self.vocab_size * d
            + linear(self.time_features, 4 * d)
            + linear(4 * d, d)
            + stack(self.denoiser_layers, cross)
            + linear(d, d)
            + stack(self.decoder_layers, cross)
            + if self.tied_head { 0 } else { linear(d, self.vocab_size) };
        if cross {
            let table = if self.shared_source_embedding { 0 } else { self.vocab_size * d };
            total += table + self.encoder_seq_len.unwrap_or(self.seq_len) * d + self.encoder_layers * block(false) + ln;
        }
        total
    }
}

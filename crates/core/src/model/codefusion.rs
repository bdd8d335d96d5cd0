//! CodeFusion: embedding E, time embedding, denoiser N, decoder D, head H and
//! the optional NL encoder (CodeFusion §3; `docs/model-spec.md`).

use super::layers::Stack;
use super::layers::{linear, padding_mask, Linear, Masks};
use super::time::TimeEmbedding;
use super::ModelConfig;
use crate::kernels::precision::matmul_precision;
use crate::kernels::{fused, ops};
use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::{embedding, Embedding, VarBuilder};

/// The optional encoder of conditioned models: its own embedding (unless the
/// config shares the code embedding), learned positions, `L_E` blocks and a
/// final layer norm over the source tokens.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// `None` with `shared_source_embedding`: the model embeds the source.
    embed: Option<Embedding>,
    body: Stack,
}

impl Encoder {
    /// Builds the encoder of `cfg` (which must have `encoder_layers > 0`).
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let embed = match cfg.shared_source_embedding {
            true => None,
            false => Some(embedding(cfg.vocab_size, cfg.d_model, vb.pp("embed"))?),
        };
        Ok(Encoder { embed, body: Stack::without_input(cfg, cfg.source_len(), cfg.encoder_layers, vb)? })
    }
}

/// An encoded source (the utterance) that the denoiser and decoder attend to.
#[derive(Debug, Clone)]
pub struct Context {
    /// The encoder's output, `(b, m, d)`.
    pub states: Tensor,
    /// `(b, 1, 1, m)` additive key mask of the source padding
    /// ([`padding_mask`]): padded positions are never read.
    pub mask: Tensor,
}

impl Context {
    /// The same context for each of `k` chains per source, in source order
    /// (`(b, ..) -> (b * k, ..)`): what a batch of `k` samples per utterance reads.
    pub fn repeat_each(&self, k: usize) -> Result<Context> {
        let repeat = |t: &Tensor| -> Result<Tensor> {
            let b = t.dim(0)?;
            let index: Vec<u32> = (0..b as u32).flat_map(|i| std::iter::repeat_n(i, k)).collect();
            t.index_select(&Tensor::from_vec(index, b * k, t.device())?, 0)
        };
        Ok(Context { states: repeat(&self.states)?, mask: repeat(&self.mask)? })
    }
}

/// The CodeFusion model.
#[derive(Debug, Clone)]
pub struct CodeFusion {
    config: ModelConfig,
    embed: Embedding,
    time: TimeEmbedding,
    denoiser: Stack,
    denoiser_out: Linear,
    decoder: Stack,
    /// `None` when the head is tied to the embedding (`tied_head`).
    head: Option<Linear>,
    encoder: Option<Encoder>,
}

impl CodeFusion {
    /// Builds the model; parameter names under `vb` are the checkpoint keys.
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let cross = config.encoder_layers > 0;
        Ok(CodeFusion {
            embed: embedding(config.vocab_size, config.d_model, vb.pp("embed"))?,
            time: TimeEmbedding::new(config, vb.pp("time"))?,
            denoiser: Stack::new(config, config.denoiser_layers, cross, vb.pp("denoiser"))?,
            denoiser_out: linear(config.d_model, config.d_model, vb.pp("denoiser_out"))?,
            decoder: Stack::new(config, config.decoder_layers, cross, vb.pp("decoder"))?,
            head: if config.tied_head { None } else { Some(linear(config.d_model, config.vocab_size, vb.pp("head"))?) },
            encoder: if cross { Some(Encoder::new(config, vb.pp("encoder"))?) } else { None },
            config: config.clone(),
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.embed.embeddings().device()
    }

    fn scale_rows(&self, xs: &Tensor) -> Result<Tensor> {
        match self.config.embed_norm {
            Some(norm) => {
                let norms = (xs.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
                xs.broadcast_div(&norms)? * norm
            }
            None => Ok(xs.clone()),
        }
    }

    /// `x0 = E(c)`: `tokens: (b, n)` u32 → `(b, n, d)`.
    pub fn embed(&self, tokens: &Tensor) -> Result<Tensor> {
        self.scale_rows(&self.embed.forward(tokens)?)
    }

    /// The whole embedding table `(V, d)`, as `embed` would give each row.
    pub fn embedding_table(&self) -> Result<Tensor> {
        self.scale_rows(self.embed.embeddings())
    }

    /// Encodes conditioning sources `(b, m)` whose row `i` holds `lengths[i]`
    /// tokens and padding after them (never attended to); `None` for
    /// unconditioned models.
    pub fn encode(&self, source: &Tensor, lengths: &[usize], train: bool) -> Result<Option<Context>> {
        let Some(encoder) = &self.encoder else { return Ok(None) };
        let mask = padding_mask(lengths, source.dim(1)?, source.device())?;
        let embedded = match &encoder.embed {
            Some(embed) => embed.forward(source)?,
            None => self.embed(source)?,
        };
        let masks = Masks { self_attn: Some(mask.clone()), cross_attn: None };
        let states = encoder.body.forward_masked(&embedded, None, &masks, None, train)?;
        Ok(Some(Context { states, mask }))
    }

    /// `x0_hat = N(x_t, t)`: `x_t: (b, n, d)`, one timestep per example.
    pub fn denoise(&self, x_t: &Tensor, t: &[u32], context: Option<&Context>, train: bool) -> Result<Tensor> {
        let time = self.time.forward(t, x_t.device())?; // (b, d)
        let xs = self.denoiser.forward_masked(x_t, Some(&time), &cross_masks(context), context.map(|c| &c.states), train)?;
        self.denoiser_out.forward(&xs)
    }

    /// `D(x0_hat)`: `(b, n, d) -> (b, n, d)`.
    pub fn decode(&self, x0_hat: &Tensor, context: Option<&Context>, train: bool) -> Result<Tensor> {
        self.decoder.forward_masked(x0_hat, None, &cross_masks(context), context.map(|c| &c.states), train)
    }

    /// `H(D(x0_hat))`: `(b, n, d) -> (b, n, V)` logits; with a tied head, the
    /// dot products with the (rescaled) embedding rows.
    pub fn logits(&self, decoded: &Tensor) -> Result<Tensor> {
        match &self.head {
            Some(head) => head.forward(decoded),
            None => {
                let (b, n, d) = decoded.dims3()?;
                let table = self.embedding_table()?; // (V, d)
                let rows = decoded.reshape((b * n, d))?;
                let logits = if matmul_precision().is_reduced() {
                    // the table as a linear layer's weight: the int8 or bf16 kernel where the CPU has it
                    let zeros = Tensor::zeros(table.dim(0)?, table.dtype(), table.device())?;
                    ops::linear(&rows, &table, &zeros)?
                } else {
                    ops::matmul(&rows, &table.t()?)?
                }; // (b*n, V)
                logits.reshape((b, n, table.dim(0)?))
            }
        }
    }

    /// Ids of the nearest embedding rows by dot product (equal to the nearest
    /// by distance when every row has the same norm, `embed_norm`):
    /// `(b, n, d) -> (b, n)`. The rounding a diagnostic compares the head with.
    pub fn nearest_rows(&self, xs: &Tensor) -> Result<Vec<Vec<u32>>> {
        let (b, n, d) = xs.dims3()?;
        let table = self.embedding_table()?;
        ops::matmul(&xs.reshape((b * n, d))?, &table.t()?)?.argmax(D::Minus1)?.reshape((b, n))?.to_vec2::<u32>()
    }

    /// Token ids `argmax H(D(x0_hat))`, `(b, n)`.
    pub fn decode_tokens(&self, x0_hat: &Tensor, context: Option<&Context>) -> Result<Vec<Vec<u32>>> {
        let decoded = self.decode(x0_hat, context, false)?;
        if !fused::applies(&decoded) {
            return self.logits(&decoded)?.argmax(D::Minus1)?.to_vec2::<u32>();
        }
        let (b, n, d) = decoded.dims3()?;
        let ids = if matmul_precision().is_reduced() {
            // the argmax folded into the head's product: the (b·n, V) logits never written
            let rows = decoded.reshape((b * n, d))?;
            match &self.head {
                Some(head) => head.argmax(&rows)?,
                None => {
                    let table = self.embedding_table()?;
                    ops::linear_argmax(&rows, &table, &Tensor::zeros(table.dim(0)?, table.dtype(), table.device())?)?
                }
            }
        } else {
            fused::argmax_rows(&self.logits(&decoded)?)?
        };
        Ok(if n == 0 { vec![Vec::new(); b] } else { ids.chunks(n).map(<[u32]>::to_vec).collect() })
    }
}

/// The masks of a stack that reads `context`: its source padding in every
/// cross-attention, nothing in self-attention.
fn cross_masks(context: Option<&Context>) -> Masks {
    Masks { self_attn: None, cross_attn: context.map(|c| c.mask.clone()) }
}

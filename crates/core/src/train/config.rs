//! The configuration of a pretraining run (`configs/train/<name>.toml`), its
//! learning-rate schedule and its timestep draw.

use super::TrainError;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A pretraining run: `configs/train/<name>.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model config file (`configs/model/<size>.toml`).
    pub model: PathBuf,
    /// Mined corpus directory (`outputs/corpus/<lang>`): code-only pretraining.
    #[serde(default)]
    pub corpus: Option<PathBuf>,
    /// Instead of `corpus`: NL-to-code fine-tuning on a benchmark's train split,
    /// every snippet conditioned on its utterance through the model's encoder.
    #[serde(default)]
    pub pairs: Option<PairsSource>,
    /// Trained `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// Run directory: `metrics.jsonl` and `checkpoint/`.
    pub out: PathBuf,
    /// Seed of initialisation, batches, timesteps and noise.
    #[serde(default)]
    pub seed: u64,
    /// Snippets per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Linear warm-up steps.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Cosine decay of the learning rate from the end of warm-up to this step,
    /// down to `lr * lr_min_ratio`, constant after it; unset keeps the peak rate
    /// (the spec). Steps, not seconds, so that a run is reproducible.
    #[serde(default)]
    pub lr_decay_steps: Option<usize>,
    /// The learning rate at the end of the decay, relative to `lr`.
    #[serde(default = "default_lr_min_ratio")]
    pub lr_min_ratio: f64,
    /// Keep an exponential moving average of the weights with this decay (e.g.
    /// 0.999); checkpoints then hold it as `ema.safetensors` and sampling uses it.
    #[serde(default)]
    pub ema_decay: Option<f64>,
    /// Global gradient-norm clip.
    #[serde(default = "default_clip")]
    pub grad_clip: Option<f64>,
    /// Stop after this many optimiser steps.
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// Stop after this many seconds of training (over resumed runs too).
    #[serde(default)]
    pub time_budget_s: Option<f64>,
    /// Held-out loss every this many steps (and at `max_steps`).
    #[serde(default = "default_eval_every")]
    pub eval_every: usize,
    /// Held-out batches per evaluation.
    #[serde(default = "default_eval_batches")]
    pub eval_batches: usize,
    /// Checkpoint every this many steps (and at the end).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Probability that a batch trains the CPD objective (noise only at maskable positions).
    #[serde(default)]
    pub cpd_prob: f64,
    /// Start a fresh run from this checkpoint's inference weights (e.g. the
    /// shipped `models/excel`) instead of a random initialisation: continued
    /// pretraining. Its `config.json` must equal `model` and its
    /// `tokenizer.json` the run's `tokenizer`. Ignored when resuming.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// Deviation from the spec (`docs/model-spec.md`): the share of examples
    /// whose timestep is drawn from `U[0, low_noise_max)` instead of
    /// `U[0, T)`, so that the low levels repair and rollout start from are
    /// trained more often. 0 keeps the spec's uniform draw (and its RNG stream).
    #[serde(default)]
    pub low_noise_prob: f64,
    /// Upper bound (exclusive) of the low-noise timestep draw.
    #[serde(default = "default_low_noise_max")]
    pub low_noise_max: usize,
    /// Deviation from the spec: weight of both mse terms (1 in the spec). With
    /// `embed_norm = r` the mse terms are `r^2 / d` of their size under the
    /// spec's `N(0, 1)` table; `d / r^2` gives them back their share.
    #[serde(default = "default_mse_weight")]
    pub mse_weight: f64,
    /// Probability that a batch (one that does not train CPD) noises only one
    /// random window of `1..=span_max` positions of each snippet and keeps the
    /// rest clean: the partial noising that error-localised repair uses.
    #[serde(default)]
    pub span_prob: f64,
    /// Longest noised window of a span batch.
    #[serde(default = "default_span_max")]
    pub span_max: usize,
    /// With a model `length_bucket`: the share of batches drawn uniformly and
    /// kept at the full length `n` (so that the model also knows long pad
    /// runs, which unconditional generation starts from); the others are
    /// length-bucketed and cut.
    #[serde(default = "default_full_length_prob")]
    pub full_length_prob: f64,
}

/// Where a conditioned run reads its (utterance, code) pairs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PairsSource {
    /// An NL-to-code benchmark file (`corpora/benchmarks/nl2code/<name>.json`).
    /// Only its `train` split is read: one item in [`PairsSource::HELD_OUT_EVERY`]
    /// is held out for the validation loss, the rest trains.
    pub bench: PathBuf,
    /// The language of its code (CPD's maskable positions).
    pub lang: crate::lang::LangId,
    /// Also train on this many copies of every training pair that shares
    /// numbers or text values with its utterance, those literals swapped for
    /// random others on both sides (`train/literals.rs`): the model learns to
    /// copy what the utterance says instead of the constants of the few pairs
    /// it has. 0 trains on the pairs as they are.
    #[serde(default)]
    pub literal_copies: usize,
    /// Also train on up to this many copies of every training pair whose
    /// utterance puts a comparison before a number, the comparison said
    /// another way (`greater than 60` → `above 60`; `train/paraphrase.rs`).
    /// 0 trains on the utterances as written.
    #[serde(default)]
    pub paraphrase_copies: usize,
}

impl PairsSource {
    /// Every this many train items, one is held out (the last of each run of this many).
    pub const HELD_OUT_EVERY: usize = 20;
}

fn default_lr() -> f64 {
    5e-4
}
fn default_lr_min_ratio() -> f64 {
    0.1
}
fn default_clip() -> Option<f64> {
    Some(1.0)
}
fn default_eval_every() -> usize {
    200
}
fn default_eval_batches() -> usize {
    4
}
fn default_checkpoint_every() -> usize {
    500
}
fn default_low_noise_max() -> usize {
    240
}
fn default_mse_weight() -> f64 {
    1.0
}
fn default_span_max() -> usize {
    4
}
fn default_full_length_prob() -> f64 {
    0.1
}

impl TrainConfig {
    /// Reads a TOML run config; relative paths stay relative to the working directory.
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let config: TrainConfig =
            toml::from_str(&text).map_err(|e| TrainError::Config { path: path.to_path_buf(), reason: e.to_string() })?;
        if config.batch_size == 0 || config.eval_every == 0 || config.checkpoint_every == 0 {
            return Err(TrainError::Config { path: path.to_path_buf(), reason: "sizes and intervals must be positive".into() });
        }
        if !(0.0..=1.0).contains(&config.lr_min_ratio) || config.ema_decay.is_some_and(|d| !(0.0..1.0).contains(&d)) {
            return Err(TrainError::Config {
                path: path.to_path_buf(),
                reason: "lr_min_ratio must be in [0, 1] and ema_decay in [0, 1)".into(),
            });
        }
        let share = |p: f64| (0.0..=1.0).contains(&p);
        if !share(config.cpd_prob)
            || !share(config.full_length_prob)
            || !share(config.low_noise_prob)
            || !share(config.span_prob)
            || config.low_noise_max == 0
            || config.span_max == 0
            || !(config.mse_weight >= 0.0)
        {
            return Err(TrainError::Config {
                path: path.to_path_buf(),
                reason: "cpd_prob, full_length_prob, low_noise_prob and span_prob must be in [0, 1], low_noise_max and span_max positive, mse_weight non-negative".into(),
            });
        }
        if config.corpus.is_some() == config.pairs.is_some() {
            return Err(TrainError::Config {
                path: path.to_path_buf(),
                reason: "set exactly one of `corpus` (code-only pretraining) and `[pairs]` (NL-to-code fine-tuning)".into(),
            });
        }
        if config.max_steps.is_none() && config.time_budget_s.is_none() {
            return Err(TrainError::Config { path: path.to_path_buf(), reason: "set max_steps and/or time_budget_s".into() });
        }
        Ok(config)
    }

    /// One example's timestep: `U[0, steps)`, or with `low_noise_prob`,
    /// `U[0, low_noise_max)` for that share of the examples.
    pub fn draw_timestep(&self, steps: usize, rng: &mut ChaCha8Rng) -> u32 {
        if self.low_noise_prob > 0.0 && rng.random_bool(self.low_noise_prob) {
            rng.random_range(0..self.low_noise_max.min(steps) as u32)
        } else {
            rng.random_range(0..steps as u32)
        }
    }

    /// Where the run's training data lives, for error messages.
    pub fn data_path(&self) -> &Path {
        match (&self.corpus, &self.pairs) {
            (Some(corpus), _) => corpus,
            (None, Some(pairs)) => &pairs.bench,
            (None, None) => Path::new(""),
        }
    }

    /// The checkpoint directory of the run.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.out.join("checkpoint")
    }

    /// The metrics file of the run.
    pub fn metrics_path(&self) -> PathBuf {
        self.out.join("metrics.jsonl")
    }

    /// The learning rate of optimiser step `step` (0-based): linear warm-up, then
    /// the peak rate or, with `lr_decay_steps`, a cosine down to `lr * lr_min_ratio`.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let Some(end) = self.lr_decay_steps.filter(|&end| end > self.warmup_steps) else {
            return self.lr;
        };
        let progress = ((step - self.warmup_steps) as f64 / (end - self.warmup_steps) as f64).min(1.0);
        let floor = self.lr * self.lr_min_ratio;
        floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

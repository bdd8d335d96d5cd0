//! Pretraining (`lastmile pretrain`): the diffusion loss of the spec, with the
//! CPD objective as a second task, AdamW with warm-up and clipping, held-out
//! evaluation, per-step metrics and exactly resumable checkpoints.

pub mod checkpoint;
mod data;
mod diagnostics;
mod ema;
mod loss;
mod optimizer;

pub use checkpoint::{weights_sha256, TrainState};
pub use data::TokenizedSplit;
pub use diagnostics::{accuracy_by_t, AccuracyByT, LevelAccuracy};
pub use ema::Ema;
pub use loss::{cross_entropy, diffusion_loss, LossTerms};
pub use optimizer::{AdamW, AdamWParams};

use crate::dataset::{write_file_atomic, DatasetError};
use crate::diffusion::{randn, NoiseSchedule};
use crate::model::{CodeFusion, ModelConfig};
use crate::tokenizer::{CodeTokenizer, TokenizerError};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Errors of the training stage.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A configuration file is invalid.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The training data cannot be used.
    #[error("{path}: {reason}")]
    Data {
        /// The corpus directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor operation or (de)serialisation failed.
    #[error("{path}: {source}")]
    Candle {
        /// The file involved (or the run directory).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: candle_core::Error,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the corpus failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The tokenizer failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io { path: path.to_path_buf(), source }
    }
    pub(crate) fn candle(path: impl Into<PathBuf>, source: candle_core::Error) -> Self {
        TrainError::Candle { path: path.into(), source }
    }
}

/// A pretraining run: `configs/train/<name>.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model config file (`configs/model/<size>.toml`).
    pub model: PathBuf,
    /// Mined corpus directory (`outputs/corpus/<lang>`).
    pub corpus: PathBuf,
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
            return Err(TrainError::Config { path: path.to_path_buf(), reason: "lr_min_ratio must be in [0, 1] and ema_decay in [0, 1)".into() });
        }
        if config.max_steps.is_none() && config.time_budget_s.is_none() {
            return Err(TrainError::Config { path: path.to_path_buf(), reason: "set max_steps and/or time_budget_s".into() });
        }
        Ok(config)
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
        let Some(end) = self.lr_decay_steps.filter(|&end| end > self.warmup_steps) else { return self.lr };
        let progress = ((step - self.warmup_steps) as f64 / (end - self.warmup_steps) as f64).min(1.0);
        let floor = self.lr * self.lr_min_ratio;
        floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepMetrics {
    /// Optimiser step (1-based).
    pub step: usize,
    /// Total loss of the batch.
    pub loss: f32,
    /// `mse(x0_hat, x0)`.
    pub mse_x0: f32,
    /// `mse(D(x0_hat), x0)`.
    pub mse_decoded: f32,
    /// Cross-entropy.
    pub ce: f32,
    /// Whether the batch trained the CPD objective.
    pub cpd: bool,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Mean L2 norm of the embedding rows (watches collapse and growth).
    pub embed_norm: f32,
    /// Training tokens per second of this step.
    pub tokens_per_s: f64,
    /// Held-out loss, on evaluation steps.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_loss: Option<f32>,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// Steps taken in total.
    pub steps: usize,
    /// Held-out loss at step 0 of the run (before any update), when evaluated.
    pub initial_valid_loss: Option<f32>,
    /// Last held-out loss.
    pub final_valid_loss: Option<f32>,
    /// Training snippets used / dropped as too long.
    pub train_snippets: usize,
    /// Training snippets longer than `n` tokens.
    pub train_too_long: usize,
    /// Seconds of training, all resumed runs included.
    pub elapsed_s: f64,
}

/// Builds a fresh model with seeded initialisation: candle's CPU RNG cannot be
/// seeded, so every variable is drawn again, in name order, from our ChaCha
/// generator, with PyTorch's defaults: `U(±1/sqrt(fan_in))` for linear weights
/// and biases, `N(0, 1)` embeddings, `N(0, 0.02)` positions, unit layer norms.
pub fn init_model(config: &ModelConfig, device: &Device, seed: u64) -> Result<(CodeFusion, VarMap), candle_core::Error> {
    let vars = VarMap::new();
    let model = CodeFusion::new(config, VarBuilder::from_varmap(&vars, DType::F32, device))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1417_1e5e_ed00);
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
        let values: Vec<f32> = match (parent, leaf) {
            (p, "weight") if p.starts_with("ln") => vec![1.0; count],
            (p, "bias") if p.starts_with("ln") => vec![0.0; count],
            ("embed", "weight") => normal(&mut rng, 1.0),
            (_, "pos") => normal(&mut rng, 0.02),
            (_, leaf) => {
                let weight = if leaf == "bias" { &data[&format!("{}weight", &name[..name.len() - 4])] } else { var };
                let bound = 1.0 / (weight.dims()[1] as f32).sqrt();
                (0..count).map(|_| rng.random_range(-bound..bound)).collect()
            }
        };
        var.set(&Tensor::from_vec(values, var.dims(), device)?)?;
    }
    drop(data);
    Ok((model, vars))
}

/// Loads a checkpoint for inference: the model, its variables and tokenizer.
pub fn load_checkpoint(dir: &Path, device: &Device) -> Result<(CodeFusion, VarMap, CodeTokenizer), TrainError> {
    let config = checkpoint::load_config(dir)?;
    let mut vars = VarMap::new();
    let model = CodeFusion::new(&config, VarBuilder::from_varmap(&vars, DType::F32, device))
        .map_err(|e| TrainError::candle(dir, e))?;
    checkpoint::load_inference_weights(dir, &mut vars)?;
    let tokenizer = CodeTokenizer::load(&dir.join(checkpoint::TOKENIZER_FILE))?;
    Ok((model, vars, tokenizer))
}

/// Mean held-out loss over fixed batches (same timesteps and noise every time).
pub fn evaluate(model: &CodeFusion, schedule: &NoiseSchedule, valid: &TokenizedSplit, batch: usize, batches: usize, seed: u64) -> candle_core::Result<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(0xe7a1));
    let device = model.device().clone();
    let mut total = 0.0;
    for k in 0..batches {
        let indices: Vec<usize> = (0..batch).map(|i| (k * batch + i) % valid.len()).collect();
        let (tokens, _) = valid.batch(&indices, &device)?;
        let t: Vec<u32> = (0..batch).map(|_| rng.random_range(0..schedule.steps() as u32)).collect();
        let eps = randn(&mut rng, &[batch, model.config().seq_len, model.config().d_model], &device)?;
        total += diffusion_loss(model, schedule, &tokens, &t, &eps, None, false)?.total.to_scalar::<f32>()?;
    }
    Ok(total / batches as f32)
}

/// What the training loop reports as it goes.
pub enum TrainEvent<'a> {
    /// Data is loaded; the run starts (or resumes) at `step`.
    Started {
        /// First step of this run.
        step: usize,
        /// Last step, if bounded by steps.
        max_steps: Option<usize>,
        /// Training snippets.
        train: usize,
        /// Held-out snippets.
        valid: usize,
    },
    /// A step finished.
    Step(&'a StepMetrics),
    /// A checkpoint was written.
    Checkpoint(usize),
}

/// Runs (or with `resume`, continues) pretraining as configured.
pub fn pretrain(
    config: &TrainConfig,
    device: &Device,
    resume: bool,
    on_event: &mut dyn FnMut(TrainEvent<'_>),
) -> Result<TrainSummary, TrainError> {
    let model_config =
        ModelConfig::load(&config.model).map_err(|reason| TrainError::Config { path: config.model.clone(), reason })?;
    let tokenizer = CodeTokenizer::load(&config.tokenizer)?;
    if tokenizer.vocab_size() > model_config.vocab_size {
        return Err(TrainError::Config {
            path: config.model.clone(),
            reason: format!("vocab_size {} is smaller than the tokenizer's {}", model_config.vocab_size, tokenizer.vocab_size()),
        });
    }
    let n = model_config.seq_len;
    let train = TokenizedSplit::load(&config.corpus, "train", &tokenizer, n)?;
    let valid = TokenizedSplit::load(&config.corpus, "valid", &tokenizer, n)?;
    if train.is_empty() || valid.is_empty() {
        return Err(TrainError::Data { path: config.corpus.clone(), reason: "no snippet fits the model length".into() });
    }
    let schedule = NoiseSchedule::sqrt(model_config.diffusion_steps);
    let (model, mut vars) = init_model(&model_config, device, config.seed).map_err(|e| TrainError::candle(&config.out, e))?;
    let mut optimizer = AdamW::new(vars.data().lock().expect("no poisoned lock").clone(), AdamWParams::default())
        .map_err(|e| TrainError::candle(&config.out, e))?;
    let mut ema = match config.ema_decay {
        Some(decay) => Some(Ema::new(&vars.data().lock().expect("no poisoned lock"), decay).map_err(|e| TrainError::candle(&config.out, e))?),
        None => None,
    };
    let ckpt_dir = config.checkpoint_dir();
    let metrics_path = config.metrics_path();
    let mut state = TrainState { step: 0, rng: ChaCha8Rng::seed_from_u64(config.seed), elapsed_s: 0.0, valid_loss: None };
    if resume && ckpt_dir.join(checkpoint::STATE_FILE).exists() {
        checkpoint::load_weights(&ckpt_dir, &mut vars)?;
        let (moments, saved) = checkpoint::load_training_state(&ckpt_dir, device)?;
        optimizer.load_state(&moments, saved.step).map_err(|e| TrainError::candle(&ckpt_dir, e))?;
        if let Some(ema) = ema.as_mut() {
            let averages = checkpoint::load_ema(&ckpt_dir, device)?;
            ema.load_state(&averages).map_err(|e| TrainError::candle(&ckpt_dir, e))?;
        }
        state = saved;
        truncate_metrics(&metrics_path, state.step)?;
    } else {
        std::fs::create_dir_all(&config.out).map_err(|e| TrainError::io(&config.out, e))?;
        write_file_atomic(&metrics_path, b"")?;
    }
    on_event(TrainEvent::Started { step: state.step, max_steps: config.max_steps, train: train.len(), valid: valid.len() });

    let eval = |model: &CodeFusion| {
        evaluate(model, &schedule, &valid, config.batch_size, config.eval_batches, config.seed)
            .map_err(|e| TrainError::candle(&config.out, e))
    };
    let initial_valid_loss = if state.step == 0 { Some(eval(&model)?) } else { None };
    let mut metrics_file = std::fs::OpenOptions::new()
        .append(true)
        .open(&metrics_path)
        .map_err(|e| TrainError::io(&metrics_path, e))?;
    let run_started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let d = model_config.d_model;
    loop {
        let elapsed = elapsed_before + run_started.elapsed().as_secs_f64();
        let out_of_steps = config.max_steps.is_some_and(|m| state.step >= m);
        let out_of_time = config.time_budget_s.is_some_and(|b| elapsed >= b);
        if out_of_steps || out_of_time {
            break;
        }
        let step_started = Instant::now();
        let indices = train.sample_indices(config.batch_size, &mut state.rng);
        let cpd = config.cpd_prob > 0.0 && state.rng.random_bool(config.cpd_prob.min(1.0));
        let t: Vec<u32> = (0..config.batch_size).map(|_| state.rng.random_range(0..schedule.steps() as u32)).collect();
        let candle = |e| TrainError::candle(&config.out, e);
        let eps = randn(&mut state.rng, &[config.batch_size, n, d], device).map_err(candle)?;
        let (tokens, keep_clean) = train.batch(&indices, device).map_err(candle)?;
        let terms = diffusion_loss(&model, &schedule, &tokens, &t, &eps, cpd.then_some(&keep_clean), true).map_err(candle)?;
        let grads = terms.total.backward().map_err(candle)?;
        let lr = config.lr_at(state.step);
        let grad_norm = optimizer.step(&grads, lr, config.grad_clip).map_err(candle)?;
        state.step += 1;
        if let Some(ema) = ema.as_mut() {
            ema.update(state.step).map_err(candle)?;
        }
        let embed_norm = model
            .embedding_table()
            .and_then(|e| e.sqr()?.sum_keepdim(1)?.sqrt()?.mean_all()?.to_scalar::<f32>())
            .map_err(candle)?;
        // every `eval_every` steps, and at the last step so a run reports its final held-out loss
        let last_step = config.max_steps == Some(state.step);
        let valid_loss = if state.step % config.eval_every == 0 || last_step { Some(eval(&model)?) } else { None };
        if valid_loss.is_some() {
            state.valid_loss = valid_loss;
        }
        let metrics = StepMetrics {
            step: state.step,
            loss: terms.total.to_scalar().map_err(candle)?,
            mse_x0: terms.mse_x0,
            mse_decoded: terms.mse_decoded,
            ce: terms.ce,
            cpd,
            lr,
            grad_norm,
            embed_norm,
            tokens_per_s: (config.batch_size * n) as f64 / step_started.elapsed().as_secs_f64(),
            valid_loss,
        };
        let line = serde_json::to_string(&metrics).expect("metrics serialise");
        writeln!(metrics_file, "{line}").map_err(|e| TrainError::io(&metrics_path, e))?;
        on_event(TrainEvent::Step(&metrics));
        if state.step % config.checkpoint_every == 0 {
            state.elapsed_s = elapsed_before + run_started.elapsed().as_secs_f64();
            checkpoint::save(&ckpt_dir, &vars, &model_config, &tokenizer, optimizer.state(), ema.as_ref().map(Ema::state), &state)?;
            on_event(TrainEvent::Checkpoint(state.step));
        }
    }
    state.elapsed_s = elapsed_before + run_started.elapsed().as_secs_f64();
    checkpoint::save(&ckpt_dir, &vars, &model_config, &tokenizer, optimizer.state(), ema.as_ref().map(Ema::state), &state)?;
    on_event(TrainEvent::Checkpoint(state.step));
    Ok(TrainSummary {
        steps: state.step,
        initial_valid_loss,
        final_valid_loss: state.valid_loss,
        train_snippets: train.len(),
        train_too_long: train.stats.too_long,
        elapsed_s: state.elapsed_s,
    })
}

/// Keeps the metrics of steps up to `step` (a resumed run rewrites the rest).
fn truncate_metrics(path: &Path, step: usize) -> Result<(), TrainError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let kept: String = text
        .lines()
        .filter(|line| serde_json::from_str::<StepMetrics>(line).is_ok_and(|m| m.step <= step))
        .map(|line| format!("{line}\n"))
        .collect();
    write_file_atomic(path, kept.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{corpus_schema, CorpusRecord, ShardWriter, ShardWriterOptions};

    fn tiny_config() -> ModelConfig {
        ModelConfig {
            vocab_size: 300,
            seq_len: 16,
            d_model: 32,
            n_heads: 2,
            d_ff: None,
            denoiser_layers: 1,
            decoder_layers: 1,
            encoder_layers: 0,
            encoder_seq_len: None,
            diffusion_steps: 1200,
            time_features: 32,
            layer_norm_eps: 1e-5,
            embed_norm: None,
        }
    }

    fn real_formulas(count: usize) -> Vec<String> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/corpora/excel/euses-formulas.txt")).unwrap();
        let mut seen = std::collections::HashSet::new();
        text.lines()
            .map(|l| format!("={}", crate::mine::unquote_csv(l)))
            .filter(|f| f.len() < 30 && seen.insert(f.clone()))
            .take(count)
            .collect()
    }

    /// A corpus of real formulas, a tokenizer and configs in a temp dir.
    fn workspace() -> (tempfile::TempDir, TrainConfig) {
        let dir = tempfile::tempdir().unwrap();
        let formulas = real_formulas(400);
        for (split, range) in [("train", 0..360), ("valid", 360..400)] {
            let records: Vec<CorpusRecord> = formulas[range]
                .iter()
                .enumerate()
                .map(|(i, f)| CorpusRecord {
                    id: format!("excel-{i}"),
                    lang: "excel".into(),
                    text: f.clone(),
                    source: "euses".into(),
                    source_line: i as u32 + 1,
                    n_chars: f.chars().count() as u32,
                    sketch: String::new(),
                })
                .collect();
            let corpus = dir.path().join("corpus");
            let mut writer = ShardWriter::new(&corpus, split, corpus_schema(), ShardWriterOptions::default()).unwrap();
            writer.write(&CorpusRecord::to_batch(&records)).unwrap();
            writer.finish().unwrap();
        }
        let tokenizer = CodeTokenizer::train(formulas.iter(), 300).unwrap();
        tokenizer.save(&dir.path().join("tokenizer.json")).unwrap();
        std::fs::write(dir.path().join("model.toml"), toml::to_string(&tiny_config()).unwrap()).unwrap();
        let config = TrainConfig {
            model: dir.path().join("model.toml"),
            corpus: dir.path().join("corpus"),
            tokenizer: dir.path().join("tokenizer.json"),
            out: dir.path().join("run"),
            seed: 7,
            batch_size: 8,
            lr: 1e-3,
            warmup_steps: 2,
            lr_decay_steps: Some(5),
            lr_min_ratio: 0.1,
            ema_decay: Some(0.9),
            grad_clip: Some(1.0),
            max_steps: Some(6),
            time_budget_s: None,
            eval_every: 3,
            eval_batches: 1,
            checkpoint_every: 3,
            cpd_prob: 0.3,
        };
        (dir, config)
    }

    fn batch(model: &CodeFusion) -> (Tensor, Vec<u32>, Tensor) {
        let device = Device::Cpu;
        let ids: Vec<u32> = (0..4 * 16).map(|i| if i % 16 < 6 { 4 + (i * 7 % 290) as u32 } else { 0 }).collect();
        let tokens = Tensor::from_vec(ids, (4, 16), &device).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let eps = randn(&mut rng, &[4, 16, model.config().d_model], &device).unwrap();
        (tokens, vec![0, 300, 800, 1199], eps)
    }

    #[test]
    fn every_parameter_receives_a_gradient() {
        let config = tiny_config();
        let (model, vars) = init_model(&config, &Device::Cpu, 0).unwrap();
        let schedule = NoiseSchedule::sqrt(1200);
        let (tokens, t, eps) = batch(&model);
        let loss = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, true).unwrap();
        let grads = loss.total.backward().unwrap();
        let data = vars.data().lock().unwrap();
        // embed, time (2 linears), 2 stacks of (inp, pos, 1 block of 6 sub-layers, ln), denoiser_out, head
        assert_eq!(data.len(), 1 + 4 + 2 * (2 + 1 + 12 + 2) + 2 + 2);
        for (name, var) in data.iter() {
            let grad = grads.get(var).unwrap_or_else(|| panic!("{name} has no gradient"));
            let size = grad.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(size > 0.0, "{name} has a zero gradient");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let config = tiny_config();
        let (model, vars) = init_model(&config, &Device::Cpu, 1).unwrap();
        let schedule = NoiseSchedule::sqrt(1200);
        let (tokens, t, eps) = batch(&model);
        let loss = || diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, true).unwrap().total.to_scalar::<f32>().unwrap() as f64;
        let grads = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, true).unwrap().total.backward().unwrap();
        let data = vars.data().lock().unwrap().clone();
        let mut checked = 0;
        for name in ["embed.weight", "denoiser.blocks.0.attn.in_proj.weight", "denoiser.blocks.0.ln1.weight", "decoder.ln.bias", "head.weight", "time.fc1.weight"] {
            let var = &data[name];
            let grad = grads.get(var).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            // the entry with the largest gradient keeps float32 round-off small relative to the signal
            let (index, analytic) = grad.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap();
            let original = var.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let h = 1e-2f32;
            let probe = |delta: f32| {
                let mut values = original.clone();
                values[index] += delta;
                var.set(&Tensor::from_vec(values, var.dims(), &Device::Cpu).unwrap()).unwrap();
                loss()
            };
            let numeric = (probe(h) - probe(-h)) / (2.0 * h as f64);
            probe(0.0);
            let relative = (numeric - *analytic as f64).abs() / numeric.abs().max(1e-3);
            assert!(relative < 0.05, "{name}[{index}]: analytic {analytic} vs numeric {numeric}");
            checked += 1;
        }
        assert_eq!(checked, 6);
    }

    #[test]
    fn overfits_one_batch() {
        let config = tiny_config();
        let (model, vars) = init_model(&config, &Device::Cpu, 2).unwrap();
        let schedule = NoiseSchedule::sqrt(1200);
        let (tokens, _, eps) = batch(&model);
        let t = vec![0, 10, 20, 40];
        let mut optimizer = AdamW::new(vars.data().lock().unwrap().clone(), AdamWParams::default()).unwrap();
        let first = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, true).unwrap().ce;
        let mut last = first;
        for _ in 0..150 {
            let terms = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, true).unwrap();
            last = terms.ce;
            optimizer.step(&terms.total.backward().unwrap(), 3e-3, Some(1.0)).unwrap();
        }
        assert!(first > 4.0 && last < 0.05, "cross-entropy {first} -> {last}");
    }

    fn metrics(config: &TrainConfig) -> Vec<StepMetrics> {
        std::fs::read_to_string(config.metrics_path())
            .unwrap()
            .lines()
            .map(|l| {
                let mut m: StepMetrics = serde_json::from_str(l).unwrap();
                m.tokens_per_s = 0.0; // wall-clock, not part of the curve
                m
            })
            .collect()
    }

    #[test]
    fn interrupted_and_resumed_run_equals_an_uninterrupted_one() {
        let (_dir, config) = workspace();
        let summary = pretrain(&config, &Device::Cpu, false, &mut |_| {}).unwrap();
        assert_eq!(summary.steps, 6);
        let straight = metrics(&config);
        assert_eq!(straight.len(), 6);
        assert!(straight.iter().any(|m| m.cpd) && straight.iter().any(|m| !m.cpd));
        assert!(straight[2].valid_loss.is_some() && straight[5].valid_loss.is_some());
        let (straight_model, straight_vars, _) = load_checkpoint(&config.checkpoint_dir(), &Device::Cpu).unwrap();
        drop(straight_model);

        let mut interrupted = config.clone();
        interrupted.out = config.out.with_file_name("run2");
        interrupted.max_steps = Some(4); // stops between two checkpoints
        pretrain(&interrupted, &Device::Cpu, false, &mut |_| {}).unwrap();
        // a crash after step 4 leaves the checkpoint of step 4; pretend only step 3's survived
        interrupted.max_steps = Some(3);
        std::fs::remove_dir_all(interrupted.checkpoint_dir()).unwrap();
        pretrain(&interrupted, &Device::Cpu, false, &mut |_| {}).unwrap();
        interrupted.max_steps = Some(6);
        pretrain(&interrupted, &Device::Cpu, true, &mut |_| {}).unwrap();
        assert_eq!(metrics(&interrupted), straight);
        let (_, resumed_vars, tokenizer) = load_checkpoint(&interrupted.checkpoint_dir(), &Device::Cpu).unwrap();
        assert_eq!(tokenizer.vocab_size(), 300);
        let (a, b) = (straight_vars.data().lock().unwrap(), resumed_vars.data().lock().unwrap());
        for (name, var) in a.iter() {
            let diff = (var.as_tensor() - b[name].as_tensor()).unwrap().abs().unwrap().max_all().unwrap();
            assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "{name}");
        }
        // both weight files, raw and averaged, are the same tensors; inference reads the average
        assert_eq!(checkpoint::inference_weights_file(&config.checkpoint_dir()), config.checkpoint_dir().join(checkpoint::EMA_FILE));
        for file in [checkpoint::MODEL_FILE, checkpoint::EMA_FILE] {
            let load = |dir: PathBuf| candle_core::safetensors::load(dir.join(file), &Device::Cpu).unwrap();
            let (a, b) = (load(config.checkpoint_dir()), load(interrupted.checkpoint_dir()));
            assert_eq!(a.len(), b.len());
            for (name, tensor) in &a {
                let diff = (tensor - &b[name]).unwrap().abs().unwrap().max_all().unwrap();
                assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "{file}: {name}");
            }
        }
        let raw = candle_core::safetensors::load(config.checkpoint_dir().join(checkpoint::MODEL_FILE), &Device::Cpu).unwrap();
        let ema = candle_core::safetensors::load(config.checkpoint_dir().join(checkpoint::EMA_FILE), &Device::Cpu).unwrap();
        let moved = (&raw["head.weight"] - &ema["head.weight"]).unwrap().abs().unwrap().max_all().unwrap();
        assert!(moved.to_scalar::<f32>().unwrap() > 0.0, "the average lags the raw weights");
    }

    #[test]
    fn learning_rate_warms_up_then_follows_a_cosine_to_its_floor() {
        let (_dir, mut config) = workspace();
        config.lr = 1.0;
        config.warmup_steps = 10;
        config.lr_decay_steps = Some(110);
        config.lr_min_ratio = 0.1;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(config.lr_at(0), 0.1) && close(config.lr_at(9), 1.0));
        assert!(close(config.lr_at(10), 1.0));
        assert!(close(config.lr_at(60), 0.55), "half-way: the mean of peak and floor");
        assert!(close(config.lr_at(110), 0.1) && close(config.lr_at(5000), 0.1));
        let rates: Vec<f64> = (10..=110).map(|s| config.lr_at(s)).collect();
        assert!(rates.windows(2).all(|w| w[1] <= w[0]), "decays monotonically");
        config.lr_decay_steps = None;
        assert!(close(config.lr_at(5000), 1.0), "the spec's constant rate");
    }
}

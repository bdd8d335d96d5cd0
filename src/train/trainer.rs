//! The training loop's state and its three moves: [`Trainer::resume`] (a
//! fresh, continued or resumed run), [`Trainer::step`] (one optimiser step,
//! with held-out evaluation when due) and [`Trainer::save`] (an atomic
//! checkpoint). Gradients pass between `backward` and the optimiser inside
//! `step`: that is where a data-parallel run all-reduces them.

use super::checkpoint::{self, TrainState};
use super::metrics::{truncate_metrics, StepMetrics};
use super::{diffusion_loss, evaluate, AdamW, AdamWParams, Ema, TokenizedSplit, TrainConfig, TrainError};
use crate::dataset::write_file_atomic;
use crate::diffusion::{randn, NoiseSchedule};
use crate::model::{init_model, CodeFusion, ModelConfig};
use crate::tokenizer::CodeTokenizer;
use candle_core::Device;
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// A pretraining run in progress.
pub struct Trainer<'a> {
    config: &'a TrainConfig,
    device: Device,
    model_config: ModelConfig,
    tokenizer: CodeTokenizer,
    /// Training snippets.
    pub train: TokenizedSplit,
    /// Held-out snippets.
    pub valid: TokenizedSplit,
    schedule: NoiseSchedule,
    model: CodeFusion,
    vars: VarMap,
    optimizer: AdamW,
    ema: Option<Ema>,
    /// Step, RNG, elapsed time and last held-out loss.
    pub state: TrainState,
    buckets: Option<BTreeMap<usize, Vec<usize>>>,
    metrics_file: File,
    run_started: Instant,
    elapsed_before: f64,
}

impl<'a> Trainer<'a> {
    /// Loads the data and builds the model: from the last checkpoint when
    /// `resume` finds one, else from `init_from` or a seeded initialisation.
    pub fn resume(config: &'a TrainConfig, device: &Device, resume: bool) -> Result<Self, TrainError> {
        let model_config = ModelConfig::load(&config.model).map_err(|reason| TrainError::Config { path: config.model.clone(), reason })?;
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
        let ckpt_dir = config.checkpoint_dir();
        let resuming = resume && ckpt_dir.join(checkpoint::STATE_FILE).exists();
        if let (Some(init), false) = (&config.init_from, resuming) {
            load_initial_weights(init, &model_config, &config.tokenizer, &mut vars)?;
        }
        let mut ema = match config.ema_decay {
            Some(decay) => {
                Some(Ema::new(&vars.data().lock().expect("no poisoned lock"), decay).map_err(|e| TrainError::candle(&config.out, e))?)
            }
            None => None,
        };
        let metrics_path = config.metrics_path();
        let mut state = TrainState { step: 0, rng: ChaCha8Rng::seed_from_u64(config.seed), elapsed_s: 0.0, valid_loss: None };
        if resuming {
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
        let metrics_file = std::fs::OpenOptions::new().append(true).open(&metrics_path).map_err(|e| TrainError::io(&metrics_path, e))?;
        let buckets = model_config.length_bucket.map(|_| train.buckets(&model_config));
        let elapsed_before = state.elapsed_s;
        Ok(Trainer {
            config,
            device: device.clone(),
            model_config,
            tokenizer,
            train,
            valid,
            schedule,
            model,
            vars,
            optimizer,
            ema,
            state,
            buckets,
            metrics_file,
            run_started: Instant::now(),
            elapsed_before,
        })
    }

    /// Mean held-out loss of the current weights (the spec's unweighted loss).
    pub fn evaluate(&self) -> Result<f32, TrainError> {
        let c = self.config;
        evaluate(&self.model, &self.schedule, &self.valid, c.batch_size, c.eval_batches, c.seed).map_err(|e| TrainError::candle(&c.out, e))
    }

    /// Restarts the clock of this process's share of the run (after the
    /// step-0 evaluation, so that it counts as set-up, not training).
    pub fn start_clock(&mut self) {
        self.run_started = Instant::now();
    }

    /// Training seconds so far, resumed runs included.
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_before + self.run_started.elapsed().as_secs_f64()
    }

    /// Whether `max_steps` or `time_budget_s` is reached.
    pub fn finished(&self) -> bool {
        let out_of_steps = self.config.max_steps.is_some_and(|m| self.state.step >= m);
        let out_of_time = self.config.time_budget_s.is_some_and(|b| self.elapsed_s() >= b);
        out_of_steps || out_of_time
    }

    /// Whether the step just taken is one to checkpoint after.
    pub fn checkpoint_due(&self) -> bool {
        self.state.step % self.config.checkpoint_every == 0
    }

    /// One optimiser step; its metrics are appended to `metrics.jsonl`.
    pub fn step(&mut self) -> Result<StepMetrics, TrainError> {
        let config = self.config;
        let (n, d) = (self.model_config.seq_len, self.model_config.d_model);
        let step_started = Instant::now();
        let state = &mut self.state;
        // length buckets: a share of the batches stays uniform at full length,
        // the rest are similar-length rows cut to their bucket (drawn only when enabled)
        let (indices, len) = match &self.buckets {
            Some(buckets) if !state.rng.random_bool(config.full_length_prob) => {
                self.train.sample_bucketed(config.batch_size, &self.model_config, buckets, &mut state.rng)
            }
            _ => (self.train.sample_indices(config.batch_size, &mut state.rng), n),
        };
        let cpd = config.cpd_prob > 0.0 && state.rng.random_bool(config.cpd_prob.min(1.0));
        let t = config.draw_timesteps(self.schedule.steps(), &mut state.rng);
        let candle = |e| TrainError::candle(&config.out, e);
        let eps = randn(&mut state.rng, &[config.batch_size, len, d], &self.device).map_err(candle)?;
        let (tokens, keep_clean) = self.train.batch_trimmed(&indices, len, &self.device).map_err(candle)?;
        // only drawn when enabled, so that configs without spans keep their RNG stream
        let span = !cpd && config.span_prob > 0.0 && state.rng.random_bool(config.span_prob);
        let keep_clean = if span {
            Some(self.train.span_mask(&indices, len, config.span_max, &mut state.rng, &self.device).map_err(candle)?)
        } else {
            cpd.then_some(keep_clean)
        };
        let terms =
            diffusion_loss(&self.model, &self.schedule, &tokens, &t, &eps, keep_clean.as_ref(), config.mse_weight, true).map_err(candle)?;
        let grads = terms.total.backward().map_err(candle)?;
        let lr = config.lr_at(state.step);
        let grad_norm = self.optimizer.step(&grads, lr, config.grad_clip).map_err(candle)?;
        state.step += 1;
        let step = state.step;
        if let Some(ema) = self.ema.as_mut() {
            ema.update(step).map_err(candle)?;
        }
        let embed_norm =
            self.model.embedding_table().and_then(|e| e.sqr()?.sum_keepdim(1)?.sqrt()?.mean_all()?.to_scalar::<f32>()).map_err(candle)?;
        // every `eval_every` steps, and at the last step so a run reports its final held-out loss
        let last_step = config.max_steps == Some(step);
        let valid_loss = if step % config.eval_every == 0 || last_step { Some(self.evaluate()?) } else { None };
        if valid_loss.is_some() {
            self.state.valid_loss = valid_loss;
        }
        let metrics = StepMetrics {
            step,
            loss: terms.total.to_scalar().map_err(candle)?,
            mse_x0: terms.mse_x0,
            mse_decoded: terms.mse_decoded,
            ce: terms.ce,
            cpd,
            lr,
            grad_norm,
            embed_norm,
            tokens_per_s: (config.batch_size * len) as f64 / step_started.elapsed().as_secs_f64(),
            valid_loss,
        };
        let line = serde_json::to_string(&metrics).expect("metrics serialise");
        writeln!(self.metrics_file, "{line}").map_err(|e| TrainError::io(&config.metrics_path(), e))?;
        Ok(metrics)
    }

    /// Writes a complete checkpoint (weights, moments, average, state) atomically.
    pub fn save(&mut self) -> Result<(), TrainError> {
        self.state.elapsed_s = self.elapsed_s();
        let ema = self.ema.as_ref().map(Ema::state);
        checkpoint::save(
            &self.config.checkpoint_dir(),
            &self.vars,
            &self.model_config,
            &self.tokenizer,
            self.optimizer.state(),
            ema,
            &self.state,
        )
    }
}

/// Loads the inference weights of checkpoint `dir` into a fresh run's `vars`,
/// after checking that its model config and tokenizer are the run's.
fn load_initial_weights(dir: &Path, model: &ModelConfig, tokenizer: &Path, vars: &mut VarMap) -> Result<(), TrainError> {
    let theirs = crate::checkpoint::load_config(dir)?;
    if &theirs != model {
        return Err(TrainError::Config {
            path: dir.join(crate::checkpoint::CONFIG_FILE),
            reason: "init_from: this model config differs from the run's `model`".into(),
        });
    }
    let (ours, theirs) = (dir.join(crate::checkpoint::TOKENIZER_FILE), tokenizer);
    let read = |p: &Path| std::fs::read(p).map_err(|e| TrainError::io(p, e));
    if read(&ours)? != read(theirs)? {
        return Err(TrainError::Config {
            path: ours,
            reason: format!("init_from: this tokenizer differs from the run's tokenizer {}", theirs.display()),
        });
    }
    Ok(crate::checkpoint::load_inference_weights(dir, vars)?)
}

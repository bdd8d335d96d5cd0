//! The training loop's state and its three moves: [`Trainer::resume`] (a
//! fresh, continued or resumed run), [`Trainer::step`] (one optimiser step,
//! with held-out evaluation when due) and [`Trainer::save`] (an atomic
//! checkpoint). Gradients pass between `backward` and the optimiser inside
//! `step`: that is where a data-parallel run sums them over its ranks
//! ([`crate::dist::Collective`]); every rank then takes the same optimiser step,
//! and only rank 0 writes metrics and checkpoints.

use super::checkpoint::{self, TrainState};
use super::draws::{self, BatchPlan, ExampleDraws};
use super::metrics::{truncate_metrics, StepMetrics};
use super::{diffusion_loss, evaluate, AdamW, AdamWParams, Ema, LossTerms, TokenizedSplit, TrainConfig, TrainError};
use crate::dataset::write_file_atomic;
use crate::diffusion::{NoiseSchedule, Window};
use crate::dist::{Collective, SingleProcess};
use crate::model::{init_model, CodeFusion, ModelConfig};
use crate::tokenizer::CodeTokenizer;
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
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
    /// Step, elapsed time and last held-out loss.
    pub state: TrainState,
    buckets: Option<BTreeMap<usize, Vec<usize>>>,
    /// This process's place among the data-parallel ranks.
    collective: Box<dyn Collective>,
    /// Rank 0's metrics file; other ranks write nothing.
    metrics_file: Option<File>,
    run_started: Instant,
    elapsed_before: f64,
}

impl<'a> Trainer<'a> {
    /// Loads the data and builds the model: from the last checkpoint when
    /// `resume` finds one, else from `init_from` or a seeded initialisation.
    pub fn resume(config: &'a TrainConfig, device: &Device, resume: bool) -> Result<Self, TrainError> {
        Self::resume_with(config, device, resume, Box::new(SingleProcess))
    }

    /// [`Trainer::resume`] as one rank of a data-parallel run: each rank
    /// computes its share of every global batch, and the gradients are summed
    /// over the ranks before the optimiser step.
    pub fn resume_with(
        config: &'a TrainConfig,
        device: &Device,
        resume: bool,
        collective: Box<dyn Collective>,
    ) -> Result<Self, TrainError> {
        if collective.world() > config.batch_size {
            return Err(TrainError::Config {
                path: config.out.clone(),
                reason: format!("{} ranks share a batch of {}: use at most one rank per example", collective.world(), config.batch_size),
            });
        }
        let writer = collective.rank() == 0;
        let model_config = ModelConfig::load(&config.model).map_err(|reason| TrainError::Config { path: config.model.clone(), reason })?;
        let tokenizer = CodeTokenizer::load(&config.tokenizer)?;
        if tokenizer.vocab_size() > model_config.vocab_size {
            return Err(TrainError::Config {
                path: config.model.clone(),
                reason: format!("vocab_size {} is smaller than the tokenizer's {}", model_config.vocab_size, tokenizer.vocab_size()),
            });
        }
        let n = model_config.seq_len;
        let conditioned = model_config.encoder_layers > 0;
        let (train, valid) = match (&config.corpus, &config.pairs) {
            (Some(corpus), None) if !conditioned => {
                (TokenizedSplit::load(corpus, "train", &tokenizer, n)?, TokenizedSplit::load(corpus, "valid", &tokenizer, n)?)
            }
            (None, Some(pairs)) if conditioned => {
                let (m, slots) = (model_config.source_len(), model_config.literal_slots);
                (
                    TokenizedSplit::load_pairs(pairs, false, slots, &tokenizer, n, m)?,
                    TokenizedSplit::load_pairs(pairs, true, slots, &tokenizer, n, m)?,
                )
            }
            _ => {
                return Err(TrainError::Config {
                    path: config.model.clone(),
                    reason: "a model with an encoder (encoder_layers > 0) trains on `[pairs]`, one without on `corpus`".into(),
                })
            }
        };
        if train.is_empty() || valid.is_empty() {
            return Err(TrainError::Data { path: config.data_path().to_path_buf(), reason: "no snippet fits the model length".into() });
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
        let mut state = TrainState { step: 0, elapsed_s: 0.0, valid_loss: None };
        if resuming {
            checkpoint::load_weights(&ckpt_dir, &mut vars)?;
            let (moments, saved) = checkpoint::load_training_state(&ckpt_dir, device)?;
            optimizer.load_state(&moments, saved.step).map_err(|e| TrainError::candle(&ckpt_dir, e))?;
            if let Some(ema) = ema.as_mut() {
                let averages = checkpoint::load_ema(&ckpt_dir, device)?;
                ema.load_state(&averages).map_err(|e| TrainError::candle(&ckpt_dir, e))?;
            }
            state = saved;
            if writer {
                truncate_metrics(&metrics_path, state.step)?;
            }
        } else if writer {
            std::fs::create_dir_all(&config.out).map_err(|e| TrainError::io(&config.out, e))?;
            write_file_atomic(&metrics_path, b"")?;
        }
        let metrics_file = match writer {
            true => Some(std::fs::OpenOptions::new().append(true).open(&metrics_path).map_err(|e| TrainError::io(&metrics_path, e))?),
            false => None,
        };
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
            collective,
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
        self.state.step.is_multiple_of(self.config.checkpoint_every)
    }

    /// One optimiser step; its metrics are appended to `metrics.jsonl`. The
    /// global batch and every example's draws are functions of `(seed, step)`
    /// ([`draws`]); this rank computes only its share of the examples.
    pub fn step(&mut self) -> Result<StepMetrics, TrainError> {
        let config = self.config;
        let d = self.model_config.d_model;
        let step_started = Instant::now();
        let candle = |e| TrainError::candle(&config.out, e);
        let step = self.state.step;
        let plan = BatchPlan::draw(config, &self.model_config, &self.train, self.buckets.as_ref(), step);
        let (rank, world) = (self.collective.rank(), self.collective.world());
        let share = draws::share(config.batch_size, rank, world);
        let drawn = ExampleDraws::draw(config, &plan, &self.train, self.schedule.steps(), d, share.clone(), step);
        let rows = &plan.indices[share.clone()];
        let eps = Tensor::from_vec(drawn.eps, (rows.len(), plan.len, d), &self.device).map_err(candle)?;
        let (tokens, maskable_kept) = self.train.batch_trimmed(rows, plan.len, &self.device).map_err(candle)?;
        let keep_clean = match (plan.span, plan.cpd) {
            (true, _) => Some(Window::keep_mask(drawn.spans.iter().cloned().map(Window::from), plan.len, &self.device).map_err(candle)?),
            (false, true) => Some(maskable_kept),
            (false, false) => None,
        };
        let context = super::encode_sources(&self.model, &self.train, rows, true).map_err(candle)?;
        let terms = diffusion_loss(
            &self.model,
            &self.schedule,
            &tokens,
            &drawn.t,
            &eps,
            keep_clean.as_ref(),
            context.as_ref(),
            config.mse_weight,
            true,
        )
        .map_err(candle)?;
        let (loss, terms, grads) = if world == 1 {
            let grads = terms.total.backward().map_err(candle)?;
            (terms.total.to_scalar::<f32>().map_err(candle)?, [terms.mse_x0, terms.mse_decoded, terms.ce], grads)
        } else {
            self.sum_over_ranks(&terms, share.len() as f64 / config.batch_size as f64)?
        };
        let lr = config.lr_at(step);
        let grad_norm = self.optimizer.step(&grads, lr, config.grad_clip).map_err(candle)?;
        self.state.step += 1;
        let step = self.state.step;
        if let Some(ema) = self.ema.as_mut() {
            ema.update(step).map_err(candle)?;
        }
        let embed_norm =
            self.model.embedding_table().and_then(|e| e.sqr()?.sum_keepdim(1)?.sqrt()?.mean_all()?.to_scalar::<f32>()).map_err(candle)?;
        // every `eval_every` steps, and at the last step so a run reports its
        // final held-out loss; rank 0 alone (it alone reports)
        let last_step = config.max_steps == Some(step);
        let due = step.is_multiple_of(config.eval_every) || last_step;
        let valid_loss = if due && rank == 0 { Some(self.evaluate()?) } else { None };
        if valid_loss.is_some() {
            self.state.valid_loss = valid_loss;
        }
        let [mse_x0, mse_decoded, ce] = terms;
        let metrics = StepMetrics {
            step,
            loss,
            mse_x0,
            mse_decoded,
            ce,
            cpd: plan.cpd,
            lr,
            grad_norm,
            embed_norm,
            tokens_per_s: (config.batch_size * plan.len) as f64 / step_started.elapsed().as_secs_f64(),
            valid_loss,
        };
        if let Some(file) = self.metrics_file.as_mut() {
            let line = serde_json::to_string(&metrics).expect("metrics serialise");
            writeln!(file, "{line}").map_err(|e| TrainError::io(&config.metrics_path(), e))?;
        }
        Ok(metrics)
    }

    /// The gradients of this rank's share (its loss scaled by `weight`, its
    /// share of the global batch) summed with every other rank's, in one
    /// buffer with the loss terms: the global batch's mean loss, its terms and
    /// gradients, bitwise the same on every rank.
    fn sum_over_ranks(&self, terms: &LossTerms, weight: f64) -> Result<(f32, [f32; 3], GradStore), TrainError> {
        let candle = |e| TrainError::candle(&self.config.out, e);
        let mut grads = (&terms.total * weight).and_then(|l| l.backward()).map_err(candle)?;
        // parameters by name: every rank packs the same buffer layout
        let vars: BTreeMap<String, candle_core::Var> = self.vars.data().lock().expect("no poisoned lock").clone().into_iter().collect();
        // one flat buffer on the model's device (NCCL reduces it there)
        let mut parts: Vec<Tensor> = Vec::with_capacity(vars.len() + 1);
        for var in vars.values() {
            parts.push(match grads.get(var) {
                Some(g) => g.flatten_all().map_err(candle)?,
                None => Tensor::zeros(var.elem_count(), candle_core::DType::F32, var.device()).map_err(candle)?,
            });
        }
        let w = weight as f32;
        let total = terms.total.to_scalar::<f32>().map_err(candle)?;
        let loss_terms = [total * w, terms.mse_x0 * w, terms.mse_decoded * w, terms.ce * w];
        parts.push(Tensor::new(&loss_terms, &self.device).map_err(candle)?);
        let buf = Tensor::cat(&parts, 0).map_err(candle)?;
        let buf = self.collective.all_reduce_sum_tensor(&buf)?;
        let mut offset = 0;
        for var in vars.values() {
            let count = var.elem_count();
            let summed = buf.narrow(0, offset, count).and_then(|g| g.reshape(var.shape())).map_err(candle)?;
            grads.insert(var, summed);
            offset += count;
        }
        let buf = buf.narrow(0, offset, 4).and_then(|t| t.to_vec1::<f32>()).map_err(candle)?;
        Ok((buf[0], [buf[1], buf[2], buf[3]], grads))
    }

    /// Writes a complete checkpoint (weights, moments, average, state) atomically.
    /// Ranks other than 0 write nothing.
    pub fn save(&mut self) -> Result<(), TrainError> {
        self.state.elapsed_s = self.elapsed_s();
        if self.collective.rank() != 0 {
            return Ok(());
        }
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
/// after checking that its model config and tokenizer are the run's. A
/// code-only checkpoint may also start a conditioned run of the same model
/// with an encoder added ([`ModelConfig::unconditioned`]): the encoder and the
/// cross-attention layers keep their fresh initialisation except the
/// cross-attention output projections, which start at zero, so that at step 0
/// the conditioned model computes exactly what the code-only one did. The run
/// may add literal slots ([`ModelConfig::literal_slots`]) to the checkpoint's config.
fn load_initial_weights(dir: &Path, model: &ModelConfig, tokenizer: &Path, vars: &mut VarMap) -> Result<(), TrainError> {
    let theirs = crate::checkpoint::load_config(dir)?;
    // literal slots change what the pairs say, not the weights: a model may start using them
    let model = &ModelConfig { literal_slots: theirs.literal_slots, ..model.clone() };
    let adds_encoder = model.encoder_layers > 0 && theirs.encoder_layers == 0 && theirs == model.unconditioned();
    if &theirs != model && !adds_encoder {
        return Err(TrainError::Config {
            path: dir.join(crate::checkpoint::CONFIG_FILE),
            reason: "init_from: this model config differs from the run's `model` (other than by an added encoder)".into(),
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
    if !adds_encoder {
        return Ok(crate::checkpoint::load_inference_weights(dir, vars)?);
    }
    let path = crate::checkpoint::inference_weights_file(dir);
    let device = vars.all_vars().first().map(|v| v.device().clone()).unwrap_or(Device::Cpu);
    let saved = candle_core::safetensors::load(&path, &device).map_err(|e| TrainError::candle(&path, e))?;
    let data = vars.data().lock().expect("no poisoned lock");
    for (name, var) in data.iter() {
        let added = name.starts_with("encoder.") || name.contains(".cross_attn.") || name.contains(".ln_cross.");
        let value = match (saved.get(name), added) {
            (Some(tensor), false) => tensor.clone(),
            (None, true) if name.contains(".cross_attn.out_proj.") => var.zeros_like().map_err(|e| TrainError::candle(&path, e))?,
            (None, true) => continue,
            (found, _) => {
                return Err(TrainError::Config {
                    path: path.clone(),
                    reason: format!("init_from: `{name}` is {}", if found.is_some() { "unexpected" } else { "missing" }),
                })
            }
        };
        var.set(&value).map_err(|e| TrainError::candle(&path, e))?;
    }
    Ok(())
}

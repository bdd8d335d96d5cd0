//! Pretraining (`lastmile pretrain`): the diffusion loss of the spec, with the
//! CPD objective as a second task, AdamW with warm-up and clipping, held-out
//! evaluation, per-step metrics and exactly resumable checkpoints.
//!
//! Imports `model/`, `kernels`, `diffusion/`, `tokenizer/`, `lang`, `dataset/`,
//! `checkpoint/`, `dist/`; no inference stage imports `train/`.

pub mod checkpoint;
mod config;
mod data;
pub mod draws;
mod ema;
mod literals;
mod loss;
mod metrics;
mod optimizer;
mod paraphrase;
mod trainer;

pub use checkpoint::TrainState;
pub use config::{PairsSource, TrainConfig};
pub use data::TokenizedSplit;
pub use ema::Ema;
pub use literals::literal_copies;
pub use loss::{cross_entropy, diffusion_loss, LossTerms};
pub use metrics::{truncate_metrics, StepMetrics};
pub use optimizer::{AdamW, AdamWParams};
pub use paraphrase::paraphrase_copies;
pub use trainer::Trainer;

use crate::dataset::DatasetError;
use crate::diffusion::{randn, NoiseSchedule};
use crate::model::CodeFusion;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::TokenizerError;
use candle_core::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};

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
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// Reading the corpus failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// Reading an NL-to-code benchmark failed.
    #[error(transparent)]
    Bench(#[from] crate::dataset::BenchError),
    /// A collective between data-parallel ranks failed.
    #[error("data-parallel ranks: {0}")]
    Dist(#[from] crate::dist::DistError),
    /// Reading a checkpoint to start from failed.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The tokenizer failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io(crate::io_error::IoError { path: path.to_path_buf(), source })
    }
    pub(crate) fn candle(path: impl Into<PathBuf>, source: candle_core::Error) -> Self {
        TrainError::Candle { path: path.into(), source }
    }
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

/// Mean held-out loss over fixed batches (same timesteps and noise every time).
pub fn evaluate(
    model: &CodeFusion,
    schedule: &NoiseSchedule,
    valid: &TokenizedSplit,
    batch: usize,
    batches: usize,
    seed: u64,
) -> candle_core::Result<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(0xe7a1));
    let device = model.device().clone();
    let mut total = 0.0;
    for k in 0..batches {
        let indices: Vec<usize> = (0..batch).map(|i| (k * batch + i) % valid.len()).collect();
        let (tokens, _) = valid.batch(&indices, &device)?;
        let context = encode_sources(model, valid, &indices, false)?;
        let t: Vec<u32> = (0..batch).map(|_| rng.random_range(0..schedule.steps() as u32)).collect();
        let eps = randn(&mut rng, &[batch, model.config().seq_len, model.config().d_model], &device)?;
        total += diffusion_loss(model, schedule, &tokens, &t, &eps, None, context.as_ref(), 1.0, false)?.total.to_scalar::<f32>()?;
    }
    Ok(total / batches as f32)
}

/// The encoded sources of rows `indices` of a conditioned split; `None` for
/// code-only data.
pub fn encode_sources(
    model: &CodeFusion,
    split: &TokenizedSplit,
    indices: &[usize],
    train: bool,
) -> candle_core::Result<Option<crate::model::Context>> {
    match split.source_batch(indices, model.device())? {
        Some((ids, lengths)) => model.encode(&ids, &lengths, train),
        None => Ok(None),
    }
}

/// Runs (or with `resume`, continues) pretraining as configured.
pub fn pretrain(config: &TrainConfig, device: &Device, resume: bool, progress: &mut ProgressFn<'_>) -> Result<TrainSummary, TrainError> {
    pretrain_with(config, device, resume, Box::new(crate::dist::SingleProcess), progress)
}

/// [`pretrain`] as one rank of a data-parallel run (`collective`): the same
/// steps on the same global batches, each rank computing its share; rank 0
/// writes the metrics and checkpoints.
pub fn pretrain_with(
    config: &TrainConfig,
    device: &Device,
    resume: bool,
    collective: Box<dyn crate::dist::Collective>,
    progress: &mut ProgressFn<'_>,
) -> Result<TrainSummary, TrainError> {
    let mut trainer = Trainer::resume_with(config, device, resume, collective)?;
    let start = trainer.state.step;
    let max_steps = config.max_steps.map(|s| s as u64);
    progress(Progress::count(Unit::Steps, start as u64, max_steps).with_note(format!(
        "training on {} snippets ({} held out), from step {start}",
        trainer.train.len(),
        trainer.valid.len()
    )));
    let initial_valid_loss = if start == 0 { Some(trainer.evaluate()?) } else { None };
    trainer.start_clock();
    while !trainer.finished() {
        let metrics = trainer.step()?;
        let valid = metrics.valid_loss.map(|v| format!(" valid {v:.4}")).unwrap_or_default();
        let status = format!("loss {:.4} (ce {:.3}){valid} {:.0} tok/s", metrics.loss, metrics.ce, metrics.tokens_per_s);
        progress(Progress::count(Unit::Steps, metrics.step as u64, max_steps).with_status(status));
        if trainer.checkpoint_due() {
            trainer.save()?;
        }
    }
    trainer.save()?;
    Ok(TrainSummary {
        steps: trainer.state.step,
        initial_valid_loss,
        final_valid_loss: trainer.state.valid_loss,
        train_snippets: trainer.train.len(),
        train_too_long: trainer.train.stats.too_long,
        elapsed_s: trainer.state.elapsed_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{corpus_schema, CorpusRecord, ShardWriter, ShardWriterOptions};
    use crate::model::{init_model, ModelConfig};
    use crate::tokenizer::CodeTokenizer;
    use candle_core::Tensor;

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
            shared_source_embedding: false,
            diffusion_steps: 1200,
            time_features: 32,
            layer_norm_eps: 1e-5,
            embed_norm: None,
            tied_head: false,
            length_bucket: None,
            literal_slots: false,
        }
    }

    fn real_formulas(count: usize) -> Vec<String> {
        let text = std::fs::read_to_string(crate::repo_file("corpora/excel/euses-formulas.txt")).unwrap();
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
            corpus: Some(dir.path().join("corpus")),
            pairs: None,
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
            low_noise_prob: 0.0,
            low_noise_max: 240,
            mse_weight: 1.0,
            span_prob: 0.0,
            span_max: 4,
            full_length_prob: 0.1,
            init_from: None,
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
        // the spec's model, and the recipe's: tied head, row norm, weighted mse, a span mask
        for tied in [false, true] {
            let config = ModelConfig { tied_head: tied, embed_norm: tied.then_some(4.0), ..tiny_config() };
            let (model, vars) = init_model(&config, &Device::Cpu, 0).unwrap();
            let schedule = NoiseSchedule::sqrt(1200);
            let (tokens, t, eps) = batch(&model);
            let split = TokenizedSplit {
                rows: tokens.to_vec2::<u32>().unwrap(),
                maskable: vec![vec![false; 16]; 4],
                stats: Default::default(),
                sources: None,
            };
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let windows: Vec<_> = (0..4).map(|i| split.span_window(i, 16, 4, &mut rng)).collect();
            let mask = crate::diffusion::Window::keep_mask(windows.iter().cloned().map(Into::into), 16, &Device::Cpu).unwrap();
            let keep = tied.then_some(&mask);
            let loss = diffusion_loss(&model, &schedule, &tokens, &t, &eps, keep, None, if tied { 16.0 } else { 1.0 }, true).unwrap();
            let grads = loss.total.backward().unwrap();
            let data = vars.data().lock().unwrap();
            // embed, time (2 linears), 2 stacks of (inp, pos, 1 block of 6 sub-layers, ln), denoiser_out, head
            assert_eq!(data.len(), 1 + 4 + 2 * (2 + 1 + 12 + 2) + 2 + if tied { 0 } else { 2 });
            for (name, var) in data.iter() {
                let grad = grads.get(var).unwrap_or_else(|| panic!("{name} has no gradient"));
                let size = grad.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(size > 0.0, "{name} has a zero gradient (tied head: {tied})");
            }
        }
    }

    #[test]
    fn the_patched_backward_sums_fan_in_subtractions_and_reductions() {
        // vendor/candle-core stores the first gradient reaching a tensor instead of
        // adding it into zeros: fan-in must still sum, the first gradient through a
        // subtraction's right side must arrive negated, and a reduction's gradient
        // must arrive broadcast to its input's shape
        let dev = Device::Cpu;
        let x = candle_core::Var::from_tensor(&Tensor::new(&[[1f32, -2.0, 3.0], [0.5, 4.0, -1.0]], &dev).unwrap()).unwrap();
        let (a, b) = (Tensor::new(&[[2f32, 1.0, 0.0], [1.0, 1.0, 1.0]], &dev).unwrap(), Tensor::new(3f32, &dev).unwrap());
        let x = x.as_tensor();
        // d/dx of sum(x·a) + sum(3 - x) + sum(x summed over rows, times 2) + max of each row
        let loss = ((x * &a).unwrap().sum_all().unwrap()
            + b.broadcast_sub(x).unwrap().sum_all().unwrap()
            + (x.sum_keepdim(1).unwrap() * 2.0).unwrap().sum_all().unwrap()
            + x.max_keepdim(1).unwrap().sum_all().unwrap())
        .unwrap();
        let grad = loss.backward().unwrap().get(x).unwrap().to_vec2::<f32>().unwrap();
        // a - 1 + 2, plus 1 where the row's maximum is
        assert_eq!(grad, vec![vec![3.0, 2.0, 2.0], vec![2.0, 3.0, 2.0]]);
        // only the right side of a subtraction: the gradient is negated, not lost
        let grad = b.broadcast_sub(x).unwrap().sum_all().unwrap().backward().unwrap().get(x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(grad, vec![vec![-1.0; 3]; 2]);
    }

    #[test]
    fn span_masks_noise_one_window_inside_the_snippet_and_low_noise_draws_stay_low() {
        let rows: Vec<Vec<u32>> = (0..64)
            .map(|i| {
                let len = 1 + i % 12;
                (0..16)
                    .map(|p| {
                        if p < len {
                            4
                        } else if p == len {
                            1
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect();
        let split = TokenizedSplit { rows: rows.clone(), maskable: vec![vec![false; 16]; 64], stats: Default::default(), sources: None };
        let indices: Vec<usize> = (0..64).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let windows: Vec<_> = indices.iter().map(|&i| split.span_window(i, 16, 4, &mut rng)).collect();
        let mask = crate::diffusion::Window::keep_mask(windows.iter().cloned().map(Into::into), 16, &Device::Cpu).unwrap();
        let mask: Vec<Vec<f32>> = mask.squeeze(2).unwrap().to_vec2().unwrap();
        let mut widths = std::collections::BTreeSet::new();
        for (row, keep) in rows.iter().zip(&mask) {
            let noised: Vec<usize> = (0..16).filter(|&p| keep[p] == 0.0).collect();
            assert!(!noised.is_empty() && noised.len() <= 4);
            assert!(noised.windows(2).all(|w| w[1] == w[0] + 1), "one contiguous window: {noised:?}");
            let eos = row.iter().position(|&id| id == 1).unwrap();
            assert!(*noised.last().unwrap() <= eos + 1, "within the snippet, its <eos> and one more");
            widths.insert(noised.len());
        }
        assert_eq!(widths.len(), 4, "every width 1..=4 occurs");
        let (_dir, mut config) = workspace();
        config.batch_size = 4000;
        config.low_noise_prob = 0.5;
        config.low_noise_max = 240;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let t: Vec<u32> = (0..4000).map(|_| config.draw_timestep(1200, &mut rng)).collect();
        let low = t.iter().filter(|&&t| t < 240).count() as f64 / t.len() as f64;
        assert!((low - 0.6).abs() < 0.03, "half low plus a fifth of the uniform half: {low}");
        config.low_noise_prob = 0.0;
        let mut a = ChaCha8Rng::seed_from_u64(0);
        let uniform: Vec<u32> = (0..4000).map(|_| a.random_range(0..1200u32)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let t: Vec<u32> = (0..4000).map(|_| config.draw_timestep(1200, &mut rng)).collect();
        assert_eq!(t, uniform, "off: the spec's draw, stream unchanged");
    }

    #[test]
    fn a_steps_draws_do_not_depend_on_how_the_batch_is_split() {
        use super::draws::{share, BatchPlan, ExampleDraws};
        let (_dir, mut config) = workspace();
        (config.batch_size, config.span_prob, config.cpd_prob, config.low_noise_prob) = (8, 1.0, 0.0, 0.5);
        let rows: Vec<Vec<u32>> = (0..20)
            .map(|i| {
                (0..16)
                    .map(|p| {
                        if p < 2 + i % 9 {
                            4
                        } else if p == 2 + i % 9 {
                            1
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect();
        let split = TokenizedSplit { rows, maskable: vec![vec![false; 16]; 20], stats: Default::default(), sources: None };
        let model = tiny_config();
        let plan = BatchPlan::draw(&config, &model, &split, None, 3);
        assert_eq!(plan, BatchPlan::draw(&config, &model, &split, None, 3), "every rank draws the same global batch");
        assert_ne!(plan.indices, BatchPlan::draw(&config, &model, &split, None, 4).indices);
        let whole = ExampleDraws::draw(&config, &plan, &split, 1200, 4, 0..8, 3);
        for world in [2, 3, 8] {
            let parts: Vec<ExampleDraws> =
                (0..world).map(|r| ExampleDraws::draw(&config, &plan, &split, 1200, 4, share(8, r, world), 3)).collect();
            let t: Vec<u32> = parts.iter().flat_map(|p| p.t.clone()).collect();
            let eps: Vec<f32> = parts.iter().flat_map(|p| p.eps.clone()).collect();
            let spans: Vec<_> = parts.iter().flat_map(|p| p.spans.clone()).collect();
            assert_eq!((t, eps, spans), (whole.t.clone(), whole.eps.clone(), whole.spans.clone()), "{world} ranks");
        }
        assert_eq!(whole.eps.len(), 8 * plan.len * 4);
        assert_eq!(whole.spans.len(), 8, "a span batch: one window per example");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let config = tiny_config();
        let (model, vars) = init_model(&config, &Device::Cpu, 1).unwrap();
        let schedule = NoiseSchedule::sqrt(1200);
        let (tokens, t, eps) = batch(&model);
        let loss = || {
            diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, None, 1.0, true).unwrap().total.to_scalar::<f32>().unwrap() as f64
        };
        let grads = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, None, 1.0, true).unwrap().total.backward().unwrap();
        let data = vars.data().lock().unwrap().clone();
        let mut checked = 0;
        for name in [
            "embed.weight",
            "denoiser.blocks.0.attn.in_proj.weight",
            "denoiser.blocks.0.ln1.weight",
            "decoder.ln.bias",
            "head.weight",
            "time.fc1.weight",
        ] {
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
        let first = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, None, 1.0, true).unwrap().ce;
        let mut last = first;
        for _ in 0..150 {
            let terms = diffusion_loss(&model, &schedule, &tokens, &t, &eps, None, None, 1.0, true).unwrap();
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
        let straight_vars = crate::checkpoint::load(&config.checkpoint_dir(), &Device::Cpu).unwrap().vars;

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
        let resumed = crate::checkpoint::load(&interrupted.checkpoint_dir(), &Device::Cpu).unwrap();
        let (resumed_vars, tokenizer) = (resumed.vars, resumed.tokenizer);
        assert_eq!(tokenizer.vocab_size(), 300);
        let (a, b) = (straight_vars.data().lock().unwrap(), resumed_vars.data().lock().unwrap());
        for (name, var) in a.iter() {
            let diff = (var.as_tensor() - b[name].as_tensor()).unwrap().abs().unwrap().max_all().unwrap();
            assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "{name}");
        }
        // both weight files, raw and averaged, are the same tensors; inference reads the average
        assert_eq!(crate::checkpoint::inference_weights_file(&config.checkpoint_dir()), config.checkpoint_dir().join(checkpoint::EMA_FILE));
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
    fn a_run_can_start_from_a_checkpoints_inference_weights() {
        let (dir, config) = workspace();
        pretrain(&config, &Device::Cpu, false, &mut |_| {}).unwrap();
        let mut continued = config.clone();
        continued.out = dir.path().join("continued");
        continued.init_from = Some(config.checkpoint_dir());
        continued.max_steps = Some(1);
        continued.lr = 0.0; // one step that moves nothing: the start is what was loaded
        continued.warmup_steps = 0;
        pretrain(&continued, &Device::Cpu, false, &mut |_| {}).unwrap();
        let load = |path: PathBuf| candle_core::safetensors::load(path, &Device::Cpu).unwrap();
        let (start, after) =
            (load(config.checkpoint_dir().join(checkpoint::EMA_FILE)), load(continued.checkpoint_dir().join(checkpoint::MODEL_FILE)));
        assert_eq!(start.len(), after.len());
        for (name, tensor) in &start {
            let diff = (tensor - &after[name]).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert_eq!(diff, 0.0, "{name}: continued pretraining starts from the averaged weights");
        }
        // another tokenizer is refused, naming the file
        let other = dir.path().join("other-tokenizer.json");
        CodeTokenizer::train(["=A1+B2", "=SUM(C1:C9)"].iter(), 300).unwrap().save(&other).unwrap();
        continued.tokenizer = other;
        continued.out = dir.path().join("refused");
        let err = pretrain(&continued, &Device::Cpu, false, &mut |_| {}).expect_err("a different tokenizer is an error").to_string();
        assert!(err.contains("tokenizer.json") && err.contains("differs"), "{err}");
    }

    /// A conditioned run of the workspace's model: an NL-to-code benchmark of
    /// the first 120 real CF-rule train pairs, an encoder of one block.
    fn conditioned(dir: &Path, base: &TrainConfig) -> TrainConfig {
        let real = std::fs::read_to_string(crate::repo_file("corpora/benchmarks/nl2code/cfrule.json")).unwrap();
        let real: serde_json::Value = serde_json::from_str(&real).unwrap();
        let train: Vec<serde_json::Value> = real["train"].as_array().unwrap()[..120]
            .iter()
            .map(|i| serde_json::json!({"ID": i["ID"], "NL Utterance": i["NL Utterance"], "Code": i["Code"]}))
            .collect();
        let bench = dir.join("cf.json");
        std::fs::write(&bench, serde_json::to_string(&serde_json::json!({"train": train, "test": []})).unwrap()).unwrap();
        let model = ModelConfig { encoder_layers: 1, encoder_seq_len: Some(12), shared_source_embedding: true, ..tiny_config() };
        std::fs::write(dir.join("conditioned.toml"), toml::to_string(&model).unwrap()).unwrap();
        TrainConfig {
            model: dir.join("conditioned.toml"),
            corpus: None,
            pairs: Some(PairsSource { bench, lang: crate::lang::LangId::Cf, literal_copies: 0, paraphrase_copies: 0 }),
            out: dir.join("conditioned"),
            ..base.clone()
        }
    }

    #[test]
    fn an_added_encoder_starts_switched_off_then_learns() {
        let (dir, config) = workspace();
        pretrain(&config, &Device::Cpu, false, &mut |_| {}).unwrap();
        let mut tuned = conditioned(dir.path(), &config);
        tuned.init_from = Some(config.checkpoint_dir());
        (tuned.max_steps, tuned.lr, tuned.warmup_steps, tuned.ema_decay) = (Some(1), 0.0, 0, None);
        pretrain(&tuned, &Device::Cpu, false, &mut |_| {}).unwrap();
        // step 0 (a step at learning rate 0): the conditioned model computes what
        // the code-only one does, whatever the utterance
        let code_only = crate::checkpoint::load(&config.checkpoint_dir(), &Device::Cpu).unwrap();
        let start = crate::checkpoint::load(&tuned.checkpoint_dir(), &Device::Cpu).unwrap();
        assert!(start.vars.data().lock().unwrap().keys().any(|k| k.starts_with("encoder.")));
        let (tokens, t, eps) = batch(&code_only.model);
        let x_t = crate::diffusion::q_sample(&code_only.schedule, &code_only.model.embed(&tokens).unwrap(), &t, &eps).unwrap();
        let out = |model: &CodeFusion, context: Option<&crate::model::Context>| {
            let x0_hat = model.denoise(&x_t, &t, context, false).unwrap();
            model.logits(&model.decode(&x0_hat, context, false).unwrap()).unwrap()
        };
        let source = Tensor::new(&[[20u32, 30, 40, 1], [50, 1, 0, 0], [60, 70, 1, 0], [80, 1, 0, 0]], &Device::Cpu).unwrap();
        let context = start.model.encode(&source, &[4, 2, 3, 2], false).unwrap();
        assert!(context.is_some());
        let diff = (out(&code_only.model, None) - out(&start.model, context.as_ref())).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "step 0 is the code-only model");
        // trained on, the encoder's utterances move the output, and every
        // parameter (encoder and cross-attention included) has moved
        let mut tuned = conditioned(dir.path(), &config);
        tuned.init_from = Some(config.checkpoint_dir());
        tuned.out = dir.path().join("conditioned-trained");
        tuned.max_steps = Some(8);
        let summary = pretrain(&tuned, &Device::Cpu, false, &mut |_| {}).unwrap();
        assert_eq!(summary.train_snippets + summary.train_too_long, 114, "120 pairs, one in 20 held out");
        assert!(summary.train_snippets > 40, "{summary:?}");
        let trained = crate::checkpoint::load(&tuned.checkpoint_dir(), &Device::Cpu).unwrap();
        let a = trained.model.encode(&source, &[4, 2, 3, 2], false).unwrap();
        let b = trained.model.encode(&Tensor::new(&[[90u32, 1, 0, 0]; 4], &Device::Cpu).unwrap(), &[2; 4], false).unwrap();
        let moved = (out(&trained.model, a.as_ref()) - out(&trained.model, b.as_ref())).unwrap().abs().unwrap().max_all().unwrap();
        assert!(moved.to_scalar::<f32>().unwrap() > 0.0, "the utterance reaches the output");
        let before = start.vars.data().lock().unwrap();
        for (name, var) in trained.vars.data().lock().unwrap().iter() {
            let delta = (var.as_tensor() - before[name].as_tensor()).unwrap().abs().unwrap().max_all().unwrap();
            assert!(delta.to_scalar::<f32>().unwrap() > 0.0, "{name} never moved");
        }
    }

    #[test]
    fn a_conditioned_model_continues_with_literal_slots_in_its_pairs() {
        let (dir, config) = workspace();
        pretrain(&config, &Device::Cpu, false, &mut |_| {}).unwrap();
        let mut tuned = conditioned(dir.path(), &config);
        tuned.init_from = Some(config.checkpoint_dir());
        tuned.max_steps = Some(2);
        pretrain(&tuned, &Device::Cpu, false, &mut |_| {}).unwrap();
        // the same widths with literal slots start from it: step 0 (learning rate 0) is it
        let with_slots = ModelConfig { literal_slots: true, ..ModelConfig::load(&tuned.model).unwrap() };
        std::fs::write(dir.path().join("slots.toml"), toml::to_string(&with_slots).unwrap()).unwrap();
        let slots = TrainConfig {
            model: dir.path().join("slots.toml"),
            init_from: Some(tuned.checkpoint_dir()),
            out: dir.path().join("slots"),
            max_steps: Some(1),
            lr: 0.0,
            warmup_steps: 0,
            ema_decay: None,
            ..tuned.clone()
        };
        pretrain(&slots, &Device::Cpu, false, &mut |_| {}).unwrap();
        let (before, after) = (
            crate::checkpoint::load(&tuned.checkpoint_dir(), &Device::Cpu).unwrap(),
            crate::checkpoint::load(&slots.checkpoint_dir(), &Device::Cpu).unwrap(),
        );
        assert!(after.model.config().literal_slots && !before.model.config().literal_slots);
        let before = before.vars.data().lock().unwrap();
        for (name, var) in after.vars.data().lock().unwrap().iter() {
            let delta = (var.as_tensor() - before[name].as_tensor()).unwrap().abs().unwrap().max_all().unwrap();
            assert_eq!(delta.to_scalar::<f32>().unwrap(), 0.0, "{name} moved at learning rate 0");
        }
        // its pairs show placeholders where the utterance and the rule share a number
        let tokenizer = CodeTokenizer::load(&tuned.tokenizer).unwrap();
        let pairs = tuned.pairs.as_ref().unwrap();
        let decoded = |slots: bool| {
            let split = data::TokenizedSplit::load_pairs(pairs, false, slots, &tokenizer, 256, 256).unwrap();
            let sources = split.sources.clone().unwrap();
            split
                .rows
                .iter()
                .zip(sources)
                .map(|(code, source)| (tokenizer.decode_snippet(&source).unwrap(), tokenizer.decode_snippet(code).unwrap()))
                .collect::<Vec<_>>()
        };
        let (plain, masked) = (decoded(false), decoded(true));
        assert_eq!(plain.len(), masked.len());
        let shared = masked.iter().filter(|(u, c)| u.contains("N0") && c.contains("N0")).count();
        assert!(shared >= 10, "{shared} pairs share a slotted number: {:?}", &masked[..5]);
        assert!(plain.iter().all(|(u, c)| !u.contains("N0") && !c.contains("N0")));
        // paraphrased copies add training pairs, never held-out ones
        let paraphrased = PairsSource { paraphrase_copies: 2, ..pairs.clone() };
        let count = |source: &PairsSource, held_out: bool| {
            data::TokenizedSplit::load_pairs(source, held_out, true, &tokenizer, 256, 256).unwrap().len()
        };
        assert!(count(&paraphrased, false) > masked.len(), "no comparison before a number in 114 CF pairs");
        assert_eq!(count(&paraphrased, true), count(pairs, true));
        for ((u, c), (mu, mc)) in plain.iter().zip(&masked) {
            let found = crate::dataset::LiteralSlots::of(u);
            assert_eq!((found.mask_utterance(u), found.fill(mc)), (mu.clone(), c.clone()), "masking {u:?} / {c:?}");
        }
    }

    #[test]
    fn a_conditioned_run_needs_pairs_and_an_encoder() {
        let (dir, config) = workspace();
        // an encoder with a code-only corpus, and pairs for a model without one
        let pairs = conditioned(dir.path(), &config);
        let mixed = [
            TrainConfig { corpus: config.corpus.clone(), pairs: None, ..pairs.clone() },
            TrainConfig { model: config.model.clone(), ..pairs.clone() },
        ];
        for bad in mixed {
            let err = pretrain(&bad, &Device::Cpu, false, &mut |_| {}).err().expect("refused").to_string();
            assert!(err.contains("encoder_layers") && err.contains(".toml"), "{err}");
        }
        // a code-only checkpoint of another shape cannot start a conditioned run
        pretrain(&config, &Device::Cpu, false, &mut |_| {}).unwrap();
        let other = ModelConfig { encoder_layers: 1, d_ff: Some(64), ..tiny_config() };
        std::fs::write(dir.path().join("other.toml"), toml::to_string(&other).unwrap()).unwrap();
        let bad = TrainConfig { model: dir.path().join("other.toml"), init_from: Some(config.checkpoint_dir()), ..pairs };
        let err = pretrain(&bad, &Device::Cpu, false, &mut |_| {}).err().expect("refused").to_string();
        assert!(err.contains("config.json") && err.contains("differs"), "{err}");
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

//! Training the downstream fixer (`lastmile fixer train`): one fixed recipe
//! over a dataset's (broken → fixed) pairs, so that fixers trained on
//! different pair sources compare the data and nothing else. Resumable:
//! `checkpoint/` holds the weights, the optimiser moments and the step; the
//! batch order is a pure function of the seed and the step. A recipe with
//! `init_from` starts from a pretrained fixer instead of a random one, and a
//! `denoise:` source pretrains one on a mined corpus ([`super::denoise`]).

use super::denoise::{corruption_rng, mask_spans};
use super::{fixer_loss, Fixer, FixerConfig};
use crate::checkpoint::{CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, TOKENIZER_FILE};
use crate::dataset::{list_shards, read_pairs, replace_dir, write_file_atomic};
use crate::model::redraw_seeded;
use crate::progress::{Progress, ProgressFn, Unit};
use crate::tokenizer::{CodeTokenizer, EOS, PAD};
use crate::train::{truncate_metrics, AdamW, AdamWParams, TrainError};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The fixer's training recipe file.
pub const RECIPE_FILE: &str = "recipe.json";
/// What the fixer was trained on.
pub const DATA_FILE: &str = "data.json";

/// The one training recipe: every fixer of a comparison is trained with the
/// same values, only the pairs differ (DataComp-style data ablation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FixerRecipe {
    /// Optimiser steps.
    pub steps: usize,
    /// Pairs per batch.
    pub batch_size: usize,
    /// Peak AdamW learning rate.
    pub lr: f64,
    /// Linear warm-up steps, then cosine decay to 10% of `lr`.
    pub warmup_steps: usize,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
    /// Seed of the initialisation and of the batch order.
    pub seed: u64,
    /// Longest source and target in tokens, `<eos>` included; longer pairs are skipped.
    pub max_len: usize,
    /// Save a resumable checkpoint every this many steps.
    pub checkpoint_every: usize,
    /// Model width (the architecture is part of the recipe; see [`FixerConfig::standard`]).
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Encoder blocks, and as many decoder blocks.
    pub layers: usize,
    /// A pointer-generator output that copies source tokens (see [`FixerConfig::copy`]).
    pub copy: bool,
    /// Start from this pretrained fixer's weights (a `lastmile fixer train`
    /// output trained with `denoise:` pairs, the same sizes and tokenizer)
    /// instead of a random initialisation: the users' regime, where a
    /// pretrained model is fine-tuned on repair pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

impl Default for FixerRecipe {
    fn default() -> Self {
        FixerRecipe {
            steps: 1200,
            batch_size: 64,
            lr: 1e-3,
            warmup_steps: 100,
            label_smoothing: 0.1,
            grad_clip: 1.0,
            seed: 0,
            max_len: 80,
            checkpoint_every: 250,
            d_model: 128,
            n_heads: 4,
            layers: 2,
            copy: true,
            init_from: None,
        }
    }
}

impl FixerRecipe {
    /// The learning rate at `step` (0-based): warm-up, then cosine to 10%.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        self.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
    }

    /// The fixer's sizes for a tokenizer of `vocab_size` ids.
    pub fn model_config(&self, vocab_size: usize) -> FixerConfig {
        let standard = FixerConfig::standard(vocab_size, self.max_len);
        FixerConfig {
            d_model: self.d_model,
            d_ff: 4 * self.d_model,
            n_heads: self.n_heads,
            encoder_layers: self.layers,
            decoder_layers: self.layers,
            copy: self.copy,
            ..standard
        }
    }

    /// Loads a recipe from TOML (unset fields take the defaults).
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainError::Config { path: path.to_path_buf(), reason: e.to_string() })
    }
}

/// Where a fixer's pairs come from: a dataset directory (`lastmile rollout`
/// or `lastmile corrupt` output), or an NL-to-code benchmark file (`*.json`:
/// utterance → code, the autoregressive baseline of `eval nl2code`), and how
/// many of its training pairs, drawn by a fixed seeded shuffle; `identity` trains on (fixed → fixed), the control
/// that shows what the broken sides add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairSource {
    /// The dataset directory (holding `data/train-*.parquet`).
    pub dir: PathBuf,
    /// Pairs to take (all when `None`).
    pub count: Option<usize>,
    /// Train on `fixed → fixed` instead of `broken → fixed`.
    pub identity: bool,
    /// An NL-to-code benchmark only: also this many literal-swapped copies of
    /// each pair, as a conditioned diffusion run's `literal_copies` makes them.
    #[serde(default)]
    pub literal_copies: usize,
    /// A mined corpus (`outputs/corpus/<lang>`) whose train snippets are
    /// pretraining pairs: spans masked → the snippet ([`super::denoise`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denoise: bool,
}

impl std::str::FromStr for PairSource {
    type Err = String;

    /// `DIR`, `DIR:COUNT`, or either prefixed with `identity:`; a benchmark
    /// `BENCH.json` may be prefixed with `literals=N:` (N literal-swapped
    /// copies); `denoise:CORPUS[:COUNT]` is a mined corpus to pretrain on.
    fn from_str(s: &str) -> Result<Self, String> {
        let (denoise, s_rest) = match s.strip_prefix("denoise:") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (identity, rest) = match s_rest.strip_prefix("identity:") {
            Some(rest) => (true, rest),
            None => (false, s_rest),
        };
        let (literal_copies, rest) = match rest.strip_prefix("literals=").and_then(|r| r.split_once(':')) {
            Some((n, rest)) => (n.parse::<usize>().map_err(|e| format!("`{s}`: literals={n}: {e}"))?, rest),
            None => (0, rest),
        };
        let (dir, count) = match rest.rsplit_once(':') {
            Some((dir, count)) if !count.is_empty() && count.chars().all(|c| c.is_ascii_digit()) => {
                (dir, Some(count.parse::<usize>().map_err(|e| format!("`{s}`: {e}"))?))
            }
            _ => (rest, None),
        };
        if dir.is_empty() || (denoise && (identity || literal_copies > 0)) {
            return Err(format!("`{s}`: expected [identity:]DIR[:COUNT], literals=N:BENCH.json or denoise:CORPUS[:COUNT]"));
        }
        Ok(PairSource { dir: PathBuf::from(dir), count, identity, literal_copies, denoise })
    }
}

/// What a fixer was trained on, written as `data.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixerData {
    /// The sources, in order.
    pub sources: Vec<PairSource>,
    /// Pairs taken from each source.
    pub taken: Vec<usize>,
    /// Pairs skipped as longer than `max_len` tokens.
    pub too_long: usize,
    /// Pairs trained on.
    pub pairs: usize,
}

/// Reads the training pairs of `sources` (a fixed seeded subset of each); a
/// `denoise` source's pairs are (snippet, snippet), masked when batched.
pub fn load_pair_texts(sources: &[PairSource]) -> Result<(Vec<(String, String)>, Vec<usize>), TrainError> {
    let mut out = Vec::new();
    let mut taken = Vec::new();
    for source in sources {
        let mut pairs = if source.denoise {
            corpus_pairs(&source.dir)?
        } else if source.dir.extension().is_some_and(|e| e == "json") {
            nl2code_pairs(&source.dir, source.literal_copies)?
        } else {
            dataset_pairs(&source.dir)?
        };
        if source.identity {
            pairs = pairs.into_iter().map(|(_, fixed)| (fixed.clone(), fixed)).collect();
        }
        // the subset does not depend on the training seed: a data ablation varies only the data
        pairs.shuffle(&mut ChaCha8Rng::seed_from_u64(0x5eed_da7a));
        if let Some(count) = source.count {
            if pairs.len() < count {
                return Err(TrainError::Data {
                    path: source.dir.clone(),
                    reason: format!("{count} pairs wanted, {} in the train split", pairs.len()),
                });
            }
            pairs.truncate(count);
        }
        taken.push(pairs.len());
        out.extend(pairs);
    }
    Ok((out, taken))
}

/// The (broken, fixed) pairs of a dataset's train split.
fn dataset_pairs(dir: &Path) -> Result<Vec<(String, String)>, TrainError> {
    let data = dir.join("data");
    let shards = list_shards(&data, "train")?;
    if shards.is_empty() {
        return Err(TrainError::Data { path: data, reason: "no train-*.parquet shards: not a lastmile dataset".into() });
    }
    let mut pairs = Vec::new();
    for shard in shards {
        pairs.extend(read_pairs(&shard)?.into_iter().map(|p| (p.broken, p.fixed)));
    }
    Ok(pairs)
}

/// (snippet, snippet) for each train snippet of a mined corpus.
fn corpus_pairs(dir: &Path) -> Result<Vec<(String, String)>, TrainError> {
    let records = crate::dataset::read_corpus_split(dir, "train")?;
    if records.is_empty() {
        return Err(TrainError::Data { path: dir.to_path_buf(), reason: "no train-*.parquet snippets: not a mined corpus".into() });
    }
    Ok(records.into_iter().map(|r| (r.text.clone(), r.text)).collect())
}

/// The (utterance, code) pairs of an NL-to-code benchmark's train split (items
/// without an utterance left out): the autoregressive baseline of NL-to-code.
fn nl2code_pairs(path: &Path, literal_copies: usize) -> Result<Vec<(String, String)>, TrainError> {
    let bench = crate::dataset::load_nl2code(path)?;
    let pairs: Vec<(String, String)> = bench.train.into_iter().filter_map(|item| item.utterance.map(|u| (u, item.code))).collect();
    let copies = crate::train::literal_copies(&pairs, literal_copies);
    Ok(pairs.into_iter().chain(copies).collect())
}

/// Resumable state of a fixer run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FixerState {
    step: usize,
    elapsed_s: f64,
    recipe: FixerRecipe,
}

/// How a fixer run ended.
#[derive(Debug, Clone, Serialize)]
pub struct FixerSummary {
    /// Steps taken in total.
    pub steps: usize,
    /// Mean training loss over the last 50 steps of this process.
    pub final_loss: Option<f32>,
    /// What it was trained on.
    pub data: FixerData,
    /// Parameters.
    pub parameters: usize,
    /// Training seconds, resumed runs included.
    pub elapsed_s: f64,
}

/// One metrics line per step.
#[derive(Debug, Clone, Serialize)]
struct FixerStep {
    step: usize,
    loss: f32,
    lr: f64,
    grad_norm: f64,
    tokens_per_s: f64,
}

/// How a fixer run is driven (not part of the recipe: it does not change the result).
#[derive(Debug, Clone, Default)]
pub struct FixerRunOptions {
    /// Continue from `out/checkpoint` when it exists.
    pub resume: bool,
    /// Stop (with a checkpoint) once this many steps are done, before the
    /// recipe's end: a long run in slices. The final files are written only
    /// when the recipe's steps are all done.
    pub stop_after: Option<usize>,
}

/// Trains (or with `resume`, continues) a fixer on `sources` into `out`:
/// `config.json`, `model.safetensors`, `tokenizer.json`, `recipe.json`,
/// `data.json`, `metrics.jsonl`, and `checkpoint/` for resumption.
pub fn train_fixer(
    sources: &[PairSource],
    tokenizer_path: &Path,
    recipe: &FixerRecipe,
    out: &Path,
    options: &FixerRunOptions,
    device: &Device,
    progress: &mut ProgressFn<'_>,
) -> Result<FixerSummary, TrainError> {
    let tokenizer = CodeTokenizer::load(tokenizer_path)?;
    let (texts, taken) = load_pair_texts(sources)?;
    // which pairs are masked afresh in each batch (those of `denoise` sources)
    let masked: Vec<bool> = sources.iter().zip(&taken).flat_map(|(s, &n)| std::iter::repeat_n(s.denoise, n)).collect();
    let mut pairs: Vec<(Vec<u32>, Vec<u32>)> = Vec::with_capacity(texts.len());
    let mut pair_masked: Vec<bool> = Vec::with_capacity(texts.len());
    let mut too_long = 0;
    for ((broken, fixed), &masked) in texts.iter().zip(&masked) {
        let (mut b, mut f) = (tokenizer.encode(broken)?, tokenizer.encode(fixed)?);
        b.push(EOS);
        f.push(EOS);
        if b.len() > recipe.max_len || f.len() > recipe.max_len {
            too_long += 1;
            continue;
        }
        pairs.push((b, f));
        pair_masked.push(masked);
    }
    if pairs.is_empty() {
        return Err(TrainError::Data { path: sources[0].dir.clone(), reason: format!("no pair fits {} tokens", recipe.max_len) });
    }
    let data = FixerData { sources: sources.to_vec(), taken, too_long, pairs: pairs.len() };
    let config = recipe.model_config(tokenizer.vocab_size());
    let candle = |e| TrainError::candle(out, e);
    let mut vars = VarMap::new();
    let model = Fixer::new(&config, VarBuilder::from_varmap(&vars, DType::F32, device)).map_err(candle)?;
    let d = config.d_model as f32;
    // positions at the scale of the sqrt(d)-scaled token embeddings (unit per
    // feature), so that copying, which needs them, does not start from noise
    redraw_seeded(&vars, &mut ChaCha8Rng::seed_from_u64(recipe.seed ^ 0xf1e5), d.powf(-0.5), 1.0, &|_, _| None, device).map_err(candle)?;
    if let Some(from) = &recipe.init_from {
        init_from_fixer(from, &config, &tokenizer, tokenizer_path, &mut vars)?;
    }
    let parameters = vars.all_vars().iter().map(|v| v.elem_count()).sum();
    let mut optimizer = AdamW::new(vars.data().lock().expect("no poisoned lock").clone(), AdamWParams::default()).map_err(candle)?;
    let ckpt = out.join("checkpoint");
    let metrics_path = out.join("metrics.jsonl");
    let mut state = FixerState { step: 0, elapsed_s: 0.0, recipe: recipe.clone() };
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    if options.resume && ckpt.join(STATE_FILE).exists() {
        let path = ckpt.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let saved: FixerState =
            serde_json::from_str(&text).map_err(|e| TrainError::Config { path: path.clone(), reason: e.to_string() })?;
        if saved.recipe != *recipe {
            return Err(TrainError::Config { path, reason: "the checkpoint was trained with another recipe; use a new --out".into() });
        }
        vars.load(ckpt.join(MODEL_FILE)).map_err(|e| TrainError::candle(ckpt.join(MODEL_FILE), e))?;
        let moments = candle_core::safetensors::load(ckpt.join(OPTIMIZER_FILE), device)
            .map_err(|e| TrainError::candle(ckpt.join(OPTIMIZER_FILE), e))?;
        optimizer.load_state(&moments, saved.step).map_err(candle)?;
        truncate_metrics(&metrics_path, saved.step)?;
        state = saved;
    } else {
        write_file_atomic(&metrics_path, b"")?;
    }
    // what describes the run is written first, so that the checkpoint of an
    // unfinished run (a long pretraining in slices) loads as a fixer too
    write_file_atomic(&out.join(CONFIG_FILE), &serde_json::to_vec_pretty(&config).expect("config serialises"))?;
    write_file_atomic(&out.join(RECIPE_FILE), &serde_json::to_vec_pretty(recipe).expect("recipe serialises"))?;
    write_file_atomic(&out.join(DATA_FILE), &serde_json::to_vec_pretty(&data).expect("data serialises"))?;
    tokenizer.save(&out.join(TOKENIZER_FILE))?;
    let mut metrics = std::fs::OpenOptions::new().append(true).open(&metrics_path).map_err(|e| TrainError::io(&metrics_path, e))?;
    progress(Progress::count(Unit::Steps, state.step as u64, Some(recipe.steps as u64)).with_note(format!(
        "fixer: {parameters} parameters, {} pairs ({too_long} longer than {} tokens skipped), from step {}",
        pairs.len(),
        recipe.max_len,
        state.step
    )));
    let save = |state: &FixerState, vars: &VarMap, optimizer: &AdamW| -> Result<(), TrainError> {
        let staging = crate::dataset::staging_dir(&ckpt)?;
        std::fs::create_dir_all(&staging).map_err(|e| TrainError::io(&staging, e))?;
        vars.save(staging.join(MODEL_FILE)).map_err(|e| TrainError::candle(staging.join(MODEL_FILE), e))?;
        candle_core::safetensors::save(&optimizer.state(), staging.join(OPTIMIZER_FILE))
            .map_err(|e| TrainError::candle(staging.join(OPTIMIZER_FILE), e))?;
        write_file_atomic(&staging.join(STATE_FILE), &serde_json::to_vec_pretty(state).expect("state serialises"))?;
        replace_dir(&staging, &ckpt)?;
        Ok(())
    };
    let order = BatchOrder::new(pairs.iter().map(|p| p.1.len().max(p.0.len())).collect(), recipe.batch_size, recipe.seed);
    let mut recent: Vec<f32> = Vec::new();
    let clock = Instant::now();
    let elapsed_before = state.elapsed_s;
    let stop = options.stop_after.unwrap_or(recipe.steps).min(recipe.steps);
    while state.step < stop {
        let started = Instant::now();
        let indices = order.batch(state.step);
        let corrupted: Vec<Option<Vec<u32>>> = indices
            .iter()
            .enumerate()
            .map(|(slot, &i)| pair_masked[i].then(|| mask_spans(&pairs[i].1, &mut corruption_rng(recipe.seed, state.step, slot))))
            .collect();
        let sources: Vec<&[u32]> = indices.iter().zip(&corrupted).map(|(&i, c)| c.as_deref().unwrap_or(pairs[i].0.as_slice())).collect();
        let targets: Vec<&[u32]> = indices.iter().map(|&i| pairs[i].1.as_slice()).collect();
        let loss = fixer_loss(&model, &sources, &targets, PAD, recipe.label_smoothing, true).map_err(candle)?;
        let grads = loss.backward().map_err(candle)?;
        let lr = recipe.lr_at(state.step);
        let grad_norm = optimizer.step(&grads, lr, Some(recipe.grad_clip)).map_err(candle)?;
        let loss: f32 = loss.to_scalar().map_err(candle)?;
        state.step += 1;
        state.elapsed_s = elapsed_before + clock.elapsed().as_secs_f64();
        let tokens: usize = targets.iter().map(|t| t.len()).sum();
        let line = FixerStep { step: state.step, loss, lr, grad_norm, tokens_per_s: tokens as f64 / started.elapsed().as_secs_f64() };
        writeln!(metrics, "{}", serde_json::to_string(&line).expect("metrics serialise")).map_err(|e| TrainError::io(&metrics_path, e))?;
        recent.push(loss);
        if recent.len() > 50 {
            recent.remove(0);
        }
        progress(
            Progress::count(Unit::Steps, state.step as u64, Some(recipe.steps as u64))
                .with_status(format!("loss {loss:.4} {:.0} tok/s", line.tokens_per_s)),
        );
        if state.step.is_multiple_of(recipe.checkpoint_every.max(1)) || state.step == stop {
            save(&state, &vars, &optimizer)?;
        }
    }
    let final_loss = (!recent.is_empty()).then(|| recent.iter().sum::<f32>() / recent.len() as f32);
    if state.step < recipe.steps {
        return Ok(FixerSummary { steps: state.step, final_loss, data, parameters, elapsed_s: state.elapsed_s });
    }
    // the final weights, beside the resumable checkpoint: their presence says the run is done
    vars.save(out.join(MODEL_FILE)).map_err(|e| TrainError::candle(out.join(MODEL_FILE), e))?;
    Ok(FixerSummary { steps: state.step, final_loss, data, parameters, elapsed_s: state.elapsed_s })
}

/// Loads a pretrained fixer's weights into `vars`, after checking that it has
/// the run's sizes and tokenizer.
fn init_from_fixer(
    from: &Path,
    config: &FixerConfig,
    tokenizer: &CodeTokenizer,
    tokenizer_path: &Path,
    vars: &mut VarMap,
) -> Result<(), TrainError> {
    let config_path = from.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path).map_err(|e| TrainError::io(&config_path, e))?;
    let theirs: FixerConfig =
        serde_json::from_str(&text).map_err(|e| TrainError::Config { path: config_path.clone(), reason: e.to_string() })?;
    if theirs != *config {
        return Err(TrainError::Config {
            path: config_path,
            reason: format!("init_from: the pretrained fixer's sizes differ from the recipe's ({theirs:?} against {config:?})"),
        });
    }
    let their_tokenizer = from.join(TOKENIZER_FILE);
    if !CodeTokenizer::load(&their_tokenizer)?.same_as(tokenizer) {
        return Err(TrainError::Config {
            path: their_tokenizer,
            reason: format!("init_from: the pretrained fixer's tokenizer differs from {}", tokenizer_path.display()),
        });
    }
    vars.load(from.join(MODEL_FILE)).map_err(|e| TrainError::candle(from.join(MODEL_FILE), e))
}

/// The batch order: epoch `e` shuffles the pairs by a permutation seeded by
/// `(seed, e)`, sorts each window of [`WINDOW`] batches by target length,
/// cuts it into batches and shuffles the batches, so that a batch pads to
/// similar lengths (~3x less compute than random batches) and batch `s`
/// depends on nothing but the seed and `s`. The last partial batch of an
/// epoch is dropped.
struct BatchOrder {
    lengths: Vec<usize>,
    size: usize,
    seed: u64,
    cache: std::cell::RefCell<Option<(usize, Vec<Vec<usize>>)>>,
}

/// Batches per length-sorted window.
const WINDOW: usize = 16;

impl BatchOrder {
    fn new(lengths: Vec<usize>, size: usize, seed: u64) -> Self {
        let size = size.clamp(1, lengths.len().max(1));
        BatchOrder { lengths, size, seed, cache: std::cell::RefCell::new(None) }
    }

    fn batches_per_epoch(&self) -> usize {
        (self.lengths.len() / self.size).max(1)
    }

    fn epoch(&self, epoch: usize) -> Vec<Vec<usize>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_mul(0x9e37_79b9).wrapping_add(epoch as u64));
        let mut perm: Vec<usize> = (0..self.lengths.len()).collect();
        perm.shuffle(&mut rng);
        perm.truncate(self.batches_per_epoch() * self.size);
        let mut batches: Vec<Vec<usize>> = Vec::new();
        for window in perm.chunks(self.size * WINDOW) {
            let mut window = window.to_vec();
            window.sort_by_key(|&i| self.lengths[i]); // stable: ties keep the shuffled order
            batches.extend(window.chunks(self.size).map(<[usize]>::to_vec));
        }
        batches.shuffle(&mut rng);
        batches
    }

    fn batch(&self, step: usize) -> Vec<usize> {
        let per_epoch = self.batches_per_epoch();
        let epoch = step / per_epoch;
        let mut cache = self.cache.borrow_mut();
        if cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
            *cache = Some((epoch, self.epoch(epoch)));
        }
        cache.as_ref().expect("filled above").1[step % per_epoch].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_a_tenth() {
        let r = FixerRecipe { steps: 1000, warmup_steps: 100, lr: 1.0, ..Default::default() };
        assert!((r.lr_at(0) - 0.01).abs() < 1e-12);
        assert!((r.lr_at(99) - 1.0).abs() < 1e-12);
        assert!((r.lr_at(100) - 1.0).abs() < 1e-12);
        assert!((r.lr_at(1000) - 0.1).abs() < 1e-12);
        assert!(r.lr_at(550) < 0.6 && r.lr_at(550) > 0.5);
    }

    #[test]
    fn pair_sources_parse() {
        let p: PairSource = "outputs/datasets/x:20000".parse().unwrap();
        assert_eq!(
            p,
            PairSource { dir: "outputs/datasets/x".into(), count: Some(20000), identity: false, literal_copies: 0, denoise: false }
        );
        let p: PairSource = "identity:outputs/d".parse().unwrap();
        assert_eq!(p, PairSource { dir: "outputs/d".into(), count: None, identity: true, literal_copies: 0, denoise: false });
        assert!("identity:".parse::<PairSource>().is_err());
        let p: PairSource = "literals=8:corpora/b.json".parse().unwrap();
        assert_eq!((p.dir, p.literal_copies), ("corpora/b.json".into(), 8));
        let p: PairSource = "denoise:outputs/corpus/excel:5000".parse().unwrap();
        assert_eq!((p.dir, p.count, p.denoise), ("outputs/corpus/excel".into(), Some(5000), true));
        assert!("denoise:identity:outputs/corpus/excel".parse::<PairSource>().is_err());
    }

    #[test]
    fn an_nl2code_benchmark_is_a_pair_source_of_utterances_and_code() {
        let bench = crate::repo_file("corpora/benchmarks/nl2code/cfrule.json");
        let source: PairSource = format!("{}:100", bench.display()).parse().unwrap();
        let (pairs, taken) = load_pair_texts(&[source]).unwrap();
        assert_eq!((pairs.len(), taken), (100, vec![100]));
        let all = crate::dataset::load_nl2code(&bench).unwrap();
        for (utterance, code) in &pairs {
            assert!(
                all.train.iter().any(|i| i.utterance.as_deref() == Some(utterance.as_str()) && &i.code == code),
                "{utterance} -> {code}"
            );
        }
        let missing: PairSource = "no/such/bench.json".parse().unwrap();
        assert!(load_pair_texts(&[missing]).unwrap_err().to_string().contains("no/such/bench.json"));
    }

    /// A fixer pretrained by text infilling on a mined corpus (real CF rules)
    /// starts a fine-tuning run on real pairs ahead of a random one, and a
    /// pretrained fixer of other sizes is refused, naming its config.
    #[test]
    fn a_fixer_pretrained_on_a_corpus_starts_fine_tuning_ahead() {
        use crate::dataset::{corpus_schema, CorpusRecord, ShardWriter, ShardWriterOptions};
        let root = tempfile::tempdir().unwrap();
        let corpus = root.path().join("corpus");
        let text = std::fs::read_to_string(crate::repo_file("corpora/cf_rules/codefusion-cf-snippets.txt")).unwrap();
        let mut rules: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        rules.sort();
        rules.dedup();
        let records: Vec<CorpusRecord> = rules
            .iter()
            .take(2000)
            .enumerate()
            .map(|(i, r)| CorpusRecord {
                id: format!("cf-{i:016x}"),
                lang: "cf".into(),
                text: r.to_string(),
                source: "corpora/cf_rules/codefusion-cf-snippets.txt".into(),
                source_line: i as u32 + 1,
                n_chars: r.chars().count() as u32,
                sketch: String::new(),
            })
            .collect();
        let mut writer = ShardWriter::new(&corpus, "train", corpus_schema(), ShardWriterOptions::default()).unwrap();
        writer.write(&CorpusRecord::to_batch(&records)).unwrap();
        writer.finish().unwrap();
        let tokenizer = crate::repo_file("models/nl2code-cf/tokenizer.json");
        let small = FixerRecipe {
            steps: 150,
            batch_size: 32,
            lr: 3e-3,
            warmup_steps: 10,
            max_len: 48,
            d_model: 32,
            layers: 1,
            ..Default::default()
        };
        let pretrain: PairSource = format!("denoise:{}", corpus.display()).parse().unwrap();
        let pretrained = root.path().join("pretrained");
        let options = FixerRunOptions::default();
        let summary = train_fixer(&[pretrain], &tokenizer, &small, &pretrained, &options, &Device::Cpu, &mut |_| {}).unwrap();
        assert_eq!(summary.data.pairs + summary.data.too_long, 2000);
        let first_loss = |dir: &Path| -> f32 {
            let line = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
            serde_json::from_str::<serde_json::Value>(line.lines().next().unwrap()).unwrap()["loss"].as_f64().unwrap() as f32
        };
        assert!(summary.final_loss.unwrap() < 0.6 * first_loss(&pretrained), "pretraining learns: {summary:?}");
        // fine-tuning on real (utterance, rule) pairs: from the pretrained fixer, and from scratch
        let pairs: PairSource = format!("{}:200", crate::repo_file("corpora/benchmarks/nl2code/cfrule.json").display()).parse().unwrap();
        let tune = FixerRecipe { steps: 1, init_from: Some(pretrained.clone()), ..small.clone() };
        let (tuned, scratch) = (root.path().join("tuned"), root.path().join("scratch"));
        train_fixer(std::slice::from_ref(&pairs), &tokenizer, &tune, &tuned, &options, &Device::Cpu, &mut |_| {}).unwrap();
        let cold = FixerRecipe { steps: 1, ..small.clone() };
        train_fixer(std::slice::from_ref(&pairs), &tokenizer, &cold, &scratch, &options, &Device::Cpu, &mut |_| {}).unwrap();
        assert!(first_loss(&tuned) < first_loss(&scratch), "{} vs {}", first_loss(&tuned), first_loss(&scratch));
        let wider = FixerRecipe { d_model: 64, ..tune };
        let err = train_fixer(&[pairs], &tokenizer, &wider, &root.path().join("wider"), &options, &Device::Cpu, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("config.json") && err.to_string().contains("sizes differ"), "{err}");
    }

    #[test]
    fn batch_order_is_a_function_of_seed_and_step_covers_each_epoch_and_groups_lengths() {
        let lengths: Vec<usize> = (0..640).map(|i| (i * 7919) % 50 + 1).collect();
        let order = BatchOrder::new(lengths.clone(), 8, 3);
        let again = BatchOrder::new(lengths.clone(), 8, 3);
        assert_eq!(order.batch(77), again.batch(77), "no hidden state");
        let mut epoch: Vec<usize> = (0..80).flat_map(|s| order.batch(s)).collect();
        epoch.sort();
        assert_eq!(epoch, (0..640).collect::<Vec<_>>(), "every pair once per epoch");
        assert_ne!(order.batch(0), order.batch(80), "the next epoch is another order");
        let spread = |b: &[usize]| b.iter().map(|&i| lengths[i]).max().unwrap() - b.iter().map(|&i| lengths[i]).min().unwrap();
        let mean_spread = (0..80).map(|s| spread(&order.batch(s))).sum::<usize>() as f64 / 80.0;
        assert!(mean_spread < 10.0, "batches of similar lengths: mean spread {mean_spread}");
    }

    #[test]
    fn the_fixer_learns_to_copy() {
        for copy in [false, true] {
            learns_to_copy(copy);
        }
    }

    fn learns_to_copy(copy: bool) {
        use crate::fixer::beam_search;
        let device = Device::Cpu;
        let config =
            FixerConfig { vocab_size: 16, max_len: 8, d_model: 32, n_heads: 2, d_ff: 64, encoder_layers: 1, decoder_layers: 1, copy };
        let vars = VarMap::new();
        let model = Fixer::new(&config, VarBuilder::from_varmap(&vars, DType::F32, &device)).unwrap();
        redraw_seeded(&vars, &mut ChaCha8Rng::seed_from_u64(1), 32f32.powf(-0.5), 1.0, &|_, _| None, &device).unwrap();
        let mut optimizer = AdamW::new(vars.data().lock().unwrap().clone(), AdamWParams::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let sequence = |rng: &mut ChaCha8Rng| -> Vec<u32> {
            use rand::Rng;
            let len = rng.random_range(2..6);
            (0..len).map(|_| rng.random_range(4..16)).chain([EOS]).collect()
        };
        let recipe = FixerRecipe { steps: 300, warmup_steps: 20, lr: 3e-3, ..Default::default() };
        for step in 0..recipe.steps {
            let batch: Vec<Vec<u32>> = (0..32).map(|_| sequence(&mut rng)).collect();
            let rows: Vec<&[u32]> = batch.iter().map(Vec::as_slice).collect();
            let loss = fixer_loss(&model, &rows, &rows, PAD, 0.0, true).unwrap();
            optimizer.step(&loss.backward().unwrap(), recipe.lr_at(step), Some(1.0)).unwrap();
        }
        let held_out: Vec<Vec<u32>> = (0..50).map(|_| sequence(&mut rng)).collect();
        let rows: Vec<&[u32]> = held_out.iter().map(Vec::as_slice).collect();
        let decoded = beam_search(&model, &rows, 2, 8, EOS, PAD).unwrap();
        let copied = held_out.iter().zip(&decoded).filter(|(x, hyps)| hyps.first().is_some_and(|h| h.ids == x[..x.len() - 1])).count();
        assert!(copied >= 45, "copy head {copy}: copied {copied} of 50 held-out sequences");
    }
}

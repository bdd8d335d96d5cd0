//! Checkpoints: `model.safetensors`, `config.json`, `tokenizer.json`,
//! `optimizer.safetensors`, `ema.safetensors` (when the run averages its
//! weights) and `state.json` (step, RNG state, elapsed time),
//! written to a staging directory that atomically replaces the previous one.

use super::TrainError;
use crate::dataset::{replace_dir, write_file_atomic};
use crate::model::ModelConfig;
use crate::tokenizer::CodeTokenizer;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// File names inside a checkpoint directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// The model configuration.
pub const CONFIG_FILE: &str = "config.json";
/// The tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// AdamW moments.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The moving average of the weights, when the run keeps one.
pub const EMA_FILE: &str = "ema.safetensors";
/// Step, RNG and timing.
pub const STATE_FILE: &str = "state.json";

/// Training state that is not a tensor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps taken.
    pub step: usize,
    /// The training RNG, exactly where it stopped.
    pub rng: ChaCha8Rng,
    /// Training seconds so far (over all resumed runs).
    pub elapsed_s: f64,
    /// Last held-out loss, if evaluated.
    pub valid_loss: Option<f32>,
}

/// Writes a complete checkpoint to `dir`.
pub fn save(
    dir: &Path,
    vars: &VarMap,
    config: &ModelConfig,
    tokenizer: &CodeTokenizer,
    optimizer: HashMap<String, Tensor>,
    ema: Option<HashMap<String, Tensor>>,
    state: &TrainState,
) -> Result<(), TrainError> {
    let staging = dir.with_file_name(format!(
        ".{}.partial",
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| TrainError::io(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| TrainError::io(&staging, e))?;
    vars.save(staging.join(MODEL_FILE)).map_err(|e| TrainError::candle(staging.join(MODEL_FILE), e))?;
    candle_core::safetensors::save(&optimizer, staging.join(OPTIMIZER_FILE))
        .map_err(|e| TrainError::candle(staging.join(OPTIMIZER_FILE), e))?;
    if let Some(ema) = ema {
        candle_core::safetensors::save(&ema, staging.join(EMA_FILE)).map_err(|e| TrainError::candle(staging.join(EMA_FILE), e))?;
    }
    write_file_atomic(&staging.join(CONFIG_FILE), &serde_json::to_vec_pretty(config).expect("config serialises"))?;
    write_file_atomic(&staging.join(STATE_FILE), &serde_json::to_vec_pretty(state).expect("state serialises"))?;
    tokenizer.save(&staging.join(TOKENIZER_FILE))?;
    replace_dir(&staging, dir)?;
    Ok(())
}

/// Reads the model config of a checkpoint.
pub fn load_config(dir: &Path) -> Result<ModelConfig, TrainError> {
    ModelConfig::load(&dir.join(CONFIG_FILE)).map_err(|reason| TrainError::Config { path: dir.join(CONFIG_FILE), reason })
}

/// Loads weights into `vars` (which must hold the same names and shapes).
pub fn load_weights(dir: &Path, vars: &mut VarMap) -> Result<(), TrainError> {
    vars.load(dir.join(MODEL_FILE)).map_err(|e| TrainError::candle(dir.join(MODEL_FILE), e))
}

/// The weights file that inference uses: the moving average when the run kept
/// one, the raw training weights otherwise.
pub fn inference_weights_file(dir: &Path) -> std::path::PathBuf {
    let ema = dir.join(EMA_FILE);
    if ema.exists() {
        ema
    } else {
        dir.join(MODEL_FILE)
    }
}

/// Loads the inference weights ([`inference_weights_file`]) into `vars`.
pub fn load_inference_weights(dir: &Path, vars: &mut VarMap) -> Result<(), TrainError> {
    let path = inference_weights_file(dir);
    vars.load(&path).map_err(|e| TrainError::candle(path, e))
}

/// Reads the moving average of a checkpoint.
pub fn load_ema(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>, TrainError> {
    let path = dir.join(EMA_FILE);
    candle_core::safetensors::load(&path, device).map_err(|e| TrainError::candle(path, e))
}

/// Reads optimizer moments and the training state.
pub fn load_training_state(dir: &Path, device: &Device) -> Result<(HashMap<String, Tensor>, TrainState), TrainError> {
    let moments = candle_core::safetensors::load(dir.join(OPTIMIZER_FILE), device)
        .map_err(|e| TrainError::candle(dir.join(OPTIMIZER_FILE), e))?;
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    let state = serde_json::from_str(&text).map_err(|e| TrainError::Config { path, reason: e.to_string() })?;
    Ok((moments, state))
}

/// sha256 of the weights a checkpoint samples with ([`inference_weights_file`]),
/// recorded in datasets made with it.
pub fn weights_sha256(dir: &Path) -> Result<String, TrainError> {
    Ok(crate::dataset::file_sha256(&inference_weights_file(dir))?.0)
}

//! Training checkpoints (the file names and inference loading live in
//! `crate::checkpoint`): `model.safetensors`, `config.json`, `tokenizer.json`,
//! `optimizer.safetensors`, `ema.safetensors` (when the run averages its
//! weights) and `state.json` (step, elapsed time; a step's random draws are keyed by
//! `(seed, step)`, `train::draws`, so no RNG state is kept),
//! written to a staging directory that atomically replaces the previous one.

use super::TrainError;
use crate::dataset::{replace_dir, write_file_atomic};
use crate::model::ModelConfig;
use crate::tokenizer::CodeTokenizer;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::{CONFIG_FILE, TOKENIZER_FILE};
pub use crate::checkpoint::{EMA_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE};

/// Training state that is not a tensor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps taken.
    pub step: usize,
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
    let staging = crate::dataset::staging_dir(dir)?;
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

/// Loads weights into `vars` (which must hold the same names and shapes).
pub fn load_weights(dir: &Path, vars: &mut VarMap) -> Result<(), TrainError> {
    vars.load(dir.join(MODEL_FILE)).map_err(|e| TrainError::candle(dir.join(MODEL_FILE), e))
}

/// Reads the moving average of a checkpoint.
pub fn load_ema(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>, TrainError> {
    let path = dir.join(EMA_FILE);
    candle_core::safetensors::load(&path, device).map_err(|e| TrainError::candle(path, e))
}

/// Reads optimizer moments and the training state.
pub fn load_training_state(dir: &Path, device: &Device) -> Result<(HashMap<String, Tensor>, TrainState), TrainError> {
    let moments =
        candle_core::safetensors::load(dir.join(OPTIMIZER_FILE), device).map_err(|e| TrainError::candle(dir.join(OPTIMIZER_FILE), e))?;
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    let state = serde_json::from_str(&text).map_err(|e| TrainError::Config { path, reason: e.to_string() })?;
    Ok((moments, state))
}

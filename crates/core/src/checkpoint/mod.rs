//! Checkpoints on the inference side: the file names of a checkpoint (or
//! shipped model) directory, and loading one for sampling, repair, rollout
//! and evaluation: model, tokenizer, noise schedule and the weights' sha256.
//!
//! Training writes these directories (`train::checkpoint` adds the optimiser
//! moments, the moving average and `state.json`); every other stage only
//! reads them, through this module, and never imports `train`.
//!
//! Imports `model/`, `diffusion/`, `tokenizer/`, `dataset/`.

use crate::dataset::{write_file_atomic, DatasetError};
use crate::diffusion::NoiseSchedule;
use crate::io_error::IoError;
use crate::model::{CodeFusion, ModelConfig};
use crate::tokenizer::{CodeTokenizer, TokenizerError};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use std::path::{Path, PathBuf};

/// The raw training weights (in a shipped model: its only weights).
pub const MODEL_FILE: &str = "model.safetensors";
/// The model configuration.
pub const CONFIG_FILE: &str = "config.json";
/// The tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// AdamW moments (training checkpoints only).
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The moving average of the weights, when the run keeps one.
pub const EMA_FILE: &str = "ema.safetensors";
/// Step, RNG and timing (training checkpoints only).
pub const STATE_FILE: &str = "state.json";

/// Errors reading or writing a checkpoint directory.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The model configuration is missing or invalid.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Weights could not be read or do not fit the configuration.
    #[error("{path}: {source}")]
    Candle {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: candle_core::Error,
    },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// Writing or hashing a file failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The tokenizer could not be loaded.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// A checkpoint loaded for inference.
pub struct LoadedModel {
    /// The model with its inference weights.
    pub model: CodeFusion,
    /// Its variables (the same tensors the model holds).
    pub vars: VarMap,
    /// The tokenizer saved with it.
    pub tokenizer: CodeTokenizer,
    /// The noise schedule of its `diffusion_steps`.
    pub schedule: NoiseSchedule,
    /// sha256 of the weights file ([`weights_sha256`]), recorded in datasets made with it.
    pub sha256: String,
}

/// Reads the model config of a checkpoint.
pub fn load_config(dir: &Path) -> Result<ModelConfig, CheckpointError> {
    ModelConfig::load(&dir.join(CONFIG_FILE)).map_err(|reason| CheckpointError::Config { path: dir.join(CONFIG_FILE), reason })
}

/// The weights file that inference uses: the moving average when the run kept
/// one, the raw training weights otherwise.
pub fn inference_weights_file(dir: &Path) -> PathBuf {
    let ema = dir.join(EMA_FILE);
    if ema.exists() {
        ema
    } else {
        dir.join(MODEL_FILE)
    }
}

/// Loads the inference weights ([`inference_weights_file`]) into `vars`.
pub fn load_inference_weights(dir: &Path, vars: &mut VarMap) -> Result<(), CheckpointError> {
    let path = inference_weights_file(dir);
    vars.load(&path).map_err(|source| CheckpointError::Candle { path, source })
}

/// sha256 of the weights a checkpoint samples with ([`inference_weights_file`]).
pub fn weights_sha256(dir: &Path) -> Result<String, CheckpointError> {
    Ok(crate::dataset::file_sha256(&inference_weights_file(dir))?.0)
}

/// Refuses a weights file too small to hold the `parameters` (f32) its config
/// describes, before the model is built: a config that does not belong to the
/// weights (or a damaged one) must not allocate what the weights never held.
fn weights_fit_config(dir: &Path, parameters: usize) -> Result<(), CheckpointError> {
    let path = inference_weights_file(dir);
    let bytes = std::fs::metadata(&path).map_err(IoError::at(path.clone()))?.len();
    let needed = (parameters as u64).saturating_mul(4);
    if bytes < needed {
        return Err(CheckpointError::Config {
            path: dir.join(CONFIG_FILE),
            reason: format!("describes {parameters} parameters ({needed} bytes of f32), but {} holds {bytes} bytes", path.display()),
        });
    }
    Ok(())
}

/// Loads checkpoint `dir` for inference on `device`.
pub fn load(dir: &Path, device: &Device) -> Result<LoadedModel, CheckpointError> {
    let config = load_config(dir)?;
    weights_fit_config(dir, config.parameter_count())?;
    let mut vars = VarMap::new();
    let model = CodeFusion::new(&config, VarBuilder::from_varmap(&vars, DType::F32, device))
        .map_err(|source| CheckpointError::Candle { path: dir.to_path_buf(), source })?;
    load_inference_weights(dir, &mut vars)?;
    let tokenizer = CodeTokenizer::load(&dir.join(TOKENIZER_FILE))?;
    let schedule = NoiseSchedule::sqrt(config.diffusion_steps);
    Ok(LoadedModel { model, vars, tokenizer, schedule, sha256: weights_sha256(dir)? })
}

/// Writes the inference part of checkpoint `dir` to `out` (e.g. `models/excel`):
/// `config.json`, `tokenizer.json` and the inference weights as
/// `model.safetensors`, each file atomically; other files there (the model
/// card) are kept. The result loads like any checkpoint and can seed
/// continued pretraining (`init_from`); it holds no optimiser state.
pub fn export_inference(dir: &Path, out: &Path) -> Result<(), CheckpointError> {
    load_config(dir)?;
    std::fs::create_dir_all(out).map_err(IoError::at(out.to_path_buf()))?;
    for (from, to) in
        [(dir.join(CONFIG_FILE), CONFIG_FILE), (dir.join(TOKENIZER_FILE), TOKENIZER_FILE), (inference_weights_file(dir), MODEL_FILE)]
    {
        let bytes = std::fs::read(&from).map_err(IoError::at(from.clone()))?;
        write_file_atomic(&out.join(to), &bytes)?;
    }
    Ok(())
}

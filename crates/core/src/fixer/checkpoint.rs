//! A trained fixer's directory (`lastmile fixer train` output) loaded for decoding.

use super::{Fixer, FixerConfig};
use crate::checkpoint::{CheckpointError, CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE};
use crate::tokenizer::CodeTokenizer;
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use std::path::Path;

/// A trained seq2seq fixer (`lastmile fixer train` output) loaded for decoding.
pub struct LoadedFixer {
    /// The fixer with its weights.
    pub model: Fixer,
    /// Its variables.
    pub vars: VarMap,
    /// The tokenizer saved with it.
    pub tokenizer: CodeTokenizer,
}

/// Loads fixer directory `dir` (`config.json`, `model.safetensors`, `tokenizer.json`).
pub fn load_fixer(dir: &Path, device: &Device) -> Result<LoadedFixer, CheckpointError> {
    let config =
        FixerConfig::load(&dir.join(CONFIG_FILE)).map_err(|reason| CheckpointError::Config { path: dir.join(CONFIG_FILE), reason })?;
    let mut vars = VarMap::new();
    let model = Fixer::new(&config, VarBuilder::from_varmap(&vars, DType::F32, device))
        .map_err(|source| CheckpointError::Candle { path: dir.to_path_buf(), source })?;
    let path = dir.join(MODEL_FILE);
    vars.load(&path).map_err(|source| CheckpointError::Candle { path, source })?;
    let tokenizer = CodeTokenizer::load(&dir.join(TOKENIZER_FILE))?;
    Ok(LoadedFixer { model, vars, tokenizer })
}

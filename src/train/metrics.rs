//! Per-step training metrics and their file, `metrics.jsonl` (one JSON object
//! a line; a resumed run first cuts it back to its checkpoint's step).

use super::TrainError;
use crate::dataset::write_file_atomic;
use serde::{Deserialize, Serialize};
use std::path::Path;

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

/// The one field every metrics line of this crate's trainers has.
#[derive(Deserialize)]
struct StepOf {
    step: usize,
}

/// Keeps the metrics lines of steps up to `step` (a resumed run rewrites the
/// rest); any trainer's `metrics.jsonl` (pretraining, the fixer).
pub(crate) fn truncate_metrics(path: &Path, step: usize) -> Result<(), TrainError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let kept: String = text
        .lines()
        .filter(|line| serde_json::from_str::<StepOf>(line).is_ok_and(|m| m.step <= step))
        .map(|line| format!("{line}\n"))
        .collect();
    write_file_atomic(path, kept.as_bytes())?;
    Ok(())
}

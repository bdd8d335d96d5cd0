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

/// Keeps the metrics lines of steps up to `step` (a resumed run rewrites the
/// rest); any trainer's `metrics.jsonl` (pretraining, the fixer). Lines that
/// do not parse (a torn last line after a kill, a damaged byte) are dropped one
/// by one: a bad line never costs the good ones around it. A missing file
/// becomes an empty one.
pub fn truncate_metrics(path: &Path, step: usize) -> Result<(), TrainError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(TrainError::io(path, e)),
    };
    let kept: String = bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        // a file edited on Windows keeps its lines, written as the trainer writes them
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        // the whole line is parsed, not just `step`: a number out of range
        // elsewhere (`1e999`) makes a line that JSON readers refuse
        .filter(|line| {
            let value = serde_json::from_str::<serde_json::Value>(line);
            value.is_ok_and(|v| v["step"].as_u64().is_some_and(|s| s <= step as u64))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    write_file_atomic(path, kept.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_line_costs_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut bytes = b"{\"step\":1}\n{\"step\":2,\"x\":\"".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\"}\n{\"step\":3}\n{\"step\":4}\n{\"st");
        std::fs::write(&path, bytes).unwrap();
        truncate_metrics(&path, 3).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"step\":1}\n{\"step\":3}\n");
        std::fs::remove_file(&path).unwrap();
        truncate_metrics(&path, 3).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn crlf_lines_are_kept_with_the_trainers_line_ending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, "{\"step\":1}\r\n{\"step\":2}\r\n{\"step\":3}\r\n").unwrap();
        truncate_metrics(&path, 2).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"step\":1}\n{\"step\":2}\n");
    }
}

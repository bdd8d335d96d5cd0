//! Pipeline files (`pipelines/*.toml`): an ordered list of stages, each a
//! lastmile command line with its declared inputs and outputs, and stage
//! caching: a stage is skipped when its key (its command line, the content of
//! its raw inputs, and the keys of the stages that produced its other inputs)
//! equals the key recorded when it last finished and its outputs exist.
//!
//! Imports `dataset/`; stages run through a dispatch callback the CLI passes.

mod runner;

pub use runner::{run_pipeline, RunOptions, StageEvent};

use crate::io_error::IoError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What can go wrong reading a pipeline or its cache state.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// The pipeline file is invalid.
    #[error("{path}: {reason}")]
    Invalid {
        /// The pipeline file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Recording a finished stage failed.
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
}

/// One stage: a lastmile command line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Stage name (unique in the pipeline).
    pub name: String,
    /// The command line after `lastmile` (`["mine", "--config", ...]`).
    pub args: Vec<String>,
    /// Files and directories the stage reads: configs, corpora, earlier outputs.
    #[serde(default)]
    pub inputs: Vec<PathBuf>,
    /// Files and directories the stage writes.
    pub outputs: Vec<PathBuf>,
    /// Whether the stage runs on every rank of a launch (`pretrain`, `rollout`)
    /// when the pipeline is run with a launcher (`pipeline run --launcher
    /// "mpirun -np 8"`); the other stages run once, in the runner's process.
    /// Not part of the cache key: the world size does not change what a stage
    /// makes beyond float reduction order.
    #[serde(default)]
    pub parallel: bool,
}

/// A pipeline file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Pipeline name: its cache state lives in `outputs/pipelines/<name>/`.
    pub name: String,
    /// What it makes, for `--help`-style listings.
    #[serde(default)]
    pub description: String,
    /// The stages, in order.
    #[serde(rename = "stage")]
    pub stages: Vec<Stage>,
}

impl Pipeline {
    /// Reads and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Self, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(IoError::at(path.to_path_buf()))?;
        let pipeline: Pipeline =
            toml::from_str(&text).map_err(|e| PipelineError::Invalid { path: path.to_path_buf(), reason: e.to_string() })?;
        let mut names = std::collections::HashSet::new();
        for stage in &pipeline.stages {
            if !names.insert(stage.name.as_str()) {
                return Err(PipelineError::Invalid { path: path.to_path_buf(), reason: format!("stage `{}` appears twice", stage.name) });
            }
            if stage.args.is_empty() || stage.args[0] == "pipeline" {
                return Err(PipelineError::Invalid {
                    path: path.to_path_buf(),
                    reason: format!("stage `{}` needs a lastmile command other than `pipeline`", stage.name),
                });
            }
        }
        if pipeline.stages.is_empty() {
            return Err(PipelineError::Invalid { path: path.to_path_buf(), reason: "no [[stage]]".into() });
        }
        Ok(pipeline)
    }

    /// Where the cache state of this pipeline lives, under `root`.
    pub fn state_dir(&self, root: &Path) -> PathBuf {
        root.join("outputs/pipelines").join(&self.name)
    }
}

/// Hashes a file, or every file under a directory (sorted by relative path,
/// names included), into `hasher`. A missing path hashes as `missing`.
fn hash_path(hasher: &mut Sha256, path: &Path) -> Result<(), PipelineError> {
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(IoError::at(path.to_path_buf()))?;
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    } else if path.is_dir() {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect();
        files.sort();
        for file in files {
            hasher.update(file.strip_prefix(path).unwrap_or(&file).to_string_lossy().as_bytes());
            hasher.update([0]);
            hash_path(hasher, &file)?;
        }
    } else {
        hasher.update(b"missing");
    }
    Ok(())
}

/// The cache key of a stage. `produced` maps outputs of earlier stages to
/// those stages' keys: such inputs count by key (their content is decided by
/// it), raw inputs by content.
pub fn stage_key(stage: &Stage, root: &Path, produced: &HashMap<PathBuf, String>) -> Result<String, PipelineError> {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION"));
    for arg in &stage.args {
        hasher.update(arg.as_bytes());
        hasher.update([0]);
    }
    for input in &stage.inputs {
        hasher.update(input.to_string_lossy().as_bytes());
        hasher.update([1]);
        match produced.get(input) {
            Some(key) => hasher.update(key.as_bytes()),
            None => hash_path(&mut hasher, &root.join(input))?,
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What is recorded when a stage finishes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    /// The stage's key.
    pub key: String,
    /// Seconds it took.
    pub seconds: f64,
}

/// The record of a stage's last successful run.
pub fn read_record(state_dir: &Path, stage: &str) -> Option<StageRecord> {
    let text = std::fs::read_to_string(state_dir.join(format!("{stage}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

/// Records a successful run of a stage.
pub fn write_record(state_dir: &Path, stage: &str, record: &StageRecord) -> Result<(), PipelineError> {
    crate::dataset::write_file_atomic(&state_dir.join(format!("{stage}.json")), &serde_json::to_vec_pretty(record).expect("serialises"))?;
    Ok(())
}

/// Notes that a stage starts under `key`; returns whether its previous
/// attempt (finished or not) ran under another key, so its outputs are stale.
pub fn begin_stage(state_dir: &Path, stage: &str, key: &str) -> Result<bool, PipelineError> {
    let path = state_dir.join(format!("{stage}.started"));
    let stale = std::fs::read_to_string(&path).map(|k| k.trim() != key).unwrap_or(true);
    crate::dataset::write_file_atomic(&path, key.as_bytes())?;
    Ok(stale)
}

/// Whether a stage can be skipped: same key as last time and outputs present.
pub fn is_fresh(stage: &Stage, key: &str, root: &Path, state_dir: &Path) -> bool {
    read_record(state_dir, &stage.name).is_some_and(|r| r.key == key) && stage.outputs.iter().all(|o| root.join(o).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(args: &[&str], inputs: &[&str]) -> Stage {
        Stage {
            parallel: false,
            name: "s".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            inputs: inputs.iter().map(PathBuf::from).collect(),
            outputs: vec!["out".into()],
        }
    }

    #[test]
    fn keys_follow_args_content_and_upstream_keys() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("c/sub")).unwrap();
        std::fs::write(root.join("c/sub/a.txt"), "one").unwrap();
        let none = HashMap::new();
        let s = stage(&["mine"], &["c"]);
        let k1 = stage_key(&s, root, &none).unwrap();
        assert_eq!(k1, stage_key(&s, root, &none).unwrap());
        std::fs::write(root.join("c/sub/a.txt"), "two").unwrap();
        let k2 = stage_key(&s, root, &none).unwrap();
        assert_ne!(k1, k2);
        assert_ne!(k2, stage_key(&stage(&["mine", "-q"], &["c"]), root, &none).unwrap());
        let upstream: HashMap<PathBuf, String> = [(PathBuf::from("c"), "k".to_string())].into();
        let k3 = stage_key(&s, root, &upstream).unwrap();
        std::fs::write(root.join("c/sub/a.txt"), "three").unwrap();
        assert_eq!(k3, stage_key(&s, root, &upstream).unwrap(), "produced inputs count by key");

        let state = root.join("state");
        assert!(!is_fresh(&s, &k3, root, &state));
        write_record(&state, "s", &StageRecord { key: k3.clone(), seconds: 1.0 }).unwrap();
        assert!(!is_fresh(&s, &k3, root, &state), "outputs missing");
        std::fs::write(root.join("out"), "x").unwrap();
        assert!(is_fresh(&s, &k3, root, &state));
        assert!(!is_fresh(&s, &k2, root, &state));
    }

    #[test]
    fn shipped_pipelines_parse() {
        let root = crate::repo_file("");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(root.join("pipelines")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let p = Pipeline::load(&path).unwrap();
                assert!(p.stages.len() >= 5, "{}", path.display());
                names.push(p.name);
            }
        }
        names.sort();
        assert_eq!(names, ["excel-nightly", "powershell-nightly", "python-nightly"]);
    }
}

//! Mining configuration: `configs/corpus/<lang>.toml`.

use crate::dataset::{BenchmarkSource, ShardWriterOptions};
use crate::io_error::IoError;
use crate::lang::LangId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How to mine one language's corpus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusConfig {
    /// The language mined.
    pub lang: LangId,
    /// Where snippets come from, read in this order.
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// Length limits, in characters of the normalised snippet.
    #[serde(default)]
    pub limits: Limits,
    /// Train/valid split.
    #[serde(default)]
    pub split: SplitConfig,
    /// Benchmarks whose snippets must not leak into the corpus.
    #[serde(default, rename = "decontaminate")]
    pub decontaminate: Vec<BenchmarkSource>,
    /// Shard and row-group sizes.
    #[serde(default)]
    pub output: ShardWriterOptions,
}

/// One source of raw snippets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// A text file with one snippet per line.
    Lines {
        /// The file.
        path: PathBuf,
        /// Lines are CSV-quoted fields (EUSES): remove the surrounding double quotes
        /// and undo doubled quotes inside.
        #[serde(default)]
        strip_quotes: bool,
        /// Text put in front of every line (Excel's `=`).
        #[serde(default)]
        prefix: String,
    },
    /// A JSON file (or a directory of them) with snippets at a field path such
    /// as `Code`, `train.*.Code` or `submission.*.semantics_correct`.
    Json {
        /// The file or directory.
        path: PathBuf,
        /// Where the snippets are.
        field: String,
    },
    /// A directory of source files, each split into units by the language.
    SourceTree {
        /// The directory, walked recursively in name order.
        path: PathBuf,
        /// File extensions to read, without the dot.
        extensions: Vec<String>,
    },
    /// A directory of Markdown files whose fenced code blocks are mined.
    Markdown {
        /// The directory, walked recursively in name order.
        path: PathBuf,
        /// Info strings of the fences to take (`powershell`), case-insensitive.
        fences: Vec<String>,
        /// Also take fences without an info string, when they hold code of the
        /// language: a console transcript of it (prompts, then commands) or a
        /// block that passes the strict check whole (a cmdlet's syntax summary or
        /// printed output does not).
        #[serde(default)]
        untagged: bool,
    },
}

impl SourceConfig {
    /// The file or directory this source reads.
    pub fn path(&self) -> &Path {
        match self {
            SourceConfig::Lines { path, .. }
            | SourceConfig::Json { path, .. }
            | SourceConfig::SourceTree { path, .. }
            | SourceConfig::Markdown { path, .. } => path,
        }
    }
}

/// Length limits in characters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Shorter snippets are dropped (`too_short`).
    pub min_chars: usize,
    /// Longer snippets are dropped (`too_long`); also the size units are split to.
    pub max_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { min_chars: 2, max_chars: 1000 }
    }
}

/// Deterministic hash-based split.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Fraction of snippets that go to `valid`.
    pub valid_fraction: f64,
    /// Salt of the hash, so a different split can be drawn on purpose.
    pub seed: String,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig { valid_fraction: 0.02, seed: "lastmile".into() }
    }
}

impl CorpusConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, super::MineError> {
        let text = std::fs::read_to_string(path).map_err(IoError::at(path.to_path_buf()))?;
        let config: CorpusConfig =
            toml::from_str(&text).map_err(|e| super::MineError::Config { path: path.to_path_buf(), reason: e.to_string() })?;
        config.validate().map_err(|reason| super::MineError::Config { path: path.to_path_buf(), reason })?;
        Ok(config)
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.sources.is_empty() {
            return Err("no [[source]]".into());
        }
        if !(0.0..1.0).contains(&self.split.valid_fraction) {
            return Err(format!("split.valid_fraction must be in [0, 1), got {}", self.split.valid_fraction));
        }
        if self.limits.min_chars > self.limits.max_chars {
            return Err("limits.min_chars is larger than limits.max_chars".into());
        }
        if self.output.shard_rows == 0 || self.output.row_group_rows == 0 {
            return Err("output sizes must be positive".into());
        }
        Ok(())
    }
}

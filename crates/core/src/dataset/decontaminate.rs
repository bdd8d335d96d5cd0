//! Decontamination: a mined snippet whose sketch equals the sketch of any
//! repair-benchmark snippet (buggy or fixed) is dropped, so evaluation never
//! measures memorisation. Mining and every pair generator apply the same rule.

use super::json_path::select_field;
use super::normalize::normalize;
use super::DatasetError;
use crate::lang::Language;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A benchmark file (or directory of JSON files) and the fields holding code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSource {
    /// The file or directory.
    pub path: PathBuf,
    /// Field paths of the snippets (`Buggy`, `GroundTruth`, `test.*.Code`).
    pub fields: Vec<String>,
    /// How a mined snippet is matched against these: by sketch (the rule for
    /// repair benchmarks) or by exact normalised text (for NL-to-code test sets,
    /// whose sketches are shared by most of a small DSL's corpus).
    #[serde(default, rename = "match")]
    pub match_rule: MatchRule,
}

/// How decontamination compares snippets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    /// Equal sketches (constants anonymised).
    #[default]
    Sketch,
    /// Equal normalised text.
    Exact,
}

/// The benchmark snippets a corpus must not contain.
#[derive(Debug, Default)]
pub struct Decontaminator {
    sketches: HashSet<String>,
    texts: HashSet<String>,
}

impl Decontaminator {
    /// Whether a normalised snippet with this sketch is contaminated.
    pub fn is_contaminated(&self, text: &str, sketch: &str) -> bool {
        self.sketches.contains(sketch) || self.texts.contains(text)
    }

    /// Distinct sketches and texts held.
    pub fn len(&self) -> usize {
        self.sketches.len() + self.texts.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads every snippet of the given benchmarks, in the target language.
/// A missing or malformed benchmark is an error: mining without it would leak.
pub fn load_decontaminator(sources: &[BenchmarkSource], root: &Path, lang: &dyn Language) -> Result<Decontaminator, DatasetError> {
    let mut held = Decontaminator::default();
    for source in sources {
        let path = root.join(&source.path);
        let files: Vec<_> = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&path)
                .map_err(DatasetError::io(&path))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        if files.is_empty() {
            return Err(DatasetError::Benchmark { path, reason: "no JSON files".into() });
        }
        for file in files {
            let bytes = std::fs::read(&file).map_err(DatasetError::io(&file))?;
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| DatasetError::Benchmark { path: file.clone(), reason: format!("line {}: invalid JSON: {e}", e.line()) })?;
            for field in &source.fields {
                let found = select_field(&value, field);
                if found.is_empty() {
                    return Err(DatasetError::Benchmark { path: file.clone(), reason: format!("no field `{field}`") });
                }
                for text in found.into_iter().filter_map(|v| v.as_str()) {
                    if let Ok(text) = normalize(text) {
                        match source.match_rule {
                            MatchRule::Sketch => held.sketches.insert(lang.sketch(&text)),
                            MatchRule::Exact => held.texts.insert(text),
                        };
                    }
                }
            }
        }
    }
    Ok(held)
}

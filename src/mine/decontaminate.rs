//! Decontamination: a mined snippet whose sketch equals the sketch of any
//! repair-benchmark snippet (buggy or fixed) is dropped, so evaluation never
//! measures memorisation. The same rule serves rollout later.

use super::config::{BenchmarkSource, MatchRule};
use super::normalize::normalize;
use super::sources::select_field;
use super::MineError;
use crate::lang::Language;
use std::collections::HashSet;
use std::path::Path;

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
pub fn load_decontaminator(sources: &[BenchmarkSource], root: &Path, lang: &dyn Language) -> Result<Decontaminator, MineError> {
    let mut held = Decontaminator::default();
    for source in sources {
        let path = root.join(&source.path);
        let files: Vec<_> = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&path)
                .map_err(|e| MineError::Io { path: path.clone(), source: e })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        if files.is_empty() {
            return Err(MineError::Benchmark { path, reason: "no JSON files".into() });
        }
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| MineError::Io { path: file.clone(), source: e })?;
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| MineError::Benchmark {
                path: file.clone(),
                reason: format!("line {}: invalid JSON: {e}", e.line()),
            })?;
            for field in &source.fields {
                let found = select_field(&value, field);
                if found.is_empty() {
                    return Err(MineError::Benchmark { path: file.clone(), reason: format!("no field `{field}`") });
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

//! `lastmile eval predictions`: any model's predictions on a repair benchmark,
//! scored by exactly the harness of `eval repair` and `eval fixer`.
//!
//! A predictions file is JSONL, one benchmark item a line. The item is named by
//! `id` (the benchmark's `<file stem>/<index>`, as `eval fixer`'s
//! `predictions.jsonl` writes it) or, without an id, by its broken input
//! (`broken` or `input`). The candidates, best first, are `beams`, `predictions`
//! or `candidates` (a list of strings), or a single `prediction`. A line that
//! names no benchmark item, or an item already named, is an error with its
//! line number; items with no line are scored as failures and listed.

use super::ranked::{ranked_candidates, score_beams, FixerEvalRun};
use super::BenchItem;
use crate::io_error::IoError;
use crate::lang::Language;
use crate::repair::Candidate;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// What is wrong with a predictions file.
#[derive(Debug, thiserror::Error)]
pub enum PredictionsError {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// A line is not what a predictions line must be.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file holds no prediction at all.
    #[error("{path}: no predictions (an empty file)")]
    Empty {
        /// The file.
        path: String,
    },
}

/// Reads `path` and scores its candidates against `items`.
pub fn score_predictions(lang: &dyn Language, items: &[BenchItem], path: &Path, bench: &Path) -> Result<FixerEvalRun, PredictionsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(IoError::at(path.to_path_buf()))?;
    let by_id: HashMap<&str, usize> = items.iter().enumerate().map(|(i, item)| (item.id.as_str(), i)).collect();
    // several items may share a broken input: each line takes the first one not yet named
    let mut by_broken: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate().rev() {
        by_broken.entry(item.broken.trim()).or_default().push(i);
    }
    let mut candidates: Vec<Option<Vec<Candidate>>> = vec![None; items.len()];
    let mut named_on: Vec<Option<usize>> = vec![None; items.len()];
    let mut beam = 0;
    let mut lines = 0;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        lines += 1;
        let bad = |reason: String| PredictionsError::Line { path: shown.clone(), line, reason };
        let value: Value = serde_json::from_str(raw).map_err(|e| bad(format!("not JSON: {e}")))?;
        let object = value.as_object().ok_or_else(|| bad("expected a JSON object".into()))?;
        let item = if let Some(id) = object.get("id") {
            let id = id.as_str().ok_or_else(|| bad("`id` must be a string".into()))?;
            *by_id.get(id).ok_or_else(|| bad(format!("id {id:?} is not an item of {}", bench.display())))?
        } else if let Some(broken) = object.get("broken").or_else(|| object.get("input")) {
            let broken = broken.as_str().ok_or_else(|| bad("`broken` must be a string".into()))?;
            let free = by_broken
                .get_mut(broken.trim())
                .ok_or_else(|| bad(format!("the input {broken:?} is not a broken input of {}", bench.display())))?;
            match free.pop() {
                Some(i) => i,
                None => return Err(bad(format!("the input {broken:?} was already predicted on an earlier line"))),
            }
        } else {
            return Err(bad("no `id` and no `broken` (or `input`) to name the benchmark item".into()));
        };
        if let Some(first) = named_on[item] {
            return Err(bad(format!("item {} was already predicted on line {first}", items[item].id)));
        }
        named_on[item] = Some(line);
        let texts = prediction_texts(object).map_err(bad)?;
        beam = beam.max(texts.len());
        // an empty list is an item the model could not take (as `eval fixer` writes
        // one too long for the fixer): a failure, as when no candidate exists
        candidates[item] = (!texts.is_empty()).then(|| ranked_candidates(lang, &items[item].broken, &texts));
    }
    if lines == 0 {
        return Err(PredictionsError::Empty { path: shown });
    }
    let missing = items.iter().zip(&named_on).filter(|(_, n)| n.is_none()).map(|(item, _)| item.id.clone()).collect();
    let mut run = score_beams(lang, items, &candidates, beam, 0.0, bench, path);
    run.missing = missing;
    Ok(run)
}

/// The ranked candidate texts of one line.
/// A list wins over a single `prediction` when a line has both (`eval
/// repair`'s `predictions-<method>.jsonl` holds the choice in both).
fn prediction_texts(object: &serde_json::Map<String, Value>) -> Result<Vec<String>, String> {
    for key in ["beams", "predictions", "candidates"] {
        if let Some(list) = object.get(key) {
            let list = list.as_array().ok_or_else(|| format!("`{key}` must be a list of strings"))?;
            return list
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("`{key}` must be a list of strings")))
                .collect();
        }
    }
    if let Some(single) = object.get("prediction") {
        return single.as_str().map(|s| vec![s.to_string()]).ok_or_else(|| "`prediction` must be a string".to_string());
    }
    Err("no candidates: expected `beams`, `predictions`, `candidates` (lists of strings) or `prediction`".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::LangId;

    fn items() -> Vec<BenchItem> {
        [("=SUM(A1:A3", "=SUM(A1:A3)"), ("=IF(A1>0,1", "=IF(A1>0,1)"), ("=A1+", "=A1")]
            .iter()
            .enumerate()
            .map(|(i, (b, t))| BenchItem { id: format!("excel/{i}"), broken: b.to_string(), truth: t.to_string() })
            .collect()
    }

    fn write(lines: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), lines).unwrap();
        file
    }

    fn score(lines: &str) -> Result<FixerEvalRun, PredictionsError> {
        let file = write(lines);
        score_predictions(LangId::Excel.language(), &items(), file.path(), Path::new("bench.json"))
    }

    #[test]
    fn scores_by_id_or_input_and_lists_missing_items() {
        let run = score(
            "{\"id\": \"excel/0\", \"beams\": [\"=SUM(A1:A3)\", \"=SUM(A1)\"]}\n\n{\"broken\": \"=IF(A1>0,1\", \"prediction\": \"=IF(A1>0,2)\"}\n",
        )
        .unwrap();
        assert_eq!(run.top1, [true, false, false]);
        assert_eq!(run.missing, ["excel/2"]);
        assert_eq!(run.beam, 2);
        assert!(run.markdown().contains("1 items had no prediction (scored as failures): excel/2"));
        assert!((run.report.methods["best"].exec - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn bad_ids_duplicates_and_empty_files_are_errors_with_their_line() {
        let e = score("{\"id\": \"excel/9\", \"beams\": [\"=1\"]}\n").unwrap_err().to_string();
        assert!(e.ends_with(":1: id \"excel/9\" is not an item of bench.json"), "{e}");
        let e = score("{\"id\": \"excel/0\", \"beams\": [\"=1\"]}\n{\"id\": \"excel/0\", \"beams\": [\"=2\"]}\n").unwrap_err().to_string();
        assert!(e.ends_with(":2: item excel/0 was already predicted on line 1"), "{e}");
        let e = score("{\"broken\": \"=B2\", \"beams\": [\"=1\"]}\n").unwrap_err().to_string();
        assert!(e.contains(":1: the input \"=B2\" is not a broken input"), "{e}");
        let e = score("{\"id\": \"excel/0\"}\n").unwrap_err().to_string();
        assert!(e.contains(":1: no candidates"), "{e}");
        let e = score("not json\n").unwrap_err().to_string();
        assert!(e.contains(":1: not JSON"), "{e}");
        assert!(matches!(score("\n  \n"), Err(PredictionsError::Empty { .. })));
    }
}

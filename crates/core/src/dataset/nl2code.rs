//! The NL-to-code benchmarks (`corpora/benchmarks/nl2code/`): CoNaLa (Python),
//! NL2Bash (Bash) and the CodeFusion CF-rule set, each one JSON object with a
//! `train` and a `test` list of `{ID, "NL Utterance", Code}`; CF items add the
//! sheet the rule formats (`Data`, header first) and `Labels`.

use super::BenchError;
use crate::io_error::IoError;
use crate::lang::cf::{Cell, Table};
use serde::Deserialize;
use std::path::Path;

/// One (utterance, code) pair.
#[derive(Debug, Clone)]
pub struct Nl2CodeItem {
    /// The benchmark's `ID`.
    pub id: u64,
    /// What the user asked for; CoNaLa has items without one.
    pub utterance: Option<String>,
    /// The gold program.
    pub code: String,
    /// The sheet a CF rule formats, when the item has one with at least one data row.
    pub sheet: Option<Table>,
    /// A test item whose code appears word for word in the train split (NL2Bash
    /// has 747): retrieval can answer it by lookup, so the tables report the
    /// items without them as well.
    pub leaked: bool,
}

/// Both splits of a benchmark.
#[derive(Debug, Clone)]
pub struct Nl2CodeBench {
    pub train: Vec<Nl2CodeItem>,
    pub test: Vec<Nl2CodeItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    #[serde(rename = "ID")]
    id: u64,
    #[serde(rename = "NL Utterance")]
    utterance: Option<String>,
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Data", default)]
    data: Option<Vec<Vec<Cell>>>,
    /// Row labels of the CF set; every test item holds `[0]`, so the rows to
    /// format come from running the gold rule instead.
    #[serde(rename = "Labels", default)]
    _labels: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBench {
    train: Vec<RawItem>,
    test: Vec<RawItem>,
}

impl From<RawItem> for Nl2CodeItem {
    fn from(raw: RawItem) -> Self {
        let utterance = raw.utterance.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        let sheet = raw.data.filter(|rows| rows.len() > 1).map(Table::from_rows);
        Nl2CodeItem { id: raw.id, utterance, code: raw.code.trim_end_matches('\n').to_string(), sheet, leaked: false }
    }
}

/// Reads a benchmark file; a malformed one is an error naming the file, the line
/// and column, and what is wrong.
pub fn load_nl2code(path: &Path) -> Result<Nl2CodeBench, BenchError> {
    let text = std::fs::read_to_string(path).map_err(IoError::at(path))?;
    let raw: RawBench =
        serde_json::from_str(&text).map_err(|e| BenchError::Format { path: path.to_path_buf(), reason: format!("not an NL-to-code benchmark: {e}") })?;
    let train: Vec<Nl2CodeItem> = raw.train.into_iter().map(Into::into).collect();
    let train_codes: std::collections::HashSet<&str> = train.iter().map(|i| i.code.as_str()).collect();
    let test = raw
        .test
        .into_iter()
        .map(|raw| {
            let mut item = Nl2CodeItem::from(raw);
            item.leaked = train_codes.contains(item.code.as_str());
            item
        })
        .collect();
    Ok(Nl2CodeBench { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(name: &str) -> Nl2CodeBench {
        load_nl2code(&crate::repo_file(&format!("corpora/benchmarks/nl2code/{name}.json"))).unwrap()
    }

    #[test]
    fn reads_the_three_benchmarks() {
        let python = bench("python");
        assert_eq!((python.train.len(), python.test.len()), (2379, 500));
        assert_eq!(python.test.iter().filter(|i| i.utterance.is_none()).count(), 23);
        let bash = bench("bash");
        assert_eq!((bash.train.len(), bash.test.len()), (10085, 2522));
        assert!(bash.test.iter().all(|i| !i.code.ends_with('\n')));
        assert_eq!(bash.test.iter().filter(|i| i.leaked).count(), 747);
        let cf = bench("cfrule");
        assert_eq!((cf.train.len(), cf.test.len()), (712, 178));
        assert_eq!(cf.test.iter().filter(|i| i.sheet.is_some()).count(), 118);
    }

    #[test]
    fn a_bad_file_names_itself_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nl.json");
        std::fs::write(&path, r#"{"train": [], "test": [{"ID": 1, "NL Utterance": "x", "Code": "y", "Cod": 1}]}"#).unwrap();
        let error = load_nl2code(&path).unwrap_err().to_string();
        assert!(error.contains("nl.json") && error.contains("unknown field `Cod`") && error.contains("line 1"), "{error}");
        assert!(load_nl2code(&dir.path().join("missing.json")).unwrap_err().to_string().contains("missing.json"));
    }
}

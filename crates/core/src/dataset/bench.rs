//! Reading the repair benchmarks of `corpora/benchmarks/`: the LastMile JSON
//! lists of `{Buggy, GroundTruth}` (Excel, PowerShell) and the PyDex
//! assignment files (`submission: [{syntax_incorrect, semantics_correct}]`),
//! one file or a directory of them.

use crate::io_error::IoError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One benchmark item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchItem {
    /// Where it comes from: `<file stem>/<index>`.
    pub id: String,
    /// The broken snippet.
    pub broken: String,
    /// The correct version.
    pub truth: String,
}

/// Errors reading a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The file or directory could not be read.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// The file is not one of the known benchmark shapes.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the item index where there is one.
        reason: String,
    },
    /// One line of a JSONL file is not usable.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Reads every item of a benchmark file, or of every `.json` file of a
/// directory (sorted by name, so item order is stable).
pub fn load_bench(path: &Path) -> Result<Vec<BenchItem>, BenchError> {
    let io = |source| BenchError::Io(crate::io_error::IoError { path: path.to_path_buf(), source });
    if !path.is_dir() {
        return load_file(path);
    }
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(path).map_err(io)?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>().map_err(io)?;
    files.retain(|f| f.extension().is_some_and(|e| e == "json"));
    files.sort();
    if files.is_empty() {
        return Err(BenchError::Format { path: path.to_path_buf(), reason: "directory holds no .json benchmark files".into() });
    }
    let mut items = Vec::new();
    for file in files {
        items.extend(load_file(&file)?);
    }
    Ok(items)
}

fn load_file(path: &Path) -> Result<Vec<BenchItem>, BenchError> {
    let bytes = std::fs::read(path).map_err(IoError::at(path.to_path_buf()))?;
    let format = |reason: String| BenchError::Format { path: path.to_path_buf(), reason };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| format(format!("invalid JSON: {e}")))?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let field = |item: &Value, i: usize, name: &str| {
        item.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format(format!("item {i} has no string field `{name}`")))
    };
    match &value {
        // LastMile.Repair: [{Buggy, GroundTruth}, ...]
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Ok(BenchItem {
                    id: format!("{stem}/{i}"),
                    broken: field(item, i, "Buggy")?.trim().to_string(),
                    truth: field(item, i, "GroundTruth")?.trim().to_string(),
                })
            })
            .collect(),
        // PyDex: {submission: [{syntax_incorrect, semantics_correct}], ...}
        Value::Object(map) if map.contains_key("submission") => {
            let list = map["submission"].as_array().ok_or_else(|| format("`submission` is not a list".into()))?;
            list.iter()
                .enumerate()
                .map(|(i, item)| {
                    Ok(BenchItem {
                        id: format!("{stem}/{i}"),
                        broken: strip_pymacer_header(&field(item, i, "syntax_incorrect")?),
                        truth: strip_pymacer_header(&field(item, i, "semantics_correct")?),
                    })
                })
                .collect()
        }
        _ => Err(format("expected a list of {Buggy, GroundTruth} or a PyDex object with `submission`".into())),
    }
}

/// Reads snippets (no truth needed): the one input convention of `lastmile check`,
/// `repair` and `sample`. By the file's extension: Parquet (`.parquet`: the `column`,
/// else `broken`, else `text`), a JSON list (`.json`, or any file starting with `[`:
/// strings, or objects with the `column` field, else `Buggy`, `broken` or `text`),
/// JSONL (`.jsonl`, `.ndjson`: a string or such an object per line), else plain text
/// with one snippet per line (blank lines skipped). `-` reads plain text from
/// standard input.
pub fn load_inputs(path: &Path, column: Option<&str>) -> Result<Vec<String>, BenchError> {
    let format = |reason: String| BenchError::Format { path: path.to_path_buf(), reason };
    let is = |ext: &str| path.extension().is_some_and(|e| e == ext);
    let fields: Vec<&str> = match column {
        Some(c) => vec![c],
        None => vec!["Buggy", "broken", "text"],
    };
    if is("parquet") {
        let mut last = None;
        for name in column.map_or(vec!["broken", "text"], |c| vec![c]) {
            match super::read_string_column(path, name) {
                Ok(values) => return Ok(values),
                Err(e) => last = Some(e),
            }
        }
        return Err(format(last.map(|e| e.to_string()).unwrap_or_default()));
    }
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(IoError::at(path.to_path_buf()))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(IoError::at(path.to_path_buf()))?
    };
    let snippet = |item: &Value| match item {
        Value::String(s) => Some(s.clone()),
        _ => fields.iter().find_map(|n| item.get(*n).and_then(Value::as_str)).map(str::to_string),
    };
    let wanted = || fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" or ");
    let lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    if is("jsonl") || is("ndjson") {
        return lines
            .map(|(i, line)| {
                let at = |reason: String| BenchError::Line { path: path.to_path_buf(), line: i + 1, reason };
                let value: Value = serde_json::from_str(line).map_err(|e| at(format!("invalid JSON: {e}")))?;
                snippet(&value).ok_or_else(|| at(format!("neither a string nor an object with a string field {}", wanted())))
            })
            .collect();
    }
    if is("json") || text.trim_start().starts_with('[') {
        let items: Vec<Value> = serde_json::from_str(&text).map_err(|e| format(format!("not a JSON list: {e}")))?;
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                snippet(item).ok_or_else(|| format(format!("item {i} is neither a string nor an object with a string field {}", wanted())))
            })
            .collect();
    }
    Ok(lines.map(|(_, line)| line.to_string()).collect())
}

/// Drops the PyMacer logging lines (`# compile-errors:… #`, `# compile-result:… #`,
/// `# save-event:… #`) that the collection tool wrote at the top of every
/// submission: they are not the student's code, and both sides carry them.
/// Trailing whitespace of the whole program goes too.
pub fn strip_pymacer_header(program: &str) -> String {
    let is_log = |line: &str| {
        let line = line.trim_end();
        line.ends_with('#') && ["# compile-errors:", "# compile-result:", "# save-event:"].iter().any(|p| line.starts_with(p))
    };
    let kept: Vec<&str> = program.lines().skip_while(|l| is_log(l)).collect();
    kept.join("\n").trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpora() -> PathBuf {
        crate::repo_file("").join("corpora/benchmarks")
    }

    #[test]
    fn reads_snippets_in_every_input_form() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let want = ["=SUM(A1", "=IF(A1>0,1"];
        assert_eq!(load_inputs(&write("f.txt", "=SUM(A1\n\n=IF(A1>0,1\n"), None).unwrap(), want);
        assert_eq!(load_inputs(&write("f.json", "[\"=SUM(A1\", {\"Buggy\": \"=IF(A1>0,1\"}]"), None).unwrap(), want);
        assert_eq!(load_inputs(&write("f.jsonl", "{\"broken\": \"=SUM(A1\"}\n\"=IF(A1>0,1\"\n"), None).unwrap(), want);
        assert_eq!(load_inputs(&write("g.jsonl", "{\"x\": \"=SUM(A1\"}\n{\"x\": \"=IF(A1>0,1\"}\n"), Some("x")).unwrap(), want);
        // a text file whose lines look like JSON is still text
        assert_eq!(load_inputs(&write("h.txt", "{\"a\": 1}\n"), None).unwrap(), ["{\"a\": 1}"]);
        let e = load_inputs(&write("bad.jsonl", "{\"broken\": \"=A1\"}\n{\"y\": 2}\n"), None).unwrap_err().to_string();
        assert!(e.contains("bad.jsonl:2:") && e.contains("`Buggy` or `broken` or `text`"), "{e}");
    }

    #[test]
    fn reads_the_three_real_benchmarks() {
        let excel = load_bench(&corpora().join("repair/excel.json")).unwrap();
        assert_eq!(excel.len(), 200);
        assert!(excel.iter().all(|i| i.broken.starts_with('=') || !i.broken.is_empty()));
        assert_eq!(load_bench(&corpora().join("repair/powershell.json")).unwrap().len(), 150);
        let pydex = load_bench(&corpora().join("pydex")).unwrap();
        assert!(pydex.len() >= 200, "{} PyDex items", pydex.len());
        assert!(pydex.iter().all(|i| !i.broken.contains("# compile-result:")), "PyMacer log lines are stripped");
        assert_eq!(pydex[0].id, "2865_syntaxincorrect_correct_pair/0");
        // the point of the benchmark: the broken side does not parse, the truth does
        let python = crate::lang::LangId::Python.language();
        let broken_invalid = pydex.iter().filter(|i| python.check(&i.broken).is_err()).count();
        let truth_valid = pydex.iter().filter(|i| python.check(&i.truth).is_ok()).count();
        assert!(broken_invalid * 10 >= pydex.len() * 9, "{broken_invalid}/{} broken sides fail", pydex.len());
        assert!(truth_valid * 10 >= pydex.len() * 9, "{truth_valid}/{} truths parse", pydex.len());
    }

    #[test]
    fn header_lines_are_stripped_only_at_the_top() {
        let program = "# compile-errors:success: Compilation Successful #\n# save-event:compile #\nx = 1\n# save-event:compile #\n";
        assert_eq!(strip_pymacer_header(program), "x = 1\n# save-event:compile #");
    }

    #[test]
    fn bad_files_name_the_file_and_item() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        std::fs::write(&path, r#"[{"Buggy": "=A1+"}]"#).unwrap();
        let err = load_bench(&path).unwrap_err().to_string();
        assert!(err.contains("b.json") && err.contains("item 0") && err.contains("GroundTruth"), "{err}");
        std::fs::write(&path, "{").unwrap();
        assert!(load_bench(&path).unwrap_err().to_string().contains("invalid JSON"));
        assert!(load_bench(dir.path()).is_err(), "a directory of broken files fails too");
    }
}

//! `lastmile check`: strict syntax check of snippets, one per line or from a
//! JSONL/Parquet column, with located errors and the pass rate.

use super::Output;
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::dataset::read_string_column;
use lastmile::lang::LangId;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// Check snippets with the language's strict syntax checker.
///
/// Input is one snippet per line, a JSONL file (`.jsonl`: the `--column` field of
/// each object) or Parquet (`.parquet`: the `--column` column). Each failure is
/// printed as `SOURCE:ITEM:LINE:COLUMN: message`; the last line gives the pass rate.
/// The exit code is 0 when every snippet passes and 1 otherwise.
#[derive(Debug, Parser)]
pub struct Args {
    /// Language of the snippets.
    #[arg(long, short)]
    lang: LangId,

    /// File to read, or `-` for standard input.
    #[arg(default_value = "-")]
    input: PathBuf,

    /// Column (Parquet) or field (JSONL) holding the snippets.
    #[arg(long, default_value = "text")]
    column: String,

    /// Print at most this many failures (the pass rate counts all of them).
    #[arg(long, default_value_t = 100)]
    max_errors: usize,
}

fn read_snippets(args: &Args) -> Result<Vec<String>> {
    let path = &args.input;
    let is = |ext: &str| path.extension().is_some_and(|e| e == ext);
    if is("parquet") {
        return Ok(read_string_column(path, &args.column)?);
    }
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).context("cannot read standard input")?;
    } else {
        text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    if is("jsonl") {
        let mut snippets = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let value: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("{}:{}: invalid JSON", path.display(), i + 1))?;
            let field = value
                .get(&args.column)
                .and_then(|v| v.as_str())
                .with_context(|| format!("{}:{}: no string field `{}`", path.display(), i + 1, args.column))?;
            snippets.push(field.to_string());
        }
        return Ok(snippets);
    }
    Ok(text.lines().map(str::to_string).collect())
}

/// Runs `lastmile check`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let snippets = read_snippets(&args)?;
    let language = args.lang.language();
    let source = args.input.display().to_string();
    let mut failures = 0usize;
    for (i, snippet) in snippets.iter().enumerate() {
        if let Err(e) = language.check(snippet) {
            failures += 1;
            if failures <= args.max_errors {
                output.line(format!("{source}:{}:{e}", i + 1));
            }
        }
    }
    let total = snippets.len();
    let passed = total - failures;
    let rate = if total == 0 { 0.0 } else { 100.0 * passed as f64 / total as f64 };
    output.line(format!("{passed}/{total} passed ({rate:.2}%), {failures} failed"));
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

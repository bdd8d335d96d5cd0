//! `lastmile check`: strict syntax check of snippets (arguments, files in any
//! input form, standard input), with located errors and the pass rate.

use super::snippet_args::SnippetArgs;
use super::Output;
use anyhow::Result;
use clap::Parser;
use lastmile::lang::LangId;
use std::process::ExitCode;

/// Check snippets with the language's strict syntax checker.
///
/// Snippets come as arguments, files (one per line, a JSON list, JSONL or Parquet;
/// `--column` picks the field) or standard input (one per line). Each failure is
/// printed as `SOURCE:ITEM:LINE:COLUMN: message`; the last line gives the pass rate.
/// The exit code is 0 when every snippet passes and 1 otherwise.
#[derive(Debug, Parser)]
pub struct Args {
    /// Language of the snippets.
    #[arg(long, short)]
    lang: LangId,

    #[command(flatten)]
    snippets: SnippetArgs,

    /// Print at most this many failures (the pass rate counts all of them).
    #[arg(long, default_value_t = 100)]
    max_errors: usize,
}

/// Runs `lastmile check`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let snippets = args.snippets.read(false)?;
    let language = args.lang.language();
    let mut failures = 0usize;
    for snippet in &snippets {
        if let Err(e) = language.check(&snippet.text) {
            failures += 1;
            if failures <= args.max_errors {
                output.line(format!("{}:{}:{e}", snippet.source, snippet.item));
            }
        }
    }
    let total = snippets.len();
    let passed = total - failures;
    let rate = if total == 0 { 0.0 } else { 100.0 * passed as f64 / total as f64 };
    output.line(format!("{passed}/{total} passed ({rate:.2}%), {failures} failed"));
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

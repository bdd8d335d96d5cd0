//! The one input convention of every command that takes snippets (`check`,
//! `repair`): positional snippets, files (`--input`, repeatable, or a positional
//! argument that names an existing file), standard input, and a column or field
//! name for JSON, JSONL and Parquet. The formats are `lastmile::dataset::load_inputs`'s.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Where snippets come from.
#[derive(Debug, Args)]
pub struct SnippetArgs {
    /// Snippets, or files of snippets (an argument naming an existing file is read
    /// as one; `-` reads standard input).
    #[arg(value_name = "SNIPPET_OR_FILE")]
    pub snippets: Vec<String>,
    /// Files of snippets: one per line (text), a JSON list, JSONL (`.jsonl`) or
    /// Parquet (`.parquet`); `-` for standard input. Repeatable.
    #[arg(long, short, value_name = "FILE")]
    pub input: Vec<PathBuf>,
    /// The JSON field or Parquet column holding the snippets (default: `Buggy`,
    /// `broken` or `text` in JSON, `broken` or `text` in Parquet).
    #[arg(long)]
    pub column: Option<String>,
}

/// One snippet and where it came from (for located messages).
pub struct Snippet {
    /// The file, `-`, or `argument`.
    pub source: String,
    /// 1-based position within its source.
    pub item: usize,
    /// The text.
    pub text: String,
}

impl SnippetArgs {
    /// Reads every snippet in argument order. With no argument at all, standard
    /// input is read as one snippet per line, or, with `stdin_whole`, as one
    /// snippet (a multi-line program).
    pub fn read(&self, stdin_whole: bool) -> Result<Vec<Snippet>> {
        let mut out = Vec::new();
        let push_file = |path: &Path, out: &mut Vec<Snippet>| -> Result<()> {
            let texts =
                lastmile::dataset::load_inputs(path, self.column.as_deref()).with_context(|| format!("reading {}", path.display()))?;
            let source = path.display().to_string();
            out.extend(texts.into_iter().enumerate().map(|(i, text)| Snippet { source: source.clone(), item: i + 1, text }));
            Ok(())
        };
        let mut arguments = 0;
        for arg in &self.snippets {
            let path = Path::new(arg);
            if arg == "-" || (!arg.contains('\n') && path.is_file()) {
                push_file(path, &mut out)?;
            } else {
                arguments += 1;
                out.push(Snippet { source: "argument".into(), item: arguments, text: arg.clone() });
            }
        }
        for path in &self.input {
            push_file(path, &mut out)?;
        }
        if self.snippets.is_empty() && self.input.is_empty() {
            if stdin_whole {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading standard input")?;
                out.push(Snippet { source: "-".into(), item: 1, text: text.trim_end_matches('\n').to_string() });
            } else {
                push_file(Path::new("-"), &mut out)?;
            }
        }
        Ok(out)
    }
}

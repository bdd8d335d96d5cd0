//! `lastmile eval nl2code`.

use crate::cli::Output;
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::lang::LangId;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
pub struct Args {
    /// The benchmark: a JSON object with `train` and `test` lists of `{ID, "NL
    /// Utterance", Code}` (CF items add `Data`), as in `corpora/benchmarks/nl2code/`.
    #[arg(long)]
    bench: PathBuf,
    /// Language of the benchmark's code.
    #[arg(long)]
    lang: LangId,
    /// Candidates per item (top-1/3/5 need 5).
    #[arg(long, short = 'k', default_value_t = 5)]
    samples: usize,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile eval nl2code`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    use lastmile::eval::nl2code::{load_nl2code, run_retrieval, Nl2CodeRun};
    let bench = load_nl2code(&args.bench)?;
    let retrieval = run_retrieval(&bench, args.lang, args.samples);
    let run = Nl2CodeRun::new(&args.bench, &bench, args.lang, args.samples, vec![retrieval]);
    output.line(run.write(&args.out).with_context(|| format!("writing {}", args.out.display()))?);
    Ok(ExitCode::SUCCESS)
}

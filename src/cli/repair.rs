//! `lastmile repair`: repair snippets by noise injection with a checkpoint.

use super::Output;
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::lang::LangId;
use lastmile::repair::{output, Pooling, Repairer};
use std::path::PathBuf;
use std::process::ExitCode;

/// Repair broken code: embed it, noise it to several levels, resume the reverse
/// process, and pool the candidates. Prints the chosen repair per input, or
/// writes JSONL with every candidate and the chosen one.
#[derive(Debug, Parser)]
pub struct Args {
    /// Snippets to repair, as arguments or files (with no argument and no
    /// `--input`, standard input is one snippet, so a multi-line program works).
    #[command(flatten)]
    snippets: super::snippet_args::SnippetArgs,
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    /// Language of the snippets (its checker drives `guided` pooling).
    #[arg(long)]
    lang: LangId,
    /// Noise samples per level.
    #[arg(long, short = 'k', default_value_t = 1)]
    samples: usize,
    /// Pooling: `ranked` (plausibility, votes and edits, where the candidates were
    /// scored: --rank; else as `guided`), `guided` (the most voted valid
    /// candidate), `vote`, or `best:<level>`.
    #[arg(long, default_value = "ranked")]
    pooling: Pooling,
    #[command(flatten)]
    sampler: super::sampler_args::SamplerArgs,
    /// Chains denoised together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the results here: JSONL (input, chosen, candidates, baselines, error
    /// per line), or Parquet when the name ends in `.parquet` (one row per
    /// candidate, the chosen one flagged).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// Runs `lastmile repair`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let inputs: Vec<String> = args.snippets.read(true)?.into_iter().map(|s| s.text).collect();
    let loaded = args.model.load(Some(args.lang))?;
    let (model, tokenizer) = (&loaded.model, &loaded.tokenizer);
    let lang = args.lang.language();
    let config = args.sampler.repair_config(args.samples, args.batch_size, args.seed, lang);
    let results = Repairer::new(model, tokenizer, lang).repair(&inputs, &config).context("repair failed")?;
    match &args.out {
        Some(path) if path.extension().is_some_and(|e| e == "parquet") => {
            output::write_parquet(path, &inputs, &results, lang, args.pooling)?
        }
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            output::write_jsonl(&mut std::io::BufWriter::new(file), &inputs, &results, lang, args.pooling)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            for ((input, result), chosen) in inputs.iter().zip(&results).zip(output::chosen(&results, lang, args.pooling)) {
                match (chosen, result) {
                    (Some(c), _) => output.answer(&c.text),
                    (None, Err(e)) => output.answer(format!("error: {e}: {input}")),
                    (None, Ok(_)) => output.answer(""),
                }
            }
        }
    }
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        eprintln!("{failed} of {} inputs could not be repaired (see the errors)", inputs.len());
    }
    Ok(ExitCode::SUCCESS)
}

//! `lastmile eval nl2code`.

use crate::cli::model_args::load;
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
    /// Also score these NL-to-code checkpoints (`lastmile nl2code train`), one
    /// row each, beside the retrieval floor.
    #[arg(long)]
    checkpoint: Vec<PathBuf>,
    #[command(flatten)]
    sampling: super::super::nl2code::SamplingArgs,
    /// Also score these seq2seq models trained on the benchmark's pairs
    /// (`lastmile fixer train --pairs BENCH.json`): the autoregressive
    /// baseline, its `-k` beams as the candidates.
    #[arg(long)]
    fixer: Vec<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile eval nl2code`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    use lastmile::eval::nl2code::{load_nl2code, run_model, run_retrieval, score_candidates, test_utterances, Nl2CodeRun};
    let bench = load_nl2code(&args.bench)?;
    let mut methods = vec![run_retrieval(&bench, args.lang, args.samples)];
    for dir in &args.checkpoint {
        let loaded = load(dir, &args.device)?;
        let config = args.sampling.ranked(args.samples);
        let method = args.sampling.method_name(dir);
        let bar = output.steps_bar();
        let scores = run_model(
            &method,
            &bench,
            args.lang,
            &loaded.model,
            &loaded.tokenizer,
            &loaded.schedule,
            &config,
            !args.sampling.unconstrained,
            &mut Output::follow(&bar),
        )
        .with_context(|| format!("generating with {}", dir.display()))?;
        bar.finish_and_clear();
        methods.push(scores);
    }
    for dir in &args.fixer {
        let fixer = lastmile::fixer::load_fixer(dir, &candle_core::Device::Cpu).with_context(|| format!("loading fixer {}", dir.display()))?;
        let bar = output.steps_bar();
        let beams = lastmile::fixer::fixer_generate(&fixer, &test_utterances(&bench), args.samples, 32, &mut Output::follow(&bar))
            .with_context(|| format!("decoding with {}", dir.display()))?;
        bar.finish_and_clear();
        let method = format!("seq2seq `{}` (autoregressive, beam {})", dir.display(), args.samples);
        methods.push(score_candidates(&method, &bench, args.lang, beams));
    }
    let run = Nl2CodeRun::new(&args.bench, &bench, args.lang, args.samples, methods);
    output.line(run.write(&args.out).with_context(|| format!("writing {}", args.out.display()))?);
    Ok(ExitCode::SUCCESS)
}

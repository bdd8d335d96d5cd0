//! `lastmile eval nl2code`.

use crate::cli::model_args::load;
use crate::cli::nl2code::SamplingArgs;
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
    /// row each, beside the retrieval floor; with `--exemplars N`, a second row
    /// each whose chains start from the N nearest train programs (`--lengths`
    /// applies to the first row only).
    #[arg(long)]
    checkpoint: Vec<PathBuf>,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Also score these seq2seq models trained on the benchmark's pairs
    /// (`lastmile fixer train --pairs BENCH.json`): the autoregressive
    /// baseline, its `-k` beams as the candidates.
    #[arg(long)]
    fixer: Vec<PathBuf>,
    /// Score every N-th test item only (the first, the N+1-th, ...): a fixed
    /// subset spread over the split, for benchmarks too large to score in full
    /// (`make eval-nl2code` scores 1 in 10 of NL2Bash's 2,522).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
    /// CF rules: also score each checkpoint's candidates re-ranked by what they do
    /// to the item's sheet (rules that format it alike pool their chains' votes),
    /// as a second row.
    #[arg(long)]
    consensus: bool,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

/// Runs `lastmile eval nl2code`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    use lastmile::eval::nl2code::{
        every_nth_test_item, load_nl2code, run_model, run_retrieval, score_candidates, test_utterances, Nl2CodeRun,
    };
    let every = args.every as usize;
    let bench = every_nth_test_item(load_nl2code(&args.bench)?, every);
    let mut methods = vec![run_retrieval(&bench, args.lang, args.samples)];
    // every checkpoint from noise (the paper's generation), then from exemplars when asked
    let starts: Vec<usize> = std::iter::once(0).chain((args.sampling.exemplars > 0).then_some(args.sampling.exemplars)).collect();
    for dir in &args.checkpoint {
        let loaded = load(dir, &args.device)?;
        for &exemplars in &starts {
            // chains from exemplars take their lengths from them
            let lengths = if exemplars > 0 { None } else { args.sampling.lengths.clone() };
            let sampling = SamplingArgs { exemplars, lengths, ..args.sampling.clone() };
            let config = sampling.ranked(args.samples);
            let method = sampling.method_name(dir, loaded.model.config().literal_slots);
            let bar = output.steps_bar();
            let scores = run_model(
                &method,
                &bench,
                args.lang,
                &loaded.model,
                &loaded.tokenizer,
                &loaded.schedule,
                &config,
                !sampling.unconstrained,
                args.consensus,
                exemplars,
                &mut Output::follow(&bar),
            )
            .with_context(|| format!("generating with {}", dir.display()))?;
            bar.finish_and_clear();
            methods.extend(scores);
        }
    }
    for dir in &args.fixer {
        let fixer =
            lastmile::fixer::load_fixer(dir, &candle_core::Device::Cpu).with_context(|| format!("loading fixer {}", dir.display()))?;
        let bar = output.steps_bar();
        let beams = lastmile::fixer::fixer_generate(&fixer, &test_utterances(&bench), args.samples, 32, &mut Output::follow(&bar))
            .with_context(|| format!("decoding with {}", dir.display()))?;
        bar.finish_and_clear();
        let method = format!("seq2seq `{}` (autoregressive, beam {})", dir.display(), args.samples);
        methods.push(score_candidates(&method, &bench, args.lang, beams));
    }
    let run = Nl2CodeRun::new(&args.bench, &bench, args.lang, args.samples, methods).scored_every(every);
    output.line(run.write(&args.out).with_context(|| format!("writing {}", args.out.display()))?);
    Ok(ExitCode::SUCCESS)
}

//! `lastmile sample`: unconditional generation from a checkpoint.

use super::sampler_args::SamplerArgs;
use super::Output;
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::diffusion::{SamplerConfig, Update};
use lastmile::generate::{repair_samples, sample, token_lengths, SampleConfig};
use lastmile::lang::LangId;
use lastmile::repair::{Pooling, Repairer};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Generate snippets from pure noise with a trained checkpoint.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    /// Number of snippets.
    #[arg(long, short, default_value_t = 16)]
    n: usize,
    /// Chains run together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Respaced number of steps (default: all `T`).
    #[arg(long)]
    steps: Option<usize>,
    /// Clamp `x0_hat` to the embedding of its decoded tokens at every step.
    #[arg(long)]
    clamp: bool,
    /// Update rule between steps.
    #[arg(long, value_enum, default_value_t = Update::Renoise)]
    update: Update,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Check each sample with this language's strict checker and report the pass rate.
    #[arg(long)]
    lang: Option<LangId>,
    /// Read each chain out under the `--lang` checker: the most probable
    /// combination of every position's top 8 tokens (by the final step's
    /// log-probabilities, at most 256 tried) that the checker accepts, else
    /// the argmax (grammar-constrained decoding; the model ranks, the parser prunes).
    #[arg(long, requires = "lang")]
    constrained: bool,
    /// Repair every sample the `--lang` checker rejects with the model's own
    /// repair (`lastmile repair`'s default method, iterated over this many
    /// rounds: one window per slip) and keep the chosen repair where it
    /// passes; the JSONL keeps the raw sample beside it.
    #[arg(long, requires = "lang", value_parser = clap::value_parser!(u16).range(1..=8))]
    repair_rounds: Option<u16>,
    /// Length-conditioned generation: draw each sample's token length from
    /// this mined corpus's train split (e.g. `outputs/corpus/excel`), hold
    /// `<eos>` and `<pad>` from there on at every step, and let the model
    /// fill the positions before it (a chain can no longer stop early).
    #[arg(long)]
    lengths: Option<PathBuf>,
    /// Write JSONL (`{"text", "valid", "substantive"}`, with `--repair-rounds` also
    /// `"raw"` and `"repaired"`) here instead of printing snippets.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// The token lengths of a mined corpus's train snippets that fit a model of length `n`.
fn corpus_lengths(dir: &std::path::Path, tokenizer: &lastmile::tokenizer::CodeTokenizer, n: usize) -> Result<Vec<usize>> {
    let records = lastmile::dataset::read_corpus_split(dir, "train").with_context(|| format!("reading lengths from {}", dir.display()))?;
    let lengths = token_lengths(tokenizer, records.iter().map(|r| r.text.as_str()), n)?;
    anyhow::ensure!(!lengths.is_empty(), "{}: no train snippet fits the model length {n}", dir.display());
    Ok(lengths)
}

/// Runs `lastmile sample`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let loaded = args.model.load(args.lang)?;
    let (model, tokenizer, schedule) = (&loaded.model, &loaded.tokenizer, &loaded.schedule);
    let lengths = match &args.lengths {
        Some(dir) => Some(corpus_lengths(dir, tokenizer, model.config().seq_len)?),
        None => None,
    };
    let config = SampleConfig {
        sampler: SamplerConfig { steps: args.steps, stride: None, clamp: args.clamp, update: args.update, likelihood: 0.0 },
        batch_size: args.batch_size,
        seed: args.seed,
        lengths,
    };
    let constrain = args.lang.map(|l| l.language()).filter(|_| args.constrained);
    let bar = output.steps_bar();
    let texts = sample(model, tokenizer, schedule, constrain, args.n, &config, &mut Output::follow(&bar)).context("sampling failed")?;
    bar.finish_and_clear();
    let checker = args.lang.map(|l| l.language());
    let (texts, repaired) = match (args.repair_rounds, checker) {
        (Some(rounds), Some(lang)) => {
            let repair = SamplerArgs::repair_defaults(rounds).repair_config(1, args.batch_size, args.seed, lang);
            let bar = output.steps_bar();
            let repaired =
                repair_samples(&Repairer::new(model, tokenizer, lang), texts, &repair, Pooling::Ranked, &mut Output::follow(&bar))
                    .context("repairing the samples failed")?;
            bar.finish_and_clear();
            (repaired.iter().map(|r| r.text.clone()).collect(), Some(repaired))
        }
        _ => (texts, None),
    };
    let valid: Vec<Option<bool>> = texts.iter().map(|t| checker.map(|c| c.check(t).is_ok())).collect();
    let substantive: Vec<Option<bool>> = texts.iter().map(|t| checker.map(|c| c.is_substantive(t))).collect();
    match &args.out {
        Some(path) => {
            let mut file = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
            for (i, ((text, valid), substantive)) in texts.iter().zip(&valid).zip(&substantive).enumerate() {
                let mut row = serde_json::json!({ "text": text, "valid": valid, "substantive": substantive });
                if let Some(r) = repaired.as_ref().map(|r| &r[i]) {
                    row["raw"] = r.raw.as_str().into();
                    row["repaired"] = r.repaired.into();
                }
                writeln!(file, "{row}")?;
            }
        }
        None => texts.iter().for_each(|t| output.line(t)),
    }
    if checker.is_some() {
        let passed = valid.iter().filter(|v| **v == Some(true)).count();
        let good = valid.iter().zip(&substantive).filter(|(v, s)| **v == Some(true) && **s == Some(true)).count();
        let distinct = texts.iter().collect::<std::collections::HashSet<_>>().len();
        let pct = |k: usize| 100.0 * k as f64 / texts.len().max(1) as f64;
        if let Some(repaired) = &repaired {
            // a repaired sample failed the check as sampled; any other one is as sampled
            let raw_passed = valid.iter().zip(repaired).filter(|(v, r)| **v == Some(true) && !r.repaired).count();
            let repaired = repaired.iter().filter(|r| r.repaired).count();
            output.line(format!(
                "{raw_passed}/{} ({:.1}%) pass the strict check as sampled; {repaired} repaired by the model",
                texts.len(),
                pct(raw_passed)
            ));
        }
        output.line(format!(
            "{passed}/{} ({:.1}%) pass the strict check; {good} ({:.1}%) pass and are substantive; {distinct} ({:.1}%) distinct",
            texts.len(),
            pct(passed),
            pct(good),
            pct(distinct)
        ));
    }
    Ok(ExitCode::SUCCESS)
}

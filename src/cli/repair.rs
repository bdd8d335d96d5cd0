//! `lastmile repair`: repair snippets by noise injection with a checkpoint.

use super::Output;
use anyhow::{bail, Context, Result};
use clap::Parser;
use lastmile::dataset::read_string_column;
use lastmile::diffusion::Update;
use lastmile::lang::LangId;
use lastmile::model::device;
use lastmile::repair::{baseline, choose, Pooling, RepairConfig, Repairer};
use lastmile::train::load_checkpoint;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Repair broken code: embed it, noise it to several levels, resume the reverse
/// process, and pool the candidates. Prints the chosen repair per input, or
/// writes JSONL with every candidate and the chosen one.
#[derive(Debug, Parser)]
pub struct Args {
    /// The snippet to repair (default: read one snippet from stdin, unless --input).
    snippet: Option<String>,
    /// A file of snippets: a JSON list of `{"Buggy": ...}` objects, JSONL with a
    /// `broken` (or `text`) field, or Parquet with a `broken` column.
    #[arg(long, short)]
    input: Option<PathBuf>,
    /// Checkpoint directory.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Language of the snippets (its checker drives `guided` pooling).
    #[arg(long)]
    lang: LangId,
    /// Noise levels as fractions of T (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9")]
    levels: Vec<f64>,
    /// Noise samples per level.
    #[arg(long, short = 'k', default_value_t = 1)]
    samples: usize,
    /// Pooling: `vote`, `guided`, or `best:<level>`.
    #[arg(long, default_value = "guided", value_parser = parse_pooling)]
    pooling: Pooling,
    /// Respaced reverse steps from the start level.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Update rule of the reverse process.
    #[arg(long, value_enum, default_value_t = Update::Ddpm)]
    update: Update,
    /// Chains denoised together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write JSONL here (input, chosen, candidates, baselines, error per line).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn parse_pooling(s: &str) -> Result<Pooling, String> {
    match s {
        "vote" => Ok(Pooling::Vote),
        "guided" => Ok(Pooling::Guided),
        _ => match s.strip_prefix("best:").map(str::parse::<f64>) {
            Some(Ok(level)) if (0.0..=1.0).contains(&level) => Ok(Pooling::Best { level }),
            _ => Err(format!("`{s}`: expected vote, guided or best:<level in 0..1> (`any` is an evaluation oracle, see `eval repair`)")),
        },
    }
}

/// Reads the snippets of an input file, naming file and line on bad input.
fn read_inputs(path: &Path) -> Result<Vec<String>> {
    if path.extension().is_some_and(|e| e == "parquet") {
        return Ok(read_string_column(path, "broken")?);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if text.trim_start().starts_with('[') {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(&text).with_context(|| format!("{}: not a JSON list", path.display()))?;
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.get("Buggy").or_else(|| item.get("broken")).and_then(|v| v.as_str()).map(str::to_string).with_context(|| {
                    format!("{}: item {i} has no string field `Buggy` or `broken`", path.display())
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: invalid JSON", path.display(), i + 1))?;
        let snippet = value.get("broken").or_else(|| value.get("text")).and_then(|v| v.as_str());
        match snippet {
            Some(s) => out.push(s.to_string()),
            None => bail!("{}:{}: no string field `broken` or `text`", path.display(), i + 1),
        }
    }
    Ok(out)
}

/// Runs `lastmile repair`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let inputs = match (&args.snippet, &args.input) {
        (Some(s), None) => vec![s.clone()],
        (None, Some(path)) => read_inputs(path)?,
        (None, None) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading stdin")?;
            vec![s.trim_end_matches('\n').to_string()]
        }
        (Some(_), Some(_)) => bail!("give a snippet or --input, not both"),
    };
    let device = device(&args.device).with_context(|| format!("opening device {}", args.device))?;
    let (model, _vars, tokenizer) =
        load_checkpoint(&args.checkpoint, &device).with_context(|| format!("loading checkpoint {}", args.checkpoint.display()))?;
    let lang = args.lang.language();
    let config = RepairConfig {
        levels: args.levels.clone(),
        samples: args.samples.max(1),
        sampler: lastmile::diffusion::SamplerConfig { steps: Some(args.steps), clamp: false, update: args.update },
        batch_size: args.batch_size,
        seed: args.seed,
    };
    let results = Repairer::new(&model, &tokenizer, lang).repair(&inputs, &config).context("repair failed")?;
    let mut file = match &args.out {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?)),
        None => None,
    };
    let mut failed = 0;
    for (input, result) in inputs.iter().zip(&results) {
        let (chosen, candidates, error) = match result {
            Ok(candidates) => (choose(candidates, lang, args.pooling).map(|c| c.text.clone()), Some(candidates), None),
            Err(e) => {
                failed += 1;
                (None, None, Some(e.to_string()))
            }
        };
        match &mut file {
            Some(f) => writeln!(
                f,
                "{}",
                serde_json::json!({
                    "input": input,
                    "chosen": chosen,
                    "pooling": args.pooling,
                    "candidates": candidates,
                    "baselines": { "identity": baseline::identity(input), "rule_based": baseline::rule_based(lang, input) },
                    "error": error,
                })
            )?,
            None => match (&chosen, &error) {
                (Some(text), _) => output.line(text),
                (None, Some(e)) => output.line(format!("error: {e}: {input}")),
                (None, None) => output.line(""),
            },
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} inputs could not be repaired (see the errors)", inputs.len());
    }
    Ok(ExitCode::SUCCESS)
}

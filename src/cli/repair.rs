//! `lastmile repair`: repair snippets by noise injection with a checkpoint.

use super::Output;
use anyhow::{bail, Context, Result};
use clap::Parser;
use lastmile::diffusion::{SamplerConfig, Update};
use lastmile::lang::LangId;
use lastmile::repair::{output, Pooling, RepairConfig, Repairer};
use std::io::Read;
use std::path::PathBuf;
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
    #[command(flatten)]
    model: super::model_args::ModelArgs,
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
    #[command(flatten)]
    sampler: SamplerArgs,
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

/// The reverse process of a repair: how many steps from each noise level.
#[derive(Debug, Clone, clap::Args)]
pub struct SamplerArgs {
    /// Respaced reverse steps from each start level (the same for every level).
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Instead of --steps: visit every STRIDE-th timestep, so a low noise level
    /// takes fewer steps than a high one (level 0.1 with stride 60: 3 steps).
    #[arg(long, conflicts_with = "steps")]
    stride: Option<usize>,
    /// Update rule of the reverse process.
    #[arg(long, value_enum, default_value_t = Update::Ddpm)]
    update: Update,
    /// Replace `x0_hat` by the embedding of its decoded tokens at every step.
    #[arg(long)]
    clamp: bool,
    /// Error-localised repair: noise only a window around the strict checker's
    /// error (RADIUS positions each side, with INSERTS free slots for missing
    /// tokens), keep the rest of the input clean. One variant per pair of
    /// --radii and --inserts, pooled with the levels and samples.
    #[arg(long)]
    localise: bool,
    /// Window radii of --localise.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3", requires = "localise")]
    radii: Vec<usize>,
    /// Free slots inserted at the error by --localise.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2", requires = "localise")]
    inserts: Vec<usize>,
}

impl SamplerArgs {
    /// The sampler these flags describe.
    pub fn config(&self) -> SamplerConfig {
        match self.stride {
            Some(stride) => SamplerConfig { steps: None, stride: Some(stride.max(1)), clamp: self.clamp, update: self.update },
            None => SamplerConfig { steps: Some(self.steps), stride: None, clamp: self.clamp, update: self.update },
        }
    }

    /// The repair run these flags, levels, samples, batch and seed describe.
    pub fn repair_config(&self, levels: &[f64], samples: usize, batch_size: usize, seed: u64) -> RepairConfig {
        RepairConfig { levels: levels.to_vec(), samples: samples.max(1), sampler: self.config(), batch_size, seed, localise: self.localise() }
    }

    /// The error-localised variants, when `--localise` is given.
    pub fn localise(&self) -> Option<lastmile::repair::Localise> {
        self.localise.then(|| lastmile::repair::Localise { radii: self.radii.clone(), inserts: self.inserts.clone() })
    }
}

/// Runs `lastmile repair`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let inputs = match (&args.snippet, &args.input) {
        (Some(s), None) => vec![s.clone()],
        (None, Some(path)) => lastmile::eval::load_inputs(path)?,
        (None, None) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading stdin")?;
            vec![s.trim_end_matches('\n').to_string()]
        }
        (Some(_), Some(_)) => bail!("give a snippet or --input, not both"),
    };
    let loaded = args.model.load()?;
    let (model, tokenizer) = (&loaded.model, &loaded.tokenizer);
    let lang = args.lang.language();
    let config = args.sampler.repair_config(&args.levels, args.samples, args.batch_size, args.seed);
    let results = Repairer::new(model, tokenizer, lang).repair(&inputs, &config).context("repair failed")?;
    match &args.out {
        Some(path) if path.extension().is_some_and(|e| e == "parquet") => output::write_parquet(path, &inputs, &results, lang, args.pooling)?,
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            output::write_jsonl(&mut std::io::BufWriter::new(file), &inputs, &results, lang, args.pooling)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            for ((input, result), chosen) in inputs.iter().zip(&results).zip(output::chosen(&results, lang, args.pooling)) {
                match (chosen, result) {
                    (Some(c), _) => output.line(&c.text),
                    (None, Err(e)) => output.line(format!("error: {e}: {input}")),
                    (None, Ok(_)) => output.line(""),
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

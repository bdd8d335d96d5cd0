//! `lastmile nl2code`: CodeFusion's own task, natural language to code.
//! `train` fine-tunes a conditioned model on a benchmark's train split (the
//! pretraining loop with `[pairs]`); `generate` writes ranked programs for an
//! utterance.

use super::model_args::ModelArgs;
use super::Output;
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use lastmile::diffusion::{SamplerConfig, Update};
use lastmile::eval::nl2code::{load_nl2code, nearest_exemplars, Retrieval};
use lastmile::generate::{generate_from_exemplars, RankedConfig};
use lastmile::lang::LangId;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// NL-to-code commands.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fine-tune a conditioned model (`encoder_layers > 0`) on the (utterance,
    /// code) pairs of a `[pairs]` run config: resumable, with the metrics and
    /// checkpoints of `lastmile pretrain`. With `init_from` a code-only
    /// checkpoint of the same model, the encoder is added and the
    /// cross-attention starts switched off (step 0 is the code-only model).
    Train(super::pretrain::Args),
    /// Programs for one utterance: `--chains` reverse processes from noise, read
    /// out under the language's checker, deduplicated, ranked by votes then
    /// the model's log-probability; prints the top `-k` (or JSON with `--json`).
    Generate(GenerateArgs),
}

/// How NL-to-code samples (shared by `nl2code generate` and `eval nl2code`).
#[derive(Debug, Clone, clap::Args)]
pub struct SamplingArgs {
    /// Reverse processes per utterance (their votes rank the candidates).
    #[arg(long, default_value_t = 10)]
    pub chains: usize,
    /// Respaced reverse steps per chain.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Positions of each chain: the longest program, with its `<eos>`, that it
    /// can write (default: the model length).
    #[arg(long)]
    pub length: Option<usize>,
    /// Hold the chains to these token lengths (without `<eos>`), in turn: chain
    /// `c` writes `lengths[c % count]` tokens (e.g. `8,12,16,24`); by default
    /// every chain places its own `<eos>` within `--length`.
    #[arg(long, value_delimiter = ',')]
    pub lengths: Option<Vec<usize>>,
    /// Programs read out of each chain under the checker: its best, which
    /// votes, and the next ones, which fill the top-k after every voted program.
    #[arg(long, default_value_t = 1)]
    pub alternatives: usize,
    /// Read each chain out as its argmax, not under the language's checker.
    #[arg(long)]
    pub unconstrained: bool,
    /// Read out only programs whose values the utterance shows (CF rules: every
    /// number written in it, every text value found in it; 0 and 1 need not be).
    #[arg(long)]
    pub grounded: bool,
    /// Start the chains from the programs of this many nearest train items (by
    /// their utterances) noised to `--exemplar-level`, not from pure noise; 0:
    /// from noise. Not with `--lengths`.
    #[arg(long, default_value_t = 0)]
    pub exemplars: usize,
    /// The level exemplars are noised to, as a fraction of the schedule.
    #[arg(long, default_value_t = 0.3)]
    pub exemplar_level: f64,
}

impl SamplingArgs {
    /// The ranked-generation settings for `k` candidates: respaced DDPM steps,
    /// clamped to the embedding rows at every step.
    pub fn ranked(&self, k: usize) -> RankedConfig {
        let sampler = SamplerConfig { steps: Some(self.steps), stride: None, clamp: true, update: Update::Ddpm, likelihood: 0.0 };
        RankedConfig {
            sampler,
            chains: self.chains,
            k,
            seed: self.seed,
            len: self.length,
            lengths: self.lengths.clone(),
            alternatives: self.alternatives,
            grounded: self.grounded,
            exemplar_level: self.exemplar_level,
        }
    }

    /// The row name of a checkpoint's scores (`slots`: the model reads its
    /// utterances with literal slots).
    pub fn method_name(&self, dir: &Path, slots: bool) -> String {
        let readout = match (self.unconstrained, self.grounded) {
            (true, _) => "argmax",
            (false, true) => "grounded checker read-out",
            (false, false) => "checker read-out",
        };
        let length = match &self.lengths {
            Some(lengths) => format!(", lengths {}", lengths.iter().map(usize::to_string).collect::<Vec<_>>().join("/")),
            None => self.length.map(|l| format!(", {l} positions")).unwrap_or_default(),
        };
        let alternatives = if self.alternatives > 1 { format!(", {} read-outs a chain", self.alternatives) } else { String::new() };
        let slots = if slots { ", literal slots" } else { "" };
        let (steps, start) = match self.exemplars {
            0 => (self.steps, String::new()),
            r => (
                self.ranked(1).exemplar_sampler().steps.unwrap_or(self.steps),
                format!(", from the {r} nearest train programs at level {}", self.exemplar_level),
            ),
        };
        let chains = self.chains;
        format!("CodeFusion `{}` ({chains} chains, {steps} steps{length}{start}, {readout}{alternatives}{slots})", dir.display())
    }
}

#[derive(Debug, Parser)]
pub struct GenerateArgs {
    /// The utterance.
    #[arg(long)]
    nl: String,
    /// Language of the code (its checker reads the chains out); with no
    /// `--checkpoint`, the shipped `models/nl2code-<lang>`.
    #[arg(long)]
    lang: LangId,
    /// Candidates to print.
    #[arg(short, default_value_t = 5)]
    k: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Print JSON (`[{text, votes, log_prob}]`) instead of one program per line.
    #[arg(long)]
    json: bool,
    /// The NL-to-code benchmark whose train split `--exemplars` are retrieved
    /// from (e.g. `corpora/benchmarks/nl2code/cfrule.json`).
    #[arg(long)]
    exemplars_from: Option<PathBuf>,
}

/// Runs `lastmile nl2code`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    match args.command {
        Command::Train(args) => super::pretrain::run_pairs(args, output),
        Command::Generate(args) => generate(args, output),
    }
}

fn generate(args: GenerateArgs, output: &Output) -> Result<ExitCode> {
    let dir = match &args.model.checkpoint {
        Some(dir) => dir.clone(),
        None => PathBuf::from("models").join(format!("nl2code-{}", args.lang.name())),
    };
    if !dir.join("config.json").is_file() {
        bail!("{}: no config.json (pass --checkpoint)", dir.display());
    }
    let loaded = super::model_args::load(&dir, &args.model.device)?;
    let config = args.sampling.ranked(args.k);
    let checker = (!args.sampling.unconstrained).then(|| args.lang.language());
    let starts = match (args.sampling.exemplars, &args.exemplars_from) {
        (0, _) => Vec::new(),
        (_, None) => bail!("--exemplars needs --exemplars-from BENCH.json, the benchmark whose train split they come from"),
        (r, Some(bench)) => {
            let bench = load_nl2code(bench)?;
            vec![nearest_exemplars(&Retrieval::new(&bench.train), &args.nl, r, loaded.model.config().literal_slots)]
        }
    };
    let (model, tokenizer, schedule) = (&loaded.model, &loaded.tokenizer, &loaded.schedule);
    let ranked = generate_from_exemplars(model, tokenizer, schedule, checker, &[args.nl.as_str()], &starts, &config, &mut |_| {})
        .with_context(|| format!("generating with {}", dir.display()))?;
    let candidates = ranked.into_iter().next().unwrap_or_default();
    if args.json {
        output.line(serde_json::to_string_pretty(&candidates)?);
    } else {
        for c in &candidates {
            output.line(&c.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

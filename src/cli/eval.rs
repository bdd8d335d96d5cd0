//! `lastmile eval`: measurements of trained models.

use super::Output;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lastmile::dataset::write_file_atomic;
use lastmile::eval::{accuracy_by_t, accuracy_chart};
use lastmile::train::TokenizedSplit;
use std::path::PathBuf;
use std::process::ExitCode;

/// Evaluation commands.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Token accuracy of the denoiser per noise level on held-out snippets
    /// (`H(D(N(x_t, t)))` against the clean snippet, t = 0, 100, ..., T-1).
    /// Writes `accuracy_by_t.json` and `accuracy_by_t.png`.
    Denoiser(DenoiserArgs),
    /// Repair a benchmark and score every
    /// method — identity and rule-based baselines, each noise level, best,
    /// vote, guided, the `any` oracle — by exact, sketch and (Excel) execution
    /// match, BIFI for Python, with pass@1/3/5. The benchmark is a JSON list
    /// of `{Buggy, GroundTruth}` or PyDex files (one, or a directory). Writes
    /// `results.json`, `results.md` (Tables 1 and 3, published numbers in the
    /// same table), `by_level.png` (Figure 5) and `repair_levels.png` (Figure 6).
    Repair(RepairArgs),
    /// Put several `eval repair` runs side by side: Table 1 (methods × language,
    /// published numbers as extra rows) and Table 3 (pass@k), as Markdown.
    Summary(SummaryArgs),
}

#[derive(Debug, Parser)]
struct RepairArgs {
    /// The benchmark file or directory.
    #[arg(long)]
    bench: PathBuf,
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    /// Language of the benchmark.
    #[arg(long)]
    lang: lastmile::lang::LangId,
    /// Noise levels as fractions of T.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9")]
    levels: Vec<f64>,
    /// Noise samples per level (pass@k needs k samples).
    #[arg(long, short = 'k', default_value_t = 5)]
    samples: usize,
    #[command(flatten)]
    sampler: super::repair::SamplerArgs,
    /// Chains denoised together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Evaluate only the first N items.
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
}

fn run_repair(args: RepairArgs, output: &Output) -> Result<ExitCode> {
    use lastmile::eval::report::{figures, markdown, EvalRun};
    use lastmile::eval::{evaluate, load_bench};
    use lastmile::repair::{RepairConfig, Repairer};
    let mut items = load_bench(&args.bench)?;
    if let Some(limit) = args.limit {
        items.truncate(limit);
    }
    let loaded = args.model.load()?;
    let (model, tokenizer) = (&loaded.model, &loaded.tokenizer);
    let lang = args.lang.language();
    let config = RepairConfig {
        levels: args.levels.clone(),
        samples: args.samples.max(1),
        sampler: args.sampler.config(),
        batch_size: args.batch_size,
        seed: args.seed,
        localise: args.sampler.localise(),
    };
    let inputs: Vec<String> = items.iter().map(|i| i.broken.clone()).collect();
    let repairer = Repairer::new(model, tokenizer, lang);
    let clock = std::time::Instant::now();
    let mut repairs = 0;
    // the paper's method, then (with --localise) error-localised repair as its own rows
    let mut reports = Vec::new();
    for localise in [None, config.localise.clone()].into_iter().take(if config.localise.is_some() { 2 } else { 1 }) {
        let config = RepairConfig { localise, ..config.clone() };
        let bar = output.steps_bar();
        bar.set_message(if config.localise.is_some() { "batches of localised chains" } else { "batches of chains" });
        let results = repairer
            .repair_with_progress(&inputs, &config, &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .context("repair failed")?;
        bar.finish_and_clear();
        repairs += results.iter().flatten().map(Vec::len).sum::<usize>();
        let candidates: Vec<_> = results.into_iter().map(Result::ok).collect();
        // exec by the language's engine where it has one (Excel), else exact
        reports.push(evaluate(lang, &items, &candidates, true));
    }
    let seconds = clock.elapsed().as_secs_f64();
    let mut report = reports.remove(0);
    report.localised = reports.pop().map(Box::new);
    let run = EvalRun {
        bench: args.bench.clone(),
        checkpoint: args.model.checkpoint.clone(),
        config,
        seconds,
        repairs_per_s: repairs as f64 / seconds.max(1e-9),
        report,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    write_file_atomic(&args.out.join("results.json"), &serde_json::to_vec_pretty(&run)?)?;
    let md = markdown(&run);
    write_file_atomic(&args.out.join("results.md"), md.as_bytes())?;
    figures(&run, &args.out)?;
    output.line(md);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Parser)]
struct SummaryArgs {
    /// `results.json` files of `eval repair` runs, in column order.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Write the Markdown here as well as to stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

fn run_summary(args: SummaryArgs, output: &Output) -> Result<ExitCode> {
    let runs = args
        .results
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("{}: not a results.json of `lastmile eval repair`", path.display()))
        })
        .collect::<Result<Vec<lastmile::eval::report::EvalRun>>>()?;
    let md = lastmile::eval::report::summary(&runs);
    if let Some(out) = &args.out {
        write_file_atomic(out, md.as_bytes())?;
    }
    output.line(md);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Parser)]
struct DenoiserArgs {
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    /// Mined corpus directory; its `valid` split is used.
    #[arg(long)]
    corpus: PathBuf,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
    /// Held-out snippets to evaluate.
    #[arg(long, default_value_t = 256)]
    examples: usize,
    /// Distance between evaluated timesteps (T-1 is always included).
    #[arg(long, default_value_t = 100)]
    every: usize,
    /// Evaluate exactly these timesteps instead (e.g. `--t 0,50,100,200`).
    #[arg(long, value_delimiter = ',')]
    t: Vec<usize>,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs `lastmile eval`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let args = match args.command {
        Command::Denoiser(args) => args,
        Command::Repair(args) => return run_repair(args, output),
        Command::Summary(args) => return run_summary(args, output),
    };
    let loaded = args.model.load()?;
    let (model, tokenizer, schedule) = (&loaded.model, &loaded.tokenizer, &loaded.schedule);
    let steps = model.config().diffusion_steps;
    let valid = TokenizedSplit::load(&args.corpus, "valid", tokenizer, model.config().seq_len)?;
    let mut ts: Vec<usize> = (0..steps).step_by(args.every.max(1)).collect();
    if ts.last() != Some(&(steps - 1)) {
        ts.push(steps - 1);
    }
    if !args.t.is_empty() {
        ts = args.t.iter().map(|&t| t.min(steps - 1)).collect();
    }
    let result = accuracy_by_t(model, schedule, &valid.rows, &ts, args.examples, 64, args.seed).context("evaluating")?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    write_file_atomic(&args.out.join("accuracy_by_t.json"), &serde_json::to_vec_pretty(&result)?)?;
    accuracy_chart(&result, steps, &args.out.join("accuracy_by_t.png"))?;
    for level in &result.levels {
        output.line(format!(
            "t={:>5}  snippet {:>6.2}%  all {:>6.2}%  frequent {:>6.2}%  rare {:>6.2}%  round(x_t) {:>6.2}%  round(D) {:>6.2}%",
            level.t,
            100.0 * level.snippet_accuracy,
            100.0 * level.all_accuracy,
            100.0 * level.frequent_accuracy,
            100.0 * level.rare_accuracy,
            100.0 * level.round_input_accuracy,
            100.0 * level.round_decoded_accuracy
        ));
    }
    output.line(format!("chance {:.2}% over {} snippets -> {}", 100.0 * result.chance_snippet_accuracy, result.examples, args.out.display()));
    Ok(ExitCode::SUCCESS)
}

//! `lastmile mine`: mine corpora with their configs.

use super::Output;
use anyhow::{bail, Context, Result};
use clap::Parser;
use lastmile::lang::LangId;
use lastmile::mine::{mine, CorpusConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Mine corpora into `OUT/<lang>/{train,valid}-*.parquet` plus `report.json`.
#[derive(Debug, Parser)]
pub struct Args {
    /// Corpus config files to mine (default: every `*.toml` in --config-dir).
    #[arg(long = "config", value_name = "FILE")]
    configs: Vec<PathBuf>,

    /// Only mine these languages (repeatable; default: all configured).
    #[arg(long, value_name = "LANG")]
    lang: Vec<LangId>,

    /// Where the default configs are.
    #[arg(long, default_value = "configs/corpus", value_name = "DIR")]
    config_dir: PathBuf,

    /// Directory that relative paths in the configs are resolved against.
    #[arg(long, default_value = ".", value_name = "DIR")]
    root: PathBuf,

    /// Output directory; each language goes to `OUT/<lang>/`.
    #[arg(long, short, default_value = "outputs/corpus", value_name = "OUT")]
    out: PathBuf,
}

/// Runs `lastmile mine`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let mut paths = args.configs.clone();
    if paths.is_empty() {
        let entries =
            std::fs::read_dir(&args.config_dir).with_context(|| format!("cannot list corpus configs in {}", args.config_dir.display()))?;
        paths = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
        paths.sort();
    }
    // every config is validated before any work starts
    let mut configs = Vec::new();
    for path in &paths {
        let config = CorpusConfig::load(path)?;
        if args.lang.is_empty() || args.lang.contains(&config.lang) {
            configs.push(config);
        }
    }
    if configs.is_empty() {
        bail!("no corpus config matches (looked at {} file(s))", paths.len());
    }
    for config in &configs {
        let lang = config.lang.name();
        let started = Instant::now();
        let bar = output.bytes_bar(0, lang);
        let out_dir = args.out.join(lang);
        let report = mine(config, &args.root, &out_dir, &mut Output::follow(&bar)).with_context(|| format!("mining {lang} failed"))?;
        bar.finish_and_clear();
        let dropped: Vec<String> = report.dropped.iter().filter(|(_, n)| **n > 0).map(|(reason, n)| format!("{reason} {n}")).collect();
        output.line(format!(
            "{lang:>10}: {} inputs -> {} kept (train {}, valid {}); dropped: {}; bad input {}; {:.1}s -> {}",
            report.inputs,
            report.kept_total(),
            report.kept["train"],
            report.kept["valid"],
            if dropped.is_empty() { "none".to_string() } else { dropped.join(", ") },
            report.bad_input.count,
            started.elapsed().as_secs_f64(),
            out_dir.display(),
        ));
        for example in report.bad_input.examples.iter().take(3) {
            output.line(format!("{:>12}warning: {example}", ""));
        }
    }
    Ok(ExitCode::SUCCESS)
}

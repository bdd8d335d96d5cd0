//! `lastmile pipeline run`: run the stages of a pipeline file, skipping those
//! whose cache key is unchanged.

use super::{dispatch, Cli, Output};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use lastmile::pipeline::{begin_stage, is_fresh, stage_key, write_record, Pipeline, StageRecord};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Pipeline commands.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline file (`pipelines/*.toml`): each stage is a lastmile
    /// command; a stage whose command line, raw inputs and upstream stages are
    /// unchanged since it last finished (and whose outputs exist) is skipped.
    /// State: `outputs/pipelines/<name>/<stage>.json`.
    Run(RunArgs),
}

#[derive(Debug, Parser)]
struct RunArgs {
    /// The pipeline file.
    file: PathBuf,
    /// Rerun these stages even if cached (repeatable; `all` for every stage).
    #[arg(long, value_name = "STAGE")]
    force: Vec<String>,
    /// Print the stages and whether each would run, and stop.
    #[arg(long)]
    dry_run: bool,
    /// Stop after this stage (e.g. `--until pretrain` to train without rolling out).
    #[arg(long, value_name = "STAGE")]
    until: Option<String>,
}

/// Runs `lastmile pipeline`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let Command::Run(args) = args.command;
    let pipeline = Pipeline::load(&args.file)?;
    let root = Path::new(".");
    let state = pipeline.state_dir(root);
    let mut produced: HashMap<PathBuf, String> = HashMap::new();
    let started = Instant::now();
    for name in args.force.iter().chain(&args.until).filter(|n| *n != "all") {
        if !pipeline.stages.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            bail!("{} has no stage `{name}` (stages: {})", args.file.display(), known.join(", "));
        }
    }
    let last = match &args.until {
        Some(until) => pipeline.stages.iter().position(|s| &s.name == until).unwrap_or(0),
        None => pipeline.stages.len() - 1,
    };
    for stage in &pipeline.stages[..=last] {
        let key = stage_key(stage, root, &produced).with_context(|| format!("hashing the inputs of stage `{}`", stage.name))?;
        let forced = args.force.iter().any(|f| f == "all" || f == &stage.name);
        let fresh = !forced && is_fresh(stage, &key, root, &state);
        for out in &stage.outputs {
            produced.insert(out.clone(), key.clone());
        }
        if args.dry_run {
            output.line(format!("{:<10} {}  lastmile {}", stage.name, if fresh { "cached" } else { "run   " }, stage.args.join(" ")));
            continue;
        }
        if fresh {
            output.line(format!("[{}] cached (key {})", stage.name, &key[..12]));
            continue;
        }
        output.line(format!("[{}] lastmile {}", stage.name, stage.args.join(" ")));
        // A stage rerun under the same key continues (a crashed pretrain
        // resumes, a rollout skips finished units); under a new key its old
        // outputs go first, so nothing of another config is continued.
        if begin_stage(&state, &stage.name, &key)? {
            for out in &stage.outputs {
                let path = root.join(out);
                if path.is_dir() {
                    std::fs::remove_dir_all(&path).with_context(|| format!("removing stale {}", path.display()))?;
                } else if path.exists() {
                    std::fs::remove_file(&path).with_context(|| format!("removing stale {}", path.display()))?;
                }
            }
        }
        let cli = Cli::try_parse_from(std::iter::once("lastmile".to_string()).chain(stage.args.iter().cloned()))
            .with_context(|| format!("stage `{}` of {}: invalid command line", stage.name, args.file.display()))?;
        let clock = Instant::now();
        let code = dispatch(cli.command, output).with_context(|| format!("stage `{}` failed", stage.name))?;
        if code != ExitCode::SUCCESS {
            bail!("stage `{}` exited unsuccessfully", stage.name);
        }
        for out in &stage.outputs {
            if !root.join(out).exists() {
                bail!("stage `{}` finished but did not write its declared output {}", stage.name, out.display());
            }
        }
        let seconds = clock.elapsed().as_secs_f64();
        write_record(&state, &stage.name, &StageRecord { key, seconds })?;
        output.line(format!("[{}] done in {seconds:.1} s", stage.name));
    }
    if !args.dry_run {
        output.line(format!("pipeline {} finished in {:.1} s", pipeline.name, started.elapsed().as_secs_f64()));
    }
    Ok(ExitCode::SUCCESS)
}

//! `lastmile pipeline run`: run the stages of a pipeline file, skipping those
//! whose cache key is unchanged.

use super::{dispatch, Cli, Output};
use anyhow::Result;
use clap::{Parser, Subcommand};
use lastmile::pipeline::{run_pipeline, Pipeline, RunOptions, StageEvent};
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
    /// Run the stages marked `parallel` (pretraining, rollout) on every rank of
    /// this launcher: its words, then this lastmile and the stage's command
    /// line (`"mpirun -np 8"`, `"srun"`, `"torchrun --standalone
    /// --nproc-per-node 8 --no-python"`). Split at whitespace, no shell quoting.
    /// The other stages run once, in this process.
    #[arg(long, env = "LASTMILE_LAUNCHER", value_name = "COMMAND")]
    launcher: Option<String>,
}

/// Runs `lastmile pipeline`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let Command::Run(args) = args.command;
    // one runner, which launches the ranks of the parallel stages itself: a
    // runner on every rank would run every single-process stage N times
    if let Some((_, rank, world)) = lastmile::dist::launched(|name| std::env::var(name).ok())?.filter(|(_, _, world)| *world > 1) {
        anyhow::bail!(
            "`pipeline run` was started as rank {rank} of {world}: run it in one process and let it launch the parallel \
             stages, e.g. `lastmile pipeline run {} --launcher \"mpirun -np {world}\"`",
            args.file.display()
        );
    }
    let launcher: Vec<String> = args.launcher.iter().flat_map(|l| l.split_whitespace().map(String::from)).collect();
    let pipeline = Pipeline::load(&args.file)?;
    let started = Instant::now();
    let options = RunOptions { force: args.force, dry_run: args.dry_run, until: args.until };
    // each stage is a lastmile command line, run in this process, or for a
    // parallel stage under a launcher, run by it on every rank
    let mut run_stage = |stage: &lastmile::pipeline::Stage| -> Result<(), String> {
        if let (true, Some((program, words))) = (stage.parallel, launcher.split_first()) {
            let exe = std::env::current_exe().map_err(|e| format!("cannot find this lastmile's path: {e}"))?;
            let status = std::process::Command::new(program)
                .args(words)
                .arg(&exe)
                .args(&stage.args)
                .status()
                .map_err(|e| format!("cannot start the launcher `{program}`: {e}"))?;
            return if status.success() { Ok(()) } else { Err(format!("`{}` {status}", launcher.join(" "))) };
        }
        let cli = Cli::try_parse_from(std::iter::once("lastmile".to_string()).chain(stage.args.iter().cloned()))
            .map_err(|e| format!("invalid command line: {e}"))?;
        match dispatch(cli.command, output) {
            Ok(code) if code == ExitCode::SUCCESS => Ok(()),
            Ok(_) => Err("exited unsuccessfully".into()),
            Err(e) => Err(format!("{e:#}")),
        }
    };
    run_pipeline(&pipeline, &args.file, Path::new("."), &options, &mut run_stage, &mut |event| match event {
        StageEvent::Planned { stage, cached } => {
            output.line(format!("{:<10} {}  lastmile {}", stage.name, if cached { "cached" } else { "run   " }, stage.args.join(" ")))
        }
        StageEvent::Cached { stage, key } => output.line(format!("[{}] cached (key {})", stage.name, &key[..12])),
        StageEvent::Started(stage) => {
            let under = if stage.parallel && !launcher.is_empty() { format!("{} ", launcher.join(" ")) } else { String::new() };
            output.line(format!("[{}] {under}lastmile {}", stage.name, stage.args.join(" ")))
        }
        StageEvent::Finished { stage, seconds } => output.line(format!("[{}] done in {seconds:.1} s", stage.name)),
    })?;
    if !options.dry_run {
        output.line(format!("pipeline {} finished in {:.1} s", pipeline.name, started.elapsed().as_secs_f64()));
    }
    Ok(ExitCode::SUCCESS)
}

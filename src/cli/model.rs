//! `lastmile model info`: sizes and parameter counts of model configs;
//! `lastmile model export`: a checkpoint's inference files to a model directory.

use super::Output;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lastmile::model::ModelConfig;
use std::path::PathBuf;
use std::process::ExitCode;

/// Model commands.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the sizes and parameter count of model configs (TOML, or a
    /// checkpoint's `config.json`; default: every `configs/model/*.toml`).
    Info {
        /// Config files.
        configs: Vec<PathBuf>,
    },
    /// Copy a training checkpoint's inference files (config, tokenizer, the
    /// averaged weights as `model.safetensors`) to a model directory such as
    /// `models/excel`, keeping the files already there (its model card).
    Export {
        /// Training checkpoint directory.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Model directory to write.
        #[arg(long)]
        out: PathBuf,
    },
}

fn millions(n: usize) -> String {
    format!("{:.2}M", n as f64 / 1e6)
}

/// Runs `lastmile model`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let mut configs = match args.command {
        Command::Info { configs } => configs,
        Command::Export { checkpoint, out } => {
            lastmile::checkpoint::export_inference(&checkpoint, &out)
                .with_context(|| format!("exporting {} to {}", checkpoint.display(), out.display()))?;
            output.line(format!("{} -> {}", checkpoint.display(), out.display()));
            return Ok(ExitCode::SUCCESS);
        }
    };
    if configs.is_empty() {
        configs = std::fs::read_dir("configs/model")
            .context("listing configs/model")?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        configs.sort();
    }
    output.line(format!(
        "{:<28} {:>6} {:>4} {:>4} {:>3} {:>4} {:>4} {:>4} {:>10}",
        "config", "V", "n", "d", "h", "L_N", "L_D", "L_E", "parameters"
    ));
    for path in configs {
        let c = ModelConfig::load(&path).map_err(anyhow::Error::msg)?;
        output.line(format!(
            "{:<28} {:>6} {:>4} {:>4} {:>3} {:>4} {:>4} {:>4} {:>10}",
            path.display(),
            c.vocab_size,
            c.seq_len,
            c.d_model,
            c.n_heads,
            c.denoiser_layers,
            c.decoder_layers,
            c.encoder_layers,
            millions(c.parameter_count())
        ));
    }
    Ok(ExitCode::SUCCESS)
}

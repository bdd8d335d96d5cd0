//! `lastmile corrupt`: rule-based corruptions of a mined corpus into a repair-pair dataset.

use super::dataset_args::DatasetArgs;
use super::Output;
use anyhow::Result;
use clap::Parser;
use lastmile::rollout::Rollout;
use std::path::Path;
use std::process::ExitCode;

/// Make (broken, fixed) pairs from real snippets with the language's rule-based
/// operators (FLAME's families for Excel, BIFI's punctuation and indentation
/// edits for Python; `--list` shows them with examples). The dataset has the
/// layout, schema, manifest, card, filters, decontamination, sharding, ranks and
/// resumption of `lastmile rollout`, with `source = "rules:<operator>"`, so
/// either can stand wherever the other does. Needs no model.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Print the operators of the config's language with an example each, and exit.
    #[arg(long)]
    list: bool,
}

/// Runs `lastmile corrupt`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let config = args.dataset.resolve(|_| {})?;
    if args.list {
        for op in config.lang.language().corruptions() {
            let one_line = |s: &str| s.replace('\n', "\\n");
            let (fixed, broken) = (one_line(op.example.0), one_line(op.example.1));
            output.line(format!("{:<22} {:<70} {fixed}  ->  {broken}", op.name, op.description));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rollout = Rollout::without_model(&config, Path::new("."))?;
    args.dataset.run(&config, &rollout, output)
}

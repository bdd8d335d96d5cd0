//! `lastmile tokenizer train`: a byte-level BPE on a corpus's train split.

use super::Output;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lastmile::dataset::read_corpus_split;
use lastmile::tokenizer::CodeTokenizer;
use std::path::PathBuf;
use std::process::ExitCode;

/// Tokenizer commands.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a byte-level BPE (`<pad>=0, <eos>=1, <unk>=2, <mask>=3`) on the
    /// train split of a mined corpus and save a standard `tokenizer.json`.
    Train(TrainArgs),
}

#[derive(Debug, Parser)]
struct TrainArgs {
    /// Mined corpus directory (`outputs/corpus/<lang>`).
    #[arg(long)]
    corpus: PathBuf,
    /// Vocabulary size, special tokens included.
    #[arg(long, default_value_t = 4096)]
    vocab_size: usize,
    /// Where to write `tokenizer.json` (a file path).
    #[arg(long, short)]
    out: PathBuf,
    /// Also train on the utterances of this NL-to-code benchmark's train split
    /// (repeatable), so that a conditioned model reads its utterances in the
    /// same vocabulary as its code.
    #[arg(long)]
    utterances: Vec<PathBuf>,
    /// Also report how many train snippets exceed this many tokens with `<eos>`.
    #[arg(long)]
    seq_len: Option<usize>,
}

/// Runs `lastmile tokenizer`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let Command::Train(args) = args.command;
    let records = read_corpus_split(&args.corpus, "train").context("reading the train split")?;
    let texts: Vec<String> = records.into_iter().map(|r| r.text).collect();
    let mut utterances = Vec::new();
    for path in &args.utterances {
        let bench = lastmile::dataset::load_nl2code(path)?;
        utterances.extend(bench.train.into_iter().filter_map(|item| item.utterance));
    }
    let tokenizer = CodeTokenizer::train(texts.iter().chain(&utterances), args.vocab_size).context("training the tokenizer")?;
    tokenizer.save(&args.out)?;
    output.line(format!(
        "trained on {} snippets and {} utterances: vocabulary {} -> {}",
        texts.len(),
        utterances.len(),
        tokenizer.vocab_size(),
        args.out.display()
    ));
    if let Some(n) = args.seq_len {
        let (_, stats) = tokenizer.encode_all(&texts, n)?;
        output.line(format!("length {n}: {} fit, {} longer (dropped at training time, never truncated)", stats.kept, stats.too_long));
    }
    Ok(ExitCode::SUCCESS)
}

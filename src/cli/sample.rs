//! `lastmile sample`: unconditional generation from a checkpoint.

use super::Output;
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::diffusion::{from_tokens_partial_scored, generate, generate_scored, SamplerConfig, Update};
use lastmile::lang::LangId;
use lastmile::repair::{constrained, window_edit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Generate snippets from pure noise with a trained checkpoint.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    /// Number of snippets.
    #[arg(long, short, default_value_t = 16)]
    n: usize,
    /// Chains run together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Respaced number of steps (default: all `T`).
    #[arg(long)]
    steps: Option<usize>,
    /// Clamp `x0_hat` to the embedding of its decoded tokens at every step.
    #[arg(long)]
    clamp: bool,
    /// Update rule between steps.
    #[arg(long, value_enum, default_value_t = Update::Renoise)]
    update: Update,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Check each sample with this language's strict checker and report the pass rate.
    #[arg(long)]
    lang: Option<LangId>,
    /// Read each chain out under the `--lang` checker: the most probable
    /// combination of every position's top 8 tokens (by the final step's
    /// log-probabilities, at most 256 tried) that the checker accepts, else
    /// the argmax (grammar-constrained decoding; the model ranks, the parser prunes).
    #[arg(long, requires = "lang")]
    constrained: bool,
    /// Length-conditioned generation: draw each sample's token length from
    /// this mined corpus's train split (e.g. `outputs/corpus/excel`), hold
    /// `<eos>` and `<pad>` from there on at every step, and let the model
    /// fill the positions before it (a chain can no longer stop early).
    #[arg(long)]
    lengths: Option<PathBuf>,
    /// Write JSONL (`{"text", "valid", "substantive"}`) here instead of printing snippets.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// The token lengths of a mined corpus's train snippets that fit a model of length `n`.
fn corpus_lengths(dir: &std::path::Path, tokenizer: &lastmile::tokenizer::CodeTokenizer, n: usize) -> Result<Vec<usize>> {
    let records = lastmile::dataset::read_corpus_split(dir, "train").with_context(|| format!("reading lengths from {}", dir.display()))?;
    let mut lengths = Vec::with_capacity(records.len());
    for record in records {
        let len = tokenizer.encode(&record.text)?.len();
        if len > 0 && len < n {
            lengths.push(len);
        }
    }
    anyhow::ensure!(!lengths.is_empty(), "{}: no train snippet fits the model length {n}", dir.display());
    Ok(lengths)
}

/// Runs `lastmile sample`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let loaded = args.model.load()?;
    let (model, tokenizer, schedule) = (&loaded.model, &loaded.tokenizer, &loaded.schedule);
    let config = SamplerConfig { steps: args.steps, stride: None, clamp: args.clamp, update: args.update, likelihood: 0.0 };
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let bar = output.steps_bar();
    bar.set_length(args.n as u64);
    let lengths = match &args.lengths {
        Some(dir) => Some(corpus_lengths(dir, tokenizer, model.config().seq_len)?),
        None => None,
    };
    // lengths come from their own stream, so the noise draws stay those of the seed
    let mut length_rng = ChaCha8Rng::seed_from_u64(args.seed);
    length_rng.set_stream(1);
    let constrain = args.lang.map(|l| l.language()).filter(|_| args.constrained);
    let mut texts = Vec::with_capacity(args.n);
    while texts.len() < args.n {
        let b = args.batch_size.min(args.n - texts.len());
        match &lengths {
            Some(lengths) => {
                // rows `<mask> x L, <eos>, <pad>...`: only the L masks are free
                let drawn: Vec<usize> = (0..b).map(|_| lengths[length_rng.random_range(0..lengths.len())]).collect();
                let len = model.config().trimmed_len(drawn.iter().max().map_or(1, |l| l + 1));
                let rows: Vec<Vec<u32>> =
                    drawn.iter().map(|&l| lastmile::tokenizer::fixed_row(&[], 0, l, len).expect("a drawn length fits")).collect();
                let keep: Vec<Vec<f32>> = drawn.iter().map(|&l| (0..len).map(|p| if p < l { 0.0 } else { 1.0 }).collect()).collect();
                let device = model.device();
                let tokens = lastmile::model::token_batch(rows.iter().map(Vec::as_slice), len, device)?;
                let keep_t = candle_core::Tensor::from_vec(keep.concat(), (b, len, 1), device)?;
                let start = schedule.steps() - 1;
                let (out, scores) = from_tokens_partial_scored(model, schedule, &config, &tokens, &keep_t, start, &mut rng, &mut |_| {})
                    .context("sampling failed")?;
                let scores = if constrain.is_some() { Some(scores.to_vec3::<f32>()?) } else { None };
                for (j, ids) in out.iter().enumerate() {
                    let ids = match (constrain, &scores) {
                        (Some(checker), Some(scores)) => {
                            let free: Vec<usize> = (0..drawn[j]).collect();
                            let accept = |row: &[u32]| {
                                tokenizer
                                    .decode_snippet(&window_edit(row, &keep[j], &rows[j]))
                                    .is_ok_and(|text| checker.check(&text).is_ok())
                            };
                            constrained::read_out(ids, &free, &scores[j], constrained::Constraint::default(), accept)
                                .unwrap_or_else(|| ids.to_vec())
                        }
                        _ => ids.to_vec(),
                    };
                    texts.push(tokenizer.decode_snippet(&window_edit(&ids, &keep[j], &rows[j]))?);
                }
            }
            None => match constrain {
                Some(checker) => {
                    let (tokens, scores) =
                        generate_scored(model, schedule, &config, b, &mut rng, &mut |_| {}).context("sampling failed")?;
                    let scores = scores.to_vec3::<f32>()?;
                    for (ids, scores) in tokens.iter().zip(&scores) {
                        let positions: Vec<usize> = (0..ids.len()).collect();
                        let accepted = constrained::read_out(ids, &positions, scores, constrained::Constraint::default(), |row| {
                            tokenizer.decode_snippet(row).is_ok_and(|text| checker.check(&text).is_ok())
                        });
                        texts.push(tokenizer.decode_snippet(accepted.as_deref().unwrap_or(ids))?);
                    }
                }
                None => {
                    for ids in generate(model, schedule, &config, b, &mut rng, &mut |_| {}).context("sampling failed")? {
                        texts.push(tokenizer.decode_snippet(&ids)?);
                    }
                }
            },
        }
        bar.set_position(texts.len() as u64);
    }
    bar.finish_and_clear();
    let checker = args.lang.map(|l| l.language());
    let valid: Vec<Option<bool>> = texts.iter().map(|t| checker.map(|c| c.check(t).is_ok())).collect();
    let substantive: Vec<Option<bool>> = texts.iter().map(|t| checker.map(|c| c.is_substantive(t))).collect();
    match &args.out {
        Some(path) => {
            let mut file = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
            for ((text, valid), substantive) in texts.iter().zip(&valid).zip(&substantive) {
                writeln!(file, "{}", serde_json::json!({ "text": text, "valid": valid, "substantive": substantive }))?;
            }
        }
        None => texts.iter().for_each(|t| output.line(t)),
    }
    if checker.is_some() {
        let passed = valid.iter().filter(|v| **v == Some(true)).count();
        let good = valid.iter().zip(&substantive).filter(|(v, s)| **v == Some(true) && **s == Some(true)).count();
        let distinct = texts.iter().collect::<std::collections::HashSet<_>>().len();
        let pct = |k: usize| 100.0 * k as f64 / texts.len().max(1) as f64;
        output.line(format!(
            "{passed}/{} ({:.1}%) pass the strict check; {good} ({:.1}%) pass and are substantive; {distinct} ({:.1}%) distinct",
            texts.len(),
            pct(passed),
            pct(good),
            pct(distinct)
        ));
    }
    Ok(ExitCode::SUCCESS)
}

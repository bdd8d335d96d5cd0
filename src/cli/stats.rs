//! `lastmile stats`: localization, diversity, complexity and chain trends of a
//! repair-pair dataset (or of any Parquet with `broken`/`fixed` columns).

use super::Output;
use anyhow::{Context, Result};
use clap::Parser;
use lastmile::lang::LangId;
use lastmile::stats::{dataset_stats, write_report};
use std::path::PathBuf;
use std::process::ExitCode;

/// Compute statistics of repair pairs: per language and per noise bucket
/// (`t_frac`), token edit distance, localization, broken-fails-check fraction,
/// distinct-n and pairwise n-gram similarity; plus the chain trends of the
/// repair paper's Figure 2 when the dataset has `chains.parquet`. Writes
/// `stats.json`, `stats.md` and PNG plots.
#[derive(Debug, Parser)]
pub struct Args {
    /// A dataset directory (reads `data/*.parquet`), a directory of Parquet
    /// files, or one Parquet file; needs `broken` and `fixed` columns.
    input: PathBuf,
    /// Language of rows without a `lang` column (other generators' data).
    #[arg(long)]
    lang: Option<LangId>,
    /// A repair benchmark of real mistakes (`corpora/benchmarks/repair/excel.json`):
    /// each source's edit families are compared with its Buggy -> GroundTruth edits.
    #[arg(long)]
    real: Option<PathBuf>,
    /// Report directory (default: `INPUT/stats` for a directory, else next to the file).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// Runs `lastmile stats`.
pub fn run(args: Args, output: &Output) -> Result<ExitCode> {
    let out =
        args.out.clone().unwrap_or_else(|| if args.input.is_dir() { args.input.join("stats") } else { args.input.with_extension("stats") });
    // a lastmile dataset must be the one its manifest describes before it is measured
    if args.input.join("manifest.json").is_file() {
        let verification = lastmile::dataset::verify_dataset(&args.input)?;
        if let Some(first) = verification.differences.first() {
            anyhow::bail!(
                "{} does not verify against its manifest ({} differences; `lastmile verify` lists them): {}: {}",
                args.input.display(),
                verification.differences.len(),
                first.file,
                first.reason
            );
        }
    }
    let mut stats = dataset_stats(&args.input, args.lang).with_context(|| format!("computing statistics of {}", args.input.display()))?;
    if let Some(real) = &args.real {
        let items = lastmile::dataset::load_bench(real)?;
        let lang = match (args.lang, stats.languages.as_slice()) {
            (Some(lang), _) => lang,
            (None, [only]) => only.lang.parse::<LangId>().map_err(anyhow::Error::msg)?,
            _ => anyhow::bail!("--real with several languages: say which (--lang)"),
        };
        stats.compare_to_real(real, &items, lang);
    }
    let files = write_report(&stats, &out).with_context(|| format!("writing the report to {}", out.display()))?;
    for lang in &stats.languages {
        let g = &lang.overall;
        output.line(format!(
            "{}: {} pairs; token edits mean {:.2} (median {}, p90 {}); localization {}; broken invalid {:.1}%; distinct-1..4 {:.3}/{:.3}/{:.3}/{:.3}",
            lang.lang,
            g.pairs,
            g.token_edit_distance.mean,
            g.token_edit_distance.median,
            g.token_edit_distance.p90,
            g.localization.map_or("–".into(), |v| format!("{v:.2}")),
            100.0 * g.broken_invalid,
            g.distinct_n[0],
            g.distinct_n[1],
            g.distinct_n[2],
            g.distinct_n[3]
        ));
    }
    for lang in &stats.languages {
        let js = |v: Option<f64>| v.map_or(String::new(), |v| format!(", JS to real {v:.3}"));
        let line: Vec<String> = std::iter::once(format!("all{}", js(lang.realism_js)))
            .chain(lang.by_source.iter().map(|s| format!("{} {} pairs{}", s.source, s.stats.pairs, js(s.realism_js))))
            .collect();
        output.line(format!("{} edit families: {}", lang.lang, line.join("; ")));
    }
    output.line(format!("wrote {} and {} plots", files.markdown.display(), files.plots.len()));
    Ok(ExitCode::SUCCESS)
}

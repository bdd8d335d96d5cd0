//! Corpus mining (`lastmile mine`): real corpora in, clean deduplicated,
//! decontaminated, syntax-checked snippets out, as sharded Parquet with a report
//! that accounts for every input.
//!
//! Filters run in the order of [`DropReason`]: UTF-8, control characters,
//! emptiness, length, exact duplicates (on normalised text), strict syntax,
//! decontamination. Work is parallel (rayon) over bounded chunks while the
//! order of the output follows the order of the input, so runs are byte-identical.
//!
//! Imports `lang`, `dataset/`.

mod config;
mod drop;
mod report;
mod sources;

pub use config::{CorpusConfig, Limits, SourceConfig, SplitConfig};
pub use drop::DropReason;
pub use report::{MineReport, ReasonCount};
pub use sources::{unquote_csv, Diagnostic};

use crate::dataset::{
    assign_split, corpus_schema, load_decontaminator, normalize, replace_dir, snippet_id, write_file_atomic, CorpusRecord, DatasetError,
    Decontaminator, ShardWriter, Split,
};
use crate::lang::Language;
use crate::progress::{Progress, ProgressFn, Unit};
use rayon::prelude::*;
use report::{ReasonTally, SourceCounts};
use sources::{read_source, source_bytes, RawSnippet};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Rows buffered before a batch goes to the Parquet writer.
const WRITE_BATCH: usize = 16_384;

/// Errors that stop a mining run before or while writing (bad input does not:
/// it is counted in the report).
#[derive(Debug, thiserror::Error)]
pub enum MineError {
    /// The configuration is invalid.
    #[error("{path}: invalid corpus config: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// Writing the output failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

/// A snippet after the parallel, order-independent part of filtering.
struct Candidate {
    raw_source: String,
    line: u32,
    outcome: Result<Checked, DropReason>,
}

struct Checked {
    id: String,
    text: String,
    sketch: String,
    syntax_error: Option<String>,
    contaminated: bool,
}

fn examine(raw: RawSnippet, lang: &dyn Language, config: &CorpusConfig, contamination: &Decontaminator) -> Candidate {
    let outcome = raw.text.and_then(|text| normalize(&text).map_err(DropReason::from)).and_then(|text| {
        let n = text.chars().count();
        if n < config.limits.min_chars {
            return Err(DropReason::TooShort);
        }
        if n > config.limits.max_chars {
            return Err(DropReason::TooLong);
        }
        let sketch = lang.sketch(&text);
        Ok(Checked {
            id: snippet_id(lang.id().name(), &text),
            syntax_error: lang.check(&text).err().map(|e| e.message),
            contaminated: contamination.is_contaminated(&text, &sketch),
            text,
            sketch,
        })
    });
    Candidate { raw_source: raw.source, line: raw.line, outcome }
}

/// Mines one language into `out_dir` (`outputs/corpus/<lang>`), replacing what
/// was there only once everything is written. Relative paths in the config are
/// resolved against `root`.
pub fn mine(config: &CorpusConfig, root: &Path, out_dir: &Path, progress: &mut ProgressFn<'_>) -> Result<MineReport, MineError> {
    let lang = config.lang.language();
    let contamination = load_decontaminator(&config.decontaminate, root, lang)?;
    let staging = crate::dataset::staging_dir(out_dir)?;
    let options = config.output;
    let mut writers = [
        (Split::Train, ShardWriter::new(&staging, "train", corpus_schema(), options)?, Vec::new()),
        (Split::Valid, ShardWriter::new(&staging, "valid", corpus_schema(), options)?, Vec::new()),
    ];

    let mut report = MineReport::new(lang.id().name());
    report.benchmark_snippets = contamination.len();
    let mut reasons = ReasonTally::default();
    let mut seen: HashSet<String> = HashSet::new();
    let bytes_total = config.sources.iter().map(|s| source_bytes(s, root)).sum();
    let mut bytes_done = 0;
    let mut write_error: Option<MineError> = None;

    for source in &config.sources {
        let mut counts = SourceCounts { path: source.path().to_string_lossy().into_owned(), inputs: 0, kept: 0 };
        read_source(source, root, lang, config.limits.max_chars, &mut |chunk| {
            if write_error.is_some() {
                return;
            }
            for diagnostic in &chunk.diagnostics {
                report.bad_input(diagnostic);
            }
            report.files.read += chunk.files_read;
            report.files.unparsable += chunk.files_unparsable;
            counts.inputs += chunk.snippets.len() as u64;
            let candidates: Vec<Candidate> = chunk.snippets.into_par_iter().map(|raw| examine(raw, lang, config, &contamination)).collect();
            for candidate in candidates {
                let checked = match candidate.outcome {
                    Err(reason) => {
                        report.drop(reason);
                        continue;
                    }
                    Ok(checked) => checked,
                };
                if !seen.insert(checked.id.clone()) {
                    report.drop(DropReason::Duplicate);
                    continue;
                }
                if let Some(message) = checked.syntax_error {
                    reasons.add(&message);
                    report.drop(DropReason::SyntaxError);
                    continue;
                }
                if checked.contaminated {
                    report.drop(DropReason::Contaminated);
                    continue;
                }
                let split = assign_split(&checked.text, &config.split.seed, config.split.valid_fraction);
                *report.kept.entry(split.name().to_string()).or_default() += 1;
                counts.kept += 1;
                let (_, writer, buffer) = writers.iter_mut().find(|(s, _, _)| *s == split).expect("both splits present");
                buffer.push(CorpusRecord {
                    id: checked.id,
                    lang: lang.id().name().to_string(),
                    n_chars: checked.text.chars().count() as u32,
                    text: checked.text,
                    source: candidate.raw_source,
                    source_line: candidate.line,
                    sketch: checked.sketch,
                });
                if buffer.len() >= WRITE_BATCH {
                    if let Err(e) = writer.write(&CorpusRecord::to_batch(buffer)) {
                        write_error = Some(e.into());
                        return;
                    }
                    buffer.clear();
                }
            }
            bytes_done += chunk.bytes;
            progress(Progress::count(Unit::Bytes, bytes_done, Some(bytes_total)).with_status(format!("{} kept", report.kept_total())));
        });
        report.inputs += counts.inputs;
        report.sources.push(counts);
    }
    if let Some(e) = write_error {
        return Err(e);
    }
    for (split, mut writer, buffer) in writers {
        if !buffer.is_empty() {
            writer.write(&CorpusRecord::to_batch(&buffer))?;
        }
        report.shards.insert(split.name().to_string(), writer.finish()?);
    }
    report.syntax_error_reasons = reasons.top(10);
    let json = serde_json::to_vec_pretty(&report).expect("reports serialise");
    write_file_atomic(&staging.join("report.json"), &json)?;
    replace_dir(&staging, out_dir)?;
    Ok(report)
}

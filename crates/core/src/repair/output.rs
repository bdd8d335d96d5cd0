//! What `lastmile repair` writes: one Parquet row per candidate (the chosen
//! one flagged, a null row for an input that got none) or one JSONL line per
//! input (chosen repair, every candidate, the baselines, the error).

use super::{baseline, choose, Candidate, ItemError, Pooling};
use crate::dataset::{write_repairs, DatasetError, RepairRow};
use crate::lang::Language;
use std::io::Write;
use std::path::Path;

/// The result of repairing one input.
pub type ItemResult = Result<Vec<Candidate>, ItemError>;

/// The chosen repair of each input (`None`: no candidates), by `pooling`.
pub fn chosen<'a>(results: &'a [ItemResult], lang: &dyn Language, pooling: Pooling) -> Vec<Option<&'a Candidate>> {
    results.iter().map(|r| r.as_ref().ok().and_then(|c| choose(c, lang, pooling))).collect()
}

/// Long-format rows: one per candidate, `chosen` flagged by identity; a row
/// of nulls with the error for an input without candidates.
pub fn repair_rows(inputs: &[String], results: &[ItemResult], lang: &dyn Language, pooling: Pooling) -> Vec<RepairRow> {
    let picks = chosen(results, lang, pooling);
    let mut rows = Vec::new();
    for (index, ((input, result), pick)) in inputs.iter().zip(results).zip(picks).enumerate() {
        let error = result.as_ref().err().map(ToString::to_string);
        let row = |c: Option<&Candidate>| RepairRow {
            input_index: index as u32,
            broken: input.clone(),
            level: c.map(|c| c.level as f32),
            sample: c.map(|c| c.sample as u32),
            candidate: c.map(|c| c.text.clone()),
            valid: c.map(|c| c.valid),
            token_edit_distance: c.map(|c| c.token_edit_distance as u32),
            chosen: c.zip(pick).is_some_and(|(c, ch)| std::ptr::eq(c, ch)),
            error: error.clone(),
        };
        match result {
            Ok(list) if !list.is_empty() => rows.extend(list.iter().map(|c| row(Some(c)))),
            _ => rows.push(row(None)),
        }
    }
    rows
}

/// Writes the Parquet output ([`repair_rows`]) to `path`.
pub fn write_parquet(
    path: &Path,
    inputs: &[String],
    results: &[ItemResult],
    lang: &dyn Language,
    pooling: Pooling,
) -> Result<(), DatasetError> {
    write_repairs(path, &repair_rows(inputs, results, lang, pooling))
}

/// Writes one JSON object per input to `out`: `input`, `chosen`, `pooling`,
/// `candidates`, `baselines` (identity, rule-based) and `error`.
pub fn write_jsonl(
    out: &mut dyn Write,
    inputs: &[String],
    results: &[ItemResult],
    lang: &dyn Language,
    pooling: Pooling,
) -> std::io::Result<()> {
    for ((input, result), pick) in inputs.iter().zip(results).zip(chosen(results, lang, pooling)) {
        let line = serde_json::json!({
            "input": input,
            "chosen": pick.map(|c| c.text.clone()),
            "pooling": pooling,
            "candidates": result.as_ref().ok(),
            "baselines": { "identity": baseline::identity(input), "rule_based": baseline::rule_based(lang, input) },
            "error": result.as_ref().err().map(ToString::to_string),
        });
        writeln!(out, "{line}")?;
    }
    out.flush()
}

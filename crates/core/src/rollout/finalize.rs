//! Finalizing: the complete prefix of units becomes the dataset directory
//! (`data/` shards, `chains.parquet`, `manifest.json`, `README.md`), written to
//! a staging directory that atomically replaces the old dataset.

use super::units::collect_prefix;
use super::{FilterCounts, Rollout, RolloutConfig, RolloutError};
use crate::dataset::{assign_split, Split};
use crate::dataset::{
    dataset_card, file_sha256, pair_schema, read_chain_steps, replace_dir, write_file_atomic, write_parquet_atomic, ChainStepRecord,
    Manifest, ManifestFile, PairRecord, ShardWriter,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// What the finalized dataset holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FinalSummary {
    /// Rows per split.
    pub rows: BTreeMap<String, usize>,
    /// Units whose pairs were used.
    pub units: usize,
    /// Chains in those units.
    pub chains: usize,
    /// Filter counts summed over those units.
    pub counts: FilterCounts,
    /// Pairs dropped as duplicates of a pair in an earlier unit.
    pub cross_unit_duplicates: usize,
    /// Pairs of the last unit beyond the target.
    pub beyond_target: usize,
}

impl FinalSummary {
    /// Candidates, then every reason a candidate was dropped, with its count:
    /// the columns of the filter line and of the dataset card's filter table.
    pub fn filter_counts(&self) -> [(&'static str, u64); 10] {
        let c = self.counts;
        [
            ("candidates", c.candidates),
            ("fixed invalid", c.fixed_invalid),
            ("unchanged", c.unchanged),
            ("edit distance", c.edit_distance),
            ("length", c.length),
            ("broken rule", c.broken_rule),
            ("duplicate", c.duplicate),
            ("contaminated", c.contaminated),
            ("cross-unit duplicate", self.cross_unit_duplicates as u64),
            ("beyond target", self.beyond_target as u64),
        ]
    }
}

/// The filter line of a finished rollout: `N candidates; fixed invalid n, ...`.
impl std::fmt::Display for FinalSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [(_, candidates), dropped @ ..] = self.filter_counts();
        let dropped: Vec<String> = dropped.iter().map(|(name, n)| format!("{name} {n}")).collect();
        write!(f, "{candidates} candidates; {}", dropped.join(", "))
    }
}

impl Rollout<'_> {
    /// Writes the train and valid shards of `pairs` under `staging/data`:
    /// the manifest's file entries and the rows per split.
    fn write_splits(&self, staging: &Path, pairs: &[PairRecord]) -> Result<(Vec<ManifestFile>, BTreeMap<String, usize>), RolloutError> {
        let config = self.config;
        let data = staging.join("data");
        let split_seed = format!("lastmile-rollout-{}", config.seed);
        let (valid, train): (Vec<&PairRecord>, Vec<&PairRecord>) =
            pairs.iter().partition(|p| assign_split(&p.fixed, &split_seed, config.valid_fraction) == Split::Valid);
        let (mut files, mut counts) = (Vec::new(), BTreeMap::new());
        for (split, rows) in [("train", &train), ("valid", &valid)] {
            if rows.is_empty() && split == "valid" {
                continue;
            }
            let mut writer = ShardWriter::new(&data, split, pair_schema(), config.output)?;
            for chunk in rows.chunks(config.output.row_group_rows) {
                let owned: Vec<PairRecord> = chunk.iter().map(|p| (*p).clone()).collect();
                writer.write(&PairRecord::to_batch(&owned))?;
            }
            for shard in writer.finish()? {
                let path = format!("data/{}", shard.file);
                let (sha256, bytes) = file_sha256(&staging.join(&path))?;
                files.push(ManifestFile { path, split: split.to_string(), rows: shard.rows, bytes, sha256 });
            }
            counts.insert(split.to_string(), rows.len());
        }
        Ok((files, counts))
    }

    /// Writes the dataset from the complete prefix of units.
    pub fn finalize(&self) -> Result<FinalSummary, RolloutError> {
        let config = self.config;
        let total = config.total_units();
        let (pairs, used, cross_unit_duplicates) = collect_prefix(&self.units, total, config.target_pairs)?;
        let mut summary = FinalSummary { units: used, cross_unit_duplicates, ..FinalSummary::default() };
        let mut log: Vec<ChainStepRecord> = Vec::new();
        for u in 0..used {
            let marker = self.units.read_marker(u)?.ok_or_else(|| RolloutError::Incomplete(format!("unit {u} lost its marker")))?;
            summary.chains += marker.chains;
            summary.counts += marker.counts;
            log.extend(read_chain_steps(&self.units.chains(u))?);
        }
        summary.beyond_target = (summary.counts.kept as usize).saturating_sub(cross_unit_duplicates + pairs.len());

        let name = self.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
        let staging = crate::dataset::staging_dir(&self.out)?;
        let (files, rows) = self.write_splits(&staging, &pairs)?;
        summary.rows = rows;
        write_parquet_atomic(&staging.join("chains.parquet"), &ChainStepRecord::to_batch(&log), config.output)?;

        let manifest = Manifest {
            name: name.clone(),
            lastmile_version: env!("CARGO_PKG_VERSION").to_string(),
            lang: config.lang.name().to_string(),
            rows: summary.rows.clone(),
            files,
            seed: config.seed,
            checkpoint: self.checkpoint.clone(),
            config: serde_json::to_value(config).expect("config serialises"),
            report: serde_json::to_value(&summary).expect("summary serialises"),
        };
        write_file_atomic(&staging.join("manifest.json"), &serde_json::to_vec_pretty(&manifest).expect("manifest serialises"))?;
        let from = if config.sources.iter().all(|s| s.needs_model()) {
            "diffusion chains"
        } else if config.sources.iter().any(|s| s.needs_model()) {
            "diffusion chains and rule-based corruptions"
        } else {
            "rule-based corruptions"
        };
        let title = format!("{name}: {} repair pairs from {from}", config.lang);
        let card = dataset_card(&manifest, &pair_schema(), &title, &card_body(config, &manifest, &summary, &pairs));
        write_file_atomic(&staging.join("README.md"), card.as_bytes())?;
        // what is published is what the manifest says, or nothing is published
        let verification = crate::dataset::verify_dataset(&staging)?;
        if let Some(first) = verification.differences.first() {
            return Err(RolloutError::Unverified { path: staging.clone(), reason: format!("{}: {}", first.file, first.reason) });
        }
        replace_dir(&staging, &self.out)?;
        Ok(summary)
    }
}

/// What made the pairs, for the card's first line and its title.
fn made_by(config: &RolloutConfig, checkpoint: &str) -> String {
    let diffusion = format!(
        "the decoded intermediate steps of reverse-diffusion chains of a CodeFusion checkpoint (sha256 `{}`)",
        &checkpoint[..checkpoint.len().min(16)]
    );
    let rules = format!("rule-based corruption operators ({}) applied to real snippets", config.lang);
    match (config.sources.iter().any(|s| s.needs_model()), config.sources.iter().any(|s| !s.needs_model())) {
        (true, true) => format!("{diffusion}, mixed with {rules}"),
        (false, _) => rules,
        (true, false) => diffusion,
    }
}

fn card_body(config: &RolloutConfig, manifest: &Manifest, summary: &FinalSummary, pairs: &[PairRecord]) -> String {
    let mut out = String::new();
    let total = pairs.len().max(1) as f64;
    let _ = writeln!(
        out,
        "(broken, fixed) {} pairs made by [lastmile](https://github.com/) from {}, seed {}.\n",
        manifest.lang,
        made_by(config, &manifest.checkpoint),
        manifest.seed
    );
    out.push_str("## Loading\n\n```python\nfrom datasets import load_dataset\nds = load_dataset(\"parquet\", data_files={\"train\": \"data/train-*.parquet\"})\n\nimport polars as pl\ndf = pl.read_parquet(\"data/*.parquet\")\n```\n\n");
    out.push_str("## Statistics\n\n| | value |\n|---|---|\n");
    for (split, rows) in &summary.rows {
        let _ = writeln!(out, "| rows ({split}) | {rows} |");
    }
    let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for p in pairs {
        *by_source.entry(p.source.as_str()).or_default() += 1;
    }
    for (source, n) in by_source {
        let _ = writeln!(out, "| source `{source}` | {n} ({:.1}%) |", 100.0 * n as f64 / total);
    }
    let mean = |f: fn(&PairRecord) -> f64| pairs.iter().map(f).sum::<f64>() / total;
    let _ = writeln!(out, "| mean token edit distance | {:.2} |", mean(|p| f64::from(p.token_edit_distance)));
    let _ = writeln!(out, "| mean char edit distance | {:.2} |", mean(|p| f64::from(p.char_edit_distance)));
    let _ = writeln!(out, "| broken fails the syntax check | {:.1}% |", 100.0 * mean(|p| f64::from(u8::from(!p.broken_valid))));
    let _ = writeln!(out, "| mean t / (T-1) | {:.3} |", mean(|p| f64::from(p.t_frac)));
    let _ = writeln!(out, "| chains run | {} |", summary.chains);
    let columns = summary.filter_counts();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).chain(["kept"]).collect();
    let counts: Vec<String> = columns.iter().map(|(_, n)| n.to_string()).chain([pairs.len().to_string()]).collect();
    let _ = writeln!(out, "\n## Filters\n\n| {} |\n|{}\n| {} |", names.join(" | "), "---|".repeat(names.len()), counts.join(" | "));
    out.push_str("\n## Examples\n\n| broken | fixed | t | edits |\n|---|---|---|---|\n");
    let mut examples: Vec<&PairRecord> = pairs.iter().collect();
    examples.sort_by(|a, b| a.id.cmp(&b.id));
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', "⏎");
    for p in examples.into_iter().take(10) {
        let _ = writeln!(out, "| `{}` | `{}` | {} | {} |", cell(&p.broken), cell(&p.fixed), p.t, p.token_edit_distance);
    }
    out.push_str("\n`chains.parquet` (outside `data/`) logs every visited chain step: tokens changed, change span, length.\n");
    out
}

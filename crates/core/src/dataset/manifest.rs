//! `manifest.json` (what a dataset directory holds, with checksums) and the
//! `README.md` dataset card with the YAML header Hugging Face `datasets` reads.

use super::DatasetError;
use arrow::datatypes::{DataType, SchemaRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// One data file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path relative to the dataset directory (`data/train-00000-of-00001.parquet`).
    pub path: String,
    /// `train` or `valid`.
    pub split: String,
    /// Rows in the file.
    pub rows: usize,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the file, hex.
    pub sha256: String,
}

/// Everything needed to trust and reproduce a dataset directory. Contains no
/// timestamps or timings, so equal inputs give byte-identical manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Dataset name (the directory name).
    pub name: String,
    /// Version of lastmile that wrote it.
    pub lastmile_version: String,
    /// Language of the snippets.
    pub lang: String,
    /// Rows per split.
    pub rows: BTreeMap<String, usize>,
    /// The data files, in order.
    pub files: Vec<ManifestFile>,
    /// The generating seed.
    pub seed: u64,
    /// sha256 of the checkpoint weights that generated the data.
    pub checkpoint: String,
    /// The full generating configuration.
    pub config: serde_json::Value,
    /// Counts of the generating run (candidates, each filter, chains, units).
    pub report: serde_json::Value,
}

impl Manifest {
    /// Reads `manifest.json` of a dataset directory.
    pub fn load(dir: &Path) -> Result<Self, DatasetError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(DatasetError::io(&path))?;
        serde_json::from_str(&text).map_err(|e| DatasetError::Schema { path, reason: format!("invalid manifest: {e}") })
    }
}

/// sha256 (hex) and size of a file.
pub fn file_sha256(path: &Path) -> Result<(String, u64), DatasetError> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(DatasetError::io(path))?;
    Ok((hex::encode(Sha256::digest(&bytes)), bytes.len() as u64))
}

fn hf_dtype(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 => "string",
        DataType::UInt32 => "uint32",
        DataType::UInt64 => "uint64",
        DataType::Int32 => "int32",
        DataType::Int64 => "int64",
        DataType::Float32 => "float32",
        DataType::Float64 => "float64",
        DataType::Boolean => "bool",
        _ => "string",
    }
}

fn size_category(rows: usize) -> &'static str {
    match rows {
        0..1_000 => "n<1K",
        1_000..10_000 => "1K<n<10K",
        10_000..100_000 => "10K<n<100K",
        100_000..1_000_000 => "100K<n<1M",
        _ => "1M<n<10M",
    }
}

/// The dataset card: a YAML header declaring the Parquet files of each split
/// (`train`, and `valid` as the `validation` split) and the features, then
/// `body` (Markdown written by the generating stage).
pub fn dataset_card(manifest: &Manifest, schema: &SchemaRef, title: &str, body: &str) -> String {
    let total: usize = manifest.rows.values().fold(0usize, |a, &b| a.saturating_add(b));
    let mut out = String::from("---\n");
    out.push_str("license: other\npretty_name: ");
    out.push_str(&serde_json::to_string(title).expect("a string serialises"));
    out.push_str("\ntask_categories:\n- text2text-generation\ntags:\n- code\n- program-repair\n- lastmile\n");
    let _ = writeln!(out, "size_categories:\n- {}", size_category(total));
    out.push_str("configs:\n- config_name: default\n  data_files:\n");
    for (split, hf_split) in [("train", "train"), ("valid", "validation")] {
        if manifest.rows.contains_key(split) {
            let _ = writeln!(out, "  - split: {hf_split}\n    path: data/{split}-*.parquet");
        }
    }
    out.push_str("dataset_info:\n  features:\n");
    for field in schema.fields() {
        let _ = writeln!(out, "  - name: {}\n    dtype: {}", field.name(), hf_dtype(field.data_type()));
    }
    out.push_str("  splits:\n");
    for (split, hf_split) in [("train", "train"), ("valid", "validation")] {
        if let Some(rows) = manifest.rows.get(split) {
            let bytes: u64 = manifest.files.iter().filter(|f| f.split == split).map(|f| f.bytes).fold(0u64, u64::saturating_add);
            let _ = writeln!(out, "  - name: {hf_split}\n    num_bytes: {bytes}\n    num_examples: {rows}");
        }
    }
    out.push_str("---\n\n");
    let _ = writeln!(out, "# {title}\n");
    out.push_str(body);
    if !body.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::pair_schema;

    #[test]
    fn card_declares_splits_and_features() {
        let manifest = Manifest {
            name: "d".into(),
            lastmile_version: "0".into(),
            lang: "excel".into(),
            rows: [("train".to_string(), 20_000), ("valid".to_string(), 400)].into(),
            files: vec![],
            seed: 0,
            checkpoint: String::new(),
            config: serde_json::Value::Null,
            report: serde_json::Value::Null,
        };
        let card = dataset_card(&manifest, &pair_schema(), "Excel pairs", "Body.");
        assert!(card.starts_with("---\n"));
        assert!(card.contains("  - split: validation\n    path: data/valid-*.parquet"));
        assert!(card.contains("  - name: broken\n    dtype: string"));
        assert!(card.contains("  - name: t_frac\n    dtype: float32"));
        assert!(card.contains("- 10K<n<100K"));
        assert!(card.trim_end().ends_with("Body."));
    }
}

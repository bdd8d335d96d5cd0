//! Datasets that verify themselves: every shard of a dataset directory checked
//! against its `manifest.json` (present, size, sha256, Parquet footer, row count,
//! schema), the manifest's per-split row totals, and no shard on disk that the
//! manifest does not list. Consumers run it before training on a copy; `stats`
//! runs it before reading a dataset that has a manifest.

use super::{file_sha256, pair_schema, DatasetError, Manifest};
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One difference between a dataset on disk and its manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// The file it concerns (relative to the dataset), or `manifest.json`.
    pub file: String,
    /// What differs.
    pub reason: String,
}

/// What `verify_dataset` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    /// The dataset directory.
    pub dir: PathBuf,
    /// Shards listed in the manifest.
    pub files: usize,
    /// Rows the manifest promises, per split.
    pub rows: BTreeMap<String, usize>,
    /// Every difference, in manifest order; empty when the dataset verifies.
    pub differences: Vec<Difference>,
}

impl Verification {
    /// Whether the dataset is exactly what its manifest says.
    pub fn ok(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Checks the dataset in `dir` against its manifest. An unreadable or invalid
/// manifest is an error; everything else that differs is listed.
pub fn verify_dataset(dir: &Path) -> Result<Verification, DatasetError> {
    let manifest = Manifest::load(dir)?;
    let mut differences = Vec::new();
    let mut differ = |file: &str, reason: String| differences.push(Difference { file: file.to_string(), reason });
    let mut counted: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &manifest.files {
        let path = dir.join(&entry.path);
        if !path.is_file() {
            differ(&entry.path, "missing".into());
            continue;
        }
        let (sha256, bytes) = file_sha256(&path)?;
        if bytes != entry.bytes {
            differ(&entry.path, format!("{bytes} bytes, the manifest says {}", entry.bytes));
        }
        if sha256 != entry.sha256 {
            differ(&entry.path, format!("sha256 {sha256}, the manifest says {}", entry.sha256));
        }
        match parquet_rows_and_schema(&path) {
            Ok((rows, schema_ok)) => {
                *counted.entry(entry.split.clone()).or_default() += rows;
                if rows != entry.rows {
                    differ(&entry.path, format!("{rows} rows, the manifest says {}", entry.rows));
                }
                if !schema_ok {
                    differ(&entry.path, "its columns are not the pair schema (dataset::pair_schema)".into());
                }
            }
            Err(e) => differ(&entry.path, format!("not a readable Parquet file: {e}")),
        }
    }
    for (split, rows) in &manifest.rows {
        let listed: usize = manifest.files.iter().filter(|f| &f.split == split).map(|f| f.rows).fold(0usize, usize::saturating_add);
        if listed != *rows {
            differ("manifest.json", format!("split {split}: {rows} rows, but its files list {listed}"));
        }
    }
    let listed: std::collections::BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("data")) {
        let mut extra: Vec<String> = entries
            .flatten()
            .map(|e| format!("data/{}", e.file_name().to_string_lossy()))
            .filter(|name| name.ends_with(".parquet") && !listed.contains(name.as_str()))
            .collect();
        extra.sort();
        for name in extra {
            differ(&name, "a shard the manifest does not list".into());
        }
    }
    Ok(Verification { dir: dir.to_path_buf(), files: manifest.files.len(), rows: manifest.rows.clone(), differences })
}

/// The row count from the Parquet footer, and whether the columns are the pair schema's.
fn parquet_rows_and_schema(path: &Path) -> Result<(usize, bool), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    if let Some(reason) = super::footer_schema::footer_schema_problem(&file).map_err(|e| e.to_string())? {
        return Err(reason);
    }
    let reader = SerializedFileReader::new(file).map_err(|e| e.to_string())?;
    let metadata = reader.metadata();
    let rows = metadata.file_metadata().num_rows() as usize;
    let arrow = parquet::arrow::parquet_to_arrow_schema(metadata.file_metadata().schema_descr(), None).map_err(|e| e.to_string())?;
    let expected = pair_schema();
    let names = |fields: &arrow::datatypes::Fields| fields.iter().map(|f| (f.name().clone(), f.data_type().clone())).collect::<Vec<_>>();
    Ok((rows, names(arrow.fields()) == names(expected.fields())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{PairRecord, ShardWriter, ShardWriterOptions};

    /// A two-shard dataset written the way rollout's finalize writes one.
    fn dataset(dir: &Path) {
        let records: Vec<PairRecord> = (0..40)
            .map(|i| PairRecord {
                id: format!("p{i}"),
                lang: "excel".into(),
                broken: format!("=A{i}+"),
                fixed: format!("=A{i}"),
                t: i,
                t_frac: 0.1,
                token_edit_distance: 1,
                char_edit_distance: 1,
                broken_valid: false,
                fixed_valid: true,
                source: "test".into(),
                chain_id: i as u64,
                seed: 0,
                checkpoint: "none".into(),
            })
            .collect();
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut files = Vec::new();
        for (split, chunk) in [("train", &records[..30]), ("valid", &records[30..])] {
            let options = ShardWriterOptions { shard_rows: 20, row_group_rows: 10 };
            let mut writer = ShardWriter::new(&data, split, pair_schema(), options).unwrap();
            writer.write(&PairRecord::to_batch(chunk)).unwrap();
            for shard in writer.finish().unwrap() {
                let name = Path::new(&shard.file).file_name().unwrap().to_string_lossy().to_string();
                let (sha256, bytes) = file_sha256(&data.join(&name)).unwrap();
                let path = format!("data/{name}");
                files.push(serde_json::json!({"path": path, "split": split, "rows": shard.rows, "bytes": bytes, "sha256": sha256}));
            }
        }
        let manifest = serde_json::json!({
            "name": "t", "lastmile_version": "0", "lang": "excel", "rows": {"train": 30, "valid": 10},
            "files": files, "seed": 0, "checkpoint": "none", "config": {}, "report": {}
        });
        std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }

    fn reasons(dir: &Path) -> Vec<String> {
        verify_dataset(dir).unwrap().differences.iter().map(|d| format!("{}: {}", d.file, d.reason)).collect()
    }

    #[test]
    fn a_written_dataset_verifies_and_each_kind_of_damage_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        dataset(dir);
        let clean = verify_dataset(dir).unwrap();
        assert!(clean.ok(), "{:?}", clean.differences);
        assert_eq!(clean.files, 3);
        let first = crate::dataset::list_shards(&dir.join("data"), "train").unwrap().remove(0);
        let name = format!("data/{}", first.file_name().unwrap().to_string_lossy());
        let shard = dir.join(&name);
        let original = std::fs::read(&shard).unwrap();

        // a flipped byte inside the shard
        let mut flipped = original.clone();
        flipped[original.len() / 2] ^= 0x40;
        std::fs::write(&shard, &flipped).unwrap();
        let found = reasons(dir);
        assert!(found.iter().any(|r| r.starts_with(&format!("{name}: sha256"))), "{found:?}");

        // a truncated shard
        std::fs::write(&shard, &original[..original.len() - 100]).unwrap();
        let found = reasons(dir);
        assert!(found.iter().any(|r| r.contains("bytes, the manifest says")), "{found:?}");
        assert!(found.iter().any(|r| r.contains("not a readable Parquet file")), "{found:?}");

        // a missing shard
        std::fs::remove_file(&shard).unwrap();
        assert_eq!(reasons(dir), [format!("{name}: missing")]);
        std::fs::write(&shard, &original).unwrap();
        assert!(verify_dataset(dir).unwrap().ok());

        // an edited manifest: a row count changed
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        std::fs::write(dir.join("manifest.json"), text.replacen("\"train\": 30", "\"train\": 31", 1)).unwrap();
        assert_eq!(reasons(dir), ["manifest.json: split train: 31 rows, but its files list 30"]);
        std::fs::write(dir.join("manifest.json"), &text).unwrap();

        // a shard nobody listed
        std::fs::write(dir.join("data/train-00009-of-00009.parquet"), &original).unwrap();
        assert_eq!(reasons(dir), ["data/train-00009-of-00009.parquet: a shard the manifest does not list"]);
    }
}

//! The mined corpus: one row per snippet.

use super::columns::{strings, u32s, Columns};
use super::shards::{list_shards, read_batches};
use super::DatasetError;
use arrow::array::{RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::path::Path;
use std::sync::Arc;

/// One mined snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusRecord {
    /// Stable id: `<lang>-` and 16 hex digits of the sha256 of the text.
    pub id: String,
    /// Language name.
    pub lang: String,
    /// The normalised snippet.
    pub text: String,
    /// Path of the source file, relative to the mining root.
    pub source: String,
    /// 1-based line of the snippet in its source (record index for JSON sources).
    pub source_line: u32,
    /// Length of `text` in characters.
    pub n_chars: u32,
    /// The language's sketch of `text`.
    pub sketch: String,
}

/// The explicit Arrow schema of corpus shards.
pub fn corpus_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("lang", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("source_line", DataType::UInt32, false),
        Field::new("n_chars", DataType::UInt32, false),
        Field::new("sketch", DataType::Utf8, false),
    ]))
}

impl CorpusRecord {
    /// Packs records into one batch of [`corpus_schema`].
    pub fn to_batch(records: &[CorpusRecord]) -> RecordBatch {
        RecordBatch::try_new(
            corpus_schema(),
            vec![
                strings(records, |r| &r.id),
                strings(records, |r| &r.lang),
                strings(records, |r| &r.text),
                strings(records, |r| &r.source),
                u32s(records, |r| r.source_line),
                u32s(records, |r| r.n_chars),
                strings(records, |r| &r.sketch),
            ],
        )
        .expect("columns match corpus_schema by construction")
    }

    fn from_batch(batch: &RecordBatch, path: &Path) -> Result<Vec<CorpusRecord>, DatasetError> {
        let c = Columns { batch, path };
        let (id, lang, text, source, sketch) = (
            c.get::<StringArray>("id")?,
            c.get::<StringArray>("lang")?,
            c.get::<StringArray>("text")?,
            c.get::<StringArray>("source")?,
            c.get::<StringArray>("sketch")?,
        );
        let (line, n_chars) = (c.get::<UInt32Array>("source_line")?, c.get::<UInt32Array>("n_chars")?);
        Ok((0..batch.num_rows())
            .map(|i| CorpusRecord {
                id: id.value(i).to_string(),
                lang: lang.value(i).to_string(),
                text: text.value(i).to_string(),
                source: source.value(i).to_string(),
                source_line: line.value(i),
                n_chars: n_chars.value(i),
                sketch: sketch.value(i).to_string(),
            })
            .collect())
    }
}

/// Reads every record of one split (`train`/`valid`) of a mined corpus directory.
pub fn read_corpus_split(dir: &Path, split: &str) -> Result<Vec<CorpusRecord>, DatasetError> {
    let mut records = Vec::new();
    for shard in list_shards(dir, split)? {
        for batch in read_batches(&shard)? {
            records.extend(CorpusRecord::from_batch(&batch, &shard)?);
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::super::{ShardWriter, ShardWriterOptions};
    use super::*;

    fn record(i: u32) -> CorpusRecord {
        CorpusRecord {
            id: format!("excel-{i:016x}"),
            lang: "excel".into(),
            text: format!("=A{i}+1"),
            source: "corpora/x.txt".into(),
            source_line: i,
            n_chars: 5,
            sketch: "=+".into(),
        }
    }

    #[test]
    fn shards_round_trip_and_split_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<_> = (1..=25).map(record).collect();
        let options = ShardWriterOptions { shard_rows: 10, row_group_rows: 4 };
        let mut writer = ShardWriter::new(dir.path(), "train", corpus_schema(), options).unwrap();
        writer.write(&CorpusRecord::to_batch(&records[..7])).unwrap();
        writer.write(&CorpusRecord::to_batch(&records[7..])).unwrap();
        let shards = writer.finish().unwrap();
        let names: Vec<_> = shards.iter().map(|s| (s.file.as_str(), s.rows)).collect();
        assert_eq!(
            names,
            [("train-00000-of-00003.parquet", 10), ("train-00001-of-00003.parquet", 10), ("train-00002-of-00003.parquet", 5)]
        );
        assert_eq!(read_corpus_split(dir.path(), "train").unwrap(), records);
    }

    #[test]
    fn empty_split_still_has_a_readable_shard() {
        let dir = tempfile::tempdir().unwrap();
        let writer = ShardWriter::new(dir.path(), "valid", corpus_schema(), ShardWriterOptions::default()).unwrap();
        assert_eq!(writer.finish().unwrap().len(), 1);
        assert!(read_corpus_split(dir.path(), "valid").unwrap().is_empty());
    }
}

//! The mined corpus: one row per snippet.

use super::columns::arrow_record;
use super::shards::{list_shards, read_batches};
use super::DatasetError;
use std::path::Path;

arrow_record! {
    /// One mined snippet.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CorpusRecord;
    /// The explicit Arrow schema of corpus shards.
    schema corpus_schema;
    {
        /// Stable id: `<lang>-` and 16 hex digits of the sha256 of the text.
        id: String,
        /// Language name.
        lang: String,
        /// The normalised snippet.
        text: String,
        /// Path of the source file, relative to the mining root.
        source: String,
        /// 1-based line of the snippet in its source (record index for JSON sources).
        source_line: u32,
        /// Length of `text` in characters.
        n_chars: u32,
        /// The language's sketch of `text`.
        sketch: String,
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

//! Repair pairs (the product) and chain logs: explicit Arrow schemas, record
//! structs, and conversion both ways.

use super::columns::arrow_record;
use super::shards::read_batches;
use super::DatasetError;
use std::path::Path;

arrow_record! {
    /// One (broken, fixed) pair.
    #[derive(Debug, Clone, PartialEq)]
    pub struct PairRecord;
    /// The explicit Arrow schema of pair shards; `broken` and `fixed` come first
    /// after the id, as plain strings, for fine-tuning jobs.
    schema pair_schema;
    {
        /// `<lang>-` and 16 hex digits of the sha256 of `broken`, NUL, `fixed`.
        id: String,
        /// Language name.
        lang: String,
        /// The broken side: a decoded intermediate `c_t` of a chain.
        broken: String,
        /// The fixed side: the chain's `c_0` (unconditional) or the real corpus
        /// snippet the chain was anchored on.
        fixed: String,
        /// The timestep of `broken`.
        t: u32,
        /// `t / (T - 1)`.
        t_frac: f32,
        /// Token edit distance between `broken` and `fixed`.
        token_edit_distance: u32,
        /// Character edit distance between `broken` and `fixed`.
        char_edit_distance: u32,
        /// Whether `broken` passes the strict syntax check.
        broken_valid: bool,
        /// Whether `fixed` passes the strict syntax check.
        fixed_valid: bool,
        /// `unconditional` or `anchored`.
        source: String,
        /// Global chain index (unit-major), so rows of one chain can be grouped.
        chain_id: u64,
        /// The rollout seed.
        seed: u64,
        /// sha256 of the checkpoint's weights.
        checkpoint: String,
    }
}

/// Reads every pair of one Parquet file of [`pair_schema`].
pub fn read_pairs(path: &Path) -> Result<Vec<PairRecord>, DatasetError> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        out.extend(PairRecord::from_batch(&batch, path)?);
    }
    Ok(out)
}

arrow_record! {
    /// One visited step of one chain, for the chain-trend statistics (the repair
    /// paper's Figure 2): how many model tokens the step's decoding changed.
    #[derive(Debug, Clone, PartialEq)]
    pub struct ChainStepRecord;
    /// The explicit Arrow schema of chain logs.
    schema chain_schema;
    {
        /// Global chain index.
        chain_id: u64,
        /// Index of the step in the chain (0 = first visited).
        step: u32,
        /// Timestep.
        t: u32,
        /// `t / (T - 1)`.
        t_frac: f32,
        /// Token positions whose decoded id differs from the previous step's (all
        /// non-padding positions at step 0).
        tokens_changed: u32,
        /// Largest distance between two changed positions (0 with fewer than two).
        change_span: u32,
        /// Decoded length in model tokens (up to the first `<eos>`/`<pad>`).
        length: u32,
        /// `unconditional` or `anchored`.
        source: String,
    }
}

/// Reads every record of one chain-log Parquet file.
pub fn read_chain_steps(path: &Path) -> Result<Vec<ChainStepRecord>, DatasetError> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        out.extend(ChainStepRecord::from_batch(&batch, path)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{write_parquet_atomic, ShardWriterOptions};

    fn pair(i: u32) -> PairRecord {
        PairRecord {
            id: format!("excel-{i:016x}"),
            lang: "excel".into(),
            broken: format!("=SUM(A{i}"),
            fixed: format!("=SUM(A{i})"),
            t: i * 10,
            t_frac: i as f32 / 1199.0,
            token_edit_distance: 1,
            char_edit_distance: 1,
            broken_valid: false,
            fixed_valid: true,
            source: "anchored".into(),
            chain_id: u64::from(i / 3),
            seed: 7,
            checkpoint: "ab".repeat(32),
        }
    }

    #[test]
    fn pairs_round_trip_through_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<_> = (0..50).map(pair).collect();
        let path = dir.path().join("p.parquet");
        write_parquet_atomic(&path, &PairRecord::to_batch(&records), ShardWriterOptions { shard_rows: 100, row_group_rows: 16 }).unwrap();
        assert_eq!(read_pairs(&path).unwrap(), records);
        let steps: Vec<_> = (0..5)
            .map(|i| ChainStepRecord {
                chain_id: 1,
                step: i,
                t: 100 - i,
                t_frac: 0.1,
                tokens_changed: i,
                change_span: 2,
                length: 9,
                source: "anchored".into(),
            })
            .collect();
        let path = dir.path().join("c.parquet");
        write_parquet_atomic(&path, &ChainStepRecord::to_batch(&steps), ShardWriterOptions::default()).unwrap();
        assert_eq!(read_chain_steps(&path).unwrap(), steps);
    }
}

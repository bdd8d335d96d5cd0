//! Repair pairs (the product) and chain logs: explicit Arrow schemas, record
//! structs, and conversion both ways.

use super::columns::{bools, f32s, strings, u32s, u64s, Columns};
use super::shards::read_batches;
use super::DatasetError;
use arrow::array::{BooleanArray, Float32Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::path::Path;
use std::sync::Arc;

/// One (broken, fixed) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRecord {
    /// `<lang>-` and 16 hex digits of the sha256 of `broken`, NUL, `fixed`.
    pub id: String,
    /// Language name.
    pub lang: String,
    /// The broken side: a decoded intermediate `c_t` of a chain.
    pub broken: String,
    /// The fixed side: the chain's `c_0` (unconditional) or the real corpus
    /// snippet the chain was anchored on.
    pub fixed: String,
    /// The timestep of `broken`.
    pub t: u32,
    /// `t / (T - 1)`.
    pub t_frac: f32,
    /// Token edit distance between `broken` and `fixed`.
    pub token_edit_distance: u32,
    /// Character edit distance between `broken` and `fixed`.
    pub char_edit_distance: u32,
    /// Whether `broken` passes the strict syntax check.
    pub broken_valid: bool,
    /// Whether `fixed` passes the strict syntax check.
    pub fixed_valid: bool,
    /// `unconditional` or `anchored`.
    pub source: String,
    /// Global chain index (unit-major), so rows of one chain can be grouped.
    pub chain_id: u64,
    /// The rollout seed.
    pub seed: u64,
    /// sha256 of the checkpoint's weights.
    pub checkpoint: String,
}

/// The explicit Arrow schema of pair shards; `broken` and `fixed` come first
/// after the id, as plain strings, for fine-tuning jobs.
pub fn pair_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("lang", DataType::Utf8, false),
        Field::new("broken", DataType::Utf8, false),
        Field::new("fixed", DataType::Utf8, false),
        Field::new("t", DataType::UInt32, false),
        Field::new("t_frac", DataType::Float32, false),
        Field::new("token_edit_distance", DataType::UInt32, false),
        Field::new("char_edit_distance", DataType::UInt32, false),
        Field::new("broken_valid", DataType::Boolean, false),
        Field::new("fixed_valid", DataType::Boolean, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("chain_id", DataType::UInt64, false),
        Field::new("seed", DataType::UInt64, false),
        Field::new("checkpoint", DataType::Utf8, false),
    ]))
}

impl PairRecord {
    /// Packs records into one batch of [`pair_schema`].
    pub fn to_batch(records: &[PairRecord]) -> RecordBatch {
        RecordBatch::try_new(
            pair_schema(),
            vec![
                strings(records, |r| &r.id),
                strings(records, |r| &r.lang),
                strings(records, |r| &r.broken),
                strings(records, |r| &r.fixed),
                u32s(records, |r| r.t),
                f32s(records, |r| r.t_frac),
                u32s(records, |r| r.token_edit_distance),
                u32s(records, |r| r.char_edit_distance),
                bools(records, |r| r.broken_valid),
                bools(records, |r| r.fixed_valid),
                strings(records, |r| &r.source),
                u64s(records, |r| r.chain_id),
                u64s(records, |r| r.seed),
                strings(records, |r| &r.checkpoint),
            ],
        )
        .expect("columns match pair_schema by construction")
    }

    fn from_batch(batch: &RecordBatch, path: &Path) -> Result<Vec<PairRecord>, DatasetError> {
        let c = Columns { batch, path };
        let (id, lang, broken, fixed) =
            (c.get::<StringArray>("id")?, c.get::<StringArray>("lang")?, c.get::<StringArray>("broken")?, c.get::<StringArray>("fixed")?);
        let (t, t_frac) = (c.get::<UInt32Array>("t")?, c.get::<Float32Array>("t_frac")?);
        let (ted, ced) = (c.get::<UInt32Array>("token_edit_distance")?, c.get::<UInt32Array>("char_edit_distance")?);
        let (bv, fv) = (c.get::<BooleanArray>("broken_valid")?, c.get::<BooleanArray>("fixed_valid")?);
        let (source, chain, seed, ckpt) = (
            c.get::<StringArray>("source")?,
            c.get::<UInt64Array>("chain_id")?,
            c.get::<UInt64Array>("seed")?,
            c.get::<StringArray>("checkpoint")?,
        );
        Ok((0..batch.num_rows())
            .map(|i| PairRecord {
                id: id.value(i).to_string(),
                lang: lang.value(i).to_string(),
                broken: broken.value(i).to_string(),
                fixed: fixed.value(i).to_string(),
                t: t.value(i),
                t_frac: t_frac.value(i),
                token_edit_distance: ted.value(i),
                char_edit_distance: ced.value(i),
                broken_valid: bv.value(i),
                fixed_valid: fv.value(i),
                source: source.value(i).to_string(),
                chain_id: chain.value(i),
                seed: seed.value(i),
                checkpoint: ckpt.value(i).to_string(),
            })
            .collect())
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

/// One visited step of one chain, for the chain-trend statistics (the repair
/// paper's Figure 2): how many model tokens the step's decoding changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainStepRecord {
    /// Global chain index.
    pub chain_id: u64,
    /// Index of the step in the chain (0 = first visited).
    pub step: u32,
    /// Timestep.
    pub t: u32,
    /// `t / (T - 1)`.
    pub t_frac: f32,
    /// Token positions whose decoded id differs from the previous step's (all
    /// non-padding positions at step 0).
    pub tokens_changed: u32,
    /// Largest distance between two changed positions (0 with fewer than two).
    pub change_span: u32,
    /// Decoded length in model tokens (up to the first `<eos>`/`<pad>`).
    pub length: u32,
    /// `unconditional` or `anchored`.
    pub source: String,
}

/// The explicit Arrow schema of chain logs.
pub fn chain_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("chain_id", DataType::UInt64, false),
        Field::new("step", DataType::UInt32, false),
        Field::new("t", DataType::UInt32, false),
        Field::new("t_frac", DataType::Float32, false),
        Field::new("tokens_changed", DataType::UInt32, false),
        Field::new("change_span", DataType::UInt32, false),
        Field::new("length", DataType::UInt32, false),
        Field::new("source", DataType::Utf8, false),
    ]))
}

impl ChainStepRecord {
    /// Packs records into one batch of [`chain_schema`].
    pub fn to_batch(records: &[ChainStepRecord]) -> RecordBatch {
        RecordBatch::try_new(
            chain_schema(),
            vec![
                u64s(records, |r| r.chain_id),
                u32s(records, |r| r.step),
                u32s(records, |r| r.t),
                f32s(records, |r| r.t_frac),
                u32s(records, |r| r.tokens_changed),
                u32s(records, |r| r.change_span),
                u32s(records, |r| r.length),
                strings(records, |r| &r.source),
            ],
        )
        .expect("columns match chain_schema by construction")
    }

    fn from_batch(batch: &RecordBatch, path: &Path) -> Result<Vec<ChainStepRecord>, DatasetError> {
        let c = Columns { batch, path };
        let (chain, step, t, t_frac) = (
            c.get::<UInt64Array>("chain_id")?,
            c.get::<UInt32Array>("step")?,
            c.get::<UInt32Array>("t")?,
            c.get::<Float32Array>("t_frac")?,
        );
        let (changed, span, length, source) = (
            c.get::<UInt32Array>("tokens_changed")?,
            c.get::<UInt32Array>("change_span")?,
            c.get::<UInt32Array>("length")?,
            c.get::<StringArray>("source")?,
        );
        Ok((0..batch.num_rows())
            .map(|i| ChainStepRecord {
                chain_id: chain.value(i),
                step: step.value(i),
                t: t.value(i),
                t_frac: t_frac.value(i),
                tokens_changed: changed.value(i),
                change_span: span.value(i),
                length: length.value(i),
                source: source.value(i).to_string(),
            })
            .collect())
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

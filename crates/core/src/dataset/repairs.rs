//! The Parquet output of `lastmile repair --out x.parquet`: one row per
//! candidate (long format, as Polars likes it), the chosen one flagged; an
//! input the model could not take is one row with its error and null candidate.

use super::columns::arrow_record;
use super::shards::read_batches;
use super::{write_parquet_atomic, DatasetError, ShardWriterOptions};
use std::path::Path;

arrow_record! {
    /// One row of the repair output.
    #[derive(Debug, Clone, PartialEq)]
    pub struct RepairRow;
    /// The explicit schema of the repair output.
    schema repair_schema;
    {
        /// Index of the input in the input file.
        input_index: u32,
        /// The input.
        broken: String,
        /// The candidate's noise level (fraction of T).
        level: Option<f32>,
        /// The candidate's noise sample.
        sample: Option<u32>,
        /// The candidate.
        candidate: Option<String>,
        /// Whether it passes the strict syntax check.
        valid: Option<bool>,
        /// Its token edit distance to the input.
        token_edit_distance: Option<u32>,
        /// Whether pooling chose it.
        chosen: bool,
        /// Why the input was not repaired.
        error: Option<String>,
    }
}

/// Writes `rows` to `path` atomically.
pub fn write_repairs(path: &Path, rows: &[RepairRow]) -> Result<(), DatasetError> {
    write_parquet_atomic(path, &RepairRow::to_batch(rows), ShardWriterOptions::default())
}

/// Reads every row of a repair output file.
pub fn read_repairs(path: &Path) -> Result<Vec<RepairRow>, DatasetError> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        out.extend(RepairRow::from_batch(&batch, path)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, StringArray};

    #[test]
    fn rows_round_trip_with_nulls_for_failed_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        let row = |i: u32, candidate: Option<&str>, chosen: bool, error: Option<&str>| RepairRow {
            input_index: i,
            broken: "=SUM(A1".into(),
            level: candidate.map(|_| 0.1),
            sample: candidate.map(|_| 0),
            candidate: candidate.map(str::to_string),
            valid: candidate.map(|_| true),
            token_edit_distance: candidate.map(|_| 1),
            chosen,
            error: error.map(str::to_string),
        };
        let rows = [row(0, Some("=SUM(A1)"), true, None), row(1, None, false, Some("too long"))];
        write_repairs(&path, &rows).unwrap();
        assert_eq!(read_repairs(&path).unwrap(), rows, "nulls and values read back as written");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let batch = reader.map(Result::unwrap).next().unwrap();
        assert_eq!(batch.schema(), repair_schema());
        let candidate = batch.column_by_name("candidate").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((candidate.value(0), candidate.is_null(1)), ("=SUM(A1)", true));
        let error = batch.column_by_name("error").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((error.is_null(0), error.value(1)), (true, "too long"));
    }
}

//! The Parquet output of `lastmile repair --out x.parquet`: one row per
//! candidate (long format, as Polars likes it), the chosen one flagged; an
//! input the model could not take is one row with its error and null candidate.

use super::{write_parquet_atomic, DatasetError, ShardWriterOptions};
use arrow::array::{ArrayRef, BooleanArray, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::path::Path;
use std::sync::Arc;

/// One row of the repair output.
#[derive(Debug, Clone, PartialEq)]
pub struct RepairRow {
    /// Index of the input in the input file.
    pub input_index: u32,
    /// The input.
    pub broken: String,
    /// The candidate's noise level (fraction of T).
    pub level: Option<f32>,
    /// The candidate's noise sample.
    pub sample: Option<u32>,
    /// The candidate.
    pub candidate: Option<String>,
    /// Whether it passes the strict syntax check.
    pub valid: Option<bool>,
    /// Its token edit distance to the input.
    pub token_edit_distance: Option<u32>,
    /// Whether pooling chose it.
    pub chosen: bool,
    /// Why the input was not repaired.
    pub error: Option<String>,
}

/// The explicit schema of the repair output.
pub fn repair_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("input_index", DataType::UInt32, false),
        Field::new("broken", DataType::Utf8, false),
        Field::new("level", DataType::Float32, true),
        Field::new("sample", DataType::UInt32, true),
        Field::new("candidate", DataType::Utf8, true),
        Field::new("valid", DataType::Boolean, true),
        Field::new("token_edit_distance", DataType::UInt32, true),
        Field::new("chosen", DataType::Boolean, false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

/// Writes `rows` to `path` atomically.
pub fn write_repairs(path: &Path, rows: &[RepairRow]) -> Result<(), DatasetError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| Some(r.input_index)).collect::<UInt32Array>()),
        Arc::new(rows.iter().map(|r| Some(r.broken.as_str())).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.level).collect::<Float32Array>()),
        Arc::new(rows.iter().map(|r| r.sample).collect::<UInt32Array>()),
        Arc::new(rows.iter().map(|r| r.candidate.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.valid).collect::<BooleanArray>()),
        Arc::new(rows.iter().map(|r| r.token_edit_distance).collect::<UInt32Array>()),
        Arc::new(rows.iter().map(|r| Some(r.chosen)).collect::<BooleanArray>()),
        Arc::new(rows.iter().map(|r| r.error.as_deref()).collect::<StringArray>()),
    ];
    let batch = RecordBatch::try_new(repair_schema(), columns)
        .map_err(|e| DatasetError::Schema { path: path.to_path_buf(), reason: e.to_string() })?;
    write_parquet_atomic(path, &batch, ShardWriterOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

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
        write_repairs(&path, &[row(0, Some("=SUM(A1)"), true, None), row(1, None, false, Some("too long"))]).unwrap();
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

//! Building and reading Arrow columns of record structs, with schema errors
//! that name the file: shared by every Parquet schema of `dataset/`.

use super::DatasetError;
use arrow::array::{Array, BooleanArray, Float32Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use std::path::Path;
use std::sync::Arc;

/// A non-null strings column from one field of each record.
pub(super) fn strings<R>(records: &[R], f: impl Fn(&R) -> &str) -> Arc<dyn Array> {
    Arc::new(records.iter().map(|r| Some(f(r))).collect::<StringArray>())
}
/// A non-null u32 column from one field of each record.
pub(super) fn u32s<R>(records: &[R], f: impl Fn(&R) -> u32) -> Arc<dyn Array> {
    Arc::new(records.iter().map(|r| Some(f(r))).collect::<UInt32Array>())
}
/// A non-null u64 column from one field of each record.
pub(super) fn u64s<R>(records: &[R], f: impl Fn(&R) -> u64) -> Arc<dyn Array> {
    Arc::new(records.iter().map(|r| Some(f(r))).collect::<UInt64Array>())
}
/// A non-null f32 column from one field of each record.
pub(super) fn f32s<R>(records: &[R], f: impl Fn(&R) -> f32) -> Arc<dyn Array> {
    Arc::new(records.iter().map(|r| Some(f(r))).collect::<Float32Array>())
}
/// A non-null booleans column from one field of each record.
pub(super) fn bools<R>(records: &[R], f: impl Fn(&R) -> bool) -> Arc<dyn Array> {
    Arc::new(records.iter().map(|r| Some(f(r))).collect::<BooleanArray>())
}

/// Typed access to the columns of one batch, with errors naming the file.
pub(super) struct Columns<'a> {
    pub(super) batch: &'a RecordBatch,
    pub(super) path: &'a Path,
}

impl<'a> Columns<'a> {
    /// The column `name` as Arrow array type `T`.
    pub(super) fn get<T: 'static>(&self, name: &str) -> Result<&'a T, DatasetError> {
        let array = self
            .batch
            .column_by_name(name)
            .ok_or_else(|| DatasetError::Schema { path: self.path.to_path_buf(), reason: format!("no column `{name}`") })?;
        array.as_any().downcast_ref::<T>().ok_or_else(|| DatasetError::Schema {
            path: self.path.to_path_buf(),
            reason: format!("column `{name}` has type {}", array.data_type()),
        })
    }
}

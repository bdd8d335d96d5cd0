//! Arrow record types declared once: [`arrow_record!`] turns a struct
//! definition into the struct, its explicit schema, `to_batch` and
//! `from_batch`, so that a column is named, typed and converted in one place.
//! Every Parquet schema of `dataset/` is declared this way; reading errors
//! name the file.

use super::DatasetError;
use arrow::array::{Array, BooleanArray, Float32Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::DataType;
use std::path::Path;
use std::sync::Arc;

/// A Rust field type stored as one Arrow column: `Option<T>` is the nullable
/// column of `T`.
pub(super) trait Column: Sized {
    /// The Arrow array of the column.
    type Array: Array + 'static;
    /// The column's Arrow type.
    const DATA_TYPE: DataType;
    /// Whether the column may hold nulls.
    const NULLABLE: bool = false;
    /// The column of these values.
    fn column<'a>(values: impl Iterator<Item = &'a Self>) -> Arc<dyn Array>
    where
        Self: 'a;
    /// Row `i` of `array`.
    fn value(array: &Self::Array, i: usize) -> Self;
}

/// The non-null and nullable columns of one scalar type.
macro_rules! scalar_column {
    ($ty:ty, $array:ty, $data_type:expr, |$v:ident| $to:expr, |$a:ident, $i:ident| $from:expr) => {
        impl Column for $ty {
            type Array = $array;
            const DATA_TYPE: DataType = $data_type;
            fn column<'a>(values: impl Iterator<Item = &'a Self>) -> Arc<dyn Array> {
                Arc::new(values.map(|$v| Some($to)).collect::<$array>())
            }
            fn value($a: &$array, $i: usize) -> Self {
                $from
            }
        }
        impl Column for Option<$ty> {
            type Array = $array;
            const DATA_TYPE: DataType = $data_type;
            const NULLABLE: bool = true;
            fn column<'a>(values: impl Iterator<Item = &'a Self>) -> Arc<dyn Array> {
                Arc::new(values.map(|v| v.as_ref().map(|$v| $to)).collect::<$array>())
            }
            fn value($a: &$array, $i: usize) -> Self {
                $a.is_valid($i).then(|| $from)
            }
        }
    };
}

scalar_column!(String, StringArray, DataType::Utf8, |v| v.as_str(), |a, i| a.value(i).to_string());
scalar_column!(u32, UInt32Array, DataType::UInt32, |v| *v, |a, i| a.value(i));
scalar_column!(u64, UInt64Array, DataType::UInt64, |v| *v, |a, i| a.value(i));
scalar_column!(f32, Float32Array, DataType::Float32, |v| *v, |a, i| a.value(i));
scalar_column!(bool, BooleanArray, DataType::Boolean, |v| *v, |a, i| a.value(i));

/// The column `name` of `batch` as Arrow array type `T`, with errors naming `path`.
pub(super) fn column<'a, T: 'static>(batch: &'a RecordBatch, path: &Path, name: &str) -> Result<&'a T, DatasetError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| DatasetError::Schema { path: path.to_path_buf(), reason: format!("no column `{name}`") })?;
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| DatasetError::Schema { path: path.to_path_buf(), reason: format!("column `{name}` has type {}", array.data_type()) })
}

/// Declares a record struct (every field `pub`, one Arrow column each, in
/// order), the function returning its explicit schema, and its `to_batch` /
/// `from_batch` conversions.
macro_rules! arrow_record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        $(#[$schema_meta:meta])*
        schema $schema:ident;
        {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        $(#[$schema_meta])*
        pub fn $schema() -> arrow::datatypes::SchemaRef {
            use super::columns::Column;
            std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
                $( arrow::datatypes::Field::new(stringify!($field), <$ty as Column>::DATA_TYPE, <$ty as Column>::NULLABLE), )*
            ]))
        }

        impl $name {
            #[doc = concat!("Packs records into one batch of [`", stringify!($schema), "`].")]
            pub fn to_batch(records: &[$name]) -> arrow::array::RecordBatch {
                use super::columns::Column;
                arrow::array::RecordBatch::try_new($schema(), vec![ $( <$ty as Column>::column(records.iter().map(|r| &r.$field)), )* ])
                    .expect(concat!("columns match ", stringify!($schema), " by construction"))
            }

            #[doc = concat!("The records of one batch of [`", stringify!($schema), "`] read from `path`.")]
            pub fn from_batch(batch: &arrow::array::RecordBatch, path: &std::path::Path) -> Result<Vec<$name>, super::DatasetError> {
                use super::columns::Column;
                $( let $field = super::columns::column::<<$ty as Column>::Array>(batch, path, stringify!($field))?; )*
                Ok((0..batch.num_rows()).map(|i| $name { $( $field: <$ty as Column>::value($field, i), )* }).collect())
            }
        }
    };
}
pub(super) use arrow_record;

//! Sharded Parquet writer and reader.
//!
//! Shards are written as `<split>-00000.parquet.partial` while the number of
//! shards is unknown, then renamed to the Hugging Face layout
//! `<split>-00000-of-00003.parquet` by [`ShardWriter::finish`].

use super::DatasetError;
use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Sizes of shards and row groups (the `[output]` table of configs).
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardWriterOptions {
    /// Rows per shard file.
    pub shard_rows: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

impl Default for ShardWriterOptions {
    fn default() -> Self {
        ShardWriterOptions { shard_rows: 100_000, row_group_rows: 16_384 }
    }
}

/// A finished shard.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShardInfo {
    /// File name inside the dataset directory.
    pub file: String,
    /// Number of rows.
    pub rows: usize,
}

/// Writes record batches of one schema into numbered shards of one split.
pub struct ShardWriter {
    dir: PathBuf,
    split: String,
    schema: SchemaRef,
    options: ShardWriterOptions,
    current: Option<(PathBuf, ArrowWriter<File>, usize)>,
    finished: Vec<(PathBuf, usize)>,
}

impl ShardWriter {
    /// A writer for `split` shards in `dir` (created if needed).
    pub fn new(dir: &Path, split: &str, schema: SchemaRef, options: ShardWriterOptions) -> Result<Self, DatasetError> {
        fs::create_dir_all(dir).map_err(DatasetError::io(dir))?;
        Ok(ShardWriter { dir: dir.to_path_buf(), split: split.to_string(), schema, options, current: None, finished: Vec::new() })
    }

    fn properties(&self) -> WriterProperties {
        writer_properties(self.options)
    }

    /// Appends a batch, starting new shards as they fill up.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), DatasetError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                let path = self.dir.join(format!("{}-{:05}.parquet.partial", self.split, self.finished.len()));
                let file = File::create(&path).map_err(DatasetError::io(&path))?;
                let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(self.properties()))
                    .map_err(|source| DatasetError::Parquet { path: path.clone(), source })?;
                self.current = Some((path, writer, 0));
            }
            let (path, writer, rows) = self.current.as_mut().expect("opened above");
            let take = (self.options.shard_rows - *rows).min(batch.num_rows() - offset);
            writer.write(&batch.slice(offset, take)).map_err(|source| DatasetError::Parquet { path: path.clone(), source })?;
            *rows += take;
            offset += take;
            if *rows == self.options.shard_rows {
                self.close_current()?;
            }
        }
        Ok(())
    }

    fn close_current(&mut self) -> Result<(), DatasetError> {
        if let Some((path, writer, rows)) = self.current.take() {
            writer.close().map_err(|source| DatasetError::Parquet { path: path.clone(), source })?;
            self.finished.push((path, rows));
        }
        Ok(())
    }

    /// Closes the last shard and renames all shards to `split-0000i-of-0000N`.
    /// A split with no rows still gets one (empty) shard, so readers find its schema.
    pub fn finish(mut self) -> Result<Vec<ShardInfo>, DatasetError> {
        if self.finished.is_empty() && self.current.is_none() {
            let path = self.dir.join(format!("{}-00000.parquet.partial", self.split));
            let file = File::create(&path).map_err(DatasetError::io(&path))?;
            let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(self.properties()))
                .map_err(|source| DatasetError::Parquet { path: path.clone(), source })?;
            self.current = Some((path, writer, 0));
        }
        self.close_current()?;
        let total = self.finished.len();
        let mut infos = Vec::with_capacity(total);
        for (i, (path, rows)) in self.finished.iter().enumerate() {
            let file = format!("{}-{:05}-of-{:05}.parquet", self.split, i, total);
            let target = self.dir.join(&file);
            fs::rename(path, &target).map_err(DatasetError::io(&target))?;
            infos.push(ShardInfo { file, rows: *rows });
        }
        Ok(infos)
    }
}

/// The Parquet settings of every file lastmile writes: zstd level 3, bounded
/// row groups, and a `created_by` naming lastmile.
fn writer_properties(options: ShardWriterOptions) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("3 is a valid zstd level")))
        .set_max_row_group_row_count(Some(options.row_group_rows.max(1)))
        .set_created_by(format!("lastmile {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Writes one batch as a single Parquet file, atomically (temporary file in
/// the same directory, then rename): used for work-unit files that must be
/// either complete or absent.
pub fn write_parquet_atomic(path: &Path, batch: &RecordBatch, options: ShardWriterOptions) -> Result<(), DatasetError> {
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(writer_properties(options)))
        .map_err(|source| DatasetError::Parquet { path: path.to_path_buf(), source })?;
    writer.write(batch).map_err(|source| DatasetError::Parquet { path: path.to_path_buf(), source })?;
    writer.close().map_err(|source| DatasetError::Parquet { path: path.to_path_buf(), source })?;
    super::write_file_atomic(path, &bytes)
}

/// The shard files of `split` in `dir`, in order.
pub fn list_shards(dir: &Path, split: &str) -> Result<Vec<PathBuf>, DatasetError> {
    let prefix = format!("{split}-");
    let mut shards: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(DatasetError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.starts_with(&prefix) && name.ends_with(".parquet") && name.contains("-of-")
        })
        .collect();
    shards.sort();
    Ok(shards)
}

/// Reads every record batch of a Parquet file; a malformed file is an error
/// that names it.
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>, DatasetError> {
    // the `parquet` crate panics on some malformed pages (a decoder indexing
    // past its buffer): such a panic becomes an error naming the file
    crate::caught_panic::catch_as_message(|| decode_batches(path))
        .unwrap_or_else(|detail| Err(DatasetError::Schema { path: path.to_path_buf(), reason: format!("malformed Parquet: {detail}") }))
}

fn decode_batches(path: &Path) -> Result<Vec<RecordBatch>, DatasetError> {
    let file = File::open(path).map_err(DatasetError::io(path))?;
    if let Some(reason) = super::footer_schema::footer_schema_problem(&file).map_err(DatasetError::io(path))? {
        return Err(DatasetError::Schema { path: path.to_path_buf(), reason });
    }
    let parquet_error = |source| DatasetError::Parquet { path: path.to_path_buf(), source };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file.try_clone().map_err(DatasetError::io(path))?).map_err(parquet_error)?;
    super::page_sizes::check_page_sizes(path, &file, builder.metadata())?;
    let reader = builder.build().map_err(parquet_error)?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|source| DatasetError::Arrow { path: path.to_path_buf(), source })
}

/// Reads one string column of a Parquet file (e.g. `text` or `broken`).
pub fn read_string_column(path: &Path, column: &str) -> Result<Vec<String>, DatasetError> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        let array = batch
            .column_by_name(column)
            .ok_or_else(|| DatasetError::Schema { path: path.to_path_buf(), reason: format!("no column `{column}`") })?;
        let strings = string_array(array.as_ref(), path, column)?;
        out.extend(strings.iter().map(|s| s.unwrap_or_default().to_string()));
    }
    Ok(out)
}

pub(crate) fn string_array<'a>(array: &'a dyn Array, path: &Path, column: &str) -> Result<&'a StringArray, DatasetError> {
    array.as_any().downcast_ref::<StringArray>().ok_or_else(|| DatasetError::Schema {
        path: path.to_path_buf(),
        reason: format!("column `{column}` is {}, not a string column", array.data_type()),
    })
}

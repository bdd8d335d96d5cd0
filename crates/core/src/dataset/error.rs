//! Errors of the dataset layer, each naming the file involved.

use std::path::PathBuf;

/// What went wrong reading or writing a dataset file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file system operation failed.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// Parquet encoding or decoding failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building or reading Arrow arrays failed.
    #[error("{path}: {source}")]
    Arrow {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A decontamination benchmark cannot be used.
    #[error("{path}: cannot decontaminate against this benchmark: {reason}")]
    Benchmark {
        /// The benchmark file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file does not have the expected layout.
    #[error("{path}: {reason}")]
    Schema {
        /// The Parquet file.
        path: PathBuf,
        /// What is missing or of the wrong type.
        reason: String,
    },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| DatasetError::Io(crate::io_error::IoError { path, source })
    }
}

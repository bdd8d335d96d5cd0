//! The one path-annotated I/O error every stage's error type wraps: the file
//! or directory an operation failed on, and why.

use std::path::PathBuf;

/// A file system operation on `path` failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct IoError {
    /// The file or directory.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// The error of an operation on `path`, for `map_err`.
    pub fn at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IoError {
        let path = path.into();
        move |source| IoError { path, source }
    }
}

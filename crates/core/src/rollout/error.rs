//! What can go wrong in a rollout, with the path it concerns.

use crate::dataset::DatasetError;
use crate::io_error::IoError;
use crate::tokenizer::TokenizerError;
use std::path::PathBuf;

/// What can go wrong in a rollout.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// A file system operation failed.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// The configuration (or a file it names) is invalid.
    #[error("{path}: {reason}")]
    Config {
        /// The offending file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing Parquet failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// Tokenising or decoding failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// Rank or world size is invalid.
    #[error("rank: {0}")]
    Rank(String),
    /// Finalizing before the needed units exist.
    #[error("incomplete rollout: {0}")]
    Incomplete(String),
    /// The written dataset differs from its own manifest (a failing disk, a
    /// concurrent writer); the previous dataset stays in place.
    #[error("{path}: the written dataset does not verify against its manifest: {reason}")]
    Unverified {
        /// The staging directory.
        path: PathBuf,
        /// The first difference.
        reason: String,
    },
}

impl RolloutError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RolloutError::Io(IoError { path: path.into(), source })
    }
}

//! Errors of the Connect runtime and its connectors.

use std::path::PathBuf;

/// What went wrong in a connector or the runtime.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A configuration value is wrong.
    #[error("bad configuration {key}: {reason}")]
    Config {
        /// The configuration key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl ConnectError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

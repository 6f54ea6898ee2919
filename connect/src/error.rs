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
    /// Talking to the cluster failed.
    #[error(transparent)]
    Client(#[from] Box<rill_client::ClientError>),
    /// A record could not be written (the task stops: its offsets stay where they were
    /// acknowledged).
    #[error("writing to {topic} failed: {reason}")]
    Produce {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A Connect store topic (offsets, configs, statuses) could not be read or written.
    #[error("Connect store topic {topic}: {reason}")]
    Store {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A record failed and `errors.tolerance` is `none`: the task stops.
    #[error("{stage} failed on {place} (errors.tolerance=none stops the task): {reason}")]
    Record {
        /// Kafka Connect's stage: TRANSFORMATION, TASK_PUT, VALUE_CONVERTER, ...
        stage: &'static str,
        /// Which record (`topic-partition@offset` for a sink's).
        place: String,
        /// Why.
        reason: String,
    },
    /// A transform's configuration is wrong, or it failed on a record.
    #[error(transparent)]
    Transform(#[from] crate::transform::TransformError),
    /// A database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
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
    /// Names `path` in an I/O error (the path is copied only if there is one).
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A client error as a Connect error.
pub(crate) fn client(e: rill_client::ClientError) -> ConnectError {
    ConnectError::Client(Box::new(e))
}

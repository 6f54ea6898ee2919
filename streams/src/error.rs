//! Errors of building and running a topology.

use crate::serde::SerdeError;

/// Something went wrong in a topology.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The topology is not valid (an operator lacks a serde, a name is taken, ...).
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A record read from a topic could not be deserialized.
    #[error("cannot deserialize the {part} of {topic}-{partition}@{offset}: {source}")]
    Deserialize {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// "key" or "value".
        part: &'static str,
        /// The serde's error.
        source: SerdeError,
    },
    /// A record could not be serialized for a topic or store.
    #[error("cannot serialize a record for {target} (node {node}): {source}")]
    Serialize {
        /// Topic or store.
        target: String,
        /// The node that wrote it.
        node: String,
        /// The serde's error.
        source: SerdeError,
    },
    /// A state store's content could not be read back.
    #[error("state store {store}: {reason}")]
    Store {
        /// Store name.
        store: String,
        /// What is wrong.
        reason: String,
    },
    /// Talking to the cluster failed.
    #[error("{0}")]
    Client(Box<rill_client::ClientError>),
    /// A script's step failed on a record (and the error policy is to fail).
    #[error("script error at {location}: {message}")]
    Script {
        /// `<script>:<line> (<step>)`.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// The test driver or the runtime was used wrongly.
    #[error("{0}")]
    Usage(String),
}

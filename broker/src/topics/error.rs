use thiserror::Error;

use crate::config::ConfigError;
use crate::error_code::ErrorCode;
use crate::log::LogError;

/// A topic operation failed.
#[derive(Debug, Error)]
pub enum TopicError {
    /// No such topic.
    #[error("topic `{topic}` does not exist")]
    Unknown {
        /// Topic name.
        topic: String,
    },
    /// The topic exists already.
    #[error("topic `{topic}` already exists")]
    AlreadyExists {
        /// Topic name.
        topic: String,
    },
    /// The name is not a legal topic name.
    #[error("`{topic}` is not a valid topic name: {reason}")]
    InvalidName {
        /// Topic name.
        topic: String,
        /// Why.
        reason: &'static str,
    },
    /// Bad partition count.
    #[error("invalid partition count {count} for topic `{topic}`: {reason}")]
    InvalidPartitions {
        /// Topic name.
        topic: String,
        /// Requested count.
        count: i32,
        /// Why.
        reason: String,
    },
    /// Replication factor other than 1 on a single node.
    #[error("replication factor {factor} is larger than the 1 available broker")]
    InvalidReplicationFactor {
        /// Requested factor.
        factor: i16,
    },
    /// Manual replica assignment naming other brokers.
    #[error("replica assignment must name only broker {node_id}")]
    InvalidReplicaAssignment {
        /// This broker's id.
        node_id: i32,
    },
    /// A topic configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Deleting topics is disabled by `delete.topic.enable=false`.
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    DeletionDisabled,
    /// Storage failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

impl TopicError {
    /// The Kafka error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unknown { .. } => ErrorCode::UnknownTopicOrPartition,
            Self::AlreadyExists { .. } => ErrorCode::TopicAlreadyExists,
            Self::InvalidName { .. } => ErrorCode::InvalidTopicException,
            Self::InvalidPartitions { .. } => ErrorCode::InvalidPartitions,
            Self::InvalidReplicationFactor { .. } => ErrorCode::InvalidReplicationFactor,
            Self::InvalidReplicaAssignment { .. } => ErrorCode::InvalidReplicaAssignment,
            Self::Config(_) => ErrorCode::InvalidConfig,
            Self::DeletionDisabled => ErrorCode::TopicDeletionDisabled,
            Self::Log(_) => ErrorCode::KafkaStorageError,
        }
    }
}

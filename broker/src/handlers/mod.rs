//! One file per Kafka API. Each `handle` takes the request context and the decoded request and
//! returns an [`Answer`](crate::server::Answer); internal errors become Kafka error codes here.

pub(crate) mod alter_configs;
pub(crate) mod api_versions;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod produce;
pub(crate) mod sync_group;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use crate::error_code::ErrorCode;
use crate::log::{LogError, ProducerError};

/// Owned string to the codec's string type.
pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Topic name to the codec's type.
pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// The Kafka error code for a log error.
pub(crate) fn log_error_code(error: &LogError) -> ErrorCode {
    match error {
        LogError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        LogError::Corrupt { .. } => ErrorCode::CorruptMessage,
        LogError::RecordTooLarge { .. } => ErrorCode::MessageTooLarge,
        LogError::Producer(ProducerError::OutOfOrderSequence { .. }) => ErrorCode::OutOfOrderSequenceNumber,
        LogError::Producer(ProducerError::FencedEpoch { .. }) => ErrorCode::InvalidProducerEpoch,
        LogError::NothingToAppend => ErrorCode::InvalidRecord,
        LogError::Io { .. }
        | LogError::Offline { .. }
        | LogError::Records { .. }
        | LogError::Recompress { .. }
        | LogError::OffsetMapFull { .. } => ErrorCode::KafkaStorageError,
    }
}

/// Kafka's resource types in config APIs.
pub(crate) mod resource {
    /// A topic.
    pub(crate) const TOPIC: i8 = 2;
    /// A broker.
    pub(crate) const BROKER: i8 = 4;
}

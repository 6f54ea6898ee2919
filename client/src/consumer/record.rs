//! A record as the consumer hands it out.

use std::sync::Arc;

use bytes::Bytes;

pub use crate::protocol::batch::TimestampType;

/// One consumed record. Key, value and header values share the fetched response's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: i64,
    /// Who set the timestamp.
    pub timestamp_type: TimestampType,
    /// Key, `None` for a null key.
    pub key: Option<Bytes>,
    /// Value, `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Headers in wire order; keys may repeat.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The partition leader epoch the batch was written in, if known.
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.as_ref())
    }
}

//! The record connectors and transforms work on: Kafka Connect's schemaless data, keys and values
//! as JSON values, between the bytes of a topic and the rows, lines or files outside.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

/// One record on its way into a topic (from a source) or out of one (to a sink).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectRecord {
    /// The topic it goes to (a source's) or came from (a sink's); transforms may change it.
    pub topic: String,
    /// The partition, when the connector or a transform chose one.
    pub partition: Option<i32>,
    /// The key, `None` for a null key.
    pub key: Option<Value>,
    /// The value, `None` for a null value (a tombstone).
    pub value: Option<Value>,
    /// Timestamp in milliseconds since the epoch; `None` is "now" when produced.
    pub timestamp: Option<i64>,
    /// Headers in order; names may repeat.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Where a sink's record was read from (`None` for a source's).
    pub origin: Option<Origin>,
}

impl ConnectRecord {
    /// A record for `topic` with this key and value and nothing else.
    pub fn new(topic: impl Into<String>, key: Option<Value>, value: Option<Value>) -> Self {
        Self {
            topic: topic.into(),
            key,
            value,
            ..Self::default()
        }
    }

    /// The last header named `name`, if any.
    pub fn header(&self, name: &str) -> Option<&Option<Bytes>> {
        self.headers.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// The topic, partition and offset a sink's record was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// A source's record with the source position it stands for: once the record is acknowledged,
/// `offset` is stored for `partition` (both JSON objects, as in Kafka Connect's offsets topic).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// The record.
    pub record: ConnectRecord,
    /// The source partition (a table, a query, a file).
    pub partition: Value,
    /// The position in it reached with this record.
    pub offset: Value,
}

/// A record a sink could not write, and why (the task goes on when `errors.tolerance=all`, the
/// record going to the dead-letter topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    /// Its index in the batch given to the sink.
    pub index: usize,
    /// Why it could not be written.
    pub reason: String,
}

//! The per-task machinery: records, the task context, and processors wired into a tree (shared
//! where a node has several parents).

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::error::StreamsError;

/// Record headers, in order; names may repeat.
pub type Headers = Vec<(String, Option<Bytes>)>;

/// A record flowing through a topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// Key.
    pub key: K,
    /// Value.
    pub value: V,
    /// Timestamp (ms since the epoch): the record's event time.
    pub timestamp: i64,
    /// Headers.
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record with no headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        Self {
            key,
            value,
            timestamp,
            headers: Vec::new(),
        }
    }

    pub(crate) fn with<K2, V2>(&self, key: K2, value: V2) -> Record<K2, V2> {
        Record {
            key,
            value,
            timestamp: self.timestamp,
            headers: self.headers.clone(),
        }
    }
}

/// A record as read from a topic.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) timestamp: i64,
    pub(crate) headers: Headers,
}

#[cfg(test)]
impl RawRecord {
    /// A record of `topic` with key `key` and value `x`, for tests.
    pub(crate) fn test(topic: &str, key: &'static [u8], timestamp: i64) -> Self {
        Self {
            topic: Arc::from(topic),
            partition: 0,
            offset: 0,
            key: Some(Bytes::from_static(key)),
            value: Some(Bytes::from_static(b"x")),
            timestamp,
            headers: Vec::new(),
        }
    }
}

/// A record a task writes: to an output, repartition or changelog topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Topic (internal topics with the application id prefix).
    pub topic: Arc<str>,
    /// Partition, or `None` for the producer's partitioner.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Timestamp.
    pub timestamp: i64,
    /// Headers.
    pub headers: Headers,
}

/// What a task's processors see besides the record: time, where records go, counters.
#[derive(Debug)]
pub(crate) struct TaskContext {
    pub(crate) application_id: Arc<str>,
    /// The task's partition: changelog records go to the same partition of the changelog.
    pub(crate) partition: i32,
    /// The largest timestamp the task has seen (Kafka's stream time); -1 before the first.
    pub(crate) stream_time: i64,
    /// Records produced while processing, in order.
    pub(crate) output: Vec<Output>,
    /// Records skipped because their key or value could not be deserialized (or a grouping
    /// met a null key).
    pub(crate) skipped_records: u64,
    /// Records dropped because every window they fall in had closed.
    pub(crate) dropped_late_records: u64,
    /// Whether a record that cannot be deserialized is skipped (logged) rather than an error.
    pub(crate) skip_bad_records: bool,
    /// The budget of each record cache of the task; 0 logs and forwards every update at once.
    pub(crate) cache_max_bytes: usize,
    /// Where the record being processed was read: topic, partition, offset.
    pub(crate) source: Option<(Arc<str>, i32, i64)>,
}

impl TaskContext {
    pub(crate) fn new(application_id: Arc<str>, partition: i32) -> Self {
        Self {
            application_id,
            partition,
            stream_time: -1,
            output: Vec::new(),
            skipped_records: 0,
            dropped_late_records: 0,
            skip_bad_records: false,
            cache_max_bytes: 0,
            source: None,
        }
    }

    /// The full name of an internal topic (`<application.id>-<suffix>`).
    pub(crate) fn internal_topic(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.application_id)
    }
}

/// One step of a topology, for records of key `K` and value `V`.
pub(crate) trait Processor<K, V>: Send {
    fn process(&mut self, ctx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError>;
}

/// A step that takes records as read from a topic (a source).
pub(crate) trait RawProcessor: Send {
    fn process(&mut self, ctx: &mut TaskContext, record: RawRecord) -> Result<(), StreamsError>;
}

/// A node's children in a task: each gets every record (clones for all but the last).
pub(crate) struct Fanout<K, V> {
    children: Vec<Box<dyn Processor<K, V>>>,
}

impl<K: Clone, V: Clone> Fanout<K, V> {
    pub(crate) fn new(children: Vec<Box<dyn Processor<K, V>>>) -> Self {
        Self { children }
    }

    pub(crate) fn forward(&mut self, ctx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        let Some((last, rest)) = self.children.split_last_mut() else {
            return Ok(());
        };
        for child in rest {
            child.process(ctx, record.clone())?;
        }
        last.process(ctx, record)
    }
}

/// A node reached from several parents (a merge): one instance per task, shared.
pub(crate) struct Shared<K, V>(pub(crate) Arc<Mutex<Fanout<K, V>>>);

impl<K: Clone + Send, V: Clone + Send> Processor<K, V> for Shared<K, V> {
    fn process(&mut self, ctx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).forward(ctx, record)
    }
}

/// A processor from a closure over the next node's fanout.
pub(crate) struct FnProcessor<F>(pub(crate) F);

impl<K, V, F> Processor<K, V> for FnProcessor<F>
where
    F: FnMut(&mut TaskContext, Record<K, V>) -> Result<(), StreamsError> + Send,
{
    fn process(&mut self, ctx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        (self.0)(ctx, record)
    }
}

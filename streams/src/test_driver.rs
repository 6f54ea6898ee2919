//! A topology run in memory, without a broker (Kafka Streams' `TopologyTestDriver`): pipe records
//! into input topics, read what the topology wrote to output topics, look into its stores.
//!
//! Everything runs in one task (partition 0) on the calling thread. What the topology writes to
//! a topic it also reads (a repartition topic, or any input) is fed back to it at once, before
//! `pipe` returns; everything else is kept per topic for `read`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use crate::dsl::SharedSerde;
use crate::error::StreamsError;
use crate::processor::{Headers, Output, RawRecord, Record};
use crate::serde::Serde;
use crate::topology::{Task, Topology, lock};

/// A topic as the test sees it: its name and the serdes of its keys and values.
pub struct TestTopic<K, V> {
    name: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> TestTopic<K, V> {
    /// Topic `name`, whose keys and values these serdes read and write.
    pub fn new(name: &str, key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self {
            name: name.to_owned(),
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<K, V> fmt::Debug for TestTopic<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestTopic").field("name", &self.name).finish()
    }
}

/// A record written to a topic the topology reads: topic, key, value, timestamp, headers.
type Piped = (String, Option<bytes::Bytes>, Option<bytes::Bytes>, i64, Headers);

/// Runs a topology in memory.
pub struct TopologyTestDriver {
    topology: Topology,
    task: Task,
    /// The global tables' topics and stores.
    global_topics: HashMap<String, Arc<std::sync::Mutex<crate::state::KvStore>>>,
    /// Records written to topics the topology does not read, per topic, oldest first.
    outputs: HashMap<String, VecDeque<Output>>,
    /// Next offset per topic fed to the topology.
    offsets: HashMap<String, i64>,
}

impl fmt::Debug for TopologyTestDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopologyTestDriver")
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

impl TopologyTestDriver {
    /// Instantiates `topology` for application `application_id` (which prefixes internal topics).
    pub fn new(topology: Topology, application_id: &str) -> Result<Self, StreamsError> {
        let globals = topology.global_stores();
        let global_topics = topology
            .global_tables()
            .into_iter()
            .filter_map(|(topic, store)| globals.get(&store).map(|s| (topic, Arc::clone(s))))
            .collect();
        let task = topology.task(application_id, 0, &globals)?;
        Ok(Self {
            topology,
            task,
            global_topics,
            outputs: HashMap::new(),
            offsets: HashMap::new(),
        })
    }

    /// Skip (and count) records whose key or value cannot be deserialized, instead of failing
    /// (Kafka's `LogAndContinueExceptionHandler`).
    pub fn skip_bad_records(mut self) -> Self {
        self.task.ctx.skip_bad_records = true;
        self
    }

    /// Gives the aggregations record caches of `max_bytes` each (`statestore.cache.max.bytes`):
    /// updates then wait in them until [`TopologyTestDriver::commit`] (or until a cache is
    /// full), as in a running application between commits. Without this, every update is
    /// forwarded at once.
    pub fn with_record_cache(mut self, max_bytes: usize) -> Self {
        self.task.ctx.cache_max_bytes = max_bytes;
        self
    }

    /// Commits, as a running application does every commit interval: the record caches flush
    /// what they held back.
    pub fn commit(&mut self) -> Result<(), StreamsError> {
        // What a flush sends through a repartition topic may fill a cache downstream.
        loop {
            self.task.flush()?;
            if self.task.ctx.output.is_empty() {
                return Ok(());
            }
            self.route(VecDeque::new())?;
        }
    }

    /// Pipes one record into `topic` and processes it, with everything it causes.
    pub fn pipe<K: 'static, V: 'static>(
        &mut self,
        topic: &TestTopic<K, V>,
        key: K,
        value: V,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.pipe_record(topic, Record::new(key, value, timestamp))
    }

    /// Pipes one record (with headers) into `topic`.
    pub fn pipe_record<K: 'static, V: 'static>(
        &mut self,
        topic: &TestTopic<K, V>,
        record: Record<K, V>,
    ) -> Result<(), StreamsError> {
        let failed = |source| StreamsError::Serialize {
            target: topic.name.clone(),
            node: "test input".to_owned(),
            source,
        };
        let key = topic.key_serde.serialize(&record.key).map_err(failed)?;
        let value = topic.value_serde.serialize(&record.value).map_err(failed)?;
        self.pipe_raw(&topic.name, key, value, record.timestamp, record.headers)
    }

    /// Pipes raw bytes into `topic`, as a producer would have written them.
    pub fn pipe_raw(
        &mut self,
        topic: &str,
        key: Option<bytes::Bytes>,
        value: Option<bytes::Bytes>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        self.route(VecDeque::from([(topic.to_owned(), key, value, timestamp, headers)]))
    }

    /// Processes `queue` and what the task wrote (also before): records for topics the topology
    /// reads go back in, the others to `outputs`.
    fn route(&mut self, mut queue: VecDeque<Piped>) -> Result<(), StreamsError> {
        self.take_output(&mut queue);
        while let Some((topic, key, value, timestamp, headers)) = queue.pop_front() {
            let offset = self.offsets.entry(topic.clone()).or_insert(0);
            let record = RawRecord {
                topic: Arc::from(topic.as_str()),
                partition: 0,
                offset: *offset,
                key,
                value,
                timestamp,
                headers,
            };
            *offset += 1;
            if let Some(store) = self.global_topics.get(&*record.topic) {
                if let Some(key) = record.key {
                    lock(store).restore(key, record.value);
                }
                continue;
            }
            self.task.process(record)?;
            self.take_output(&mut queue);
        }
        Ok(())
    }

    fn take_output(&mut self, queue: &mut VecDeque<Piped>) {
        for out in std::mem::take(&mut self.task.ctx.output) {
            if self.task.reads(&out.topic) || self.global_topics.contains_key(&*out.topic) {
                queue.push_back((out.topic.to_string(), out.key, out.value, out.timestamp, out.headers));
            } else {
                self.outputs.entry(out.topic.to_string()).or_default().push_back(out);
            }
        }
    }

    /// Takes every record written to `topic` so far, decoded.
    pub fn read<K: 'static, V: 'static>(&mut self, topic: &TestTopic<K, V>) -> Result<Vec<Record<K, V>>, StreamsError> {
        let records = self.outputs.remove(&topic.name).unwrap_or_default();
        records
            .into_iter()
            .map(|out| {
                let failed = |source| StreamsError::Deserialize {
                    topic: topic.name.clone(),
                    partition: 0,
                    offset: -1,
                    part: "key or value",
                    source,
                };
                Ok(Record {
                    key: topic.key_serde.deserialize(out.key.as_deref()).map_err(failed)?,
                    value: topic.value_serde.deserialize(out.value.as_deref()).map_err(failed)?,
                    timestamp: out.timestamp,
                    headers: out.headers,
                })
            })
            .collect()
    }

    /// Takes every record written to `topic` so far, as written.
    pub fn read_raw(&mut self, topic: &str) -> Vec<Output> {
        self.outputs.remove(topic).unwrap_or_default().into()
    }

    /// Every entry of key-value store `store`, in key-byte order, decoded.
    pub fn key_value_store<K, V>(
        &self,
        store: &str,
        key_serde: &impl Serde<K>,
        value_serde: &impl Serde<V>,
    ) -> Result<Vec<(K, V)>, StreamsError> {
        let store_ref = self
            .task
            .stores
            .get(store)
            .ok_or_else(|| StreamsError::Usage(format!("no store named {store}")))?;
        let bad = |e: crate::serde::SerdeError| StreamsError::Store {
            store: store.to_owned(),
            reason: e.to_string(),
        };
        lock(store_ref)
            .entries()?
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    key_serde.deserialize(Some(&k)).map_err(bad)?,
                    value_serde.deserialize(Some(&v)).map_err(bad)?,
                ))
            })
            .collect()
    }

    /// Records skipped so far because they could not be deserialized, or had a null key where
    /// one is needed.
    pub fn skipped_records(&self) -> u64 {
        self.task.ctx.skipped_records
    }

    /// Records dropped so far because they arrived after their windows closed.
    pub fn dropped_late_records(&self) -> u64 {
        self.task.ctx.dropped_late_records
    }

    /// The task's stream time: the largest timestamp seen.
    pub fn stream_time(&self) -> i64 {
        self.task.ctx.stream_time
    }

    /// Topics written so far that the test has not read, with their record counts.
    pub fn unread_topics(&self) -> BTreeMap<String, usize> {
        self.outputs.iter().map(|(t, r)| (t.clone(), r.len())).collect()
    }
}

//! The DSL: [`StreamsBuilder`] makes [`KStream`]s and [`KTable`]s from topics; their operators
//! add nodes to the topology, and [`StreamsBuilder::build`] returns it.

mod global;
mod grouped;
mod join;
mod session;
mod sliding;
mod stream;
mod table;
mod table_join;
mod window;

use std::fmt;
use std::sync::{Arc, Mutex};

pub use self::global::GlobalKTable;
pub(crate) use self::grouped::Fold;
pub use self::grouped::KGroupedStream;
pub use self::join::{JoinWindows, StreamJoined};
pub(crate) use self::session::Merger;
pub use self::session::{SessionWindowedKStream, SessionWindowedSerde, SessionWindows};
pub use self::sliding::SlidingWindows;
pub(crate) use self::stream::write as write_record;
pub use self::stream::{BranchedKStream, KStream};
pub use self::table::{Change, KTable};
pub use self::window::{Suppressed, TimeWindowedKStream, TimeWindows, Window, Windowed, WindowedSerde};
use crate::error::StreamsError;
use crate::processor::{RawProcessor, RawRecord, Record, TaskContext};
use crate::serde::Serde;
use crate::topology::{self, Graph, Node, NodeKind, NodeRef, SourceSpec, TopicName, Topology, lock};

/// What a record's key or value type must be to flow through a topology.
pub trait Data: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> Data for T {}

/// A serde shared by the nodes that use it.
pub type SharedSerde<T> = Arc<dyn Serde<T>>;

/// How a topic is read: the key and value serdes.
pub struct Consumed<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) timestamps: Option<TimestampExtractor<K, V>>,
}

/// A record's event time from its key, value and the timestamp it was written with.
pub type TimestampExtractor<K, V> = Arc<dyn Fn(&K, &V, i64) -> i64 + Send + Sync>;

impl<K, V> Consumed<K, V> {
    /// Reads keys with `key_serde` and values with `value_serde`.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self {
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            timestamps: None,
        }
    }

    /// Takes each record's event time from `extractor(key, value, record timestamp)` instead of
    /// the record's timestamp. A negative time is an invalid record (skipped and counted with
    /// skip-bad-records, an error otherwise).
    pub fn with_timestamp_extractor(mut self, extractor: impl Fn(&K, &V, i64) -> i64 + Send + Sync + 'static) -> Self {
        self.timestamps = Some(Arc::new(extractor));
        self
    }
}

impl<K, V> fmt::Debug for Consumed<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Consumed")
    }
}

/// How records are written to a topic: the key and value serdes.
pub struct Produced<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
}

impl<K, V> Produced<K, V> {
    /// Writes keys with `key_serde` and values with `value_serde`.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self {
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
        }
    }
}

impl<K, V> fmt::Debug for Produced<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Produced")
    }
}

/// How a stream is grouped: a name for the repartition topic, and serdes for it (needed when
/// grouping changes the key, or after a key-changing operator).
pub struct Grouped<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
}

impl<K, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Self {
            name: None,
            key_serde: None,
            value_serde: None,
        }
    }
}

impl<K, V> Grouped<K, V> {
    /// Groups with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self {
            name: None,
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
        }
    }

    /// Names the repartition topic `<application.id>-<name>-repartition`.
    pub fn as_(name: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            ..Self::default()
        }
    }

    /// Sets the repartition topic's name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

impl<K, V> fmt::Debug for Grouped<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grouped")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How a table is stored: the store's name (also its changelog's), serdes, and whether it is
/// logged to a changelog topic (on by default).
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) logging: bool,
}

impl<K, V> Default for Materialized<K, V> {
    fn default() -> Self {
        Self {
            name: None,
            key_serde: None,
            value_serde: None,
            logging: true,
        }
    }
}

impl<K, V> Materialized<K, V> {
    /// A store named `name`, changelog `<application.id>-<name>-changelog`.
    pub fn as_(name: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            ..Self::default()
        }
    }

    /// A store with a generated name and these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self::default().with_key_serde(key_serde).with_value_serde(value_serde)
    }

    /// Sets the key serde.
    pub fn with_key_serde(mut self, serde: impl Serde<K>) -> Self {
        self.key_serde = Some(Arc::new(serde));
        self
    }

    /// Sets the value serde.
    pub fn with_value_serde(mut self, serde: impl Serde<V>) -> Self {
        self.value_serde = Some(Arc::new(serde));
        self
    }

    /// Keeps the store without a changelog (its content is lost with the instance).
    pub fn without_logging(mut self) -> Self {
        self.logging = false;
        self
    }
}

impl<K, V> fmt::Debug for Materialized<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Materialized")
            .field("name", &self.name)
            .field("logging", &self.logging)
            .finish_non_exhaustive()
    }
}

/// Builds a topology with the DSL. Cloning shares the topology being built.
#[derive(Clone, Default)]
pub struct StreamsBuilder {
    pub(crate) graph: Arc<Mutex<Graph>>,
}

impl fmt::Debug for StreamsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamsBuilder")
    }
}

impl StreamsBuilder {
    /// A builder with an empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream of the records of `topic`.
    pub fn stream<K: Data, V: Data>(&self, topic: &str, consumed: Consumed<K, V>) -> KStream<K, V> {
        self.source(
            TopicName::User(topic.to_owned()),
            consumed.key_serde,
            consumed.value_serde,
            consumed.timestamps,
        )
    }

    /// A table of the records of `topic`: the latest value per key, a null value deleting it.
    /// Its store (named by `materialized`) is logged to its own changelog.
    pub fn table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let (ks, vs) = (consumed.key_serde, consumed.value_serde);
        let nullable: SharedSerde<Option<V>> = Arc::new(crate::serde::Nullable(table::SerdeRef(Arc::clone(&vs))));
        // A deletion (null value) keeps the record's timestamp.
        let timestamps = consumed.timestamps.map(|extract| {
            Arc::new(move |k: &K, v: &Option<V>, ts: i64| v.as_ref().map_or(ts, |v| extract(k, v, ts)))
                as TimestampExtractor<K, Option<V>>
        });
        let source = self.source(TopicName::User(topic.to_owned()), Arc::clone(&ks), nullable, timestamps);
        let store = match &materialized.name {
            Some(name) => name.clone(),
            None => lock(&self.graph).next_name(&format!("{topic}-STATE-STORE")),
        };
        let store_name = store.clone();
        let (key_serde, value_serde) = (Arc::clone(&ks), Arc::clone(&vs));
        let (node, id) = source.add_child_with("KTABLE-SOURCE", move |inst, mut next| {
            let store = inst.kv_store(&store_name)?;
            let (ks, vs, name) = (Arc::clone(&key_serde), Arc::clone(&value_serde), store_name.clone());
            Ok(Box::new(crate::processor::FnProcessor(
                move |ctx: &mut TaskContext, r: Record<K, Option<V>>| {
                    let Some(key) = grouped::store_key(ctx, &ks, &r.key, &name)? else {
                        return Ok(());
                    };
                    let mut store = lock(&store);
                    let old = grouped::stored_value(&store, &key, &vs, &name)?;
                    let bytes = match &r.value {
                        Some(v) => grouped::to_store_bytes(&vs, v, &name)?,
                        None => None,
                    };
                    store.put(ctx, key, bytes, r.timestamp);
                    drop(store);
                    if old.is_none() && r.value.is_none() {
                        return Ok(());
                    }
                    next.forward(
                        ctx,
                        r.with(
                            r.key.clone(),
                            Change {
                                new: r.value.clone(),
                                old,
                            },
                        ),
                    )
                },
            )) as Box<dyn crate::processor::Processor<K, Option<V>>>)
        });
        lock(&self.graph).add_store(
            id,
            topology::StoreSpec {
                name: store.clone(),
                logged: materialized.logging,
                retention_ms: None,
            },
        );
        KTable::new(self.clone(), node, Some(ks), Some(vs), Some(store))
    }

    /// A source node reading `topic` with these serdes.
    pub(crate) fn source<K: Data, V: Data>(
        &self,
        topic: TopicName,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        timestamps: Option<TimestampExtractor<K, V>>,
    ) -> KStream<K, V> {
        let mut graph = lock(&self.graph);
        let name = graph.next_name("KSTREAM-SOURCE");
        if graph.sources.iter().any(|s| s.topic == topic) {
            graph.errors.push(format!("topic {topic} is read by two sources"));
        }
        let id = graph.add_node(name, NodeKind::Source(topic.clone()), &[]);
        let node: NodeRef<K, V> = Arc::new(Mutex::new(Node {
            id,
            children: Vec::new(),
        }));
        let factory = {
            let node = Arc::clone(&node);
            let (ks, vs) = (Arc::clone(&key_serde), Arc::clone(&value_serde));
            Arc::new(move |inst: &mut crate::topology::Instantiator<'_>| {
                let next = inst.fanout(&node)?;
                Ok(Box::new(SourceProcessor {
                    key_serde: Arc::clone(&ks),
                    value_serde: Arc::clone(&vs),
                    timestamps: timestamps.clone(),
                    next,
                }) as Box<dyn RawProcessor>)
            })
        };
        graph.sources.push(SourceSpec {
            topic,
            node: id,
            factory,
        });
        drop(graph);
        KStream::from_node(self.clone(), node, Some(key_serde), Some(value_serde))
    }

    /// The topology built so far, or the first mistake found while building it.
    pub fn build(&self) -> Result<Topology, StreamsError> {
        let graph = lock(&self.graph);
        if let Some(first) = graph.errors.first() {
            return Err(StreamsError::Topology(first.clone()));
        }
        if graph.sources.is_empty() {
            return Err(StreamsError::Topology("the topology reads no topic".to_owned()));
        }
        drop(graph);
        Ok(Topology {
            graph: Arc::clone(&self.graph),
        })
    }
}

/// Deserializes records read from a topic; advances stream time.
struct SourceProcessor<K, V> {
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    timestamps: Option<TimestampExtractor<K, V>>,
    next: crate::processor::Fanout<K, V>,
}

impl<K: Data, V: Data> RawProcessor for SourceProcessor<K, V> {
    fn process(&mut self, ctx: &mut TaskContext, mut raw: RawRecord) -> Result<(), StreamsError> {
        let (raw_key, raw_value) = (raw.key.take(), raw.value.take());
        let bad = |part, source| StreamsError::Deserialize {
            topic: raw.topic.to_string(),
            partition: raw.partition,
            offset: raw.offset,
            part,
            source,
        };
        let decoded = self
            .key_serde
            .deserialize_owned(raw_key)
            .map_err(|e| bad("key", e))
            .and_then(|k| {
                self.value_serde
                    .deserialize_owned(raw_value)
                    .map(|v| (k, v))
                    .map_err(|e| bad("value", e))
            });
        let (key, value) = match decoded {
            Ok(kv) => kv,
            Err(e) if ctx.skip_bad_records => {
                tracing::warn!(error = %e, "skipping a record that cannot be deserialized");
                ctx.skipped_records += 1;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let timestamp = match &self.timestamps {
            Some(extract) => extract(&key, &value, raw.timestamp),
            None => raw.timestamp,
        };
        if timestamp < 0 {
            let reason = format!(
                "invalid timestamp {timestamp} for {}-{}@{}",
                raw.topic, raw.partition, raw.offset
            );
            if ctx.skip_bad_records {
                tracing::warn!(reason, "skipping a record");
                ctx.skipped_records += 1;
                return Ok(());
            }
            return Err(StreamsError::Usage(reason));
        }
        ctx.stream_time = ctx.stream_time.max(timestamp);
        ctx.source = Some((Arc::clone(&raw.topic), raw.partition, raw.offset));
        self.next.forward(
            ctx,
            Record {
                key,
                value,
                timestamp,
                headers: raw.headers,
            },
        )
    }
}

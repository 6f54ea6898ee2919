//! `KTable`: a changelog stream read as a table, each record the latest value of its key.

use std::fmt;
use std::sync::Arc;

use super::stream::KStream;
use super::{Data, SharedSerde, StreamsBuilder};
use crate::processor::{Fanout, FnProcessor, Record, TaskContext};
use crate::topology::NodeRef;

/// An update of a table's key: its new value (`None`: deleted) and the one it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The value from now on; `None` if the key was deleted.
    pub new: Option<V>,
    /// The value before; `None` if the key was absent.
    pub old: Option<V>,
}

/// A table: the latest value per key, as a stream of [`Change`]s.
pub struct KTable<K, V> {
    pub(crate) stream: KStream<K, Change<V>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// The store holding the table, if materialized.
    pub(crate) store: Option<String>,
    /// For a windowed aggregation's table: the grace period after which its windows close.
    pub(crate) close_after: Option<i64>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        Self {
            stream: self.stream.clone(),
            value_serde: self.value_serde.clone(),
            store: self.store.clone(),
            close_after: self.close_after,
        }
    }
}

impl<K, V> fmt::Debug for KTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KTable")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn new(
        builder: StreamsBuilder,
        node: NodeRef<K, Change<V>>,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        store: Option<String>,
    ) -> Self {
        Self {
            stream: KStream::from_node(builder, node, key_serde, None),
            value_serde,
            store,
            close_after: None,
        }
    }

    /// A table on a node that nothing feeds, after a mistake `build` reports.
    pub(crate) fn detached(builder: &StreamsBuilder) -> Self {
        Self {
            stream: KStream::detached(builder),
            value_serde: None,
            store: None,
            close_after: None,
        }
    }

    /// The name of the store that holds the table, for queries, if it is materialized.
    pub fn queryable_store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The table's updates as a stream: each change's new value (`None` for a deletion).
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        let (node, _) = self
            .stream
            .add_child("KTABLE-TOSTREAM", |mut next: Fanout<K, Option<V>>| {
                Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, Change<V>>| {
                    next.forward(
                        ctx,
                        Record {
                            key: r.key,
                            value: r.value.new,
                            timestamp: r.timestamp,
                            headers: r.headers,
                        },
                    )
                }))
            });
        let value_serde = self
            .value_serde
            .clone()
            .map(|s| Arc::new(crate::serde::Nullable(SerdeRef(s))) as SharedSerde<Option<V>>);
        KStream::from_node(
            self.stream.builder.clone(),
            node,
            self.stream.key_serde.clone(),
            value_serde,
        )
    }

    /// The rows for which `predicate` holds; a row that stops matching is deleted downstream.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        let predicate = Arc::new(predicate);
        let (node, _) = self
            .stream
            .add_child("KTABLE-FILTER", move |mut next: Fanout<K, Change<V>>| {
                let predicate = Arc::clone(&predicate);
                Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, Change<V>>| {
                    let keep = |v: Option<V>| v.filter(|v| predicate(&r.key, v));
                    let change = Change {
                        new: keep(r.value.new.clone()),
                        old: keep(r.value.old.clone()),
                    };
                    if change.new.is_none() && change.old.is_none() {
                        return Ok(());
                    }
                    next.forward(ctx, r.with(r.key.clone(), change))
                }))
            });
        KTable::new(
            self.stream.builder.clone(),
            node,
            self.stream.key_serde.clone(),
            self.value_serde.clone(),
            None,
        )
    }

    /// Each row's value mapped.
    pub fn map_values<V2: Data>(&self, mapper: impl Fn(&V) -> V2 + Send + Sync + 'static) -> KTable<K, V2> {
        let mapper = Arc::new(mapper);
        let (node, _) = self
            .stream
            .add_child("KTABLE-MAPVALUES", move |mut next: Fanout<K, Change<V2>>| {
                let mapper = Arc::clone(&mapper);
                Box::new(FnProcessor(move |ctx: &mut TaskContext, r: Record<K, Change<V>>| {
                    let change = Change {
                        new: r.value.new.as_ref().map(|v| mapper(v)),
                        old: r.value.old.as_ref().map(|v| mapper(v)),
                    };
                    next.forward(ctx, r.with(r.key.clone(), change))
                }))
            });
        KTable::new(
            self.stream.builder.clone(),
            node,
            self.stream.key_serde.clone(),
            None,
            None,
        )
    }
}

/// A shared serde used where a serde value is expected.
pub(crate) struct SerdeRef<T>(pub(crate) SharedSerde<T>);

impl<T: 'static> crate::serde::Serde<T> for SerdeRef<T> {
    fn serialize(&self, value: &T) -> Result<Option<bytes::Bytes>, crate::serde::SerdeError> {
        self.0.serialize(value)
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, crate::serde::SerdeError> {
        self.0.deserialize(bytes)
    }
}

//! `KGroupedStream`: a stream grouped by key, and its aggregations into a `KTable`.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::session::{SessionWindowedKStream, SessionWindows};
use super::sliding::SlidingWindows;
use super::table::{Change, KTable};
use super::window::{TimeWindowedKStream, TimeWindows, WindowSpec};
use super::{Data, Grouped, Materialized, SharedSerde};
use crate::cache::RecordCache;
use crate::dsl::stream::KStream;
use crate::error::StreamsError;
use crate::processor::{Fanout, Processor, Record, TaskContext};
use crate::serde::IntSerde;
use crate::state::KvStore;
use crate::topology::{StoreSpec, TopicName, lock};

/// A stream grouped by key, ready to aggregate ([`KStream::group_by_key`], [`KStream::group_by`]).
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    grouped: Grouped<K, V>,
}

impl<K, V> fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("grouped", &self.grouped)
            .finish_non_exhaustive()
    }
}

/// An aggregation's store name, input stream and serdes ([`KGroupedStream::aggregation`]).
pub(crate) type Aggregation<K, V, A> = (String, KStream<K, V>, Option<(SharedSerde<K>, SharedSerde<A>)>);

/// Folds one record into a key's aggregate (`None` before the first); `Ok(None)` leaves the
/// record out (a script's aggregator failed on it and the error policy skips it).
pub(crate) type Fold<K, V, A> =
    Arc<dyn Fn(&mut TaskContext, &K, V, Option<A>, &RecordMeta<'_>) -> Result<Option<A>, StreamsError> + Send + Sync>;

/// The timestamp and headers of the record being folded (for a dead-letter copy of it).
pub(crate) type RecordMeta<'a> = (i64, &'a crate::processor::Headers);

/// `count`'s store: i64 values unless `materialized` names a serde.
pub(crate) fn counting<K>(materialized: Materialized<K, i64>) -> Materialized<K, i64> {
    Materialized {
        value_serde: materialized.value_serde.or_else(|| Some(Arc::new(IntSerde))),
        ..materialized
    }
}

pub(crate) fn count_fold<K, V>() -> Fold<K, V, i64> {
    Arc::new(|_, _, _, count, _| Ok(Some(count.unwrap_or(0) + 1)))
}

pub(crate) fn reduce_fold<K, V: 'static>(reducer: impl Fn(V, V) -> V + Send + Sync + 'static) -> Fold<K, V, V> {
    Arc::new(move |_, _, value, aggregate, _| {
        Ok(Some(match aggregate {
            Some(aggregate) => reducer(aggregate, value),
            None => value,
        }))
    })
}

pub(crate) fn aggregate_fold<K, V, A>(
    initializer: impl Fn() -> A + Send + Sync + 'static,
    aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
) -> Fold<K, V, A> {
    Arc::new(move |_, key, value, aggregate, _| {
        Ok(Some(aggregator(key, value, aggregate.unwrap_or_else(&initializer))))
    })
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        Self { stream, grouped }
    }

    /// The number of records per key.
    pub fn count(self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.fold("KSTREAM-AGGREGATE", counting(materialized), count_fold())
    }

    /// Each key's values combined with `reducer(aggregate, value)`; the first value is the
    /// first aggregate.
    pub fn reduce(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let materialized = self.reducing(materialized);
        self.fold("KSTREAM-REDUCE", materialized, reduce_fold(reducer))
    }

    /// Each key's values folded into an aggregate that starts as `initializer()`.
    pub fn aggregate<A: Data>(
        self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A> {
        self.fold(
            "KSTREAM-AGGREGATE",
            materialized,
            aggregate_fold(initializer, aggregator),
        )
    }

    /// `materialized` with the grouped values' serde unless it names one.
    pub(crate) fn reducing(&self, materialized: Materialized<K, V>) -> Materialized<K, V> {
        Materialized {
            value_serde: materialized.value_serde.or_else(|| self.value_serde()),
            ..materialized
        }
    }

    /// Cuts the groups into sessions of activity, for session-windowed aggregations.
    pub fn windowed_by_session(self, windows: SessionWindows) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream { grouped: self, windows }
    }

    /// Cuts the groups into time windows, for windowed aggregations.
    pub fn windowed_by(self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            grouped: self,
            windows: WindowSpec::Time(windows),
        }
    }

    /// Cuts the groups into sliding windows ([`SlidingWindows`]), for windowed aggregations.
    pub fn windowed_by_sliding(self, windows: SlidingWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            grouped: self,
            windows: WindowSpec::Sliding(windows),
        }
    }

    pub(crate) fn key_serde(&self) -> Option<SharedSerde<K>> {
        self.grouped.key_serde.clone().or_else(|| self.stream.key_serde.clone())
    }

    pub(crate) fn value_serde(&self) -> Option<SharedSerde<V>> {
        self.grouped
            .value_serde
            .clone()
            .or_else(|| self.stream.value_serde.clone())
    }

    /// The stream the aggregation reads: this one, or (when the key changed) its records
    /// written to and read back from the repartition topic `<name>-repartition`.
    pub(crate) fn input(&self, store: &str) -> Option<KStream<K, V>> {
        let ks = self.key_serde();
        let vs = self.value_serde();
        if !self.stream.repartition_required {
            return Some(self.stream.clone());
        }
        let (Some(ks), Some(vs)) = (ks, vs) else {
            self.stream.error(format!(
                "grouping after {} repartitions by the new key and needs key and value serdes: give them in Grouped::with",
                self.stream.name()
            ));
            return None;
        };
        let base = self.grouped.name.clone().unwrap_or_else(|| store.to_owned());
        let topic = TopicName::Internal(format!("{base}-repartition"));
        self.stream.sink(topic.clone(), Arc::clone(&ks), Arc::clone(&vs));
        Some(self.stream.builder.source(topic, ks, vs, None))
    }

    /// What an aggregation into `materialized`'s store (named `<prefix>-STATE-STORE-N` unless
    /// given) starts from: the store's name, the stream it reads (repartitioned if needed), and
    /// the key and value serdes, `None` once what is missing was reported.
    pub(crate) fn aggregation<A>(
        &self,
        prefix: &str,
        what: &str,
        materialized: &Materialized<K, A>,
    ) -> Aggregation<K, V, A> {
        let store = match &materialized.name {
            Some(name) => name.clone(),
            None => lock(&self.stream.builder.graph).next_name(&format!("{prefix}-STATE-STORE")),
        };
        let key_serde = materialized.key_serde.clone().or_else(|| self.key_serde());
        let input = self.input(&store).unwrap_or_else(|| self.stream.clone());
        let serdes = match (key_serde, materialized.value_serde.clone()) {
            (Some(ks), Some(vs)) => Some((ks, vs)),
            _ => {
                input.error(format!(
                    "the {what} into store {store} needs key and value serdes: give them in Materialized"
                ));
                None
            }
        };
        (store, input, serdes)
    }

    pub(crate) fn fold<A: Data>(
        self,
        prefix: &str,
        materialized: Materialized<K, A>,
        fold: Fold<K, V, A>,
    ) -> KTable<K, A> {
        let (store, input, serdes) = self.aggregation(prefix, "aggregation", &materialized);
        let Some((ks, vs)) = serdes else {
            return KTable::detached(&input.builder);
        };
        let store_name = store.clone();
        let (node, id) = input.add_child_with(prefix, move |inst, next: Fanout<K, Change<A>>| {
            let store = inst.kv_store(&store_name)?;
            Ok(Box::new(Aggregate {
                out: RecordCache::new(inst, Arc::clone(&store), next),
                store,
                store_name: store_name.clone(),
                key_serde: Arc::clone(&ks),
                value_serde: Arc::clone(&vs),
                fold: Arc::clone(&fold),
            }) as Box<dyn Processor<K, V>>)
        });
        lock(&input.builder.graph).add_store(
            id,
            StoreSpec {
                name: store.clone(),
                logged: materialized.logging,
                retention_ms: None,
            },
        );
        KTable::new(
            input.builder.clone(),
            node,
            input.key_serde.clone(),
            materialized.value_serde,
            Some(store),
        )
    }
}

/// Folds records into a key-value store and forwards each key's new and old aggregate.
struct Aggregate<K, V, A> {
    store: Arc<std::sync::Mutex<KvStore>>,
    store_name: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<A>,
    fold: Fold<K, V, A>,
    out: RecordCache<K, A>,
}

impl<K: Data, V: Data, A: Data> Processor<K, V> for Aggregate<K, V, A> {
    fn process(&mut self, ctx: &mut TaskContext, r: Record<K, V>) -> Result<(), StreamsError> {
        let Some(key) = store_key(ctx, &self.key_serde, &r.key, &self.store_name)? else {
            return Ok(());
        };
        let mut store = lock(&self.store);
        let old = stored_value(&store, &key, &self.value_serde, &self.store_name)?;
        let Some(new) = (self.fold)(ctx, &r.key, r.value, old.clone(), &(r.timestamp, &r.headers))? else {
            return Ok(());
        };
        let bytes = to_store_bytes(&self.value_serde, &new, &self.store_name)?;
        store.set(key.clone(), bytes);
        drop(store);
        self.out.update(
            ctx,
            key,
            Record {
                key: r.key,
                value: Change { new: Some(new), old },
                timestamp: r.timestamp,
                headers: r.headers,
            },
        )
    }
}

/// The value stored under `key`, decoded.
pub(crate) fn stored_value<A: 'static>(
    store: &KvStore,
    key: &[u8],
    serde: &SharedSerde<A>,
    store_name: &str,
) -> Result<Option<A>, StreamsError> {
    store
        .get(key)?
        .map(|bytes| serde.deserialize(Some(&bytes)))
        .transpose()
        .map_err(|e| StreamsError::Store {
            store: store_name.to_owned(),
            reason: e.to_string(),
        })
}

/// `value` serialized for store `store`.
pub(crate) fn to_store_bytes<T: 'static>(
    serde: &SharedSerde<T>,
    value: &T,
    store: &str,
) -> Result<Option<Bytes>, StreamsError> {
    serde.serialize(value).map_err(|source| StreamsError::Serialize {
        target: store.to_owned(),
        node: store.to_owned(),
        source,
    })
}

/// The bytes store `store` keeps `key` under; `None` for a null key, which has no place in a
/// store: the record is skipped and counted, as Kafka does.
pub(crate) fn store_key<K: 'static>(
    ctx: &mut TaskContext,
    serde: &SharedSerde<K>,
    key: &K,
    store: &str,
) -> Result<Option<Bytes>, StreamsError> {
    let bytes = to_store_bytes(serde, key, store)?;
    if bytes.is_none() {
        tracing::debug!(store, "skipping a record with a null key");
        ctx.skipped_records += 1;
    }
    Ok(bytes)
}

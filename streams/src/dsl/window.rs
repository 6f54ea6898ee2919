//! Time windows: tumbling and hopping windows with a grace period, windowed aggregations into
//! `KTable<Windowed<K>, A>`, and `suppress` to emit each window once, when it closes.
//!
//! Windows are aligned to the epoch, `[start, start + size)`. A record is added to every window
//! that contains its timestamp and is still open: a window closes when the task's stream time
//! reaches `end + grace`; records for closed windows are dropped and counted as late.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use super::sliding::{Expiry, SlidingWindows, window_start};
use super::table::{Change, KTable};
use super::{Data, Materialized, SharedSerde};
use crate::cache::RecordCache;
use crate::dsl::grouped::{
    Fold, KGroupedStream, aggregate_fold, count_fold, counting, reduce_fold, store_key, stored_value, to_store_bytes,
};
use crate::error::StreamsError;
use crate::processor::{Fanout, Processor, Record, TaskContext};
use crate::serde::{Serde, SerdeError};
use crate::state::KvStore;
use crate::topology::{StoreSpec, lock};

/// A window: `[start, end)` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

/// A key within a window: what windowed aggregations are keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

/// Tumbling (`advance == size`) or hopping windows of fixed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    size: i64,
    advance: i64,
    grace: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size_ms`; records later than their window's end are dropped.
    pub fn of_size_with_no_grace(size_ms: i64) -> Self {
        Self::of_size_and_grace(size_ms, 0)
    }

    /// Tumbling windows of `size_ms` that accept records until stream time passes
    /// `end + grace_ms`.
    pub fn of_size_and_grace(size_ms: i64, grace_ms: i64) -> Self {
        Self {
            size: size_ms,
            advance: size_ms,
            grace: grace_ms,
        }
    }

    /// Hopping windows: a new window every `advance_ms` (at most the size).
    pub fn advance_by(mut self, advance_ms: i64) -> Self {
        self.advance = advance_ms;
        self
    }

    /// The windows that contain `timestamp`, earliest first.
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        let first = (timestamp - self.size + self.advance).max(0) / self.advance * self.advance;
        let mut windows = Vec::new();
        let mut start = first;
        while start <= timestamp {
            windows.push(Window {
                start,
                end: start + self.size,
            });
            start += self.advance;
        }
        windows
    }

    fn check(&self) -> Result<(), String> {
        if self.size <= 0 {
            return Err(format!("window size must be positive, not {}", self.size));
        }
        if self.advance <= 0 || self.advance > self.size {
            return Err(format!(
                "window advance must be in (0, size = {}], not {}",
                self.size, self.advance
            ));
        }
        if self.grace < 0 {
            return Err(format!("grace must not be negative, not {}", self.grace));
        }
        Ok(())
    }
}

/// Windowed keys as Kafka's `TimeWindowedSerde` writes them: the key's bytes, then the window
/// start as 8 big-endian bytes (the end follows from the window size).
pub struct WindowedSerde<K> {
    inner: SharedSerde<K>,
    size: i64,
}

impl<K> WindowedSerde<K> {
    /// Windowed keys of `inner` keys, for windows of `size_ms`.
    pub fn new(inner: impl Serde<K>, size_ms: i64) -> Self {
        Self {
            inner: Arc::new(inner),
            size: size_ms,
        }
    }
}

impl<K> fmt::Debug for WindowedSerde<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowedSerde")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl<K: 'static> Serde<Windowed<K>> for WindowedSerde<K> {
    fn serialize(&self, value: &Windowed<K>) -> Result<Option<Bytes>, SerdeError> {
        let key = self.inner.serialize(&value.key)?.unwrap_or_default();
        Ok(Some(window_key(&key, value.window.start)))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let bytes = bytes.ok_or_else(|| SerdeError::new("windowed", "null windowed key"))?;
        let split = bytes
            .len()
            .checked_sub(8)
            .ok_or_else(|| SerdeError::new("windowed", format!("{} bytes, need at least 8", bytes.len())))?;
        let start = i64::from_be_bytes(bytes[split..].try_into().map_err(|e| SerdeError::new("windowed", e))?);
        Ok(Windowed {
            key: self.inner.deserialize(Some(&bytes[..split]))?,
            window: Window {
                start,
                end: start + self.size,
            },
        })
    }
}

/// A window store's key: the record key's bytes, then the window start.
pub(crate) fn window_key(key: &[u8], start: i64) -> Bytes {
    let mut out = BytesMut::with_capacity(key.len() + 8);
    out.put_slice(key);
    out.put_i64(start);
    out.freeze()
}

/// A grouped stream cut into time windows ([`KGroupedStream::windowed_by`]).
pub struct TimeWindowedKStream<K, V> {
    pub(crate) grouped: KGroupedStream<K, V>,
    pub(crate) windows: WindowSpec,
}

/// The windows of a [`TimeWindowedKStream`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum WindowSpec {
    Time(TimeWindows),
    Sliding(SlidingWindows),
}

impl WindowSpec {
    fn check(&self) -> Result<(), String> {
        match self {
            Self::Time(w) => w.check(),
            Self::Sliding(w) => w.check(),
        }
    }

    /// The span of a window: its size, or a sliding window's time difference.
    fn size(&self) -> i64 {
        match self {
            Self::Time(w) => w.size,
            Self::Sliding(w) => w.difference,
        }
    }

    /// How long the store keeps a window after its start.
    fn retention(&self) -> i64 {
        match self {
            Self::Time(w) => w.size + w.grace,
            Self::Sliding(w) => w.retention(),
        }
    }

    /// When a window closes, after its end: time windows end exclusively, sliding windows
    /// inclusively.
    fn close_after(&self) -> i64 {
        match self {
            Self::Time(w) => w.grace,
            Self::Sliding(w) => w.grace + 1,
        }
    }
}

impl<K, V> fmt::Debug for TimeWindowedKStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeWindowedKStream")
            .field("windows", &self.windows)
            .finish_non_exhaustive()
    }
}

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
    /// Records per key and window.
    pub fn count(self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        self.fold(counting(materialized), count_fold())
    }

    /// Values per key and window combined with `reducer(aggregate, value)`.
    pub fn reduce(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let materialized = self.grouped.reducing(materialized);
        self.fold(materialized, reduce_fold(reducer))
    }

    /// Values per key and window folded into an aggregate that starts as `initializer()`.
    pub fn aggregate<A: Data>(
        self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A> {
        self.fold(materialized, aggregate_fold(initializer, aggregator))
    }

    pub(crate) fn fold<A: Data>(self, materialized: Materialized<K, A>, fold: Fold<K, V, A>) -> KTable<Windowed<K>, A> {
        let windows = self.windows;
        let builder = self.grouped.stream.builder.clone();
        let (store, input, serdes) =
            self.grouped
                .aggregation("KSTREAM-AGGREGATE", "windowed aggregation", &materialized);
        if let Err(e) = windows.check() {
            input.error(format!("windows of store {store}: {e}"));
        }
        let Some((ks, vs)) = serdes else {
            return KTable::detached(&input.builder);
        };
        let store_name = store.clone();
        let key_serde = Arc::clone(&ks);
        let (node, id) = input.add_child_with(
            "KSTREAM-AGGREGATE",
            move |inst, next: Fanout<Windowed<K>, Change<A>>| {
                let store = inst.kv_store(&store_name)?;
                let aggregate = WindowAggregate {
                    out: RecordCache::new(inst, Arc::clone(&store), next),
                    store,
                    store_name: store_name.clone(),
                    windows: (),
                    key_serde: Arc::clone(&key_serde),
                    value_serde: Arc::clone(&vs),
                    fold: Arc::clone(&fold),
                    expiry: Expiry::default(),
                };
                Ok(match windows {
                    WindowSpec::Time(windows) => aggregate.boxed(windows),
                    WindowSpec::Sliding(windows) => aggregate.boxed(windows),
                })
            },
        );
        lock(&builder.graph).add_store(
            id,
            StoreSpec {
                name: store.clone(),
                logged: materialized.logging,
                retention_ms: Some(windows.retention()),
            },
        );
        let windowed_serde: SharedSerde<Windowed<K>> = Arc::new(WindowedSerde {
            inner: ks,
            size: windows.size(),
        });
        let mut table = KTable::new(
            builder,
            node,
            Some(windowed_serde),
            materialized.value_serde,
            Some(store),
        );
        table.close_after = Some(windows.close_after());
        table
    }
}

/// Folds records into the windows they fall in, dropping those for closed windows.
/// With `W` = [`SlidingWindows`], the same for sliding windows (`sliding.rs`).
pub(crate) struct WindowAggregate<W, K, V, A> {
    pub(crate) store: Arc<Mutex<KvStore>>,
    pub(crate) store_name: String,
    pub(crate) windows: W,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<A>,
    pub(crate) fold: Fold<K, V, A>,
    /// Expires windows past their retention.
    pub(crate) expiry: Expiry,
    /// Changelog records and changes, held back until the next flush.
    pub(crate) out: RecordCache<Windowed<K>, A>,
}

impl<K: Data, V: Data, A: Data> WindowAggregate<(), K, V, A> {
    /// The aggregation over `windows`.
    fn boxed<W: Send + 'static>(self, windows: W) -> Box<dyn Processor<K, V>>
    where
        WindowAggregate<W, K, V, A>: Processor<K, V>,
    {
        Box::new(WindowAggregate {
            store: self.store,
            store_name: self.store_name,
            windows,
            key_serde: self.key_serde,
            value_serde: self.value_serde,
            fold: self.fold,
            expiry: self.expiry,
            out: self.out,
        })
    }
}

impl<K: Data, V: Data, A: Data> Processor<K, V> for WindowAggregate<TimeWindows, K, V, A> {
    fn process(&mut self, ctx: &mut TaskContext, r: Record<K, V>) -> Result<(), StreamsError> {
        let Some(key) = store_key(ctx, &self.key_serde, &r.key, &self.store_name)? else {
            return Ok(());
        };
        self.expiry.index_restored(&self.store, window_start)?;
        let close_time = ctx.stream_time - self.windows.grace;
        for window in self.windows.windows_for(r.timestamp) {
            if window.end <= close_time {
                tracing::debug!(store = %self.store_name, timestamp = r.timestamp, window_end = window.end, "dropping a late record");
                ctx.dropped_late_records += 1;
                continue;
            }
            let store_key = window_key(&key, window.start);
            let mut store = lock(&self.store);
            let old = stored_value(&store, &store_key, &self.value_serde, &self.store_name)?;
            let Some(new) = (self.fold)(ctx, &r.key, r.value.clone(), old.clone(), &(r.timestamp, &r.headers))? else {
                continue;
            };
            if old.is_none() {
                self.expiry.track(window.start, store_key.clone());
            }
            let bytes = to_store_bytes(&self.value_serde, &new, &self.store_name)?;
            store.set(store_key.clone(), bytes);
            drop(store);
            self.out.update(
                ctx,
                store_key,
                r.with(
                    Windowed {
                        key: r.key.clone(),
                        window,
                    },
                    Change { new: Some(new), old },
                ),
            )?;
        }
        // Windows that closed can go.
        let retention = self.windows.size + self.windows.grace;
        self.expiry.expire_before(&self.store, ctx.stream_time - retention + 1);
        Ok(())
    }
}

/// When a suppressed table emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    name: Option<String>,
}

impl Suppressed {
    /// Emit each window's final result once, when the window closes (stream time reaches its
    /// end plus grace), instead of every update.
    pub fn until_window_closes() -> Self {
        Self { name: None }
    }

    /// Names the suppression: its store is `<name>-store` (changelog
    /// `<application.id>-<name>-store-changelog`) rather than a generated name that moves when
    /// operators are added before it.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

impl<K: Data, V: Data> KTable<Windowed<K>, V> {
    /// Holds back updates of each window until it closes, then emits its last value once.
    ///
    /// The held updates are kept in a store logged to
    /// `<application.id>-KTABLE-SUPPRESS-STATE-STORE-<n>-changelog`, so that a task that moves
    /// to another instance still emits what it held back.
    pub fn suppress(&self, suppressed: Suppressed) -> KTable<Windowed<K>, V> {
        let Some(grace) = self.close_after else {
            self.stream
                .error("suppress(until_window_closes) needs a table of a windowed aggregation".to_owned());
            return KTable::detached(&self.stream.builder);
        };
        let (Some(key_serde), Some(value_serde)) = (self.stream.key_serde.clone(), self.value_serde.clone()) else {
            self.stream
                .error("suppress needs the windowed key serde and the value serde".to_owned());
            return KTable::detached(&self.stream.builder);
        };
        let store: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let store_name = Arc::clone(&store);
        let (node, id) =
            self.stream
                .add_child_with("KTABLE-SUPPRESS", move |inst, next: Fanout<Windowed<K>, Change<V>>| {
                    let name = lock(&store_name).clone().unwrap_or_default();
                    Ok(Box::new(Suppress {
                        store: inst.kv_store(&name)?,
                        name,
                        grace,
                        key_serde: Arc::clone(&key_serde),
                        value_serde: Arc::clone(&value_serde),
                        buffer: BTreeMap::new(),
                        loaded: false,
                        next,
                    }) as Box<dyn Processor<Windowed<K>, Change<V>>>)
                });
        {
            let mut graph = lock(&self.stream.builder.graph);
            let name = match &suppressed.name {
                Some(name) => format!("{name}-store"),
                None => graph.next_name("KTABLE-SUPPRESS-STATE-STORE"),
            };
            *lock(&store) = Some(name.clone());
            graph.add_store(
                id,
                StoreSpec {
                    name,
                    logged: true,
                    retention_ms: None,
                },
            );
        }
        let mut table = KTable::new(
            self.stream.builder.clone(),
            node,
            self.stream.key_serde.clone(),
            self.value_serde.clone(),
            None,
        );
        table.close_after = self.close_after;
        table
    }
}

/// An update held back by a suppression.
type Held<K, V> = Record<Windowed<K>, Change<V>>;

/// The suppression buffer: the latest update per window and key, by close time, also in a
/// logged store (so that it survives the task moving).
struct Suppress<K, V> {
    store: Arc<Mutex<KvStore>>,
    name: String,
    grace: i64,
    key_serde: SharedSerde<Windowed<K>>,
    value_serde: SharedSerde<V>,
    /// Held updates by (close time, windowed key bytes). The first `old` is kept, so that the
    /// emitted change spans everything held back.
    buffer: BTreeMap<(i64, Bytes), Held<K, V>>,
    /// Whether `buffer` holds what the store held before the first record (restored).
    loaded: bool,
    next: Fanout<Windowed<K>, Change<V>>,
}

impl<K: Data, V: Data> Suppress<K, V> {
    fn failed(&self, reason: String) -> StreamsError {
        StreamsError::Store {
            store: self.name.clone(),
            reason,
        }
    }

    /// A held update as stored: close time, timestamp, then the new and old values, each as a
    /// 4-byte length (-1: none) and its bytes.
    fn encode(&self, close: i64, r: &Held<K, V>) -> Result<Bytes, StreamsError> {
        let mut out = BytesMut::new();
        out.put_i64(close);
        out.put_i64(r.timestamp);
        for value in [&r.value.new, &r.value.old] {
            let bytes = match value {
                Some(v) => self.value_serde.serialize(v).map_err(|e| self.failed(e.to_string()))?,
                None => None,
            };
            match bytes {
                Some(b) => {
                    out.put_i32(i32::try_from(b.len()).map_err(|e| self.failed(e.to_string()))?);
                    out.put_slice(&b);
                }
                None => out.put_i32(-1),
            }
        }
        Ok(out.freeze())
    }

    fn decode(&self, key: &[u8], mut value: &[u8]) -> Result<(i64, Held<K, V>), StreamsError> {
        use bytes::Buf;
        let short = || self.failed("a truncated suppression buffer entry".to_owned());
        if value.len() < 16 {
            return Err(short());
        }
        let (close, timestamp) = (value.get_i64(), value.get_i64());
        let mut values = [None, None];
        for slot in &mut values {
            if value.len() < 4 {
                return Err(short());
            }
            let len = value.get_i32();
            if len >= 0 {
                let len = len as usize;
                if value.len() < len {
                    return Err(short());
                }
                let v = self
                    .value_serde
                    .deserialize(Some(&value[..len]))
                    .map_err(|e| self.failed(e.to_string()))?;
                *slot = Some(v);
                value.advance(len);
            }
        }
        let [new, old] = values;
        let key = self
            .key_serde
            .deserialize(Some(key))
            .map_err(|e| self.failed(e.to_string()))?;
        Ok((close, Record::new(key, Change { new, old }, timestamp)))
    }
}

impl<K: Data, V: Data> Processor<Windowed<K>, Change<V>> for Suppress<K, V> {
    fn process(&mut self, ctx: &mut TaskContext, r: Record<Windowed<K>, Change<V>>) -> Result<(), StreamsError> {
        if !std::mem::replace(&mut self.loaded, true) {
            // Updates held back before the task moved here (restored from the changelog).
            let entries = lock(&self.store).entries()?;
            for (key, value) in entries {
                let (close, record) = self.decode(&key, &value)?;
                self.buffer.insert((close, key), record);
            }
        }
        let key = self
            .key_serde
            .serialize(&r.key)
            .map_err(|source| StreamsError::Serialize {
                target: "suppression buffer".to_owned(),
                node: "KTABLE-SUPPRESS".to_owned(),
                source,
            })?
            .unwrap_or_default();
        let close = r.key.window.end + self.grace;
        let held = match self.buffer.remove(&(close, key.clone())) {
            Some(mut held) => {
                let first_old = held.value.old.take();
                held = r;
                held.value.old = first_old;
                held
            }
            None => r,
        };
        let stored = self.encode(close, &held)?;
        lock(&self.store).put(ctx, key.clone(), Some(stored), held.timestamp);
        self.buffer.insert((close, key), held);
        let open = self.buffer.split_off(&(ctx.stream_time + 1, Bytes::new()));
        for ((_, key), record) in std::mem::replace(&mut self.buffer, open) {
            lock(&self.store).put(ctx, key, None, record.timestamp);
            self.next.forward(ctx, record)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::dsl::{Consumed, Grouped, StreamsBuilder};
    use crate::processor::RawRecord;
    use crate::serde::StringSerde;

    /// A window restored from the changelog (not seen by this task's processor) leaves the store
    /// once stream time passes its retention, like the windows the task made itself.
    #[test]
    fn restored_windows_expire() -> Result<(), StreamsError> {
        let builder = StreamsBuilder::new();
        builder
            .stream("clicks", Consumed::<String, String>::with(StringSerde, StringSerde))
            .group_by_key(Grouped::default())
            .windowed_by(TimeWindows::of_size_and_grace(1_000, 500))
            .count(Materialized::as_("counts"));
        let mut task = builder.build()?.task("app", 0, &BTreeMap::new())?;
        let store = Arc::clone(&task.stores["counts"]);
        let count = |n: i64| Some(Bytes::copy_from_slice(&n.to_be_bytes()));
        // As a restore would leave it: windows [0, 1000) and [5000, 6000) of key "a".
        lock(&store).restore(window_key(b"a", 0), count(7));
        lock(&store).restore(window_key(b"a", 5_000), count(2));
        let mut click = |timestamp: i64| task.process(RawRecord::test("clicks", b"b", timestamp));
        // Retention is size + grace: [0, 1000) goes once stream time reaches 1500.
        click(1_499)?;
        assert!(
            lock(&store).get(&window_key(b"a", 0))?.is_some(),
            "still within retention"
        );
        click(1_500)?;
        assert!(lock(&store).get(&window_key(b"a", 0))?.is_none(), "expired");
        assert!(lock(&store).get(&window_key(b"a", 5_000))?.is_some());
        click(6_500)?;
        assert!(lock(&store).get(&window_key(b"a", 5_000))?.is_none());
        Ok(())
    }

    /// What a suppression holds back is logged: a task restored elsewhere from the changelogs
    /// emits the window's final count when it closes there.
    #[test]
    fn a_suppression_buffer_survives_a_move() -> Result<(), StreamsError> {
        let builder = StreamsBuilder::new();
        builder
            .stream("clicks", Consumed::<String, String>::with(StringSerde, StringSerde))
            .group_by_key(Grouped::default())
            .windowed_by(TimeWindows::of_size_with_no_grace(1_000))
            .count(Materialized::as_("counts"))
            .suppress(Suppressed::until_window_closes())
            .to_stream()
            .to(
                "final",
                crate::dsl::Produced::with(
                    WindowedSerde::new(StringSerde, 1_000),
                    crate::serde::Nullable(crate::serde::IntSerde),
                ),
            );
        let topology = builder.build()?;
        let mut first = topology.task("app", 0, &BTreeMap::new())?;
        first.process(RawRecord::test("clicks", b"a", 100))?;
        first.process(RawRecord::test("clicks", b"a", 200))?;
        let logged = std::mem::take(&mut first.ctx.output);
        assert!(
            logged.iter().all(|o| o.topic.ends_with("-changelog")),
            "nothing final yet: {logged:?}"
        );
        // The task moves: a new instance restores its stores from the changelogs.
        let mut second = topology.task("app", 0, &BTreeMap::new())?;
        for out in logged {
            let store = second
                .stores
                .iter()
                .find(|(name, _)| *out.topic == *format!("app-{name}-changelog"))
                .map(|(_, store)| Arc::clone(store))
                .expect("a changelog of the task's stores");
            if let Some(key) = out.key {
                lock(&store).restore(key, out.value);
            }
        }
        second.process(RawRecord::test("clicks", b"b", 1_500))?;
        let finals: Vec<_> = second.ctx.output.iter().filter(|o| &*o.topic == "final").collect();
        assert_eq!(finals.len(), 1, "{:?}", second.ctx.output);
        assert_eq!(finals[0].key.as_deref(), Some(&window_key(b"a", 0)[..]));
        assert_eq!(finals[0].value.as_deref(), Some(&2i64.to_be_bytes()[..]));
        let tombstone = second
            .ctx
            .output
            .iter()
            .any(|o| o.topic.contains("KTABLE-SUPPRESS-STATE-STORE") && o.value.is_none());
        assert!(tombstone, "an emitted window leaves the buffer's changelog");
        Ok(())
    }
}

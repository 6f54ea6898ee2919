//! Session windows: per key, records closer together than an inactivity gap form one session
//! `[first, last]` (both inclusive); a record that bridges two sessions merges them.
//!
//! Each update emits a deletion for every session the record merged away, then the new session's
//! aggregate, as Kafka Streams does. A record whose session would end before stream time minus
//! grace is late and dropped.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use super::grouped::{
    Fold, KGroupedStream, RecordMeta, count_fold, counting, reduce_fold, store_key, stored_value, to_store_bytes,
};
use super::sliding::Expiry;
use super::table::{Change, KTable};
use super::window::{Window, Windowed};
use super::{Data, Materialized, SharedSerde};
use crate::error::StreamsError;
use crate::processor::{Fanout, Processor, Record, TaskContext};
use crate::serde::{Serde, SerdeError};
use crate::state::KvStore;
use crate::topology::{StoreSpec, lock};

/// Session windows: an inactivity gap, and a grace period for late records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    gap: i64,
    grace: i64,
}

impl SessionWindows {
    /// Sessions that close after `gap_ms` without a record; late records are dropped.
    pub fn of_inactivity_gap_with_no_grace(gap_ms: i64) -> Self {
        Self::of_inactivity_gap_and_grace(gap_ms, 0)
    }

    /// Sessions that close after `gap_ms` without a record, accepting records until stream time
    /// passes their session's end by `grace_ms`.
    pub fn of_inactivity_gap_and_grace(gap_ms: i64, grace_ms: i64) -> Self {
        Self {
            gap: gap_ms,
            grace: grace_ms,
        }
    }
}

/// Session-windowed keys as Kafka's `SessionWindowedSerde` writes them: the key's bytes, then
/// the session's end and start, 8 big-endian bytes each.
pub struct SessionWindowedSerde<K> {
    inner: SharedSerde<K>,
}

impl<K> SessionWindowedSerde<K> {
    /// Session-windowed keys of `inner` keys.
    pub fn new(inner: impl Serde<K>) -> Self {
        Self { inner: Arc::new(inner) }
    }
}

impl<K> fmt::Debug for SessionWindowedSerde<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionWindowedSerde")
    }
}

impl<K: 'static> Serde<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize(&self, value: &Windowed<K>) -> Result<Option<Bytes>, SerdeError> {
        let key = self.inner.serialize(&value.key)?.unwrap_or_default();
        let mut out = BytesMut::with_capacity(key.len() + 16);
        out.put_slice(&key);
        out.put_i64(value.window.end);
        out.put_i64(value.window.start);
        Ok(Some(out.freeze()))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let bytes = bytes.ok_or_else(|| SerdeError::new("session-windowed", "null key"))?;
        let split = bytes
            .len()
            .checked_sub(16)
            .ok_or_else(|| SerdeError::new("session-windowed", format!("{} bytes, need at least 16", bytes.len())))?;
        let time = |at: usize| {
            bytes[at..at + 8]
                .try_into()
                .map(i64::from_be_bytes)
                .map_err(|e| SerdeError::new("session-windowed", e))
        };
        Ok(Windowed {
            key: self.inner.deserialize(Some(&bytes[..split]))?,
            window: Window {
                start: time(split + 8)?,
                end: time(split)?,
            },
        })
    }
}

/// A grouped stream cut into sessions ([`KGroupedStream::windowed_by_session`]).
pub struct SessionWindowedKStream<K, V> {
    pub(crate) grouped: KGroupedStream<K, V>,
    pub(crate) windows: SessionWindows,
}

impl<K, V> fmt::Debug for SessionWindowedKStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionWindowedKStream")
            .field("windows", &self.windows)
            .finish_non_exhaustive()
    }
}

/// Combines the aggregates of two sessions that a record bridges; `Ok(None)` leaves the record
/// out (as [`Fold`] does).
pub(crate) type Merger<K, A> =
    Arc<dyn Fn(&mut TaskContext, &K, A, A, &RecordMeta<'_>) -> Result<Option<A>, StreamsError> + Send + Sync>;

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    /// Records per key and session.
    pub fn count(self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        self.fold(
            counting(materialized),
            count_fold(),
            Arc::new(|_, _, a, b, _| Ok(Some(a + b))),
        )
    }

    /// Values per key and session combined with `reducer(aggregate, value)` (also to merge
    /// sessions).
    pub fn reduce(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let reducer = Arc::new(reducer);
        let merge = Arc::clone(&reducer);
        let materialized = self.grouped.reducing(materialized);
        self.fold(
            materialized,
            reduce_fold(move |a, b| reducer(a, b)),
            Arc::new(move |_, _, a, b, _| Ok(Some(merge(a, b)))),
        )
    }

    /// Values per key and session folded into an aggregate that starts as `initializer()`;
    /// `merger` combines two sessions' aggregates when a record bridges them.
    pub fn aggregate<A: Data>(
        self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        merger: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A> {
        self.fold(
            materialized,
            super::grouped::aggregate_fold(initializer, aggregator),
            Arc::new(move |_, key, a, b, _| Ok(Some(merger(key, a, b)))),
        )
    }

    pub(crate) fn fold<A: Data>(
        self,
        materialized: Materialized<K, A>,
        fold: Fold<K, V, A>,
        merger: Merger<K, A>,
    ) -> KTable<Windowed<K>, A> {
        let windows = self.windows;
        let builder = self.grouped.stream.builder.clone();
        let (store, input, serdes) =
            self.grouped
                .aggregation("KSTREAM-AGGREGATE", "session aggregation", &materialized);
        if windows.gap <= 0 || windows.grace < 0 {
            input.error(format!(
                "session windows of store {store} need a positive gap: {windows:?}"
            ));
        }
        let Some((ks, vs)) = serdes else {
            return KTable::detached(&input.builder);
        };
        let store_name = store.clone();
        let key_serde = Arc::clone(&ks);
        let (node, id) = input.add_child_with("KSTREAM-SESSION-AGGREGATE", move |inst, next| {
            Ok(Box::new(SessionAggregate {
                store: inst.kv_store(&store_name)?,
                store_name: store_name.clone(),
                windows,
                key_serde: Arc::clone(&key_serde),
                value_serde: Arc::clone(&vs),
                fold: Arc::clone(&fold),
                merger: Arc::clone(&merger),
                expiry: Expiry::default(),
                next,
            }) as Box<dyn Processor<K, V>>)
        });
        lock(&builder.graph).add_store(
            id,
            StoreSpec {
                name: store.clone(),
                logged: materialized.logging,
                retention_ms: Some(windows.gap + windows.grace),
            },
        );
        let serde: SharedSerde<Windowed<K>> = Arc::new(SessionWindowedSerde { inner: ks });
        let mut table = KTable::new(builder, node, Some(serde), materialized.value_serde, Some(store));
        table.close_after = Some(windows.grace);
        table
    }
}

/// Merges each record into its key's sessions.
struct SessionAggregate<K, V, A> {
    store: Arc<Mutex<KvStore>>,
    store_name: String,
    windows: SessionWindows,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<A>,
    fold: Fold<K, V, A>,
    merger: Merger<K, A>,
    /// Expires sessions that ended more than gap + grace before stream time.
    expiry: Expiry,
    next: Fanout<Windowed<K>, Change<A>>,
}

/// A session store's key: the record key's bytes, then end and start (sign bit flipped, so that
/// they sort as numbers).
fn session_key(key: &[u8], start: i64, end: i64) -> Bytes {
    let mut out = BytesMut::with_capacity(key.len() + 16);
    out.put_slice(key);
    out.put_u64((end as u64) ^ (1 << 63));
    out.put_u64((start as u64) ^ (1 << 63));
    out.freeze()
}

/// A session store key's (start, end); (0, 0) for a key too short to hold them.
fn session_times(entry: &[u8]) -> (i64, i64) {
    let Some(at) = entry.len().checked_sub(16) else {
        return (0, 0);
    };
    let time = |i: usize| (u64::from_be_bytes(entry[i..i + 8].try_into().unwrap_or_default()) ^ (1 << 63)) as i64;
    (time(at + 8), time(at))
}

/// A session store key's end, the time it expires by.
fn session_end(entry: &[u8]) -> Option<i64> {
    (entry.len() >= 16).then(|| session_times(entry).1)
}

impl<K: Data, V: Data, A: Data> Processor<K, V> for SessionAggregate<K, V, A> {
    fn process(&mut self, ctx: &mut TaskContext, r: Record<K, V>) -> Result<(), StreamsError> {
        let Some(key) = store_key(ctx, &self.key_serde, &r.key, &self.store_name)? else {
            return Ok(());
        };
        self.expiry.index_restored(&self.store, session_end)?;
        let (gap, ts) = (self.windows.gap, r.timestamp);
        let mut store = lock(&self.store);
        // This key's sessions that end at or after ts - gap and start at or before ts + gap.
        let overlapping: Vec<(Bytes, i64, i64)> = store
            .range(
                &session_key(&key, i64::MIN, ts - gap),
                &session_key(&key, i64::MAX, i64::MAX),
            )?
            .into_iter()
            .filter(|(k, _)| k.len() == key.len() + 16 && k.starts_with(&key))
            .map(|(k, _)| {
                let (start, end) = session_times(&k);
                (k, start, end)
            })
            .filter(|(_, start, _)| *start <= ts + gap)
            .collect();
        let start = overlapping.iter().map(|(_, s, _)| *s).min().unwrap_or(ts).min(ts);
        let end = overlapping.iter().map(|(_, _, e)| *e).max().unwrap_or(ts).max(ts);
        if end < ctx.stream_time - self.windows.grace {
            ctx.dropped_late_records += 1;
            return Ok(());
        }
        let mut merged: Option<A> = None;
        let mut removed = Vec::with_capacity(overlapping.len());
        for (session, s, e) in &overlapping {
            if let Some(aggregate) = stored_value(&store, session, &self.value_serde, &self.store_name)? {
                removed.push((Window { start: *s, end: *e }, aggregate.clone()));
                merged = match merged {
                    Some(m) => match (self.merger)(ctx, &r.key, m, aggregate, &(r.timestamp, &r.headers))? {
                        Some(m) => Some(m),
                        None => return Ok(()),
                    },
                    None => Some(aggregate),
                };
            }
        }
        // Nothing changes until the record is folded in (a script's aggregator may leave it out).
        let Some(new) = (self.fold)(ctx, &r.key, r.value.clone(), merged, &(r.timestamp, &r.headers))? else {
            return Ok(());
        };
        for (session, _, _) in overlapping {
            store.put(ctx, session, None, ts);
        }
        let bytes = to_store_bytes(&self.value_serde, &new, &self.store_name)?;
        let stored = session_key(&key, start, end);
        store.put(ctx, stored.clone(), bytes, ts);
        drop(store);
        self.expiry.track(end, stored);
        let retention = self.windows.gap + self.windows.grace;
        self.expiry.expire_before(&self.store, ctx.stream_time - retention);
        for (window, old) in removed {
            let gone = Windowed {
                key: r.key.clone(),
                window,
            };
            self.next.forward(
                ctx,
                r.with(
                    gone,
                    Change {
                        new: None,
                        old: Some(old),
                    },
                ),
            )?;
        }
        let session = Windowed {
            key: r.key.clone(),
            window: Window { start, end },
        };
        self.next.forward(
            ctx,
            r.with(
                session,
                Change {
                    new: Some(new),
                    old: None,
                },
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::dsl::{Consumed, Grouped, StreamsBuilder};
    use crate::processor::RawRecord;
    use crate::serde::StringSerde;

    /// Sessions that ended more than gap + grace before stream time leave the store, restored
    /// ones included.
    #[test]
    fn ended_sessions_expire() -> Result<(), StreamsError> {
        let builder = StreamsBuilder::new();
        builder
            .stream("clicks", Consumed::<String, String>::with(StringSerde, StringSerde))
            .group_by_key(Grouped::default())
            .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(10, 5))
            .count(Materialized::as_("sessions"));
        let mut task = builder.build()?.task("app", 0, &BTreeMap::new())?;
        let store = Arc::clone(&task.stores["sessions"]);
        let one = Some(Bytes::copy_from_slice(&1i64.to_be_bytes()));
        lock(&store).restore(session_key(b"r", 3, 4), one);
        let mut click = |key: &'static [u8], timestamp: i64| task.process(RawRecord::test("clicks", key, timestamp));
        click(b"a", 0)?;
        click(b"a", 5)?; // session a [0, 5]
        click(b"b", 20)?; // r [3, 4] ended before 20 - 15
        let keys = |store: &Arc<Mutex<KvStore>>| -> Result<Vec<(Vec<u8>, i64, i64)>, StreamsError> {
            Ok(lock(store)
                .entries()?
                .into_iter()
                .map(|(k, _)| {
                    let (start, end) = session_times(&k);
                    (k[..k.len() - 16].to_vec(), start, end)
                })
                .collect())
        };
        assert_eq!(keys(&store)?, vec![(b"a".to_vec(), 0, 5), (b"b".to_vec(), 20, 20)]);
        click(b"b", 21)?; // a [0, 5]: 5 < 21 - 15
        assert_eq!(keys(&store)?, vec![(b"b".to_vec(), 20, 21)]);
        Ok(())
    }
}

//! Sliding windows, as Kafka Streams' `SlidingWindows` define them: windows of a fixed time
//! difference `d`, both ends inclusive, that exist where records are: each record at `t` has a
//! *left* window `[t - d, t]` and, when a later record falls within `d` of it, a *right* window
//! `[t + 1, t + 1 + d]`. Every distinct set of records within `d` of each other thus has exactly
//! one window, which `aggregate` keeps current as records arrive, in or out of order.
//!
//! Windows are built from their neighbours rather than from the raw records, so the store holds
//! aggregates only: each stored value is the window's latest record timestamp (8 big-endian
//! bytes), then the aggregate. Records earlier than `d` after the epoch share the window
//! `[0, d]`, as in Kafka, since windows never start before 0.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};

use super::grouped::{store_key, to_store_bytes};
use super::table::Change;
use super::window::{Window, WindowAggregate, Windowed, window_key};
use crate::dsl::Data;
use crate::error::StreamsError;
use crate::processor::{Processor, Record, TaskContext};
use crate::state::KvStore;
use crate::topology::lock;

/// Sliding windows of a time difference, with a grace period for out-of-order records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) difference: i64,
    pub(crate) grace: i64,
}

impl SlidingWindows {
    /// Windows spanning `difference_ms`; records later than their windows' ends are dropped.
    pub fn of_time_difference_with_no_grace(difference_ms: i64) -> Self {
        Self::of_time_difference_and_grace(difference_ms, 0)
    }

    /// Windows spanning `difference_ms` that accept records until stream time passes their end
    /// by more than `grace_ms`.
    pub fn of_time_difference_and_grace(difference_ms: i64, grace_ms: i64) -> Self {
        Self {
            difference: difference_ms,
            grace: grace_ms,
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.difference <= 0 {
            return Err(format!("the time difference must be positive, not {}", self.difference));
        }
        if self.grace < 0 {
            return Err(format!("grace must not be negative, not {}", self.grace));
        }
        Ok(())
    }

    /// How long a window is kept after its start: a record may still need the windows up to
    /// `2 d` before it to build its own.
    pub(crate) fn retention(&self) -> i64 {
        2 * self.difference + self.grace
    }
}

/// Window (or session) keys by time (a window's start, a session's end), so that windows past
/// their retention leave the store. The store itself is not logged for this: the changelog
/// topic's own retention removes them.
#[derive(Debug, Default)]
pub(crate) struct Expiry {
    starts: BTreeMap<i64, Vec<Bytes>>,
    /// Whether `starts` covers what the store held before the first record (restored windows).
    indexed: bool,
}

impl Expiry {
    /// Indexes, once, the windows the store held before the first record: those restored from
    /// the changelog or from disk expire like the others.
    pub(crate) fn index_restored(
        &mut self,
        store: &Mutex<KvStore>,
        time_of: impl Fn(&[u8]) -> Option<i64>,
    ) -> Result<(), StreamsError> {
        if std::mem::replace(&mut self.indexed, true) {
            return Ok(());
        }
        for (k, _) in lock(store).entries()? {
            if let Some(time) = time_of(&k) {
                self.track(time, k);
            }
        }
        Ok(())
    }

    /// Tracks a new window (or session).
    pub(crate) fn track(&mut self, start: i64, key: Bytes) {
        self.starts.entry(start).or_default().push(key);
    }

    /// Evicts the windows (or sessions) whose time is before `time`.
    pub(crate) fn expire_before(&mut self, store: &Mutex<KvStore>, time: i64) {
        let keep = self.starts.split_off(&time);
        let expired = std::mem::replace(&mut self.starts, keep);
        if !expired.is_empty() {
            let mut store = lock(store);
            for key in expired.into_values().flatten() {
                store.evict(&key);
            }
        }
    }
}

/// The start of the window a window store's key names: its last 8 bytes.
pub(crate) fn window_start(key: &[u8]) -> Option<i64> {
    let at = key.len().checked_sub(8)?;
    key[at..].try_into().ok().map(i64::from_be_bytes)
}

/// A stored sliding window: its start, latest record timestamp and aggregate.
struct Slot<A> {
    start: i64,
    max_ts: i64,
    aggregate: A,
}

/// The contents a window is created with: none (the record alone), or a neighbour's aggregate.
type Seed<A> = Option<(i64, A)>;

/// What one record does to the windows around it.
struct Plan<A> {
    /// Existing windows the record falls in, with their contents.
    update: Vec<Slot<A>>,
    /// The latest window that ends before the record (the left window's content, if the
    /// previous record is within `d`).
    before: Option<Slot<A>>,
    /// The latest window that holds the record's time and ends after it: its content is what
    /// follows the record, the record's right window.
    after: Option<(i64, A)>,
    left_exists: bool,
    right_exists: bool,
    /// The latest record before this one, if known.
    previous: Option<i64>,
    /// For records within `d` of the epoch: the window `[0, d]` they share.
    combined: Option<Slot<A>>,
    /// The starts of every window read (all that could matter to this record).
    starts: Vec<i64>,
}

impl<K: Data, V: Data, A: Data> WindowAggregate<SlidingWindows, K, V, A> {
    fn decode(&self, key_len: usize, k: &[u8], v: &[u8]) -> Result<Slot<A>, StreamsError> {
        let bad = |reason: String| StreamsError::Store {
            store: self.store_name.clone(),
            reason,
        };
        let start = k[key_len..]
            .try_into()
            .map(i64::from_be_bytes)
            .map_err(|_| bad("a window key without its start".to_owned()))?;
        let (ts, aggregate) = v.split_first_chunk::<8>().ok_or_else(|| {
            bad(format!(
                "a window value of {} bytes, under its 8-byte timestamp",
                v.len()
            ))
        })?;
        let aggregate = self
            .value_serde
            .deserialize(Some(aggregate))
            .map_err(|e| bad(e.to_string()))?;
        Ok(Slot {
            start,
            max_ts: i64::from_be_bytes(*ts),
            aggregate,
        })
    }

    /// Reads the key's windows that start in `[from, to]` and sorts them into a plan.
    fn plan(&self, key: &[u8], t: i64, from: i64) -> Result<Plan<A>, StreamsError> {
        let d = self.windows.difference;
        let store = lock(&self.store);
        let mut plan = Plan {
            update: Vec::new(),
            before: None,
            after: None,
            left_exists: false,
            right_exists: false,
            previous: None,
            combined: None,
            starts: Vec::new(),
        };
        let (lo, hi) = (window_key(key, from), window_key(key, t + 1));
        for (k, v) in store.range(&lo, &hi)? {
            if k.len() != key.len() + 8 || !k.starts_with(key) {
                continue; // another key whose bytes extend this one's
            }
            let slot = self.decode(key.len(), &k, &v)?;
            plan.starts.push(slot.start);
            let end = slot.start + d;
            if t < d && slot.start == 0 {
                if slot.max_ts < t {
                    plan.previous = Some(slot.max_ts);
                }
                plan.combined = Some(slot);
            } else if slot.start == t + 1 {
                plan.right_exists = true;
            } else if end < t {
                plan.previous = Some(slot.max_ts);
                plan.before = Some(slot);
            } else if end == t {
                plan.left_exists = true;
                if slot.max_ts < t {
                    plan.previous = Some(slot.max_ts);
                }
                plan.update.push(slot);
            } else {
                // start <= t < end: holds the record; the latest such holds what follows it
                plan.after = Some((slot.max_ts, slot.aggregate.clone()));
                plan.update.push(slot);
            }
        }
        Ok(plan)
    }

    /// Folds the record into window `start` (existing with `content`, or new with `seed`) if it
    /// is still open, stores it and forwards the change.
    fn put(
        &mut self,
        ctx: &mut TaskContext,
        r: &Record<K, V>,
        key: &[u8],
        start: i64,
        old: Option<(i64, A)>,
        existed: bool,
    ) -> Result<(), StreamsError> {
        let end = start + self.windows.difference;
        if end < ctx.stream_time - self.windows.grace {
            tracing::debug!(store = %self.store_name, timestamp = r.timestamp, window_end = end, "skipping a closed window");
            ctx.dropped_late_records += 1;
            return Ok(());
        }
        let (max_ts, content) = match old {
            Some((ts, content)) => (ts.max(r.timestamp), Some(content)),
            None => (r.timestamp, None),
        };
        let Some(new) = (self.fold)(
            ctx,
            &r.key,
            r.value.clone(),
            content.clone(),
            &(r.timestamp, &r.headers),
        )?
        else {
            return Ok(());
        };
        let old = if existed { content } else { None };
        self.store_window(ctx, r, key, start, max_ts, new, old, existed)
    }

    #[allow(clippy::too_many_arguments)]
    fn store_window(
        &mut self,
        ctx: &mut TaskContext,
        r: &Record<K, V>,
        key: &[u8],
        start: i64,
        max_ts: i64,
        new: A,
        old: Option<A>,
        existed: bool,
    ) -> Result<(), StreamsError> {
        let aggregate = to_store_bytes(&self.value_serde, &new, &self.store_name)?.unwrap_or_default();
        let mut value = BytesMut::with_capacity(8 + aggregate.len());
        value.put_i64(max_ts);
        value.put_slice(&aggregate);
        let store_key = window_key(key, start);
        if !existed {
            self.expiry.track(start, store_key.clone());
        }
        lock(&self.store).set(store_key.clone(), Some(value.freeze()));
        let window = Window {
            start,
            end: start + self.windows.difference,
        };
        let mut out = r.with(
            Windowed {
                key: r.key.clone(),
                window,
            },
            Change { new: Some(new), old },
        );
        out.timestamp = max_ts;
        self.out.update(ctx, store_key, out)
    }
}

/// Folds records into sliding windows.
impl<K: Data, V: Data, A: Data> Processor<K, V> for WindowAggregate<SlidingWindows, K, V, A> {
    fn process(&mut self, ctx: &mut TaskContext, r: Record<K, V>) -> Result<(), StreamsError> {
        let Some(key) = store_key(ctx, &self.key_serde, &r.key, &self.store_name)? else {
            return Ok(());
        };
        self.expiry.index_restored(&self.store, window_start)?;
        let (t, d) = (r.timestamp, self.windows.difference);
        if t + 1 + d <= ctx.stream_time - self.windows.grace {
            tracing::debug!(store = %self.store_name, timestamp = t, "dropping a late record");
            ctx.dropped_late_records += 1;
            return Ok(());
        }
        let early = t < d;
        let mut plan = self.plan(&key, t, (t - 2 * d).max(0))?;
        for slot in std::mem::take(&mut plan.update) {
            self.put(ctx, &r, &key, slot.start, Some((slot.max_ts, slot.aggregate)), true)?;
        }
        if early && plan.after.is_none() {
            // Early records share [0, d]: if that window holds records after this one, and no
            // window starting after 0 does, those records are all that follows this one.
            plan.after = plan
                .combined
                .as_ref()
                .filter(|c| c.max_ts > t)
                .map(|c| (c.max_ts, c.aggregate.clone()));
        }
        // The record's right window: what follows it within d, if anything does (made first
        // for early records, last for the others, in the order Kafka Streams emits them).
        let mut right = plan
            .after
            .take()
            .filter(|(max_ts, _)| !plan.right_exists && *max_ts > t);
        if early && let Some((max_ts, content)) = right.take() {
            self.store_window(ctx, &r, &key, t + 1, max_ts, content, None, false)?;
        }
        // The previous record's right window, if it is missing and this record falls in it.
        let mut created = None;
        if let Some(previous) = plan.previous {
            let start = previous + 1;
            // (It would start in [t - d, t]: among the windows the plan read.)
            if start + d >= t && !plan.starts.contains(&start) {
                self.put(ctx, &r, &key, start, None, false)?;
                created = Some(start);
            }
        }
        if early {
            // Early records share [0, d] instead of having left windows.
            match plan.combined.take() {
                Some(c) => self.put(ctx, &r, &key, 0, Some((c.max_ts, c.aggregate)), true)?,
                None => self.put(ctx, &r, &key, 0, None, false)?,
            }
        } else if !plan.left_exists && created != Some(t - d) {
            // The left window holds what the latest window before it holds, if the previous
            // record is within d; the record alone otherwise.
            let seed: Seed<A> = match (plan.before.take(), plan.previous) {
                (Some(before), Some(previous)) if previous >= t - d => Some((t, before.aggregate)),
                _ => None,
            };
            self.put(ctx, &r, &key, t - d, seed, false)?;
        }
        if let Some((max_ts, content)) = right {
            self.store_window(ctx, &r, &key, t + 1, max_ts, content, None, false)?;
        }
        self.expiry
            .expire_before(&self.store, ctx.stream_time - self.windows.retention());
        Ok(())
    }
}

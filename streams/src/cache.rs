//! The record cache of an aggregation, Kafka Streams' `statestore.cache.max.bytes`: updates of a
//! key between two commits collapse into one, so that a key updated a thousand times in a commit
//! interval writes one changelog record and forwards one change (from its value at the last
//! flush to its latest) instead of a thousand.
//!
//! The store itself is updated at once (reads see every update); what waits in the cache is the
//! changelog record and the change for the processors downstream. The task flushes its caches,
//! upstream ones first, before it commits, and a cache whose content outgrows its budget flushes
//! itself. With a budget of 0 nothing waits: every update is logged and forwarded as it happens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::dsl::{Change, Data};
use crate::error::StreamsError;
use crate::processor::{Fanout, Record, TaskContext};
use crate::state::KvStore;
use crate::topology::{Instantiator, lock};

/// A cache's pending updates, and where they go.
struct Pending<K, V> {
    store: Arc<Mutex<KvStore>>,
    /// The latest update of each key (by store key), with the value the key had at the last
    /// flush as its `old`.
    updates: HashMap<Bytes, Record<K, Change<V>>>,
    /// Store keys in the order of their first update since the last flush.
    order: Vec<Bytes>,
    /// Approximate bytes held: keys and stored values.
    bytes: usize,
    next: Fanout<K, Change<V>>,
}

impl<K: Data, V: Data> Pending<K, V> {
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<(), StreamsError> {
        self.bytes = 0;
        for key in std::mem::take(&mut self.order) {
            let Some(record) = self.updates.remove(&key) else {
                continue;
            };
            lock(&self.store).log(ctx, key, record.timestamp)?;
            self.next.forward(ctx, record)?;
        }
        Ok(())
    }
}

/// The record cache of one aggregation in one task.
pub(crate) struct RecordCache<K, V> {
    pending: Arc<Mutex<Pending<K, V>>>,
}

impl<K: Data, V: Data> RecordCache<K, V> {
    /// A cache in front of `store`'s changelog and of `next`, flushed by the task (registered
    /// with `inst`).
    pub(crate) fn new(inst: &mut Instantiator<'_>, store: Arc<Mutex<KvStore>>, next: Fanout<K, Change<V>>) -> Self {
        let pending = Arc::new(Mutex::new(Pending {
            store,
            updates: HashMap::new(),
            order: Vec::new(),
            bytes: 0,
            next,
        }));
        let flushed = Arc::clone(&pending);
        inst.on_flush(Box::new(move |ctx: &mut TaskContext| lock(&flushed).flush(ctx)));
        Self { pending }
    }

    /// Records that `record` updated the store under `key` (already written to the store,
    /// unlogged): logged and forwarded at once without a cache budget, at the next flush
    /// otherwise.
    pub(crate) fn update(
        &self,
        ctx: &mut TaskContext,
        key: Bytes,
        record: Record<K, Change<V>>,
    ) -> Result<(), StreamsError> {
        let mut pending = lock(&self.pending);
        if ctx.cache_max_bytes == 0 {
            lock(&pending.store).log(ctx, key, record.timestamp)?;
            return pending.next.forward(ctx, record);
        }
        match pending.updates.get_mut(&key) {
            Some(held) => {
                let old = held.value.old.take();
                *held = record;
                held.value.old = old;
            }
            None => {
                let size = key.len() + lock(&pending.store).get(&key)?.map_or(0, |v| v.len()) + 64;
                pending.bytes += size;
                pending.order.push(key.clone());
                pending.updates.insert(key, record);
            }
        }
        if pending.bytes > ctx.cache_max_bytes {
            pending.flush(ctx)?;
        }
        Ok(())
    }
}

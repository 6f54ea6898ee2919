//! Records waiting to be sent, batched per partition (Kafka's `RecordAccumulator`).
//!
//! Each partition has at most one open batch that records are appended to, and a queue of sealed
//! batches in sequence order (new ones and retries). A batch is sealed when the next record would
//! not fit `batch.size`, when it has waited `linger.ms`, or on flush; sealing assigns the
//! idempotent sequence numbers, which a retry keeps.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::protocol::batch::Compression;
use crate::protocol::builder::{ProducerStamp, batch_buffer, seal_batch};
use bytes::Bytes;
use rustc_hash::FxHashMap;

use super::buffer::{BufferPool, Lease, Reserved};
use super::outcome::BatchOutcome;
use crate::error::ClientError;

/// Partition identity: topic and index.
pub(crate) type TopicPartition = (Arc<str>, i32);

struct OpenBatch {
    /// A [`batch_buffer`]: room for the header, then the records encoded so far.
    records: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    created: Instant,
    outcome: Arc<BatchOutcome>,
    lease: Lease,
}

/// A batch ready to send (or to send again).
#[derive(Debug)]
pub(crate) struct Sealed {
    pub(crate) tp: TopicPartition,
    pub(crate) wire: Result<Bytes, Arc<ClientError>>,
    pub(crate) base_sequence: i32,
    pub(crate) created: Instant,
    pub(crate) outcome: Arc<BatchOutcome>,
    pub(crate) attempts: u32,
    pub(crate) not_before: Instant,
    _lease: Lease,
}

struct PartitionQueue {
    tp: TopicPartition,
    open: Option<OpenBatch>,
    sealed: VecDeque<Sealed>,
    in_flight: Vec<Arc<BatchOutcome>>,
    next_sequence: i32,
}

impl PartitionQueue {
    fn new(tp: TopicPartition) -> Self {
        Self {
            tp,
            open: None,
            sealed: VecDeque::new(),
            in_flight: Vec::new(),
            next_sequence: 0,
        }
    }

    /// Moves the open batch, if any, to the end of the sealed queue, assigning its sequence
    /// numbers.
    fn seal(&mut self, stamp: Option<(i64, i16)>, codec: Compression) {
        let Some(open) = self.open.take() else { return };
        let base_sequence = if stamp.is_some() { self.next_sequence } else { -1 };
        if stamp.is_some() {
            self.next_sequence = self.next_sequence.wrapping_add(open.count) & i32::MAX;
        }
        let producer = stamp.map_or(ProducerStamp::NONE, |(producer_id, producer_epoch)| ProducerStamp {
            producer_id,
            producer_epoch,
            base_sequence,
        });
        let wire = seal_batch(
            open.records,
            open.count,
            open.base_timestamp,
            open.max_timestamp,
            producer,
            codec,
        )
        .map(Bytes::from)
        .map_err(|e| Arc::new(ClientError::Records(e.to_string())));
        self.sealed.push_back(Sealed {
            tp: self.tp.clone(),
            wire,
            base_sequence,
            created: open.created,
            outcome: open.outcome,
            attempts: 0,
            not_before: open.created,
            _lease: open.lease,
        });
    }

    fn is_idle(&self) -> bool {
        self.open.is_none() && self.sealed.is_empty() && self.in_flight.is_empty()
    }
}

/// One topic's partition queues (index = partition) and its sticky partition (-1 before the
/// first) with the round-robin cursor that picks the next one.
struct TopicQueues {
    queues: Vec<PartitionQueue>,
    sticky: i32,
    cursor: u32,
}

/// Where a record goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Placement {
    /// The partition the record names.
    Explicit(i32),
    /// By the murmur2 hash of its key, modulo the partition count.
    KeyHash(u32),
    /// Sticky partitioning for records without key or partition (KIP-480).
    Sticky,
}

/// Why a record could not be appended.
pub(crate) enum AppendError<'a> {
    /// The topic's partition count is not known yet ([`Accumulator::add_topic`]); the permit
    /// room comes back for the next attempt.
    UnknownTopic(Reserved<'a>),
    /// An explicit partition the topic does not have.
    NoSuchPartition { partitions: u32 },
}

/// Batching settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchSettings {
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) codec: Compression,
    pub(crate) max_in_flight: usize,
}

/// Where an appended record went.
pub(crate) struct Appended {
    pub(crate) outcome: Arc<BatchOutcome>,
    pub(crate) offset_delta: i32,
    /// A batch was sealed (full) or opened (its linger deadline starts): the sender should look.
    pub(crate) wake: bool,
}

/// All partitions' batches.
pub(crate) struct Accumulator {
    topics: FxHashMap<Arc<str>, TopicQueues>,
    /// `buffer.memory`, which batches hold leases on.
    pool: Arc<BufferPool>,
    settings: BatchSettings,
    stamp: Option<(i64, i16)>,
    flushing: bool,
}

impl Accumulator {
    pub(crate) fn new(settings: BatchSettings, pool: Arc<BufferPool>) -> Self {
        Self {
            topics: FxHashMap::default(),
            pool,
            settings,
            stamp: None,
            flushing: false,
        }
    }

    /// Sets the idempotent producer id and epoch used for batches sealed from now on.
    pub(crate) fn set_producer(&mut self, producer_id: i64, epoch: i16) {
        self.stamp = Some((producer_id, epoch));
    }

    /// Records that `topic` has `partitions` partitions (from metadata); a count can only grow.
    pub(crate) fn add_topic(&mut self, topic: &str, partitions: u32) {
        let name: Arc<str> = match self.topics.get_key_value(topic) {
            Some((name, _)) => Arc::clone(name),
            None => Arc::from(topic),
        };
        let entry = self.topics.entry(Arc::clone(&name)).or_insert_with(|| TopicQueues {
            queues: Vec::new(),
            sticky: -1,
            cursor: 0,
        });
        while entry.queues.len() < partitions as usize {
            let index = entry.queues.len() as i32;
            entry.queues.push(PartitionQueue::new((Arc::clone(&name), index)));
        }
    }

    fn queue_mut(&mut self, tp: &TopicPartition) -> Option<&mut PartitionQueue> {
        self.topics.get_mut(&tp.0)?.queues.get_mut(usize::try_from(tp.1).ok()?)
    }

    /// Appends one encoded record to `topic` where `placement` puts it; `encode` writes the
    /// record given its offset delta and the batch's base timestamp.
    pub(crate) fn append<'a>(
        &mut self,
        topic: &str,
        placement: Placement,
        timestamp: i64,
        size: usize,
        room: Reserved<'a>,
        encode: impl FnOnce(&mut Vec<u8>, i32, i64),
    ) -> Result<Appended, AppendError<'a>> {
        let (stamp, settings, pool) = (self.stamp, self.settings, &self.pool);
        let Some(topic) = self.topics.get_mut(topic) else {
            return Err(AppendError::UnknownTopic(room));
        };
        let partitions = topic.queues.len() as u32;
        let mut wake = false;
        let partition = match placement {
            _ if partitions == 0 => return Err(AppendError::NoSuchPartition { partitions }),
            Placement::Explicit(p) if p >= 0 && (p as u32) < partitions => p as usize,
            Placement::Explicit(_) => return Err(AppendError::NoSuchPartition { partitions }),
            Placement::KeyHash(hash) => (hash % partitions) as usize,
            Placement::Sticky => {
                // Stick to one partition while its open batch has room, then seal that batch and
                // move to the next, so that batches fill up instead of spreading thin.
                let current = usize::try_from(topic.sticky).ok().and_then(|p| topic.queues.get_mut(p));
                let stays = match current.as_ref().and_then(|q| q.open.as_ref()) {
                    Some(open) => open.records.len() + size <= settings.batch_size,
                    None => false,
                };
                if !stays {
                    if let Some(queue) = current {
                        queue.seal(stamp, settings.codec);
                    }
                    topic.cursor = topic.cursor.wrapping_add(1);
                    topic.sticky = (topic.cursor % partitions) as i32;
                    wake = true;
                }
                topic.sticky as usize
            }
        };
        let queue = &mut topic.queues[partition];
        if queue
            .open
            .as_ref()
            .is_some_and(|b| b.count > 0 && b.records.len() + size > settings.batch_size)
        {
            queue.seal(stamp, settings.codec);
        }
        wake |= queue.open.is_none();
        let batch = queue.open.get_or_insert_with(|| OpenBatch {
            records: batch_buffer(settings.batch_size.min(1 << 20).max(size)),
            count: 0,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            created: Instant::now(),
            outcome: Arc::new(BatchOutcome::new(Arc::clone(&queue.tp.0), queue.tp.1)),
            lease: Lease::new(pool),
        });
        let offset_delta = batch.count;
        encode(&mut batch.records, offset_delta, batch.base_timestamp);
        batch.count += 1;
        batch.max_timestamp = batch.max_timestamp.max(timestamp);
        batch.lease.add(room);
        let outcome = Arc::clone(&batch.outcome);
        if batch.records.len() >= settings.batch_size {
            queue.seal(stamp, settings.codec);
            wake = true;
        }
        Ok(Appended {
            outcome,
            offset_delta,
            wake,
        })
    }

    /// Seals every open batch at once (flush), and keeps doing so until [`Accumulator::flushed`].
    pub(crate) fn begin_flush(&mut self) -> Vec<Arc<BatchOutcome>> {
        self.flushing = true;
        let (stamp, codec) = (self.stamp, self.settings.codec);
        let mut outcomes = Vec::new();
        for queue in self.topics.values_mut().flat_map(|t| t.queues.iter_mut()) {
            if queue.open.is_some() {
                queue.seal(stamp, codec);
            }
            // Retried batches are both sealed and in flight; wait for each once.
            for outcome in queue.sealed.iter().map(|s| &s.outcome).chain(queue.in_flight.iter()) {
                if !outcomes.iter().any(|o| Arc::ptr_eq(o, outcome)) {
                    outcomes.push(Arc::clone(outcome));
                }
            }
        }
        outcomes
    }

    pub(crate) fn flushed(&mut self) {
        self.flushing = false;
    }

    /// Takes the batches that may be sent now (at most `max_in_flight` per partition in flight)
    /// and says when to look again if some are still lingering.
    pub(crate) fn drain(&mut self, now: Instant) -> (Vec<Sealed>, Option<Instant>) {
        let (stamp, settings, flushing) = (self.stamp, self.settings, self.flushing);
        let mut ready = Vec::new();
        let mut next: Option<Instant> = None;
        for queue in self.topics.values_mut().flat_map(|t| t.queues.iter_mut()) {
            if let Some(open) = &queue.open {
                let due = open.created + settings.linger;
                if flushing || due <= now {
                    queue.seal(stamp, settings.codec);
                } else {
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
            // A retried batch still counts as in flight: the broker only remembers the last five
            // batches of a producer, so no more than that may be unacknowledged at once.
            loop {
                match queue.sealed.front() {
                    Some(front) if front.not_before > now => {
                        next = Some(next.map_or(front.not_before, |n| n.min(front.not_before)));
                        break;
                    }
                    Some(front) => {
                        let counted = queue.in_flight.iter().any(|o| Arc::ptr_eq(o, &front.outcome));
                        if !counted && queue.in_flight.len() >= settings.max_in_flight {
                            break;
                        }
                        // A retry goes only once it is the oldest unacknowledged batch: an older
                        // one may still fail and come back, and must reach the broker first.
                        if counted && !queue.in_flight.first().is_some_and(|o| Arc::ptr_eq(o, &front.outcome)) {
                            break;
                        }
                        let batch = queue.sealed.pop_front().expect("front exists");
                        if !counted {
                            queue.in_flight.push(Arc::clone(&batch.outcome));
                        }
                        ready.push(batch);
                    }
                    None => break,
                }
            }
        }
        (ready, next)
    }

    /// A sent batch is done (acknowledged or failed for good).
    pub(crate) fn done(&mut self, tp: &TopicPartition, outcome: &Arc<BatchOutcome>) {
        if let Some(queue) = self.queue_mut(tp) {
            queue.in_flight.retain(|o| !Arc::ptr_eq(o, outcome));
        }
    }

    /// Puts a batch back to be sent again, in sequence order ahead of newer batches.
    pub(crate) fn retry(&mut self, mut batch: Sealed, not_before: Instant) {
        let Some(queue) = self.queue_mut(&batch.tp) else {
            // Queues are never removed, so a batch's partition is always there.
            batch.outcome.complete(Err(Arc::new(ClientError::IllegalState(format!(
                "no queue for partition {}-{}",
                batch.tp.0, batch.tp.1
            )))));
            return;
        };
        batch.attempts += 1;
        batch.not_before = not_before;
        let at = queue
            .sealed
            .iter()
            .position(|b| b.base_sequence > batch.base_sequence)
            .unwrap_or(queue.sealed.len());
        queue.sealed.insert(at, batch);
    }

    /// Whether anything is waiting or in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.topics
            .values()
            .all(|t| t.queues.iter().all(PartitionQueue::is_idle))
    }
}

//! Records waiting to be sent, batched per partition (Kafka's `RecordAccumulator`).
//!
//! Each partition has at most one open batch that records are appended to, and a queue of sealed
//! batches in sequence order (new ones and retries). A batch is sealed when the next record would
//! not fit `batch.size`, when it has waited `linger.ms`, or on flush; sealing assigns the
//! idempotent sequence numbers, which a retry keeps.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::protocol::batch::Compression;
use crate::protocol::builder::{ProducerStamp, seal_batch};
use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;

use super::outcome::BatchOutcome;
use crate::error::ClientError;

/// Partition identity: topic and index.
pub(crate) type TopicPartition = (Arc<str>, i32);

struct OpenBatch {
    records: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    created: Instant,
    outcome: Arc<BatchOutcome>,
    permit: Option<OwnedSemaphorePermit>,
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
    _permit: Option<OwnedSemaphorePermit>,
}

#[derive(Default)]
struct PartitionQueue {
    open: Option<OpenBatch>,
    sealed: VecDeque<Sealed>,
    in_flight: Vec<Arc<BatchOutcome>>,
    next_sequence: i32,
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
    partitions: HashMap<TopicPartition, PartitionQueue>,
    settings: BatchSettings,
    stamp: Option<(i64, i16)>,
    flushing: bool,
}

impl Accumulator {
    pub(crate) fn new(settings: BatchSettings) -> Self {
        Self {
            partitions: HashMap::new(),
            settings,
            stamp: None,
            flushing: false,
        }
    }

    /// Sets the idempotent producer id and epoch used for batches sealed from now on.
    pub(crate) fn set_producer(&mut self, producer_id: i64, epoch: i16) {
        self.stamp = Some((producer_id, epoch));
    }

    /// Whether a record of `size` bytes can join `tp`'s open batch. If the batch is there but
    /// too full, it is sealed now (sticky partitioning then moves to another partition).
    pub(crate) fn fits_open(&mut self, tp: &TopicPartition, size: usize) -> bool {
        let (stamp, settings) = (self.stamp, self.settings);
        let Some(queue) = self.partitions.get_mut(tp) else {
            return false;
        };
        match &queue.open {
            Some(open) if open.records.len() + size <= settings.batch_size => true,
            Some(_) => {
                seal(tp, queue, stamp, settings.codec);
                false
            }
            None => false,
        }
    }

    /// Appends one encoded record; `encode` writes it given its offset delta and the batch's base
    /// timestamp.
    pub(crate) fn append(
        &mut self,
        tp: &TopicPartition,
        timestamp: i64,
        size: usize,
        permit: OwnedSemaphorePermit,
        encode: impl FnOnce(&mut Vec<u8>, i32, i64),
    ) -> Appended {
        let settings = self.settings;
        let stamp = self.stamp;
        let queue = self.partitions.entry(tp.clone()).or_default();
        if queue
            .open
            .as_ref()
            .is_some_and(|b| b.count > 0 && b.records.len() + size > settings.batch_size)
        {
            seal(tp, queue, stamp, settings.codec);
        }
        let mut wake = queue.open.is_none();
        let batch = queue.open.get_or_insert_with(|| OpenBatch {
            records: Vec::with_capacity(settings.batch_size.min(1 << 20).max(size)),
            count: 0,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            created: Instant::now(),
            outcome: Arc::new(BatchOutcome::default()),
            permit: None,
        });
        let offset_delta = batch.count;
        encode(&mut batch.records, offset_delta, batch.base_timestamp);
        batch.count += 1;
        batch.max_timestamp = batch.max_timestamp.max(timestamp);
        match &mut batch.permit {
            Some(held) => held.merge(permit),
            None => batch.permit = Some(permit),
        }
        let outcome = Arc::clone(&batch.outcome);
        if batch.records.len() >= settings.batch_size {
            seal(tp, queue, stamp, settings.codec);
            wake = true;
        }
        Appended {
            outcome,
            offset_delta,
            wake,
        }
    }

    /// Seals every open batch at once (flush), and keeps doing so until [`Accumulator::flushed`].
    pub(crate) fn begin_flush(&mut self) -> Vec<Arc<BatchOutcome>> {
        self.flushing = true;
        let (stamp, codec) = (self.stamp, self.settings.codec);
        let mut outcomes = Vec::new();
        for (tp, queue) in &mut self.partitions {
            if queue.open.is_some() {
                seal(tp, queue, stamp, codec);
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
        for (tp, queue) in &mut self.partitions {
            if let Some(open) = &queue.open {
                let due = open.created + settings.linger;
                if flushing || due <= now {
                    seal(tp, queue, stamp, settings.codec);
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
        if let Some(queue) = self.partitions.get_mut(tp) {
            queue.in_flight.retain(|o| !Arc::ptr_eq(o, outcome));
        }
    }

    /// Puts a batch back to be sent again, in sequence order ahead of newer batches.
    pub(crate) fn retry(&mut self, mut batch: Sealed, not_before: Instant) {
        let queue = self.partitions.entry(batch.tp.clone()).or_default();
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
        self.partitions
            .values()
            .all(|q| q.open.is_none() && q.sealed.is_empty() && q.in_flight.is_empty())
    }
}

fn seal(tp: &TopicPartition, queue: &mut PartitionQueue, stamp: Option<(i64, i16)>, codec: Compression) {
    let Some(open) = queue.open.take() else { return };
    let base_sequence = if stamp.is_some() { queue.next_sequence } else { -1 };
    if stamp.is_some() {
        queue.next_sequence = queue.next_sequence.wrapping_add(open.count) & i32::MAX;
    }
    let producer = stamp.map_or(ProducerStamp::NONE, |(producer_id, producer_epoch)| ProducerStamp {
        producer_id,
        producer_epoch,
        base_sequence,
    });
    let wire = seal_batch(
        &open.records,
        open.count,
        open.base_timestamp,
        open.max_timestamp,
        producer,
        codec,
    )
    .map(Bytes::from)
    .map_err(|e| Arc::new(ClientError::Records(e.to_string())));
    queue.sealed.push_back(Sealed {
        tp: tp.clone(),
        wire,
        base_sequence,
        created: open.created,
        outcome: open.outcome,
        attempts: 0,
        not_before: open.created,
        _permit: open.permit,
    });
}

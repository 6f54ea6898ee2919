//! Idempotent-producer state of one partition: per producer id, its epoch and its last five
//! batches, so that a retried batch gets its original offsets back and a gap in sequence numbers
//! is refused (Kafka's `ProducerStateManager`).

use std::collections::{HashMap, VecDeque};

use rill_client::protocol::batch::BatchHeader;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Batches remembered per producer for duplicate detection (Kafka's value, which clients rely on:
/// `max.in.flight.requests.per.connection` ≤ 5 with idempotence).
pub(crate) const BATCHES_PER_PRODUCER: usize = 5;

/// A batch that the producer state refuses.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProducerError {
    /// The batch's sequence does not follow the last one (a gap or reordering).
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {found}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// The sequence that would be in order.
        expected: i32,
        /// The batch's first sequence.
        found: i32,
    },
    /// The batch's epoch is older than the producer's current one (a zombie producer).
    #[error("producer {producer_id} epoch {found} is older than current epoch {current}")]
    FencedEpoch {
        /// Producer id.
        producer_id: i64,
        /// Current epoch.
        current: i16,
        /// The batch's epoch.
        found: i16,
    },
}

/// A batch remembered for duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchMetadata {
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProducerEntry {
    pub(crate) epoch: i16,
    pub(crate) batches: VecDeque<BatchMetadata>,
    /// Wall-clock time of the last append, for expiry.
    pub(crate) last_append_ms: i64,
}

/// Outcome of checking a batch against the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Append it.
    Append,
    /// Already appended: answer with these offsets and do not append again.
    Duplicate(BatchMetadata),
}

/// Producer state of a partition.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStates {
    /// Checks an incoming batch (with a producer id) against the state, without changing it.
    pub(crate) fn check(&self, header: &BatchHeader) -> Result<SequenceCheck, ProducerError> {
        let producer_id = header.producer_id;
        let Some(entry) = self.producers.get(&producer_id) else {
            // Unknown producer (new, or its state expired): accept any sequence, as Kafka does.
            return Ok(SequenceCheck::Append);
        };
        if header.producer_epoch < entry.epoch {
            return Err(ProducerError::FencedEpoch {
                producer_id,
                current: entry.epoch,
                found: header.producer_epoch,
            });
        }
        if header.producer_epoch > entry.epoch {
            // A bumped epoch restarts sequences at 0.
            if header.base_sequence != 0 {
                return Err(ProducerError::OutOfOrderSequence {
                    producer_id,
                    expected: 0,
                    found: header.base_sequence,
                });
            }
            return Ok(SequenceCheck::Append);
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == header.base_sequence && b.last_seq == header.last_sequence())
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        let expected = entry.batches.back().map_or(0, |b| next_seq(b.last_seq));
        if header.base_sequence != expected {
            return Err(ProducerError::OutOfOrderSequence {
                producer_id,
                expected,
                found: header.base_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records an appended batch (header carrying its assigned base offset).
    pub(crate) fn update(&mut self, header: &BatchHeader, now_ms: i64) {
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: header.producer_epoch,
                batches: VecDeque::new(),
                last_append_ms: now_ms,
            });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: header.last_sequence(),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            timestamp: header.max_timestamp,
        });
        entry.last_append_ms = entry.last_append_ms.max(now_ms);
    }

    /// Forgets producers idle for longer than `expiration_ms`.
    pub(crate) fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_append_ms) <= expiration_ms);
        before - self.producers.len()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }
}

#[cfg(test)]
mod tests {
    use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_batch};

    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: usize, base_offset: i64) -> BatchHeader {
        let records = vec![
            NewRecord {
                value: Some(b"v".to_vec()),
                ..Default::default()
            };
            count
        ];
        let batch = build_batch(
            &records,
            ProducerStamp {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
            },
        );
        BatchHeader {
            base_offset,
            ..BatchHeader::parse(&batch).expect("parse")
        }
    }

    #[test]
    fn in_order_duplicate_and_gap() {
        let mut states = ProducerStates::default();
        let first = header(1, 0, 0, 3, 0);
        assert_eq!(states.check(&first), Ok(SequenceCheck::Append));
        states.update(&first, 0);
        let second = header(1, 0, 3, 2, 3);
        assert_eq!(states.check(&second), Ok(SequenceCheck::Append));
        states.update(&second, 0);
        // A retry of the first batch gets its original offsets.
        match states.check(&header(1, 0, 0, 3, 99)) {
            Ok(SequenceCheck::Duplicate(meta)) => assert_eq!((meta.first_offset, meta.last_offset), (0, 2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            states.check(&header(1, 0, 7, 1, 5)),
            Err(ProducerError::OutOfOrderSequence {
                producer_id: 1,
                expected: 5,
                found: 7
            })
        );
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut states = ProducerStates::default();
        states.update(&header(1, 3, 0, 1, 0), 0);
        assert!(matches!(
            states.check(&header(1, 2, 1, 1, 1)),
            Err(ProducerError::FencedEpoch { .. })
        ));
        assert!(matches!(
            states.check(&header(1, 4, 5, 1, 1)),
            Err(ProducerError::OutOfOrderSequence { .. })
        ));
        assert_eq!(states.check(&header(1, 4, 0, 1, 1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_idle_producers_expire() {
        let mut states = ProducerStates::default();
        for i in 0..7 {
            states.update(&header(9, 0, i, 1, i64::from(i)), i64::from(i));
        }
        assert_eq!(
            states
                .check(&header(9, 0, 6, 1, 0))
                .map(|c| matches!(c, SequenceCheck::Duplicate(_))),
            Ok(true)
        );
        assert!(states.check(&header(9, 0, 1, 1, 0)).is_err());
        assert_eq!(states.expire(1000, 100), 1);
        assert_eq!(states.len(), 0);
    }
}

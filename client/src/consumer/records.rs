//! The records of one partition from one fetch response (Java's `CompletedFetch`): decoded a
//! batch at a time as `poll` asks for them, skipping what lies before the fetch offset, control
//! batches, and with `read_committed` the batches of aborted transactions.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::config::IsolationLevel;
use super::record::ConsumerRecord;
use crate::error::ClientError;
use crate::protocol::batch::{self, BatchHeader, TimestampType};
use crate::protocol::compression::record_area;
use crate::topic_partition::TopicPartition;

/// Largest decompressed batch accepted.
const MAX_DECOMPRESSED: usize = 256 << 20;

/// The control record type of an abort marker (the key is `version: i16, type: i16`).
const ABORT_MARKER: i16 = 0;

/// Options that shape decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeOptions {
    pub(crate) isolation: IsolationLevel,
    pub(crate) check_crcs: bool,
}

/// Fetched, not yet handed-out records of one partition.
#[derive(Debug)]
pub(crate) struct PartitionRecords {
    pub(crate) tp: TopicPartition,
    topic: Arc<str>,
    set: Bytes,
    pos: usize,
    /// The offset the consumer's position moves to once everything returned so far is consumed.
    pub(crate) next_offset: i64,
    decoded: VecDeque<ConsumerRecord>,
    /// Where the position goes when `decoded` runs out: the end of the batch it came from.
    batch_end: i64,
    /// Aborted transactions not yet reached, by first offset: (first offset, producer id).
    aborted: VecDeque<(i64, i64)>,
    aborted_producers: HashSet<i64>,
    options: DecodeOptions,
}

impl PartitionRecords {
    /// `set` is the partition's record set, fetched from `fetch_offset`; `aborted` lists the
    /// aborted transactions the broker returned (read_committed only).
    pub(crate) fn new(
        tp: TopicPartition,
        set: Bytes,
        fetch_offset: i64,
        mut aborted: Vec<(i64, i64)>,
        options: DecodeOptions,
    ) -> Self {
        aborted.sort_unstable();
        Self {
            topic: Arc::from(tp.topic.as_str()),
            tp,
            set,
            pos: 0,
            next_offset: fetch_offset,
            decoded: VecDeque::new(),
            batch_end: fetch_offset,
            aborted: aborted.into(),
            aborted_producers: HashSet::new(),
            options,
        }
    }

    /// Moves up to `max` records into `out`. A corrupt batch is an error; the records before it
    /// have been returned by then and the position stays at the corrupt batch.
    pub(crate) fn take(&mut self, max: usize, out: &mut Vec<ConsumerRecord>) -> Result<usize, ClientError> {
        let mut taken = 0;
        while taken < max {
            if !self.decoded.is_empty() {
                let n = self.decoded.len().min(max - taken);
                out.extend(self.decoded.drain(..n));
                if let Some(last) = out.last() {
                    self.next_offset = last.offset + 1;
                }
                taken += n;
                continue;
            }
            self.next_offset = self.next_offset.max(self.batch_end);
            if !self.decode_next_batch()? {
                break;
            }
        }
        if self.decoded.is_empty() {
            self.next_offset = self.next_offset.max(self.batch_end);
        }
        Ok(taken)
    }

    /// Whether every record has been handed out.
    pub(crate) fn is_drained(&self) -> bool {
        self.decoded.is_empty() && batch::batches(&self.set[self.pos..]).next().is_none()
    }

    /// Decodes the next complete batch into `decoded`; false at the end of the set (a trailing
    /// partial batch, which a size-limited fetch may return, counts as the end).
    fn decode_next_batch(&mut self) -> Result<bool, ClientError> {
        let rest = &self.set[self.pos..];
        let span = match batch::batches(rest).next() {
            None => return Ok(false),
            Some(Ok(span)) => span,
            Some(Err(e)) => return Err(self.corrupt(e.to_string())),
        };
        let start = self.pos + span.range.start;
        let end = self.pos + span.range.end;
        self.pos = end;
        let header = span.header;
        self.batch_end = header.next_offset();
        if header.next_offset() <= self.next_offset {
            return Ok(true);
        }
        let wire = self.set.slice(start..end);
        if self.options.check_crcs {
            batch::validate_stored(&wire).map_err(|e| self.corrupt(e.to_string()))?;
        }
        if self.options.isolation == IsolationLevel::ReadCommitted && header.has_producer_id() {
            while self
                .aborted
                .front()
                .is_some_and(|&(first, _)| first <= header.last_offset())
            {
                if let Some((_, producer)) = self.aborted.pop_front() {
                    self.aborted_producers.insert(producer);
                }
            }
            if header.is_control() {
                if self.is_abort_marker(&wire, &header)? {
                    self.aborted_producers.remove(&header.producer_id);
                }
                return Ok(true);
            }
            if header.is_transactional() && self.aborted_producers.contains(&header.producer_id) {
                return Ok(true);
            }
        }
        if header.is_control() {
            return Ok(true);
        }
        self.decode_records(&wire, &header)?;
        Ok(true)
    }

    fn is_abort_marker(&self, wire: &Bytes, header: &BatchHeader) -> Result<bool, ClientError> {
        let area = record_area(wire, header, MAX_DECOMPRESSED).map_err(|e| self.corrupt(e.to_string()))?;
        let mut records = batch::records(&area);
        match records.next() {
            Some(Ok(record)) => Ok(record
                .key
                .filter(|k| k.len() >= 4)
                .is_some_and(|k| i16::from_be_bytes([k[2], k[3]]) == ABORT_MARKER)),
            Some(Err(e)) => Err(self.corrupt(e.to_string())),
            None => Ok(false),
        }
    }

    fn decode_records(&mut self, wire: &Bytes, header: &BatchHeader) -> Result<(), ClientError> {
        let area = match record_area(wire, header, MAX_DECOMPRESSED).map_err(|e| self.corrupt(e.to_string()))? {
            std::borrow::Cow::Borrowed(area) => wire.slice_ref(area),
            std::borrow::Cow::Owned(area) => Bytes::from(area),
        };
        let log_append_time = header.timestamp_type() == TimestampType::LogAppendTime;
        let leader_epoch = (header.partition_leader_epoch >= 0).then_some(header.partition_leader_epoch);
        // The header's count, within reason (it is not checked against the records yet).
        self.decoded
            .reserve(usize::try_from(header.records_count).unwrap_or(0).min(1 << 16));
        for record in batch::records(&area) {
            let record = record.map_err(|e| self.corrupt(e.to_string()))?;
            let offset = header.base_offset + i64::from(record.offset_delta);
            if offset < self.next_offset {
                continue;
            }
            let headers = record
                .headers()
                .map_err(|e| self.corrupt(e.to_string()))?
                .into_iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.map(|v| area.slice_ref(v))))
                .collect();
            self.decoded.push_back(ConsumerRecord {
                topic: Arc::clone(&self.topic),
                partition: self.tp.partition,
                offset,
                timestamp: if log_append_time {
                    header.max_timestamp
                } else {
                    header.base_timestamp.wrapping_add(record.timestamp_delta)
                },
                timestamp_type: header.timestamp_type(),
                key: record.key.map(|k| area.slice_ref(k)),
                value: record.value.map(|v| area.slice_ref(v)),
                headers,
                leader_epoch,
            });
        }
        Ok(())
    }

    fn corrupt(&self, reason: String) -> ClientError {
        ClientError::CorruptRecords {
            topic: self.tp.topic.clone(),
            partition: self.tp.partition,
            offset: self.next_offset,
            reason,
        }
    }
}

//! The log of one partition: its segments, log start offset, log end offset, flush state and
//! idempotent-producer state. Synchronous; the caller holds it under a lock and keeps file reads
//! and fsyncs outside that lock through [`FileSlice`] and [`FlushPlan`].

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rill_client::protocol::batch::{self, BatchHeader, TimestampType as BatchTimestampType};
use rill_client::protocol::compression::record_area;

use super::error::{LogError, io_err};
use super::file_names::{SNAPSHOT_SUFFIX, offset_file, parse_offset_file};
use super::producer_state::{ProducerStates, SequenceCheck};
use super::segment::{IndexConfig, Segment, corrupt};
use crate::config::{TimestampType, TopicConfig};

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Offset of its first record.
    pub(crate) base_offset: i64,
    /// Offset of its last record.
    pub(crate) last_offset: i64,
    /// The broker's timestamp if the topic uses LogAppendTime, else -1.
    pub(crate) log_append_time: i64,
    /// A retry of a batch already in the log: nothing was written.
    pub(crate) duplicate: bool,
}

/// A byte range of a segment file holding whole batches, to read or send outside the partition
/// lock. Segments are only appended to (or unlinked, which keeps an open file readable), so the
/// range stays valid after the lock is released.
#[derive(Debug, Clone)]
pub(crate) struct FileSlice {
    pub(crate) file: Arc<File>,
    pub(crate) path: PathBuf,
    pub(crate) position: u64,
    pub(crate) len: u64,
}

impl FileSlice {
    /// Reads the range into memory.
    pub(crate) fn read(&self) -> Result<bytes::Bytes, LogError> {
        Segment::read_at(&self.file, &self.path, self.position, self.len as usize)
    }
}

/// An fsync to perform outside the partition lock; [`PartitionLog::flush_done`] records it.
#[derive(Debug)]
pub(crate) struct FlushPlan {
    files: Vec<(Arc<File>, PathBuf)>,
    /// Everything below this offset is durable once the files are synced.
    pub(crate) up_to: i64,
    messages: u64,
}

impl FlushPlan {
    /// Fsyncs the data of every file in the plan.
    pub(crate) fn execute(&self) -> Result<(), LogError> {
        for (file, path) in &self.files {
            file.sync_data().map_err(io_err("fsyncing", path))?;
        }
        Ok(())
    }
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Retained {
    /// Segments deleted.
    pub(crate) segments: usize,
    /// Bytes freed.
    pub(crate) bytes: u64,
}

/// The log of one partition.
#[derive(Debug)]
pub(crate) struct PartitionLog {
    pub(super) dir: PathBuf,
    pub(super) config: Arc<TopicConfig>,
    pub(super) segments: BTreeMap<i64, Segment>,
    pub(super) log_start_offset: i64,
    pub(super) next_offset: i64,
    /// Everything below is fsynced (data; indexes are rebuilt if they lag).
    pub(super) flushed_offset: i64,
    pub(super) appended_messages: u64,
    pub(super) flushed_messages: u64,
    pub(super) last_flush_ms: i64,
    pub(super) producers: ProducerStates,
    /// Rolled segments whose data is not yet fsynced.
    pub(super) pending_sync: Vec<(Arc<File>, PathBuf)>,
    pub(super) leader_epoch: i32,
    pub(super) offline: bool,
    pub(super) max_decompressed: usize,
}

impl PartitionLog {
    pub(super) fn index_config(config: &TopicConfig) -> IndexConfig {
        IndexConfig {
            interval_bytes: config.index_interval_bytes.max(0) as u64,
            max_index_bytes: config.segment_index_bytes,
        }
    }

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a partition log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a partition log always has an active segment")
    }

    /// Offset of the first record still in the log.
    pub(crate) fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next appended record gets (log end offset).
    pub(crate) fn log_end_offset(&self) -> i64 {
        self.next_offset
    }

    /// Everything below this offset is on disk.
    pub(crate) fn flushed_offset(&self) -> i64 {
        self.flushed_offset
    }

    /// Bytes in all segments.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    #[cfg(test)]
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub(crate) fn config(&self) -> &Arc<TopicConfig> {
        &self.config
    }

    pub(crate) fn set_config(&mut self, config: Arc<TopicConfig>) {
        self.config = config;
    }

    /// Messages appended since the last completed flush.
    pub(crate) fn unflushed_messages(&self) -> u64 {
        self.appended_messages - self.flushed_messages
    }

    pub(crate) fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms
    }

    /// Appends one validated batch, assigning it the next offsets. A retried batch of an
    /// idempotent producer is answered with its original offsets and not written again.
    pub(crate) fn append(&mut self, wire: &[u8], header: &BatchHeader, now_ms: i64) -> Result<Appended, LogError> {
        if self.offline {
            return Err(LogError::Offline { dir: self.dir.clone() });
        }
        if wire.len() > self.config.max_message_bytes.max(0) as usize {
            return Err(LogError::RecordTooLarge {
                size: wire.len(),
                max: self.config.max_message_bytes,
            });
        }
        if header.has_producer_id() {
            if let SequenceCheck::Duplicate(meta) = self.producers.check(header)? {
                return Ok(Appended {
                    base_offset: meta.first_offset,
                    last_offset: meta.last_offset,
                    log_append_time: -1,
                    duplicate: true,
                });
            }
        }
        let base_offset = self.next_offset;
        let last_offset = base_offset + i64::from(header.last_offset_delta);
        let log_append = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let max_timestamp = if log_append { now_ms } else { header.max_timestamp };
        let config = Arc::clone(&self.config);
        if self.active().should_roll(
            wire.len(),
            last_offset,
            max_timestamp,
            config.segment_bytes,
            config.segment_ms,
            now_ms,
        ) {
            self.roll(now_ms)?;
        }
        let mut assigned = BatchHeader {
            base_offset,
            partition_leader_epoch: self.leader_epoch,
            ..*header
        };
        let mut prefix = [0u8; 16];
        prefix[..8].copy_from_slice(&base_offset.to_be_bytes());
        prefix[8..12].copy_from_slice(&wire[8..12]);
        prefix[12..].copy_from_slice(&self.leader_epoch.to_be_bytes());
        let stamped;
        let rest = if log_append {
            let mut copy = wire.to_vec();
            batch::set_log_append_time(&mut copy, now_ms);
            assigned.max_timestamp = now_ms;
            assigned.attributes = BatchHeader::parse(&copy).map_err(corrupt(&self.dir, 0))?.attributes;
            stamped = copy;
            &stamped[16..]
        } else {
            &wire[16..]
        };
        if let Err(failure) = self.active_mut().append(&assigned, &prefix, rest) {
            if !failure.undone {
                self.offline = true;
            }
            return Err(failure.error);
        }
        if assigned.has_producer_id() {
            self.producers.update(&assigned, now_ms);
        }
        self.next_offset = last_offset + 1;
        self.appended_messages += header.records_count as u64;
        Ok(Appended {
            base_offset,
            last_offset,
            log_append_time: if log_append { now_ms } else { -1 },
            duplicate: false,
        })
    }

    /// Starts a new active segment at the log end offset.
    pub(crate) fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        let next = self.next_offset;
        if self.active().base_offset() == next && self.active().size() == 0 {
            return Ok(());
        }
        let old = self.active_mut();
        old.flush(false)?;
        if self.flushed_offset < next {
            let old = self.active();
            self.pending_sync.push((Arc::clone(old.file()), old.path().to_owned()));
        }
        let segment = Segment::create(&self.dir, next, Self::index_config(&self.config), now_ms)?;
        self.segments.insert(next, segment);
        self.write_producer_snapshot(next)?;
        Ok(())
    }

    /// Plans a read of at most `max_bytes` of whole batches, starting with the batch holding
    /// `offset` and stopping before `bound` (the high watermark). With `min_one`, the first batch
    /// is returned whole even if larger than `max_bytes` (KIP-74). `None` if there is nothing to
    /// return. Only batch headers are read, never record data.
    pub(crate) fn plan_read(
        &self,
        offset: i64,
        max_bytes: usize,
        bound: i64,
        min_one: bool,
    ) -> Result<Option<FileSlice>, LogError> {
        if offset < self.log_start_offset || offset > self.next_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.next_offset,
            });
        }
        if offset >= bound {
            return Ok(None);
        }
        let first = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(self.log_start_offset, |(base, _)| *base);
        for segment in self.segments.range(first..).map(|(_, s)| s) {
            let Some((start, header)) = segment.find_batch(offset)? else {
                continue;
            };
            if header.base_offset >= bound {
                return Ok(None);
            }
            // Committed data ends at the batch holding the bound (batches never straddle it).
            let committed_end = if bound >= segment.next_offset() {
                segment.size()
            } else {
                segment
                    .find_batch(bound)?
                    .map_or(segment.size(), |(position, _)| position)
            };
            let first_end = start + header.total_size() as u64;
            let limit = start.saturating_add(max_bytes as u64);
            let end = if limit >= committed_end {
                committed_end
            } else if limit < first_end {
                if !min_one {
                    return Ok(None);
                }
                first_end
            } else {
                segment.last_boundary_at_or_before(start, limit)?
            };
            return Ok(Some(FileSlice {
                file: Arc::clone(segment.file()),
                path: segment.path().to_owned(),
                position: start,
                len: end - start,
            }));
        }
        Ok(None)
    }

    /// Plans an fsync of everything appended so far; `None` if all is already durable.
    pub(crate) fn plan_flush(&mut self) -> Option<FlushPlan> {
        if self.flushed_offset >= self.next_offset && self.pending_sync.is_empty() {
            return None;
        }
        let mut files: Vec<_> = self.pending_sync.drain(..).collect();
        let active = self.active();
        files.push((Arc::clone(active.file()), active.path().to_owned()));
        Some(FlushPlan {
            files,
            up_to: self.next_offset,
            messages: self.appended_messages,
        })
    }

    /// Records a completed [`FlushPlan`].
    pub(crate) fn flush_done(&mut self, plan: &FlushPlan, now_ms: i64) {
        self.flushed_offset = self.flushed_offset.max(plan.up_to);
        self.flushed_messages = self.flushed_messages.max(plan.messages);
        self.last_flush_ms = now_ms;
    }

    /// The first offset whose record has a timestamp at or after `timestamp`, with that
    /// timestamp; `None` if every record is older.
    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        for segment in self.segments.values() {
            if segment.max_timestamp() < timestamp || segment.next_offset() <= self.log_start_offset {
                continue;
            }
            let start = segment.time_index().scan_start(timestamp).max(self.log_start_offset);
            let Some((position, _)) = segment.find_batch(start)? else {
                continue;
            };
            for item in segment.headers_from(position) {
                let (position, header) = item?;
                if header.max_timestamp < timestamp {
                    continue;
                }
                if let Some(found) = self.first_record_at_or_after(segment, position, &header, timestamp)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the earliest one if several share it).
    pub(crate) fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        let best = self
            .segments
            .values()
            .filter(|s| s.max_timestamp() >= 0 && s.next_offset() > self.log_start_offset)
            .fold(None::<&Segment>, |best, s| match best {
                Some(b) if b.max_timestamp() >= s.max_timestamp() => Some(b),
                _ => Some(s),
            });
        let Some(segment) = best else { return Ok(None) };
        let Some((position, header)) = segment.find_batch(segment.offset_of_max_timestamp())? else {
            return Ok(None);
        };
        Ok(self
            .first_record_at_or_after(segment, position, &header, segment.max_timestamp())?
            .or(Some((header.last_offset(), segment.max_timestamp()))))
    }

    fn first_record_at_or_after(
        &self,
        segment: &Segment,
        position: u64,
        header: &BatchHeader,
        timestamp: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        if header.timestamp_type() == BatchTimestampType::LogAppendTime {
            let offset = header.base_offset.max(self.log_start_offset);
            return Ok((header.max_timestamp >= timestamp && offset <= header.last_offset())
                .then_some((offset, header.max_timestamp)));
        }
        let bytes = segment.read_batch(position, header)?;
        let area = record_area(&bytes, header, self.max_decompressed).map_err(|e| LogError::Io {
            op: "decoding records of",
            path: segment.path().to_owned(),
            source: std::io::Error::other(e),
        })?;
        for record in batch::records(&area) {
            let record = record.map_err(|e| LogError::Io {
                op: "decoding records of",
                path: segment.path().to_owned(),
                source: std::io::Error::other(e),
            })?;
            let offset = header.base_offset + i64::from(record.offset_delta);
            let ts = header.base_timestamp + record.timestamp_delta;
            if offset >= self.log_start_offset && ts >= timestamp {
                return Ok(Some((offset, ts)));
            }
        }
        Ok(None)
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords) and deletes segments that
    /// end before it. Returns the new log start offset.
    pub(crate) fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        if offset > self.log_start_offset {
            self.log_start_offset = offset.min(self.next_offset);
        }
        self.delete_segments_below_start()?;
        Ok(self.log_start_offset)
    }

    /// Deletes the segments wholly below the log start offset: those followed by a segment that
    /// starts at or below it. (A segment's own end cannot tell: compaction may leave it ending
    /// before the next one starts, and an emptied segment ends where it begins.)
    fn delete_segments_below_start(&mut self) -> Result<Retained, LogError> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let doomed: Vec<i64> = bases
            .windows(2)
            .filter(|pair| pair[1] <= self.log_start_offset)
            .map(|pair| pair[0])
            .collect();
        self.delete_segments(&doomed)
    }

    fn delete_segments(&mut self, bases: &[i64]) -> Result<Retained, LogError> {
        let mut retained = Retained::default();
        for base in bases {
            if let Some(segment) = self.segments.remove(base) {
                segment.delete()?;
                retained.segments += 1;
                retained.bytes += segment.size();
            }
        }
        if let Some(first) = self.segments.keys().next() {
            self.log_start_offset = self.log_start_offset.max(*first);
        }
        Ok(retained)
    }

    /// Deletes segments past `retention.ms` or beyond `retention.bytes` (oldest first, whole
    /// segments only) and segments below the log start offset. If every segment has expired the
    /// active one is rolled first, so the log keeps its end offset.
    pub(crate) fn apply_retention(&mut self, now_ms: i64) -> Result<Retained, LogError> {
        let mut total = self.delete_segments_below_start()?;
        if !self.config.cleanup_policy.delete {
            return Ok(total);
        }
        let retention_ms = self.config.retention_ms;
        let mut doomed = Vec::new();
        if retention_ms >= 0 {
            let active = self.active().base_offset();
            for (base, segment) in &self.segments {
                let newest = if segment.max_timestamp() >= 0 {
                    segment.max_timestamp()
                } else {
                    segment.created_ms()
                };
                // An empty segment other than the active one was emptied by compaction, and is
                // aged by the segments it replaced.
                let empty_active = segment.size() == 0 && *base == active;
                if empty_active || now_ms.saturating_sub(newest) <= retention_ms {
                    break;
                }
                doomed.push(*base);
            }
        }
        let retention_bytes = self.config.retention_bytes;
        if retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - retention_bytes;
            let inactive = self.segments.len() - 1;
            for (base, segment) in self.segments.iter().take(inactive) {
                if excess < segment.size() as i64 {
                    break;
                }
                excess -= segment.size() as i64;
                if !doomed.contains(base) {
                    doomed.push(*base);
                }
            }
        }
        if doomed.is_empty() {
            return Ok(total);
        }
        if doomed.len() == self.segments.len() {
            self.roll(now_ms)?;
        }
        let deleted = self.delete_segments(&doomed)?;
        total.segments += deleted.segments;
        total.bytes += deleted.bytes;
        self.log_start_offset = self
            .log_start_offset
            .max(self.segments.keys().next().copied().unwrap_or(self.next_offset));
        Ok(total)
    }

    /// Forgets idle producers.
    pub(crate) fn expire_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers.expire(now_ms, expiration_ms)
    }

    /// Writes buffered index entries and fsyncs everything, then snapshots producer state: the
    /// state a clean shutdown leaves.
    pub(crate) fn close(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.offline {
            return Ok(());
        }
        for segment in self.segments.values_mut() {
            segment.flush(true)?;
        }
        self.pending_sync.clear();
        self.flushed_offset = self.next_offset;
        self.flushed_messages = self.appended_messages;
        self.last_flush_ms = now_ms;
        self.write_producer_snapshot(self.next_offset)
    }

    /// Saves producer state as `<offset>.snapshot`, keeping the two newest snapshots.
    pub(crate) fn write_producer_snapshot(&mut self, offset: i64) -> Result<(), LogError> {
        let path = offset_file(&self.dir, offset, SNAPSHOT_SUFFIX);
        let json = serde_json::to_vec(&self.producers).map_err(|e| LogError::Io {
            op: "encoding producer snapshot",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        super::checkpoint::write_atomic(&path, &json)?;
        let mut snapshots = snapshot_offsets(&self.dir)?;
        snapshots.sort_unstable();
        for old in snapshots.iter().rev().skip(2) {
            let old_path = offset_file(&self.dir, *old, SNAPSHOT_SUFFIX);
            std::fs::remove_file(&old_path).map_err(io_err("deleting old snapshot", &old_path))?;
        }
        Ok(())
    }

    /// Deletes every file of this log (the topic was deleted).
    pub(crate) fn delete_all(&mut self) -> Result<(), LogError> {
        for segment in self.segments.values() {
            segment.delete()?;
        }
        self.offline = true;
        Ok(())
    }
}

/// Offsets of the producer snapshots in `dir`.
pub(crate) fn snapshot_offsets(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut offsets = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        if let Some((offset, SNAPSHOT_SUFFIX)) = entry.file_name().to_str().and_then(parse_offset_file) {
            offsets.push(offset);
        }
    }
    Ok(offsets)
}

#[cfg(test)]
#[path = "partition_log_test.rs"]
mod tests;

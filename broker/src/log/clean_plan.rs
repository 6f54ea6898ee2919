//! Deciding, under the partition lock and without reading any record, whether a compacted log
//! needs a cleaning round and which segments it covers (Kafka's `LogCleanerManager` and
//! `LogToClean`).
//!
//! ```text
//!   log start        first dirty            first uncleanable       active segment
//!   |---- clean ----|-------- dirty --------|---- too recent ----|--------------|
//! ```
//!
//! - The clean part was compacted by an earlier round (see `CleanerCheckpoint`).
//! - The dirty part ends at the active segment, which is never touched, or earlier at the first
//!   dirty segment holding a record newer than `min.compaction.lag.ms`, or (on a durable topic,
//!   `flush.messages=1`) at the first segment not yet fsynced: that is its high watermark.
//! - The round runs when dirty bytes / (clean + dirty bytes) reaches `min.cleanable.dirty.ratio`,
//!   or when a tombstone's delete horizon has passed.

use std::fs::File;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use super::cleaner_checkpoint::CleanerCheckpoint;
use super::partition_log::PartitionLog;
use super::segment::{IndexConfig, Segment};
use crate::config::TopicConfig;

/// Bytes per offset-index entry, to turn `segment.index.bytes` into an entry count.
const INDEX_ENTRY_BYTES: usize = 8;

/// An inactive segment as the cleaner sees it: what it needs to read the segment outside the lock,
/// and to check at swap time that the segment is still the one it read.
#[derive(Debug, Clone)]
pub(crate) struct SegmentRef {
    pub(crate) base_offset: i64,
    pub(crate) next_offset: i64,
    /// Base offset of the segment after it when the plan was made: where the next round's
    /// dirty part starts if this is the last segment cleaned.
    pub(crate) next_base: i64,
    pub(crate) size: u64,
    pub(crate) file: Arc<File>,
    pub(crate) path: PathBuf,
    /// Newest timestamp, or the file's age if it has none.
    pub(crate) newest_ms: i64,
    pub(crate) index_entries: usize,
}

impl SegmentRef {
    fn of(segment: &Segment, next_base: i64) -> Self {
        Self {
            base_offset: segment.base_offset(),
            next_offset: segment.next_offset(),
            next_base,
            size: segment.size(),
            file: Arc::clone(segment.file()),
            path: segment.path().to_owned(),
            newest_ms: if segment.max_timestamp() >= 0 {
                segment.max_timestamp()
            } else {
                segment.created_ms()
            },
            index_entries: segment.index_entries(),
        }
    }
}

/// A cleaning round to run.
#[derive(Debug)]
pub(crate) struct CleanPlan {
    pub(crate) dir: PathBuf,
    pub(crate) config: Arc<TopicConfig>,
    pub(crate) index_config: IndexConfig,
    /// The cleanable segments, from the one holding the log start to the first uncleanable
    /// offset, oldest first.
    pub(crate) segments: Vec<SegmentRef>,
    /// Index in `segments` of the first dirty segment.
    pub(crate) first_dirty: usize,
    /// Dirty bytes / cleanable bytes.
    pub(crate) dirty_ratio: f64,
    /// Largest decompressed batch to inflate.
    pub(crate) max_decompressed: usize,
    /// Largest stored batch to read.
    pub(crate) max_batch: usize,
}

impl PartitionLog {
    /// The round to run now, if any: `None` unless the topic is compacted, the log is dirty
    /// enough (or a tombstone horizon passed), and there is something before the active segment.
    pub(crate) fn plan_clean(&self, checkpoint: &CleanerCheckpoint, now_ms: i64) -> Option<CleanPlan> {
        if !self.config.cleanup_policy.compact || self.offline {
            return None;
        }
        // A durable topic acknowledges a record only once it is fsynced: a record that a power
        // loss could still take away must not supersede an older, acknowledged one.
        let limit = if self.config.is_durable() {
            self.flushed_offset
        } else {
            i64::MAX
        };
        // A checkpoint past the log end belongs to a log since cut short by recovery: the records
        // now at those offsets are new, so everything is dirty again.
        let first_dirty_offset = if checkpoint.first_dirty_offset > self.next_offset {
            self.log_start_offset
        } else {
            checkpoint.first_dirty_offset
        };
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut segments = Vec::new();
        let mut first_dirty = 0;
        for (i, segment) in self.segments.values().enumerate().take(bases.len() - 1) {
            let next_base = bases[i + 1];
            if next_base <= self.log_start_offset {
                continue; // wholly below the log start: retention's to delete
            }
            if next_base > limit {
                break;
            }
            if next_base <= first_dirty_offset {
                first_dirty = segments.len() + 1;
            }
            segments.push(SegmentRef::of(segment, next_base));
        }
        // Records younger than the compaction lag stay as they are, and so does all after them.
        let lag = self.config.min_compaction_lag_ms;
        if lag > 0 {
            if let Some(cut) = segments
                .iter()
                .skip(first_dirty)
                .position(|s| s.newest_ms > now_ms.saturating_sub(lag))
            {
                segments.truncate(first_dirty + cut);
            }
        }
        let first_dirty = first_dirty.min(segments.len());
        let clean: u64 = segments[..first_dirty].iter().map(|s| s.size).sum();
        let dirty: u64 = segments[first_dirty..].iter().map(|s| s.size).sum();
        let total = clean + dirty;
        let dirty_ratio = if total == 0 { 0.0 } else { dirty as f64 / total as f64 };
        let ratio_due = dirty > 0 && dirty_ratio >= self.config.min_cleanable_dirty_ratio;
        let horizon_due = checkpoint.next_delete_horizon_ms.is_some_and(|h| h <= now_ms);
        if !(ratio_due || (horizon_due && total > 0)) {
            return None;
        }
        Some(CleanPlan {
            dir: self.dir.clone(),
            config: Arc::clone(&self.config),
            index_config: Self::index_config(&self.config),
            segments,
            first_dirty,
            dirty_ratio,
            max_decompressed: self.max_decompressed,
            max_batch: Self::max_stored_batch(&self.config),
        })
    }
}

impl CleanPlan {
    /// Splits `segments[..end]` into runs of consecutive segments that fit one cleaned segment:
    /// within `segment.bytes` and `segment.index.bytes` before cleaning (cleaning only shrinks
    /// them), and with every offset within 2^31 of the first (index entries hold relative
    /// offsets). A segment too large to share stays alone.
    pub(crate) fn groups(&self, end: usize) -> Vec<Range<usize>> {
        let max_bytes = self.config.segment_bytes.max(0) as u64;
        let max_entries = self.config.segment_index_bytes.max(0) as usize / INDEX_ENTRY_BYTES;
        let mut groups = Vec::new();
        let mut start = 0;
        while start < end {
            let first = &self.segments[start];
            let (mut bytes, mut entries) = (first.size, first.index_entries);
            let mut stop = start + 1;
            while stop < end {
                let next = &self.segments[stop];
                if bytes + next.size > max_bytes
                    || entries + next.index_entries > max_entries
                    || next.next_offset - first.base_offset > i64::from(i32::MAX)
                {
                    break;
                }
                bytes += next.size;
                entries += next.index_entries;
                stop += 1;
            }
            groups.push(start..stop);
            start = stop;
        }
        groups
    }
}

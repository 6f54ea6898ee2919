//! Log compaction of one partition (Kafka's `LogCleaner.Cleaner`): keep the latest record of
//! every key, drop tombstones once their delete horizon has passed, and swap the rewritten
//! segments in atomically.
//!
//! A round has four steps, and holds the partition lock only for the first and the last:
//! 1. plan (under the lock): which segments, how dirty ([`PartitionLog::plan_clean`]);
//! 2. build the offset map, key → latest offset, over the dirty segments (no lock);
//! 3. for each group of consecutive segments that fits one segment, write the surviving batches
//!    to a `.cleaned` file, fsync it and rename it to `.swap` (no lock; [`super::batch_filter`]);
//! 4. swap each group in (under the lock; [`PartitionLog::commit_swap`], see [`super::swap`]).
//!
//! The whole log before the first uncleanable offset is rewritten each round, the clean part
//! included, with the map built from the dirty part only: a key whose latest record is in the clean
//! part is not in the map, and its record is kept. Progress is kept in a
//! [`CleanerCheckpoint`](super::cleaner_checkpoint::CleanerCheckpoint).
//!
//! Producer state: rewritten batches keep their headers, so replaying them gives the producer
//! state it gave before. A batch that loses all its records disappears (Kafka keeps an empty batch
//! for the last batch of each producer, because it may rebuild producer state from the log). Rill
//! snapshots producer state at every roll and after every swap, and keeps two snapshots, both at or
//! past the active segment, which is never cleaned: loading replays only uncleaned batches.

use std::ops::DerefMut;

use rill_client::protocol::batch::{self, BatchError, BatchHeader};
use rill_client::protocol::compression::record_area;
use tracing::warn;

use super::batch_filter::{Filtered, TombstonePolicy, filter_batch};
use super::batch_scanner::{BatchScanner, ScannedBatch};
use super::checkpoint::sync_dir;
use super::clean_plan::{CleanPlan, SegmentRef};
use super::cleaner_checkpoint::CleanerCheckpoint;
use super::error::LogError;
use super::file_names::{SWAP_SUFFIX, offset_file};
use super::offset_map::OffsetMap;
use super::partition_log::PartitionLog;
use super::segment::Segment;

/// Settings of a round that do not come from the topic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanerParams {
    /// Wall clock, milliseconds: the compaction lag and tombstone horizons are measured with it.
    pub(crate) now_ms: i64,
    /// `log.cleaner.dedupe.buffer.size`: the offset map's budget in bytes.
    pub(crate) dedupe_buffer_bytes: usize,
}

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CleanReport {
    /// Dirty ratio that started the round.
    pub(crate) dirty_ratio: f64,
    /// Distinct keys in the offset map.
    pub(crate) keys: usize,
    /// Segments replaced, and the segments that replaced them.
    pub(crate) segments_before: usize,
    pub(crate) segments_after: usize,
    /// Bytes of the replaced segments, and of their replacements.
    pub(crate) bytes_before: u64,
    pub(crate) bytes_after: u64,
    /// Records removed.
    pub(crate) records_removed: usize,
    /// Where the next round's dirty part starts.
    pub(crate) first_dirty_offset: i64,
    /// The round stopped early (shutdown, or the log changed under it).
    pub(crate) interrupted: bool,
}

/// A group after filtering: its cleaned segment, renamed to `.swap` and ready to commit, unless
/// cleaning changed nothing in a lone segment (no point swapping in an identical copy).
#[derive(Debug)]
struct CleanedGroup {
    segment: Option<Segment>,
    /// What filtering found.
    filled: Filled,
}

/// What filtering the batches of a group found.
#[derive(Debug, Default, Clone, Copy)]
struct Filled {
    removed: usize,
    changed: bool,
    tombstone_horizon: Option<i64>,
}

/// Runs one round on the log behind `lock` if it needs one. `stop` is polled between segments;
/// when it says so, the round ends after the group in progress. Returns `None` if there was
/// nothing to do.
pub(crate) fn clean_log<L, G>(
    lock: L,
    params: CleanerParams,
    stop: &dyn Fn() -> bool,
) -> Result<Option<CleanReport>, LogError>
where
    L: Fn() -> G,
    G: DerefMut<Target = PartitionLog>,
{
    let dir = {
        let log = lock();
        if !log.config.cleanup_policy.compact || log.offline {
            return Ok(None);
        }
        log.dir.clone()
    };
    let checkpoint = CleanerCheckpoint::read(&dir)?;
    let Some(plan) = lock().plan_clean(&checkpoint, params.now_ms) else {
        return Ok(None);
    };
    let (map, map_end) = build_offset_map(&plan, params.dedupe_buffer_bytes, stop)?;
    let policy = TombstonePolicy {
        now_ms: params.now_ms,
        delete_retention_ms: plan.config.delete_retention_ms,
    };
    let mut report = CleanReport {
        dirty_ratio: plan.dirty_ratio,
        keys: map.len(),
        first_dirty_offset: checkpoint.first_dirty_offset,
        ..CleanReport::default()
    };
    let mut horizon = None;
    for group in plan.groups(map_end) {
        if stop() {
            report.interrupted = true;
            break;
        }
        let old = &plan.segments[group];
        let cleaned = write_cleaned(&plan, old, &map, policy)?;
        horizon = earliest(horizon, cleaned.filled.tombstone_horizon);
        report.records_removed += cleaned.filled.removed;
        let Some(segment) = cleaned.segment else { continue };
        let size = segment.size();
        if !lock().commit_swap(old, segment)? {
            report.interrupted = true;
            break;
        }
        report.segments_before += old.len();
        report.segments_after += 1;
        report.bytes_before += old.iter().map(|s| s.size).sum::<u64>();
        report.bytes_after += size;
    }
    let next = if report.interrupted {
        CleanerCheckpoint {
            first_dirty_offset: checkpoint.first_dirty_offset,
            next_delete_horizon_ms: earliest(checkpoint.next_delete_horizon_ms, horizon),
        }
    } else {
        CleanerCheckpoint {
            first_dirty_offset: map_end
                .checked_sub(1)
                .map_or(checkpoint.first_dirty_offset, |last| plan.segments[last].next_base),
            next_delete_horizon_ms: horizon,
        }
    };
    if lock().offline {
        // Deleted meanwhile: its directory is going away.
        return Ok(Some(report));
    }
    next.write(&dir)?;
    report.first_dirty_offset = next.first_dirty_offset;
    Ok(Some(report))
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Maps every key of the dirty segments to its latest offset. Returns the map and the index of the
/// first segment it does not cover: all of them, unless the budget ran out first (then the round
/// cleans up to there) or `stop` asked to end.
fn build_offset_map(plan: &CleanPlan, budget: usize, stop: &dyn Fn() -> bool) -> Result<(OffsetMap, usize), LogError> {
    let mut map = OffsetMap::default();
    for (i, segment) in plan.segments.iter().enumerate().skip(plan.first_dirty) {
        if stop() {
            return Ok((map, i));
        }
        let mut scanner = BatchScanner::new(&segment.file, &segment.path, segment.size, plan.max_batch);
        while let Some(ScannedBatch {
            position,
            header,
            bytes,
        }) = scanner.next_batch()?
        {
            if header.is_control() {
                continue;
            }
            let area = record_area(bytes, &header, plan.max_decompressed).map_err(|source| LogError::Records {
                path: segment.path.clone(),
                position,
                source,
            })?;
            for (index, record) in batch::records(&area).enumerate() {
                let record = record.map_err(|reason| LogError::Corrupt {
                    path: segment.path.clone(),
                    position,
                    source: BatchError::BadRecord {
                        index: index as i32,
                        reason,
                    },
                })?;
                if let Some(key) = record.key {
                    map.put(key, header.base_offset + i64::from(record.offset_delta));
                }
            }
            if map.bytes() > budget {
                // Entries already taken from this segment point at records that stay in the log
                // (this segment is not rewritten), so keeping them is harmless.
                if i == plan.first_dirty {
                    return Err(LogError::OffsetMapFull {
                        dir: plan.dir.clone(),
                        segment: segment.base_offset,
                        budget,
                    });
                }
                return Ok((map, i));
            }
        }
    }
    Ok((map, plan.segments.len()))
}

/// Writes the surviving batches of the segments `old` to `<base>.log.cleaned`, fsyncs it and
/// renames it to `<base>.log.swap`. On failure the partial file is removed.
fn write_cleaned(
    plan: &CleanPlan,
    old: &[SegmentRef],
    map: &OffsetMap,
    policy: TombstonePolicy,
) -> Result<CleanedGroup, LogError> {
    let base = old.first().map_or(0, |s| s.base_offset);
    // The replaced segments' age, for retention of a segment left without timestamps.
    let newest = old.iter().map(|s| s.newest_ms).max().unwrap_or(policy.now_ms);
    let mut segment = Segment::create_cleaned(&plan.dir, base, plan.index_config, newest)?;
    let finished = fill(&mut segment, plan, old, map, policy).and_then(|filled| {
        if !filled.changed && old.len() == 1 {
            return Ok((filled, false));
        }
        // Writing set the file's modification time; give it the replaced segments' age back.
        segment.set_created_ms(newest)?;
        segment.sync_log()?;
        segment.rename_log(offset_file(&plan.dir, base, SWAP_SUFFIX))?;
        sync_dir(&plan.dir)?;
        Ok((filled, true))
    });
    match finished {
        Ok((filled, true)) => Ok(CleanedGroup {
            segment: Some(segment),
            filled,
        }),
        Ok((filled, false)) => {
            remove_file(segment.path())?;
            Ok(CleanedGroup { segment: None, filled })
        }
        Err(e) => {
            // The old segments are untouched; a file left behind is dealt with at the next start.
            if let Err(cleanup) = remove_file(segment.path()) {
                warn!(cause = %cleanup, "could not remove a cleaned segment after a failed compaction");
            }
            Err(e)
        }
    }
}

fn remove_file(path: &std::path::Path) -> Result<(), LogError> {
    std::fs::remove_file(path).map_err(super::error::io_err("deleting cleaned segment", path))
}

fn fill(
    segment: &mut Segment,
    plan: &CleanPlan,
    old: &[SegmentRef],
    map: &OffsetMap,
    policy: TombstonePolicy,
) -> Result<Filled, LogError> {
    let mut filled = Filled::default();
    for source in old {
        let mut scanner = BatchScanner::new(&source.file, &source.path, source.size, plan.max_batch);
        while let Some(ScannedBatch {
            position,
            header,
            bytes,
        }) = scanner.next_batch()?
        {
            let verdict = filter_batch(
                bytes,
                &header,
                (&source.path, position),
                map,
                policy,
                plan.max_decompressed,
            )?;
            filled.removed += verdict.removed;
            filled.tombstone_horizon = earliest(filled.tombstone_horizon, verdict.tombstone_horizon);
            match verdict.filtered {
                Filtered::Keep => append(segment, &header, bytes)?,
                Filtered::Drop => filled.changed = true,
                Filtered::Rewrite(rebuilt) => {
                    filled.changed = true;
                    let header = BatchHeader::parse(&rebuilt).map_err(|source| LogError::Corrupt {
                        path: segment.path().to_owned(),
                        position: segment.size(),
                        source,
                    })?;
                    append(segment, &header, &rebuilt)?;
                }
            }
        }
    }
    Ok(filled)
}

/// Runs a round up to, not including, the swap: the state a crash between steps 3 and 4 leaves.
/// Returns each `.swap` segment with the segments it replaces.
#[cfg(test)]
pub(super) fn prepare_swaps(log: &PartitionLog, now_ms: i64) -> Vec<(Vec<SegmentRef>, Segment)> {
    let checkpoint = CleanerCheckpoint::read(&log.dir).expect("checkpoint");
    let plan = log.plan_clean(&checkpoint, now_ms).expect("a round to run");
    let (map, end) = build_offset_map(&plan, 1 << 20, &|| false).expect("offset map");
    let policy = TombstonePolicy {
        now_ms,
        delete_retention_ms: plan.config.delete_retention_ms,
    };
    plan.groups(end)
        .into_iter()
        .filter_map(|group| {
            let old = plan.segments[group].to_vec();
            let cleaned = write_cleaned(&plan, &old, &map, policy).expect("write");
            cleaned.segment.map(|segment| (old, segment))
        })
        .collect()
}

fn append(segment: &mut Segment, header: &BatchHeader, bytes: &[u8]) -> Result<(), LogError> {
    segment.append(header, &[], bytes).map_err(|failure| failure.error)
}

#[cfg(test)]
#[path = "cleaner_test.rs"]
mod tests;

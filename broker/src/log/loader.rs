//! Opening a partition log from disk (Kafka's `LogLoader`).
//!
//! After a clean shutdown every segment is opened from its indexes, scanning only the bytes after
//! the last index entry. After an unclean one, segments from the recovery point on are re-read
//! batch by batch, CRC-checked, their indexes rebuilt, and the log cut at the first torn or
//! corrupt batch; segments after a cut are deleted, since the log must stay contiguous. A
//! compaction interrupted by the crash is finished or discarded first (see `super::swap`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rill_client::protocol::batch::LOG_OVERHEAD;
use tracing::{info, warn};

use super::error::{LogError, io_err};
use super::file_names::{INDEX_SUFFIX, LOG_SUFFIX, SNAPSHOT_SUFFIX, TIME_INDEX_SUFFIX, offset_file, parse_offset_file};
use super::partition_log::{PartitionLog, snapshot_offsets};
use super::producer_state::ProducerStates;
use super::segment::Segment;
use crate::config::TopicConfig;

/// What the data directory knows about a partition before it is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadParams {
    /// The previous shutdown was clean.
    pub(crate) clean: bool,
    /// Offset below which data was known durable (from the checkpoint), if any.
    pub(crate) recovery_point: Option<i64>,
    /// Log start offset from the checkpoint, if any.
    pub(crate) log_start_offset: Option<i64>,
    /// Largest decompressed batch the log will inflate.
    pub(crate) max_decompressed: usize,
    /// Wall clock, milliseconds.
    pub(crate) now_ms: i64,
}

/// What loading had to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoadReport {
    /// Segments re-read batch by batch.
    pub(crate) recovered_segments: usize,
    /// Bytes cut from torn or corrupt tails.
    pub(crate) truncated_bytes: u64,
    /// Segments deleted because they followed a cut.
    pub(crate) dropped_segments: usize,
    /// Batches replayed into producer state.
    pub(crate) replayed_batches: usize,
}

impl PartitionLog {
    /// Creates an empty log in `dir` (the directory is created).
    pub(crate) fn create(
        dir: PathBuf,
        config: Arc<TopicConfig>,
        max_decompressed: usize,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        std::fs::create_dir_all(&dir).map_err(io_err("creating partition directory", &dir))?;
        let segment = Segment::create(&dir, 0, Self::index_config(&config), now_ms)?;
        super::checkpoint::sync_dir(&dir)?;
        Ok(Self::assemble(
            dir,
            config,
            BTreeMap::from([(0, segment)]),
            0,
            ProducerStates::default(),
            max_decompressed,
            now_ms,
        ))
    }

    /// Largest batch a stored segment may hold: twice `max.message.bytes` (at least 1 MiB), since
    /// the limit may have been lowered after larger batches were appended. Bigger length fields
    /// are treated as corruption rather than allocated.
    pub(super) fn max_stored_batch(config: &TopicConfig) -> usize {
        (config.max_message_bytes.max(0) as usize).max(1 << 20) * 2 + LOG_OVERHEAD
    }

    fn assemble(
        dir: PathBuf,
        config: Arc<TopicConfig>,
        segments: BTreeMap<i64, Segment>,
        log_start_offset: i64,
        producers: ProducerStates,
        max_decompressed: usize,
        now_ms: i64,
    ) -> Self {
        let next_offset = segments.values().next_back().map_or(0, Segment::next_offset);
        Self {
            dir,
            config,
            segments,
            log_start_offset,
            next_offset,
            flushed_offset: next_offset,
            appended_messages: 0,
            flushed_messages: 0,
            last_flush_ms: now_ms,
            producers,
            pending_sync: Vec::new(),
            leader_epoch: 0,
            offline: false,
            max_decompressed,
        }
    }

    /// Opens the log in `dir`, recovering it if the last shutdown was not clean.
    pub(crate) fn load(
        dir: PathBuf,
        config: Arc<TopicConfig>,
        params: LoadParams,
    ) -> Result<(Self, LoadReport), LogError> {
        let mut report = LoadReport::default();
        let index_config = Self::index_config(&config);
        super::swap::finish_interrupted_cleaning(&dir, Self::max_stored_batch(&config))?;
        let bases = scan_dir(&dir)?;
        if bases.is_empty() {
            let start = params.log_start_offset.unwrap_or(0).max(0);
            let segment = Segment::create(&dir, start, index_config, params.now_ms)?;
            let log = Self::assemble(
                dir,
                config,
                BTreeMap::from([(start, segment)]),
                start,
                ProducerStates::default(),
                params.max_decompressed,
                params.now_ms,
            );
            return Ok((log, report));
        }
        let recover_from = if params.clean {
            i64::MAX
        } else {
            // Re-read the segment holding the recovery point and everything after it.
            let point = params.recovery_point.unwrap_or(0);
            bases.iter().rev().find(|b| **b <= point).copied().unwrap_or(i64::MIN)
        };
        let max_batch = Self::max_stored_batch(&config);
        let mut segments = BTreeMap::new();
        let mut cut = false;
        for base in bases {
            if cut {
                let (segment, _) = Segment::open(&dir, base, index_config, params.now_ms)?;
                warn!(segment = %segment.path().display(), "deleting segment after a truncated one");
                segment.delete()?;
                report.dropped_segments += 1;
                continue;
            }
            let (mut segment, indexes_ok) = Segment::open(&dir, base, index_config, params.now_ms)?;
            if base >= recover_from || !indexes_ok {
                let recovered = segment.recover(max_batch)?;
                report.recovered_segments += 1;
                if recovered.truncated_bytes > 0 {
                    warn!(
                        segment = %segment.path().display(),
                        bytes = recovered.truncated_bytes,
                        reason = recovered.reason.as_deref().unwrap_or(""),
                        "truncated torn or corrupt tail"
                    );
                    report.truncated_bytes += recovered.truncated_bytes;
                    cut = true;
                }
                segment.flush(true)?;
            }
            segments.insert(base, segment);
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let next_offset = segments.values().next_back().map_or(0, Segment::next_offset);
        let log_start = params
            .log_start_offset
            .unwrap_or(first_base)
            .clamp(first_base, next_offset);
        let mut log = Self::assemble(
            dir,
            config,
            segments,
            log_start,
            ProducerStates::default(),
            params.max_decompressed,
            params.now_ms,
        );
        report.replayed_batches = log.load_producer_state(params.now_ms)?;
        if report.recovered_segments > 0 {
            info!(dir = %log.dir.display(), ?report, "recovered partition log");
        }
        Ok((log, report))
    }

    /// Loads the newest usable producer snapshot and replays the batches after it.
    fn load_producer_state(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let mut offsets = snapshot_offsets(&self.dir)?;
        offsets.sort_unstable();
        let mut start = self.segments.keys().next().copied().unwrap_or(0);
        for offset in offsets.iter().rev() {
            let path = offset_file(&self.dir, *offset, SNAPSHOT_SUFFIX);
            if *offset > self.next_offset {
                std::fs::remove_file(&path).map_err(io_err("deleting stale snapshot", &path))?;
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io_err("reading", &path))?;
            match serde_json::from_slice::<ProducerStates>(&bytes) {
                Ok(states) => {
                    self.producers = states;
                    start = *offset;
                    break;
                }
                Err(e) => warn!(snapshot = %path.display(), cause = %e, "ignoring unreadable producer snapshot"),
            }
        }
        let mut replayed = 0;
        let from = self
            .segments
            .range(..=start)
            .next_back()
            .map_or(start, |(base, _)| *base);
        let bases: Vec<i64> = self.segments.range(from..).map(|(base, _)| *base).collect();
        for base in bases {
            let segment = &self.segments[&base];
            let Some((position, _)) = segment.find_batch(start)? else {
                continue;
            };
            let mut headers = Vec::new();
            for item in segment.headers_from(position) {
                let (_, header) = item?;
                if header.has_producer_id() {
                    headers.push(header);
                }
            }
            for header in headers {
                self.producers.update(&header, now_ms);
                replayed += 1;
            }
        }
        Ok(replayed)
    }
}

/// Base offsets of the segments in `dir`, after removing leftovers: temporary files, and indexes
/// or snapshots without a segment.
fn scan_dir(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut logs = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_offset_file(name) {
            Some((base, LOG_SUFFIX)) => logs.push(base),
            Some((base, INDEX_SUFFIX | TIME_INDEX_SUFFIX)) => others.push((base, entry.path())),
            _ if name.ends_with(".tmp") => {
                std::fs::remove_file(entry.path()).map_err(io_err("deleting leftover", &entry.path()))?;
            }
            _ => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in others {
        if logs.binary_search(&base).is_err() {
            std::fs::remove_file(&path).map_err(io_err("deleting orphan index", &path))?;
        }
    }
    Ok(logs)
}

//! Helpers for the compaction tests: a log written through a model of every record, a reader that
//! returns what a consumer would see, and the expected result of compaction.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rill_client::protocol::batch::{self, BatchHeader, Compression, validate, validate_stored};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_compressed_batch};
use rill_client::protocol::compression::record_area;

use super::cleaner::{CleanReport, CleanerParams, clean_log};
use super::loader::LoadParams;
use super::partition_log::PartitionLog;
use crate::config::{CleanupPolicy, TopicConfig};

/// A plausible wall clock; record `i` has timestamp `T0 + i`.
pub(crate) const T0: i64 = 1_700_000_000_000;

/// A compacted topic with small segments and no dirty-ratio threshold, adjusted by `f`.
pub(crate) fn compacted(f: impl FnOnce(&mut TopicConfig)) -> Arc<TopicConfig> {
    let mut config = TopicConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        segment_bytes: 4096,
        index_interval_bytes: 256,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1000,
        ..Default::default()
    };
    f(&mut config);
    Arc::new(config)
}

/// One record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rec {
    pub(crate) offset: i64,
    pub(crate) key: String,
    /// `None` for a tombstone.
    pub(crate) value: Option<String>,
    pub(crate) timestamp: i64,
}

/// A log and every record ever appended to it.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) log: PartitionLog,
    pub(crate) written: Vec<Rec>,
}

impl Writer {
    pub(crate) fn create(dir: &Path, config: Arc<TopicConfig>) -> Self {
        Self {
            log: PartitionLog::create(dir.to_owned(), config, 1 << 20, T0).expect("create log"),
            written: Vec::new(),
        }
    }

    /// Appends one uncompressed batch of values `<key>@<offset>`; returns its base offset.
    pub(crate) fn put(&mut self, keys: &[&str]) -> i64 {
        self.append(keys, false, Compression::None, ProducerStamp::NONE)
    }

    /// Appends one batch of tombstones.
    pub(crate) fn delete(&mut self, keys: &[&str]) -> i64 {
        self.append(keys, true, Compression::None, ProducerStamp::NONE)
    }

    pub(crate) fn append(&mut self, keys: &[&str], tombstone: bool, codec: Compression, stamp: ProducerStamp) -> i64 {
        let base = self.log.log_end_offset();
        let recs: Vec<Rec> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let offset = base + i as i64;
                Rec {
                    offset,
                    key: (*key).to_owned(),
                    value: (!tombstone).then(|| format!("{key}@{offset}")),
                    timestamp: T0 + offset,
                }
            })
            .collect();
        let records: Vec<NewRecord> = recs
            .iter()
            .map(|r| NewRecord {
                key: Some(r.key.clone().into_bytes()),
                value: r.value.clone().map(String::into_bytes),
                headers: vec![(b"h".to_vec(), Some(r.offset.to_string().into_bytes()))],
                timestamp: r.timestamp,
            })
            .collect();
        let wire = build_compressed_batch(&records, stamp, codec).expect("build");
        let header = validate(&wire).expect("valid").header;
        let appended = self.log.append(&wire, &header, T0).expect("append");
        assert_eq!(appended.base_offset, base);
        self.written.extend(recs);
        base
    }

    /// Closes the active segment so that everything written so far is cleanable.
    pub(crate) fn roll(&mut self) {
        self.log.roll(T0).expect("roll");
    }
}

/// Runs one cleaning round at `now_ms`.
pub(crate) fn clean(log: &mut PartitionLog, now_ms: i64) -> Option<CleanReport> {
    clean_with(log, now_ms, 1 << 20)
}

/// Runs one cleaning round with an offset-map budget.
pub(crate) fn clean_with(log: &mut PartitionLog, now_ms: i64, budget: usize) -> Option<CleanReport> {
    let cell = RefCell::new(log);
    let params = CleanerParams {
        now_ms,
        dedupe_buffer_bytes: budget,
    };
    clean_log(
        || std::cell::RefMut::map(cell.borrow_mut(), |l| &mut **l),
        params,
        &|| false,
    )
    .expect("clean")
}

/// Every batch from the log start, as a consumer reads them, with its records.
pub(crate) fn read_batches(log: &PartitionLog) -> Vec<(BatchHeader, Vec<Rec>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while let Some(slice) = log
        .plan_read(offset, 1 << 20, log.log_end_offset(), true)
        .expect("plan")
    {
        let bytes = slice.read().expect("read");
        for span in batch::batches(&bytes) {
            let wire = &bytes[span.expect("batch").range];
            let header = validate_stored(wire).expect("a valid stored batch").header;
            let area = record_area(wire, &header, 1 << 20).expect("records");
            let recs = batch::records(&area)
                .map(|r| {
                    let r = r.expect("record");
                    Rec {
                        offset: header.base_offset + i64::from(r.offset_delta),
                        key: String::from_utf8(r.key.expect("key").to_vec()).expect("utf8"),
                        value: r.value.map(|v| String::from_utf8(v.to_vec()).expect("utf8")),
                        timestamp: header.base_timestamp + r.timestamp_delta,
                    }
                })
                .collect();
            assert!(header.base_offset >= offset || header.last_offset() >= offset);
            offset = header.next_offset();
            out.push((header, recs));
        }
    }
    out
}

/// Every record from the log start.
pub(crate) fn read_all(log: &PartitionLog) -> Vec<Rec> {
    read_batches(log).into_iter().flat_map(|(_, recs)| recs).collect()
}

/// What compaction of `[0, end)` with nothing compacted before leaves: below `end` the latest
/// record of each key (tombstones included), from `end` on everything.
pub(crate) fn compacted_below(written: &[Rec], end: i64) -> Vec<Rec> {
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for r in written.iter().filter(|r| r.offset < end) {
        latest.insert(&r.key, r.offset);
    }
    written
        .iter()
        .filter(|r| r.offset >= end || latest.get(r.key.as_str()) == Some(&r.offset))
        .cloned()
        .collect()
}

/// Load parameters after a crash (`clean = false`) or a clean stop.
pub(crate) fn load_params(clean: bool) -> LoadParams {
    LoadParams {
        clean,
        recovery_point: None,
        log_start_offset: None,
        max_decompressed: 1 << 20,
        now_ms: T0,
    }
}

/// Names of the files in `dir`, sorted.
pub(crate) fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

use std::sync::Arc;

use rill_client::protocol::batch::{BatchHeader, validate};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_batch};

use super::*;
use crate::config::TopicConfig;
use crate::log::{LoadParams, ProducerError};

fn config(f: impl FnOnce(&mut TopicConfig)) -> Arc<TopicConfig> {
    let mut c = TopicConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..Default::default()
    };
    f(&mut c);
    Arc::new(c)
}

fn records(count: usize, ts: i64) -> Vec<NewRecord> {
    (0..count)
        .map(|i| NewRecord {
            key: Some(format!("k{i}").into_bytes()),
            value: Some(vec![i as u8; 100]),
            timestamp: ts + i as i64,
            ..Default::default()
        })
        .collect()
}

fn append(log: &mut PartitionLog, wire: &[u8], now: i64) -> Appended {
    let header = validate(wire).expect("valid").header;
    log.append(wire, &header, now).expect("append")
}

fn read_all(log: &PartitionLog, from: i64) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut offset = from;
    while let Some(plan) = log.plan_read(offset, 1000, log.log_end_offset(), true).expect("plan") {
        let bytes = plan.read().expect("read");
        for span in rill_client::protocol::batch::batches(&bytes) {
            let header = span.expect("batch").header;
            offset = header.next_offset();
            out.push(header);
        }
    }
    out
}

fn params(clean: bool) -> LoadParams {
    LoadParams {
        clean,
        recovery_point: None,
        log_start_offset: None,
        max_decompressed: 1 << 20,
        now_ms: 0,
    }
}

#[test]
fn offsets_are_assigned_and_segments_roll() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::create(dir.path().join("t-0"), config(|_| {}), 1 << 20, 0).expect("create");
    for i in 0..40 {
        let a = append(&mut log, &build_batch(&records(5, i * 10), ProducerStamp::NONE), 0);
        assert_eq!((a.base_offset, a.last_offset), (i * 5, i * 5 + 4));
    }
    assert_eq!(log.log_end_offset(), 200);
    assert!(log.segment_count() > 5, "4 KiB segments roll: {}", log.segment_count());
    let headers = read_all(&log, 0);
    assert_eq!(headers.len(), 40);
    assert!(headers.windows(2).all(|w| w[0].next_offset() == w[1].base_offset));
    // Reading from the middle of a batch returns that whole batch.
    let plan = log.plan_read(13, 10, 200, true).expect("plan").expect("some");
    let first = validate(&plan.read().expect("read")).expect("whole batch").header;
    assert_eq!(first.base_offset, 10);
}

#[test]
fn reads_stop_at_the_bound_and_reject_out_of_range() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::create(dir.path().join("t-0"), config(|_| {}), 1 << 20, 0).expect("create");
    for _ in 0..3 {
        append(&mut log, &build_batch(&records(2, 0), ProducerStamp::NONE), 0);
    }
    let bytes = log
        .plan_read(0, 1 << 20, 4, true)
        .expect("plan")
        .expect("some")
        .read()
        .expect("read");
    let headers: Vec<_> = rill_client::protocol::batch::batches(&bytes)
        .map(|s| s.expect("ok").header.base_offset)
        .collect();
    assert_eq!(headers, vec![0, 2]);
    assert!(log.plan_read(6, 100, 6, true).expect("at end").is_none());
    assert!(matches!(
        log.plan_read(7, 100, 6, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn idempotent_retry_returns_original_offsets_and_gap_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::create(dir.path().join("t-0"), config(|_| {}), 1 << 20, 0).expect("create");
    let stamp = |seq| ProducerStamp {
        producer_id: 42,
        producer_epoch: 0,
        base_sequence: seq,
    };
    let first = build_batch(&records(3, 0), stamp(0));
    append(&mut log, &build_batch(&records(1, 0), ProducerStamp::NONE), 0);
    let a = append(&mut log, &first, 0);
    let retry = append(&mut log, &first, 0);
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (a.base_offset, a.last_offset));
    assert_eq!(log.log_end_offset(), 4);
    let gap = build_batch(&records(1, 0), stamp(5));
    let header = validate(&gap).expect("valid").header;
    assert!(matches!(
        log.append(&gap, &header, 0),
        Err(LogError::Producer(ProducerError::OutOfOrderSequence { .. }))
    ));
}

#[test]
fn producer_state_survives_clean_and_unclean_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("t-0");
    let cfg = config(|_| {});
    let stamp = |seq| ProducerStamp {
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: seq,
    };
    let first = build_batch(&records(3, 0), stamp(0));
    {
        let mut log = PartitionLog::create(path.clone(), cfg.clone(), 1 << 20, 0).expect("create");
        append(&mut log, &first, 0);
        log.close(0).expect("close");
    }
    for clean in [true, false] {
        let (mut log, _) = PartitionLog::load(path.clone(), cfg.clone(), params(clean)).expect("load");
        let retry = append(&mut log, &first, 0);
        assert!(retry.duplicate, "clean={clean}");
        assert_eq!(retry.base_offset, 0);
    }
}

#[test]
fn clean_reopen_does_not_rescan_and_unclean_truncates_torn_tail() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("t-0");
    let cfg = config(|c| c.segment_bytes = 1 << 20);
    let mut log = PartitionLog::create(path.clone(), cfg.clone(), 1 << 20, 0).expect("create");
    for i in 0..10 {
        append(&mut log, &build_batch(&records(2, i), ProducerStamp::NONE), 0);
    }
    log.close(0).expect("close");
    drop(log);
    let (log, report) = PartitionLog::load(path.clone(), cfg.clone(), params(true)).expect("load");
    assert_eq!(report.recovered_segments, 0);
    assert_eq!(log.log_end_offset(), 20);
    drop(log);
    // Simulate a crash mid-write: garbage after the last batch.
    let seg = path.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).expect("read");
    let good = bytes.len();
    bytes.extend_from_slice(&build_batch(&records(2, 0), ProducerStamp::NONE)[..40]);
    std::fs::write(&seg, &bytes).expect("write");
    let (mut log, report) = PartitionLog::load(path.clone(), cfg, params(false)).expect("load");
    assert_eq!(report.recovered_segments, 1);
    assert_eq!(report.truncated_bytes, 40);
    assert_eq!(std::fs::metadata(&seg).expect("meta").len() as usize, good);
    assert_eq!(log.log_end_offset(), 20);
    let next = append(&mut log, &build_batch(&records(1, 0), ProducerStamp::NONE), 0);
    assert_eq!(next.base_offset, 20);
}

#[test]
fn segments_after_a_corrupt_one_are_dropped() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("t-0");
    let cfg = config(|_| {});
    let mut log = PartitionLog::create(path.clone(), cfg.clone(), 1 << 20, 0).expect("create");
    for _ in 0..40 {
        append(&mut log, &build_batch(&records(5, 0), ProducerStamp::NONE), 0);
    }
    log.close(0).expect("close");
    let segments = log.segment_count();
    drop(log);
    let first = path.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&first).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&first, &bytes).expect("write");
    let (log, report) = PartitionLog::load(path, cfg, params(false)).expect("load");
    assert_eq!(report.dropped_segments, segments - 1);
    assert_eq!(log.segment_count(), 1);
    assert!(log.log_end_offset() < 200);
}

#[test]
fn timestamp_lookups_find_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::create(dir.path().join("t-0"), config(|_| {}), 1 << 20, 0).expect("create");
    for i in 0..20 {
        // Records at 1000 + 10*i .. +4
        append(
            &mut log,
            &build_batch(&records(5, 1000 + 10 * i), ProducerStamp::NONE),
            0,
        );
    }
    assert_eq!(log.offset_for_timestamp(0).expect("io"), Some((0, 1000)));
    assert_eq!(log.offset_for_timestamp(1052).expect("io"), Some((27, 1052)));
    assert_eq!(log.offset_for_timestamp(1056).expect("io"), Some((30, 1060)));
    assert_eq!(log.offset_for_timestamp(5000).expect("io"), None);
    assert_eq!(log.max_timestamp_offset().expect("io"), Some((99, 1194)));
}

#[test]
fn retention_by_time_and_size_deletes_whole_segments() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log =
        PartitionLog::create(dir.path().join("t-0"), config(|c| c.retention_ms = 1000), 1 << 20, 0).expect("create");
    for i in 0..40 {
        append(&mut log, &build_batch(&records(5, i * 100), ProducerStamp::NONE), 0);
    }
    let before = log.segment_count();
    // Records are 0..3900 ms old relative to now=4000+1000: segments whose newest record is older
    // than 1000 ms go.
    let retained = log.apply_retention(3000).expect("retention");
    assert!(retained.segments > 0 && retained.segments < before, "{retained:?}");
    assert!(log.log_start_offset() > 0);
    let start = log.log_start_offset();
    assert!(matches!(
        log.plan_read(0, 100, 200, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(log.plan_read(start, 100, 200, true).expect("plan").is_some());
    // Everything expired: the active segment is rolled and the end offset kept.
    log.apply_retention(1_000_000).expect("retention");
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset(), log.segment_count()),
        (200, 200, 1)
    );

    let dir = tempfile::tempdir().expect("dir");
    let mut log =
        PartitionLog::create(dir.path().join("t-0"), config(|c| c.retention_bytes = 8192), 1 << 20, 0).expect("create");
    for _ in 0..40 {
        append(&mut log, &build_batch(&records(5, 0), ProducerStamp::NONE), 0);
    }
    log.apply_retention(0).expect("retention");
    assert!(log.size_bytes() <= 8192 + 4096, "{}", log.size_bytes());
    assert!(log.size_bytes() > 8192 - 4096);
}

#[test]
fn delete_records_moves_log_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::create(dir.path().join("t-0"), config(|_| {}), 1 << 20, 0).expect("create");
    for _ in 0..40 {
        append(&mut log, &build_batch(&records(5, 0), ProducerStamp::NONE), 0);
    }
    let segments = log.segment_count();
    assert_eq!(log.delete_records_before(123).expect("delete"), 123);
    assert!(log.segment_count() < segments);
    assert!(matches!(
        log.plan_read(122, 100, 200, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Reading at the new start returns the batch holding it.
    let bytes = log
        .plan_read(123, 100, 200, true)
        .expect("plan")
        .expect("some")
        .read()
        .expect("read");
    assert_eq!(validate(&bytes[..]).map(|v| v.header.base_offset).unwrap_or(-1), 120);
}

#[test]
fn log_append_time_overwrites_timestamps() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config(|c| c.message_timestamp_type = crate::config::TimestampType::LogAppendTime);
    let mut log = PartitionLog::create(dir.path().join("t-0"), cfg, 1 << 20, 0).expect("create");
    let a = append(&mut log, &build_batch(&records(2, 5), ProducerStamp::NONE), 777);
    assert_eq!(a.log_append_time, 777);
    let bytes = log
        .plan_read(0, 1000, 10, true)
        .expect("plan")
        .expect("some")
        .read()
        .expect("read");
    let h = validate(&bytes).expect("valid after rewrite").header;
    assert_eq!(h.max_timestamp, 777);
}

#[test]
fn oversized_batch_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::create(
        dir.path().join("t-0"),
        config(|c| c.max_message_bytes = 100),
        1 << 20,
        0,
    )
    .expect("create");
    let wire = build_batch(&records(2, 0), ProducerStamp::NONE);
    let header = validate(&wire).expect("valid").header;
    assert!(matches!(
        log.append(&wire, &header, 0),
        Err(LogError::RecordTooLarge { .. })
    ));
    assert_eq!(log.log_end_offset(), 0);
}

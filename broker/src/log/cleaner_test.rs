use rill_client::protocol::batch::Compression;
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_batch};

use super::*;
use crate::log::LogError;
use crate::log::cleaner_checkpoint::CleanerCheckpoint;
use crate::log::test_support::{
    T0, Writer, clean, clean_with, compacted, compacted_below, files, load_params, read_all, read_batches,
};

/// Keys `k0..k{n}`.
fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("k{i}")).collect()
}

fn refs(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

#[test]
fn keeps_the_latest_record_per_key_at_its_original_offset_and_leaves_the_active_segment() {
    let dir = tempfile::tempdir().expect("dir");
    let mut w = Writer::create(dir.path(), compacted(|_| {}));
    let all = keys(20);
    for _ in 0..10 {
        for chunk in all.chunks(5) {
            w.put(&refs(chunk));
        }
        // Small segments, which cleaning merges.
        w.roll();
    }
    // The active segment repeats some keys; it must come through untouched.
    let active_base = w.put(&["k1", "k2", "k1"]);
    let active_path = dir.path().join(format!("{active_base:020}.log"));
    let active_bytes = std::fs::read(&active_path).expect("active");
    let segments_before = w.log.segment_count();

    let report = clean(&mut w.log, T0).expect("a round runs");

    assert_eq!(read_all(&w.log), compacted_below(&w.written, active_base));
    assert_eq!(report.records_removed, 200 - 20);
    assert_eq!(report.keys, 20);
    assert_eq!(report.first_dirty_offset, active_base);
    assert!(report.bytes_after < report.bytes_before, "{report:?}");
    assert!(
        w.log.segment_count() < segments_before,
        "small cleaned segments are merged"
    );
    assert_eq!(std::fs::read(&active_path).expect("active"), active_bytes);
    // Offsets hold: reading from inside a removed range returns the next surviving record.
    let slice = w
        .log
        .plan_read(3, 1 << 20, w.log.log_end_offset(), true)
        .expect("plan")
        .expect("data");
    let first = rill_client::protocol::batch::BatchHeader::parse(&slice.read().expect("read")).expect("header");
    assert!(first.last_offset() >= 3);
    assert_eq!(w.log.log_start_offset(), 0);
    // Nothing dirty is left, so the next round has nothing to do.
    assert_eq!(clean(&mut w.log, T0), None);
    assert!(
        !files(dir.path())
            .iter()
            .any(|f| f.ends_with(".cleaned") || f.ends_with(".swap"))
    );
}

#[test]
fn cleaned_segments_stay_within_segment_bytes_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let config = compacted(|c| c.segment_bytes = 2048);
    let mut w = Writer::create(dir.path(), config.clone());
    let all = keys(60);
    for _ in 0..6 {
        for chunk in all.chunks(4) {
            w.put(&refs(chunk));
        }
    }
    w.roll();
    let end = w.log.log_end_offset();
    clean(&mut w.log, T0).expect("a round runs");
    let expected = compacted_below(&w.written, end);
    assert_eq!(read_all(&w.log), expected);
    for name in files(dir.path()).iter().filter(|f| f.ends_with(".log")) {
        let size = std::fs::metadata(dir.path().join(name)).expect("meta").len();
        assert!(size <= 2048, "{name} has {size} bytes");
    }
    w.log.close(T0).expect("close");
    drop(w.log);
    for clean_stop in [true, false] {
        let (log, _) =
            PartitionLog::load(dir.path().to_owned(), config.clone(), load_params(clean_stop)).expect("load");
        assert_eq!(read_all(&log), expected, "clean stop: {clean_stop}");
    }
}

#[test]
fn tombstones_stay_until_delete_retention_passes_then_go() {
    let dir = tempfile::tempdir().expect("dir");
    let retention = 5_000;
    let mut w = Writer::create(dir.path(), compacted(|c| c.delete_retention_ms = retention));
    w.put(&["a", "b", "c", "d"]);
    w.delete(&["a", "b"]);
    w.put(&["c"]);
    w.roll();
    let end = w.log.log_end_offset();

    let now = T0 + 100_000;
    clean(&mut w.log, now).expect("first round");
    assert_eq!(read_all(&w.log), compacted_below(&w.written, end));
    let tombstone_batch = read_batches(&w.log)
        .into_iter()
        .find(|(_, recs)| recs.iter().any(|r| r.value.is_none()))
        .expect("tombstones are kept at first");
    assert_eq!(tombstone_batch.0.delete_horizon_ms(), Some(now + retention));
    assert!(
        tombstone_batch.1.iter().all(|r| r.timestamp == T0 + r.offset),
        "timestamps survive the horizon"
    );
    let checkpoint = CleanerCheckpoint::read(dir.path()).expect("checkpoint");
    assert_eq!(checkpoint.next_delete_horizon_ms, Some(now + retention));

    assert_eq!(clean(&mut w.log, now + retention - 1), None, "not yet");
    let report = clean(&mut w.log, now + retention).expect("the horizon passed");
    assert_eq!(report.records_removed, 2);
    let left: Vec<(String, Option<String>)> = read_all(&w.log).into_iter().map(|r| (r.key, r.value)).collect();
    assert_eq!(
        left,
        [
            ("d".to_owned(), Some("d@3".to_owned())),
            ("c".to_owned(), Some("c@6".to_owned()))
        ]
    );
    assert_eq!(
        CleanerCheckpoint::read(dir.path())
            .expect("checkpoint")
            .next_delete_horizon_ms,
        None
    );
}

#[test]
fn records_younger_than_the_compaction_lag_are_left_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let lag = 1_000;
    let mut w = Writer::create(dir.path(), compacted(|c| c.min_compaction_lag_ms = lag));
    w.put(&["a", "b", "a", "b"]); // offsets 0-3
    w.roll();
    // Offsets 4-5 get timestamps T0+4, T0+5; pretend they are recent by choosing `now`.
    w.put(&["a", "c", "c"]);
    w.roll();
    let now = T0 + 3 + lag + 1; // segment 0 is older than the lag, segment 4 is not
    clean(&mut w.log, now).expect("a round runs");
    let offsets: Vec<i64> = read_all(&w.log).iter().map(|r| r.offset).collect();
    // Segment 0 is compacted on its own (its `a` is superseded only in the young segment); the
    // young segment keeps all its records.
    assert_eq!(offsets, [2, 3, 4, 5, 6]);
    assert_eq!(
        CleanerCheckpoint::read(dir.path())
            .expect("checkpoint")
            .first_dirty_offset,
        4
    );
    // Once the lag has passed, the rest is compacted too.
    clean(&mut w.log, T0 + 6 + lag + 1).expect("a round runs");
    let offsets: Vec<i64> = read_all(&w.log).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [3, 4, 6]);
}

#[test]
fn a_round_waits_for_the_dirty_ratio() {
    let dir = tempfile::tempdir().expect("dir");
    let mut w = Writer::create(dir.path(), compacted(|c| c.min_cleanable_dirty_ratio = 0.5));
    let all = keys(40);
    for chunk in all.chunks(4) {
        w.put(&refs(chunk));
    }
    w.roll();
    let first = clean(&mut w.log, T0).expect("everything is dirty at first");
    assert_eq!(first.dirty_ratio, 1.0);
    assert_eq!(first.records_removed, 0);
    // A little new data: well below half of the log.
    w.put(&["k0", "k1"]);
    w.roll();
    assert_eq!(clean(&mut w.log, T0), None);
    // Enough new data to make half of the log dirty.
    for chunk in all.chunks(4) {
        w.put(&refs(chunk));
    }
    w.roll();
    let end = w.log.log_end_offset();
    let report = clean(&mut w.log, T0).expect("dirty enough");
    assert!(report.dirty_ratio >= 0.5, "{report:?}");
    assert_eq!(read_all(&w.log), compacted_below(&w.written, end));
}

#[test]
fn compressed_batches_are_recompressed_with_their_own_codec() {
    let dir = tempfile::tempdir().expect("dir");
    let mut w = Writer::create(dir.path(), compacted(|c| c.segment_bytes = 1 << 20));
    let codecs = [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
        Compression::None,
    ];
    let mut codec_at = std::collections::HashMap::new();
    for round in 0..3 {
        for (i, codec) in codecs.iter().enumerate() {
            let keys = [format!("x{i}"), format!("y{round}"), format!("z{i}{round}")];
            let base = w.append(&refs(&keys), false, *codec, ProducerStamp::NONE);
            codec_at.insert(base, *codec);
        }
    }
    w.roll();
    let end = w.log.log_end_offset();
    clean(&mut w.log, T0).expect("a round runs");
    assert_eq!(read_all(&w.log), compacted_below(&w.written, end));
    let batches = read_batches(&w.log);
    assert!(
        batches.iter().any(|(h, recs)| h.records_count == 2 && recs.len() == 2),
        "some batches were thinned"
    );
    for (header, _) in batches {
        assert_eq!(
            header.compression(),
            Ok(codec_at[&header.base_offset]),
            "batch {}",
            header.base_offset
        );
    }
}

#[test]
fn producer_fields_survive_and_idempotence_still_works_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let config = compacted(|_| {});
    let mut w = Writer::create(dir.path(), config.clone());
    let stamp = |seq| ProducerStamp {
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: seq,
    };
    w.append(&["a", "b", "c"], false, Compression::None, stamp(0));
    w.append(&["a", "b", "d"], false, Compression::Lz4, stamp(3));
    w.roll();
    clean(&mut w.log, T0).expect("a round runs");
    let (first, recs) = read_batches(&w.log).into_iter().next().expect("a batch");
    assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), [2]);
    assert_eq!(
        (first.base_offset, first.last_offset_delta, first.records_count),
        (0, 2, 1)
    );
    assert_eq!(
        (first.producer_id, first.producer_epoch, first.base_sequence),
        (42, 3, 0)
    );
    drop(w.log);
    let (mut log, _) = PartitionLog::load(dir.path().to_owned(), config, load_params(false)).expect("load");
    // A retry of the last batch is recognised; the next one is in sequence.
    let record = |key: &str| NewRecord {
        key: Some(key.as_bytes().to_vec()),
        value: Some(b"again".to_vec()),
        ..Default::default()
    };
    let retry = build_batch(&[record("a"), record("b"), record("d")], stamp(3));
    let header = rill_client::protocol::batch::validate(&retry).expect("valid").header;
    let appended = log.append(&retry, &header, T0).expect("append");
    assert!(appended.duplicate);
    assert_eq!((appended.base_offset, appended.last_offset), (3, 5));
    let next = build_batch(&[record("e")], stamp(6));
    let header = rill_client::protocol::batch::validate(&next).expect("valid").header;
    assert!(!log.append(&next, &header, T0).expect("in sequence").duplicate);
}

#[test]
fn an_emptied_segment_keeps_the_log_start_and_reads_skip_it() {
    let dir = tempfile::tempdir().expect("dir");
    // Segments of ~700 bytes, too big to share a 1 KiB cleaned segment.
    let config = compacted(|c| {
        c.segment_bytes = 1024;
        c.cleanup_policy = crate::config::CleanupPolicy {
            compact: true,
            delete: true,
        };
        c.retention_ms = 60_000;
    });
    let mut w = Writer::create(dir.path(), config.clone());
    let all = keys(30);
    w.put(&refs(&all));
    w.roll();
    w.put(&refs(&all));
    w.roll();
    clean(&mut w.log, T0).expect("a round runs");
    let recs = read_all(&w.log);
    assert_eq!(recs.first().map(|r| r.offset), Some(30));
    assert_eq!(recs.len(), 30);
    assert_eq!(w.log.log_start_offset(), 0);
    assert_eq!(
        std::fs::metadata(dir.path().join(format!("{:020}.log", 0)))
            .expect("kept")
            .len(),
        0
    );
    // The emptied segment is aged by the records it replaced: retention keeps it, and does not
    // take it for a segment below the log start either.
    let segments = w.log.segment_count();
    w.log.apply_retention(T0 + 1_000).expect("retention");
    assert_eq!((w.log.log_start_offset(), w.log.segment_count()), (0, segments));
    w.log.close(T0).expect("close");
    drop(w.log);
    let (mut log, _) = PartitionLog::load(dir.path().to_owned(), config, load_params(false)).expect("load");
    assert_eq!(read_all(&log), recs);
    assert_eq!(log.log_start_offset(), 0);
    // Once everything is past retention.ms, all of it goes, the emptied segment first.
    log.apply_retention(T0 + 120_000).expect("retention");
    assert_eq!(log.log_start_offset(), 60);
}

#[test]
fn a_small_offset_map_cleans_in_several_rounds() {
    let dir = tempfile::tempdir().expect("dir");
    let mut w = Writer::create(dir.path(), compacted(|c| c.segment_bytes = 1 << 20));
    let all = keys(30);
    for chunk in all.chunks(10) {
        w.put(&refs(chunk));
        w.put(&refs(chunk));
        w.roll();
    }
    let end = w.log.log_end_offset();
    // Room for about one segment's ten keys.
    let budget = 10 * (3 + 48) + 20;
    let first = clean_with(&mut w.log, T0, budget).expect("first round");
    assert!(first.first_dirty_offset < end, "{first:?}");
    assert!(clean_with(&mut w.log, T0, budget).is_some());
    while clean_with(&mut w.log, T0, budget).is_some() {}
    assert_eq!(read_all(&w.log), compacted_below(&w.written, end));
    // A budget too small for a single segment's keys is an error that names the setting.
    w.put(&refs(&all));
    w.roll();
    let cell = std::cell::RefCell::new(&mut w.log);
    let params = CleanerParams {
        now_ms: T0,
        dedupe_buffer_bytes: 10,
    };
    let err = clean_log(
        || std::cell::RefMut::map(cell.borrow_mut(), |l| &mut **l),
        params,
        &|| false,
    )
    .expect_err("too small");
    assert!(matches!(err, LogError::OffsetMapFull { .. }), "{err}");
    assert!(err.to_string().contains("log.cleaner.dedupe.buffer.size"));
}

#[test]
fn topics_without_compaction_are_never_cleaned() {
    let dir = tempfile::tempdir().expect("dir");
    let mut w = Writer::create(
        dir.path(),
        compacted(|c| c.cleanup_policy = crate::config::CleanupPolicy::DELETE),
    );
    w.put(&["a", "a", "a"]);
    w.roll();
    assert_eq!(clean(&mut w.log, T0), None);
    assert_eq!(read_all(&w.log).len(), 3);
}

#[test]
fn a_durable_topic_is_cleaned_only_up_to_what_is_fsynced() {
    let dir = tempfile::tempdir().expect("dir");
    let mut w = Writer::create(dir.path(), compacted(|c| c.flush_messages = 1));
    w.put(&["a", "a"]);
    w.roll();
    assert_eq!(clean(&mut w.log, T0), None, "nothing is fsynced yet");
    let plan = w.log.plan_flush().expect("something to flush");
    plan.execute().expect("fsync");
    w.log.flush_done(&plan, T0);
    clean(&mut w.log, T0).expect("a round runs");
    assert_eq!(read_all(&w.log).iter().map(|r| r.offset).collect::<Vec<_>>(), [1]);
}

#[test]
fn a_checkpoint_past_the_log_end_makes_everything_dirty_again() {
    let dir = tempfile::tempdir().expect("dir");
    let mut w = Writer::create(dir.path(), compacted(|_| {}));
    w.put(&["a", "a"]);
    w.roll();
    // As left by a log that recovery has since cut short.
    CleanerCheckpoint {
        first_dirty_offset: 1_000,
        next_delete_horizon_ms: None,
    }
    .write(dir.path())
    .expect("write");
    clean(&mut w.log, T0).expect("a round runs");
    assert_eq!(read_all(&w.log).iter().map(|r| r.offset).collect::<Vec<_>>(), [1]);
}

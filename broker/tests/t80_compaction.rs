//! Log compaction through the wire: a compacted topic keeps the last value per key, tombstones go
//! after `delete.retention.ms`, readers see a consistent, ordered subset while the cleaner works,
//! and a compaction interrupted by a crash is finished at the next start.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{connect, create_topic, eventually, fetch, list_offset, produce};
use rill_broker::testing::TestBroker;
use rill_client::Connection;
use rill_client::protocol::batch::{self, BatchHeader, Compression, DELETE_HORIZON_BIT, HEADER_LEN, validate_stored};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_compressed_batch, rebuild_batch};
use rill_client::protocol::compression::record_area;
use tokio::sync::watch;

const TOPIC: &str = "compacted";
const KEYS: usize = 100;
const UPDATES: usize = 10_000;
/// Long enough that a slow machine never crosses it between two polls.
const DELETE_RETENTION_MS: i64 = 3_000;

/// One record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    key: String,
    value: Option<String>,
}

fn key(i: usize) -> String {
    format!("key-{:03}", i % KEYS)
}

/// Every value names the offset it was written at, so a record out of place cannot hide.
fn value(offset: i64) -> String {
    format!("value-at-{offset}")
}

async fn start_broker() -> TestBroker {
    TestBroker::start_with(|c| c.log_cleaner_backoff_ms = 50)
        .await
        .expect("broker")
}

async fn create_compacted(conn: &mut Connection) {
    create_topic(
        conn,
        TOPIC,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "16384"),
            // Segments roll by record time too: the sentinel below, an hour newer, closes the
            // segment holding the updates so that all of them are cleanable.
            ("segment.ms", "600000"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", &DELETE_RETENTION_MS.to_string()),
        ],
    )
    .await;
}

/// Produces records for `keys` (tombstones if `tombstone`) at the next offsets, `start` being the
/// first; timestamps are `ts`.
async fn produce_keys(
    conn: &mut Connection,
    start: i64,
    keys: &[String],
    tombstone: bool,
    codec: Compression,
    ts: i64,
) {
    let records: Vec<NewRecord> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| NewRecord {
            key: Some(k.clone().into_bytes()),
            value: (!tombstone).then(|| value(start + i as i64).into_bytes()),
            headers: Vec::new(),
            timestamp: ts,
        })
        .collect();
    let wire = build_compressed_batch(&records, ProducerStamp::NONE, codec).expect("build");
    assert_eq!(produce(conn, TOPIC, 0, Bytes::from(wire)).await, (0, start));
}

/// Writes `UPDATES` updates over `KEYS` keys in batches of 50 with rotating codecs, then a
/// sentinel an hour later; returns the offset after the sentinel.
async fn produce_updates(conn: &mut Connection, now: i64) -> i64 {
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Snappy,
    ];
    for (n, first) in (0..UPDATES).step_by(50).enumerate() {
        let keys: Vec<String> = (first..first + 50).map(key).collect();
        produce_keys(conn, first as i64, &keys, false, codecs[n % codecs.len()], now).await;
    }
    sentinel(conn, UPDATES as i64, now).await
}

async fn sentinel(conn: &mut Connection, offset: i64, now: i64) -> i64 {
    produce_keys(
        conn,
        offset,
        &["sentinel".to_owned()],
        false,
        Compression::None,
        now + 3_600_000,
    )
    .await;
    offset + 1
}

/// Reads the partition from offset 0 to the high watermark, checking that batches and records
/// come in increasing offset order.
async fn read_records(conn: &mut Connection) -> Vec<Rec> {
    let mut out: Vec<Rec> = Vec::new();
    let mut offset = 0;
    loop {
        let data = fetch(conn, TOPIC, 0, offset).await;
        assert_eq!(data.error_code, 0, "fetch at {offset}");
        let bytes = data.records.unwrap_or_default();
        let mut any = false;
        for span in batch::batches(&bytes) {
            let wire = &bytes[span.expect("batch").range];
            let header = validate_stored(wire).expect("every served batch is valid").header;
            let area = record_area(wire, &header, 1 << 20).expect("records");
            for record in batch::records(&area) {
                let record = record.expect("record");
                let at = header.base_offset + i64::from(record.offset_delta);
                if at < offset {
                    continue;
                }
                assert!(out.last().is_none_or(|last| last.offset < at), "offsets increase: {at}");
                out.push(Rec {
                    offset: at,
                    key: String::from_utf8(record.key.expect("key").to_vec()).expect("utf8"),
                    value: record.value.map(|v| String::from_utf8(v.to_vec()).expect("utf8")),
                });
            }
            offset = header.next_offset();
            any = true;
        }
        if !any {
            return out;
        }
    }
}

/// Checks that `recs` is a consistent subset of what was written: each record is the one written
/// at its offset, and each key's last record is its latest update.
fn assert_consistent(recs: &[Rec], latest: &BTreeMap<String, i64>) {
    let mut last_seen: BTreeMap<&str, i64> = BTreeMap::new();
    for r in recs {
        if let Some(v) = &r.value {
            assert_eq!(
                v,
                &value(r.offset),
                "the record at {} is the one written there",
                r.offset
            );
        }
        last_seen.insert(&r.key, r.offset);
    }
    for (k, offset) in latest {
        assert_eq!(last_seen.get(k.as_str()), Some(offset), "latest record of {k}");
    }
}

/// Offset of the last update of each key among the first `UPDATES` offsets.
fn latest_updates() -> BTreeMap<String, i64> {
    (UPDATES - KEYS..UPDATES).map(|i| (key(i), i as i64)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_updates_over_a_hundred_keys_compact_to_the_last_value_per_key() {
    let broker = start_broker().await;
    let mut conn = connect(&broker).await;
    create_compacted(&mut conn).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let end = produce_updates(&mut conn, now).await;
    let mut latest = latest_updates();

    // A consumer reading from offset 0 over and over while the cleaner works: every pass must be
    // a consistent, ordered subset holding every key's latest value.
    let (done_tx, mut done_rx) = watch::channel(false);
    let mut reader_conn = connect(&broker).await;
    let expected = latest.clone();
    let reader = tokio::spawn(async move {
        let mut passes = 0;
        while !*done_rx.borrow_and_update() {
            let recs = read_records(&mut reader_conn).await;
            assert_consistent(&recs, &expected);
            passes += 1;
        }
        passes
    });

    latest.insert("sentinel".to_owned(), end - 1);
    let compacted = eventually(Duration::from_secs(60), "compaction to one record per key", || {
        let broker_addr = broker.addr();
        async move {
            let mut conn = Connection::connect(broker_addr, "probe").await.expect("connect");
            let recs = read_records(&mut conn).await;
            (recs.len() == KEYS + 1).then_some(recs)
        }
    })
    .await;
    done_tx.send(true).expect("reader alive");
    assert!(reader.await.expect("reader") > 0, "the reader made full passes");

    let offsets: Vec<i64> = compacted.iter().map(|r| r.offset).collect();
    let want: Vec<i64> = latest
        .values()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        offsets, want,
        "exactly the last update of each key, at its original offset"
    );
    assert_consistent(&compacted, &latest);
    // Compaction moves neither end of the log.
    assert_eq!(list_offset(&mut conn, TOPIC, 0, -2).await.1, 0);
    assert_eq!(list_offset(&mut conn, TOPIC, 0, -1).await.1, end);
    // New writes continue at the end.
    produce_keys(&mut conn, end, &[key(7)], false, Compression::None, now).await;
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_disappear_after_delete_retention_ms() {
    let broker = start_broker().await;
    let mut conn = connect(&broker).await;
    create_compacted(&mut conn).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let all: Vec<String> = (0..KEYS).map(key).collect();
    for round in 0..3 {
        produce_keys(&mut conn, (round * KEYS) as i64, &all, false, Compression::Lz4, now).await;
    }
    let deleted: Vec<String> = all[..KEYS / 2].to_vec();
    let tombstones_at = (3 * KEYS) as i64;
    let produced = Instant::now();
    produce_keys(&mut conn, tombstones_at, &deleted, true, Compression::Gzip, now).await;
    let end = sentinel(&mut conn, tombstones_at + deleted.len() as i64, now).await;

    let live = |recs: &[Rec]| recs.iter().filter(|r| r.value.is_some()).count();
    let with_tombstones = eventually(Duration::from_secs(60), "compaction keeping tombstones", || {
        let addr = broker.addr();
        async move {
            let mut conn = Connection::connect(addr, "probe").await.expect("connect");
            let recs = read_records(&mut conn).await;
            (recs.len() == KEYS + 1).then_some(recs)
        }
    })
    .await;
    assert!(
        produced.elapsed() < Duration::from_millis(DELETE_RETENTION_MS as u64),
        "the machine was too slow to observe the tombstones before delete.retention.ms"
    );
    let tombstones: Vec<&Rec> = with_tombstones.iter().filter(|r| r.value.is_none()).collect();
    assert_eq!(tombstones.len(), KEYS / 2);
    assert!(
        tombstones
            .iter()
            .all(|r| r.offset >= tombstones_at && deleted.contains(&r.key))
    );
    assert_eq!(live(&with_tombstones), KEYS / 2 + 1);

    let without = eventually(Duration::from_secs(60), "tombstones to go", || {
        let addr = broker.addr();
        async move {
            let mut conn = Connection::connect(addr, "probe").await.expect("connect");
            let recs = read_records(&mut conn).await;
            (recs.len() == KEYS / 2 + 1).then_some(recs)
        }
    })
    .await;
    assert!(
        produced.elapsed() >= Duration::from_millis(DELETE_RETENTION_MS as u64),
        "tombstones were kept for delete.retention.ms"
    );
    assert!(without.iter().all(|r| r.value.is_some() && !deleted.contains(&r.key)));
    let mut latest: BTreeMap<String, i64> = all[KEYS / 2..]
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), (2 * KEYS + KEYS / 2 + i) as i64))
        .collect();
    latest.insert("sentinel".to_owned(), end - 1);
    assert_consistent(&without, &latest);
    drop(broker);
}

/// Files of the partition directory with the given suffix.
fn with_suffix(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_interrupted_by_a_crash_is_finished_at_the_next_start() {
    // No cleaning in the first run: the log keeps every update, in many segments.
    let broker = TestBroker::start_with(|c| c.log_cleaner_enable = false)
        .await
        .expect("broker");
    let mut conn = connect(&broker).await;
    create_compacted(&mut conn).await;
    let end = produce_updates(&mut conn, 1_700_000_000_000).await;
    let before = read_records(&mut conn).await;
    assert_eq!(before.len() as i64, end);
    let temp = broker.stop().await.expect("stop").expect("temp");
    let partition = temp.path().join(format!("{TOPIC}-0"));

    // What a crash in the middle of a compaction leaves: a half-written `.cleaned` copy of the
    // first segment, and a complete `.swap` for the second (its own data, which is a valid
    // compaction result) whose original's files were already being deleted; no clean marker.
    let logs = with_suffix(&partition, ".log");
    assert!(logs.len() > 3, "{logs:?}");
    let first = std::fs::read(&logs[0]).expect("read");
    std::fs::write(logs[0].with_extension("log.cleaned"), &first[..first.len() / 2]).expect("cleaned");
    std::fs::copy(&logs[1], logs[1].with_extension("log.swap")).expect("swap");
    std::fs::remove_file(&logs[1]).expect("delete the original");
    std::fs::remove_file(logs[1].with_extension("index")).expect("delete its index");
    std::fs::remove_file(temp.path().join(".rill_cleanshutdown")).expect("marker");

    let broker = TestBroker::start_in(temp.path(), |c| c.log_cleaner_enable = false)
        .await
        .expect("restart");
    assert!(with_suffix(&partition, ".cleaned").is_empty());
    assert!(with_suffix(&partition, ".swap").is_empty());
    let mut conn = connect(&broker).await;
    assert_eq!(
        read_records(&mut conn).await,
        before,
        "the log reads as before the crash"
    );
    broker.stop().await.expect("stop");

    // And the cleaner, running again, compacts it.
    let broker = TestBroker::start_in(temp.path(), |c| c.log_cleaner_backoff_ms = 50)
        .await
        .expect("restart");
    let mut latest = latest_updates();
    latest.insert("sentinel".to_owned(), end - 1);
    let compacted = eventually(Duration::from_secs(60), "compaction after the restart", || {
        let addr = broker.addr();
        async move {
            let mut conn = Connection::connect(addr, "probe").await.expect("connect");
            let recs = read_records(&mut conn).await;
            (recs.len() == KEYS + 1).then_some(recs)
        }
    })
    .await;
    assert_consistent(&compacted, &latest);
    drop(broker);
    drop(temp);
}

#[tokio::test]
async fn producers_may_not_set_a_delete_horizon() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = connect(&broker).await;
    create_compacted(&mut conn).await;
    let records = [NewRecord {
        key: Some(b"k".to_vec()),
        value: None,
        headers: Vec::new(),
        timestamp: 0,
    }];
    let plain = rill_client::protocol::builder::build_batch(&records, ProducerStamp::NONE);
    let header = validate_stored(&plain).expect("valid").header;
    // A horizon in the past would have the cleaner drop the tombstone at once.
    let forged = BatchHeader {
        attributes: header.attributes | DELETE_HORIZON_BIT,
        ..header
    };
    let wire = rebuild_batch(&forged, Compression::None, &plain[HEADER_LEN..], 1).expect("rebuild");
    let (code, _) = produce(&mut conn, TOPIC, 0, Bytes::from(wire)).await;
    assert_eq!(code, 87, "INVALID_RECORD");
    drop(broker);
}

//! `rill broker` killed with SIGKILL again and again while a producer overwrites a small set of
//! keys and the log cleaner compacts them (a pass every millisecond, so that kills land in the
//! middle of cleaning rounds, swaps included): after every restart the log reads as an ordered
//! subset of what was written, with every key's latest acknowledged update, and the cleaner goes on
//! compacting it.

mod process;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use process::BrokerProcess;
use rill_client::Connection;
use rill_client::protocol::batch::{self, Compression};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_compressed_batch};
use rill_client::protocol::compression::record_area;

const TOPIC: &str = "kill-compacted";
const KEYS: i64 = 500;
/// Kills that must interrupt a cleaning round, and the most lives to get them in.
const WANTED_INTERRUPTIONS: usize = 2;
const MAX_LIVES: usize = 30;
const UPDATES_PER_LIFE: i64 = 3_000;
const BATCH: i64 = 10;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// The record at `offset` updates key `offset % KEYS` to a value naming the offset.
fn key(offset: i64) -> String {
    format!("key-{:02}", offset % KEYS)
}

/// About a kilobyte, so that a cleaning round has enough to copy to be caught in the middle.
fn value(offset: i64) -> String {
    format!("update-{offset:08}-").repeat(60)
}

async fn create_topic(conn: &mut Connection) {
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "65536"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ];
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                    .collect(),
            ),
    ]);
    let response = conn.send(7, &request).await.expect("create topics");
    assert_eq!(response.topics[0].error_code, 0);
}

/// Produces `BATCH` updates starting at `offset` (acks=1) and checks where they landed.
async fn produce(conn: &mut Connection, offset: i64) {
    let records: Vec<NewRecord> = (offset..offset + BATCH)
        .map(|o| NewRecord {
            key: Some(key(o).into_bytes()),
            value: Some(value(o).into_bytes()),
            ..Default::default()
        })
        .collect();
    let codec = if (offset / BATCH) % 2 == 0 {
        Compression::None
    } else {
        Compression::Lz4
    };
    let wire = build_compressed_batch(&records, ProducerStamp::NONE, codec).expect("build");
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(wire))),
                ]),
        ]);
    let response = conn.send(8, &request).await.expect("produce");
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(
        (p.error_code, p.base_offset),
        (0, offset),
        "acknowledged at the next offset"
    );
}

/// Reads the partition from offset 0: (offset, key, value) of every record, checking the order.
async fn read_all(conn: &mut Connection) -> (Vec<(i64, String, String)>, i64) {
    let mut out: Vec<(i64, String, String)> = Vec::new();
    let mut offset = 0;
    loop {
        let request = FetchRequest::default()
            .with_max_bytes(4 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(s(TOPIC)))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let response = conn.send(11, &request).await.expect("fetch");
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0, "fetch at {offset}");
        let records = data.records.clone().unwrap_or_default();
        if records.is_empty() {
            return (out, data.high_watermark);
        }
        for span in batch::batches(&records) {
            let wire = &records[span.expect("batch").range];
            let header = batch::validate_stored(wire)
                .expect("every served batch is valid")
                .header;
            let area = record_area(wire, &header, 1 << 20).expect("records");
            for record in batch::records(&area) {
                let record = record.expect("record");
                let at = header.base_offset + i64::from(record.offset_delta);
                if at < offset {
                    continue;
                }
                assert!(
                    out.last().is_none_or(|(last, _, _)| *last < at),
                    "offsets increase at {at}"
                );
                out.push((
                    at,
                    String::from_utf8(record.key.expect("key").to_vec()).expect("utf8"),
                    String::from_utf8(record.value.expect("value").to_vec()).expect("utf8"),
                ));
            }
            offset = header.next_offset();
        }
    }
}

/// Checks a full read against the `end` updates written so far: each record is the one written at
/// its offset, and each key's last record is its latest update. Returns the number of records.
async fn check(conn: &mut Connection, end: i64) -> usize {
    let (records, high_watermark) = read_all(conn).await;
    assert_eq!(high_watermark, end, "every acknowledged update is still in the log");
    let mut latest: BTreeMap<String, i64> = BTreeMap::new();
    for (offset, k, v) in &records {
        assert_eq!((k, v), (&key(*offset), &value(*offset)), "the record at {offset}");
        latest.insert(k.clone(), *offset);
    }
    for o in end - KEYS..end {
        assert_eq!(latest.get(&key(o)), Some(&o), "the latest update of {}", key(o));
    }
    records.len()
}

/// Files an interrupted cleaning round leaves in the partition directory.
fn cleaning_leftovers(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(format!("{TOPIC}-0")))
        .expect("partition directory")
        .filter(|e| {
            let name = e.as_ref().expect("entry").file_name();
            let name = name.to_string_lossy();
            name.ends_with(".cleaned") || name.ends_with(".swap")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_compaction_leaves_a_readable_log() {
    let dir = tempfile::tempdir().expect("temp");
    let args = ["--set", "log.cleaner.backoff.ms=1"];
    let mut end = 0i64;
    let mut interrupted = 0;
    let mut lives = 0;
    // Keep killing until kills have landed in the middle of cleaning rounds, as the `.cleaned` or
    // `.swap` files they leave show; rounds take most of the broker's time, so few lives suffice.
    while interrupted < WANTED_INTERRUPTIONS {
        assert!(
            lives < MAX_LIVES,
            "only {interrupted} of {lives} kills interrupted a cleaning round"
        );
        let broker = BrokerProcess::start(dir.path(), &args);
        let mut conn = Connection::connect(broker.addr(), "kill-test").await.expect("connect");
        if lives == 0 {
            create_topic(&mut conn).await;
        } else {
            check(&mut conn, end).await;
        }
        for _ in 0..UPDATES_PER_LIFE / BATCH {
            produce(&mut conn, end).await;
            end += BATCH;
        }
        let killed = broker.signal_and_wait("KILL");
        assert!(!killed.success());
        if cleaning_leftovers(dir.path()) > 0 {
            interrupted += 1;
        }
        lives += 1;
    }
    // After the last kill the log is readable, its interrupted round is finished or discarded, and
    // the cleaner goes on compacting it: down to about one record per key (the active segment
    // aside).
    let broker = BrokerProcess::start(dir.path(), &args);
    let mut conn = Connection::connect(broker.addr(), "kill-test").await.expect("connect");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        ticks.tick().await;
        let records = check(&mut conn, end).await;
        if (records as i64) < 2 * KEYS {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {records} records of {end} after a minute of cleaning"
        );
    }
    let status = broker.signal_and_wait("TERM");
    assert!(status.success());
}

//! Compatibility with the Python Kafka clients: kafka-python, confluent-kafka (librdkafka) and
//! aiokafka, each driven through `tests/compat/kclient.py` against an in-process broker.
//!
//! Needs the virtualenv `scripts/test` builds (`RILL_TEST_PYTHON`); fails, naming
//! `scripts/test`, when it is missing.

mod common;

use std::time::Duration;

use common::kclient::{Client, KClient};
use common::records::{Record, base_timestamp, generate};
use common::verify::{Consumed, Timestamps, assert_same_records, check_codecs, stored_codecs, verify_round_trip};
use rill_broker::testing::TestBroker;

async fn start_broker() -> TestBroker {
    TestBroker::start().await.expect("start the broker")
}

/// Offsets of every record, counted per partition from the delivery reports.
fn records_per_partition(deliveries: &[common::verify::Delivery], partitions: i32) -> Vec<i64> {
    let mut counts = vec![0; partitions as usize];
    for d in deliveries {
        counts[d.partition as usize] += 1;
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// 1,000 keyed records per client: create a 3-partition topic, produce, consume, compare.

async fn round_trip(client: Client) {
    let broker = start_broker().await;
    let kc = KClient::new(client, &broker.bootstrap());
    let topic = format!("round-trip-{client}");
    kc.create_topic(&topic, 3).await;
    let topics = kc.list_topics().await;
    assert_eq!(
        topics.get(&topic),
        Some(&vec![0, 1, 2]),
        "{client} lists the new topic: {topics:?}"
    );

    let records = generate(1000, client.name(), client.features(), base_timestamp());
    let deliveries = kc.produce(&topic, &records, &[]).await;
    let consumed = kc.consume(&topic, &[]).await;
    verify_round_trip(
        &format!("{client} produce -> {client} consume"),
        &records,
        Some(&deliveries),
        &consumed,
        3,
        Timestamps::Exact,
    );

    let counts = records_per_partition(&deliveries, 3);
    assert!(
        counts.iter().all(|&n| n > 0),
        "{client}'s partitioner used every partition: {counts:?}"
    );
    let earliest = kc.list_offsets(&topic, "earliest").await;
    let latest = kc.list_offsets(&topic, "latest").await;
    for p in 0..3 {
        assert_eq!(earliest[&p].0, Some(0), "{client}: earliest offset of partition {p}");
        assert_eq!(
            latest[&p].0,
            Some(counts[p as usize]),
            "{client}: latest offset of partition {p}"
        );
    }
    let codecs = stored_codecs(broker.data_dir(), &topic);
    assert!(
        !codecs.is_empty() && codecs.iter().all(|&c| c == 0),
        "{client}: uncompressed batches stored as sent: {codecs:?}"
    );
    broker.stop().await.expect("stop the broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_round_trips_1000_keyed_records() {
    round_trip(Client::KafkaPython).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_round_trips_1000_keyed_records() {
    round_trip(Client::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiokafka_round_trips_1000_keyed_records() {
    round_trip(Client::AioKafka).await;
}

// ---------------------------------------------------------------------------------------------
// Records produced by one client are read by every other.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_reads_what_every_client_produced() {
    let broker = start_broker().await;
    for producer in Client::ALL {
        let kp = KClient::new(producer, &broker.bootstrap());
        let topic = format!("matrix-{producer}");
        kp.create_topic(&topic, 3).await;
        let records = generate(200, &topic, producer.features(), base_timestamp());
        // Idempotent producers, so that InitProducerId and sequence numbers get exercised too.
        let deliveries = kp.produce(&topic, &records, &["--idempotence", "on"]).await;
        for consumer in Client::ALL {
            let consumed = KClient::new(consumer, &broker.bootstrap()).consume(&topic, &[]).await;
            verify_round_trip(
                &format!("{producer} produce -> {consumer} consume"),
                &records,
                Some(&deliveries),
                &consumed,
                3,
                Timestamps::Exact,
            );
        }
    }
    broker.stop().await.expect("stop the broker");
}

// ---------------------------------------------------------------------------------------------
// Compressed batches: each client × gzip, snappy, lz4, zstd, read back by the next client.

async fn compression(client: Client) {
    let broker = start_broker().await;
    let kc = KClient::new(client, &broker.bootstrap());
    let reader = KClient::new(client.next(), &broker.bootstrap());
    // Batches the client did not compress as asked; checked after every codec has round-tripped.
    let mut not_compressed = Vec::new();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("z-{client}-{codec}");
        kc.create_topic(&topic, 3).await;
        let records = generate(150, &topic, client.features(), base_timestamp());
        let deliveries = kc
            .produce(&topic, &records, &["--compression", codec, "--linger-ms", "50"])
            .await;
        let consumed = reader.consume(&topic, &[]).await;
        verify_round_trip(
            &format!("{client} produce with {codec} -> {} consume", reader.client),
            &records,
            Some(&deliveries),
            &consumed,
            3,
            Timestamps::Exact,
        );
        let codecs = stored_codecs(broker.data_dir(), &topic);
        assert!(
            codecs.len() < records.len(),
            "{client} with {codec}: {} batches for {} records; batches hold several records",
            codecs.len(),
            records.len()
        );
        if let Err(e) = check_codecs(&codecs, codec) {
            not_compressed.push(e);
        }
    }
    // librdkafka sends lz4 only to brokers that advertise FindCoordinator (API 10): its
    // RD_KAFKA_FEATURE_LZ4 depends on it (rdkafka_feature.c), a proxy for "Kafka >= 0.8.2".
    // Until Rill serves FindCoordinator, confluent-kafka's lz4 batches go out uncompressed.
    assert!(
        not_compressed.is_empty(),
        "{client}: stored batches must use the codec the producer was configured with (ids: gzip 1, \
         snappy 2, lz4 3, zstd 4); the records round-tripped, but the client did not compress: {not_compressed:?}. \
         For confluent-kafka/librdkafka and lz4 the cause is that the broker does not advertise FindCoordinator \
         (librdkafka gates LZ4 on it and logs \"Broker does not support compression type lz4: not compressing batch\")"
    );
    broker.stop().await.expect("stop the broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_compressed_batches_round_trip() {
    compression(Client::KafkaPython).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_compressed_batches_round_trip() {
    compression(Client::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiokafka_compressed_batches_round_trip() {
    compression(Client::AioKafka).await;
}

// ---------------------------------------------------------------------------------------------
// A record near 1 MB, empty values and keys, null keys and values.

/// The broker's `message.max.bytes` is 1,048,588; this value leaves room for the batch.
const LARGE_VALUE: usize = 1_000_000;

fn edge_records(client: Client, ts: i64) -> Vec<Record> {
    let record = |key: Option<&[u8]>, value: Option<Vec<u8>>, i: i64| Record {
        key: key.map(<[u8]>::to_vec),
        value,
        headers: vec![("edge".to_owned(), Some(format!("{i}").into_bytes()))],
        timestamp: Some(ts + i),
        partition: None,
    };
    let large: Vec<u8> = (0..LARGE_VALUE).map(|i| (i * 7 % 256) as u8).collect();
    let mut records = vec![
        record(Some(b"large"), Some(large), 0),
        record(Some(b"empty-value"), Some(Vec::new()), 1),
        record(None, Some(b"null key".to_vec()), 2),
        record(Some(b""), Some(b"empty key".to_vec()), 3),
        record(Some(b""), Some(Vec::new()), 4),
        record(Some(b"tombstone"), None, 5),
        record(Some(b"after"), Some(b"the edge cases".to_vec()), 6),
    ];
    if client == Client::Confluent {
        // Only librdkafka sends a record with neither key nor value.
        records.push(record(None, None, 7));
    }
    records
}

async fn large_empty_and_null(client: Client) {
    let broker = start_broker().await;
    let kc = KClient::new(client, &broker.bootstrap());
    let topic = format!("edges-{client}");
    kc.create_topic(&topic, 1).await;
    let records = edge_records(client, base_timestamp());
    let deliveries = kc.produce(&topic, &records, &["--max-request-size", "1048576"]).await;
    for consumer in Client::ALL {
        let consumed = KClient::new(consumer, &broker.bootstrap()).consume(&topic, &[]).await;
        verify_round_trip(
            &format!("{client} produce -> {consumer} consume of large, empty and null"),
            &records,
            Some(&deliveries),
            &consumed,
            1,
            Timestamps::Exact,
        );
    }
    broker.stop().await.expect("stop the broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_large_record_empty_value_null_key() {
    large_empty_and_null(Client::KafkaPython).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_large_record_empty_value_null_key() {
    large_empty_and_null(Client::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiokafka_large_record_empty_value_null_key() {
    large_empty_and_null(Client::AioKafka).await;
}

// ---------------------------------------------------------------------------------------------
// auto.create.topics.enable on and off.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producing_to_an_unknown_topic_creates_it_with_num_partitions() {
    let broker = TestBroker::start_with(|c| {
        c.auto_create_topics_enable = true;
        c.num_partitions = 2;
    })
    .await
    .expect("start the broker");
    for client in Client::ALL {
        let kc = KClient::new(client, &broker.bootstrap());
        let topic = format!("auto-{client}");
        let records = generate(40, &topic, client.features(), base_timestamp());
        let deliveries = kc.produce(&topic, &records, &[]).await;
        let topics = kc.list_topics().await;
        assert_eq!(
            topics.get(&topic),
            Some(&vec![0, 1]),
            "{client}: auto-created topic has num.partitions = 2: {topics:?}"
        );
        let consumed = kc.consume(&topic, &[]).await;
        verify_round_trip(
            &format!("{client} produce to an auto-created topic"),
            &records,
            Some(&deliveries),
            &consumed,
            2,
            Timestamps::Exact,
        );
    }
    broker.stop().await.expect("stop the broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producing_to_an_unknown_topic_fails_when_auto_create_is_off() {
    let broker = TestBroker::start_with(|c| c.auto_create_topics_enable = false)
        .await
        .expect("start the broker");
    for client in Client::ALL {
        let kc = KClient::new(client, &broker.bootstrap());
        let topic = format!("no-auto-{client}");
        let records = generate(5, &topic, client.features(), base_timestamp());
        // Each client gives up on the unknown topic after about 5 s.
        let error = kc
            .produce_err(&topic, &records, &["--delivery-timeout-ms", "5000"])
            .await;
        assert_eq!(
            error.kind, "UNKNOWN_TOPIC_OR_PARTITION",
            "{client}: producing to an unknown topic with auto-create off fails as unknown topic: {error:?}"
        );
        assert!(
            error.elapsed < Duration::from_secs(30),
            "{client}: the unknown-topic error came in bounded time: {error:?}"
        );
        let topics = kc.list_topics().await;
        assert!(
            !topics.contains_key(&topic),
            "{client}: {topic} was not created: {topics:?}"
        );
    }
    broker.stop().await.expect("stop the broker");
}

// ---------------------------------------------------------------------------------------------
// ListOffsets by timestamp, seek and re-read.

/// 3 partitions × 12 records at known timestamps, partition `i % 3`, so record `i` sits at
/// offset `i / 3`; record 16 (partition 1, offset 5) carries the latest timestamp, out of order.
fn timed_records(tag: &str, client: Client, base: i64) -> Vec<Record> {
    let mut records = generate(36, tag, client.features(), base);
    for (i, r) in records.iter_mut().enumerate() {
        r.partition = Some(i as i32 % 3);
        r.timestamp = Some(base + 100 * i as i64);
    }
    records[16].timestamp = Some(base + 1_800_000);
    records
}

/// Kafka's answer to ListOffsets(ts): the first offset in the partition whose timestamp is at
/// least `ts`.
fn expected_offset_for_time(records: &[Record], partition: i32, ts: i64) -> Option<i64> {
    records
        .iter()
        .filter(|r| r.partition == Some(partition))
        .position(|r| r.timestamp.expect("timestamp") >= ts)
        .map(|o| o as i64)
}

async fn offsets_for_times_and_seek(client: Client) {
    let broker = start_broker().await;
    let kc = KClient::new(client, &broker.bootstrap());
    let topic = format!("times-{client}");
    kc.create_topic(&topic, 3).await;
    let base = base_timestamp();
    let records = timed_records(&topic, client, base);
    let deliveries = kc.produce(&topic, &records, &[]).await;
    for (i, d) in deliveries.iter().enumerate() {
        assert_eq!(
            (d.partition, d.offset),
            (i as i32 % 3, i as i64 / 3),
            "{client}: delivery of record {i}"
        );
    }

    let probes = [
        base - 1,         // before everything: offset 0
        base,             // exactly the first record
        base + 700,       // exactly record 7 (partition 1, offset 2)
        base + 701,       // between records
        base + 3_500,     // after all in-order records: only the late one in partition 1
        base + 1_800_000, // exactly the late record
        base + 1_800_001, // after everything: no offset
    ];
    for ts in probes {
        let found = kc.list_offsets(&topic, &ts.to_string()).await;
        for p in 0..3 {
            let expected = expected_offset_for_time(&records, p, ts);
            assert_eq!(
                found.get(&p).map(|f| f.0),
                Some(expected),
                "{client}: ListOffsets(timestamp = base + {}) for partition {p}",
                ts - base
            );
            if let (Some(o), Some(found_ts)) = (expected, found[&p].1) {
                let record_ts = records.iter().filter(|r| r.partition == Some(p)).nth(o as usize);
                assert_eq!(
                    Some(found_ts),
                    record_ts.and_then(|r| r.timestamp),
                    "{client}: ListOffsets returns the timestamp of the record at the offset found"
                );
            }
        }
    }
    if client == Client::Confluent {
        // ListOffsets v7 with timestamp -3 (MAX_TIMESTAMP): the record with the largest timestamp.
        let found = kc.list_offsets(&topic, "max-timestamp").await;
        assert_eq!(
            found[&0],
            (Some(11), Some(base + 3_300)),
            "max-timestamp of partition 0"
        );
        assert_eq!(
            found[&1],
            (Some(5), Some(base + 1_800_000)),
            "max-timestamp of partition 1"
        );
        assert_eq!(
            found[&2],
            (Some(11), Some(base + 3_500)),
            "max-timestamp of partition 2"
        );
    }

    // Start from the offsets a timestamp resolves to.
    let from = base + 1_501;
    let consumed = kc.consume(&topic, &["--start-time", &from.to_string()]).await;
    let mut expected: Vec<(i32, i64)> = Vec::new();
    for p in 0..3 {
        let start = expected_offset_for_time(&records, p, from).unwrap_or(12);
        expected.extend((start..12).map(|o| (p, o)));
    }
    let mut got: Vec<(i32, i64)> = consumed.iter().map(|c| (c.partition, c.offset)).collect();
    got.sort();
    assert_eq!(
        got, expected,
        "{client}: consuming from the offsets of timestamp base + 1501"
    );

    // Read partition 1 from offset 2, seek back to 1 and re-read: the same bytes again.
    let consumed = kc
        .consume(
            &topic,
            &[
                "--partitions",
                "1",
                "--start",
                "1:2",
                "--count",
                "10",
                "--seek",
                "1:1",
                "--recount",
                "11",
            ],
        )
        .await;
    let (first, again): (Vec<Consumed>, Vec<Consumed>) = consumed.into_iter().partition(|c| c.phase == 0);
    let first_offsets: Vec<i64> = first.iter().map(|c| c.offset).collect();
    assert_eq!(
        first_offsets,
        (2..12).collect::<Vec<_>>(),
        "{client}: read from offset 2"
    );
    let again_offsets: Vec<i64> = again.iter().map(|c| c.offset).collect();
    assert_eq!(
        again_offsets,
        (1..12).collect::<Vec<_>>(),
        "{client}: re-read after seeking to 1"
    );
    assert_same_records(&format!("{client}: re-read after seek"), &again[1..], &first);
    for c in &again {
        let i = (c.offset * 3 + 1) as usize;
        assert_eq!(
            (&c.key, &c.value, c.timestamp),
            (&records[i].key, &records[i].value, records[i].timestamp.expect("ts")),
            "{client}: re-read record at 1:{}",
            c.offset
        );
    }
    broker.stop().await.expect("stop the broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_offsets_for_times_seek_and_reread() {
    offsets_for_times_and_seek(Client::KafkaPython).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_offsets_for_times_seek_and_reread() {
    offsets_for_times_and_seek(Client::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiokafka_offsets_for_times_seek_and_reread() {
    offsets_for_times_and_seek(Client::AioKafka).await;
}

// ---------------------------------------------------------------------------------------------
// The checker itself: a round trip that lost, reordered or changed a record must not pass.

mod checker {
    use super::common::records::{Features, generate};
    use super::common::verify::{Consumed, Delivery, Timestamps, verify_round_trip};

    /// 6 records over 2 partitions, delivered and consumed correctly.
    fn good() -> (Vec<super::Record>, Vec<Delivery>, Vec<Consumed>) {
        let records = generate(6, "check", Features::ALL, 1_000);
        let mut next = [0, 0];
        let mut deliveries = Vec::new();
        let mut consumed = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let p = (i % 2) as i32;
            let offset = next[p as usize];
            next[p as usize] += 1;
            deliveries.push(Delivery {
                partition: p,
                offset,
                timestamp: r.timestamp.expect("ts"),
            });
            consumed.push(Consumed {
                phase: 0,
                partition: p,
                offset,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
                timestamp: r.timestamp.expect("ts"),
                timestamp_type: "create".to_owned(),
            });
        }
        (records, deliveries, consumed)
    }

    #[test]
    fn accepts_a_correct_round_trip() {
        let (records, deliveries, consumed) = good();
        verify_round_trip("good", &records, Some(&deliveries), &consumed, 2, Timestamps::Exact);
        verify_round_trip(
            "good, matched by content",
            &records,
            None,
            &consumed,
            2,
            Timestamps::Exact,
        );
    }

    #[test]
    #[should_panic(expected = "value")]
    fn rejects_a_changed_byte() {
        let (records, deliveries, mut consumed) = good();
        let value = consumed[3].value.as_mut().expect("value");
        let last = value.len() - 1;
        value[last] ^= 1;
        verify_round_trip("changed", &records, Some(&deliveries), &consumed, 2, Timestamps::Exact);
    }

    #[test]
    #[should_panic(expected = "consumed 5 records, produced 6")]
    fn rejects_a_lost_record() {
        let (records, deliveries, mut consumed) = good();
        consumed.pop();
        verify_round_trip("lost", &records, Some(&deliveries), &consumed, 2, Timestamps::Exact);
    }

    #[test]
    #[should_panic(expected = "was produced after record")]
    fn rejects_records_out_of_produce_order() {
        let (records, mut deliveries, consumed) = good();
        deliveries.swap(0, 2);
        verify_round_trip(
            "reordered",
            &records,
            Some(&deliveries),
            &consumed,
            2,
            Timestamps::Exact,
        );
    }

    #[test]
    #[should_panic(expected = "headers")]
    fn rejects_merged_duplicate_headers() {
        let (records, deliveries, mut consumed) = good();
        let with_dup = consumed
            .iter_mut()
            .find(|c| c.headers.iter().filter(|h| h.0 == "dup").count() == 2);
        with_dup
            .expect("a record with a repeated header")
            .headers
            .retain(|h| h.0 != "dup");
        verify_round_trip("merged", &records, Some(&deliveries), &consumed, 2, Timestamps::Exact);
    }
}

//! Produce and Fetch semantics on the wire: acks, ordering, long polls, limits, idempotence,
//! validation errors.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{FETCH_V, PRODUCE_V, batch, batch_headers, create_topic, fetch, fetch_request, produce, produce_request};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use rill_broker::testing::TestBroker;
use rill_client::protocol::batch::{Compression, validate};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_batch, build_compressed_batch};

#[tokio::test]
async fn acks_one_and_all_assign_contiguous_offsets() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 2, &[]).await;
    let mut next = 0;
    for (i, acks) in [1, -1, 1, -1].into_iter().enumerate() {
        let request = produce_request("t", 1, acks, batch(3 + i, 20, 0));
        let response = conn.send(PRODUCE_V, &request).await.expect("produce");
        let p = &response.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset, p.log_start_offset), (0, next, 0));
        next += 3 + i as i64;
    }
    let data = fetch(&mut conn, "t", 1, 0).await;
    assert_eq!(
        (data.high_watermark, data.last_stable_offset, data.log_start_offset),
        (next, next, 0)
    );
    let headers = batch_headers(data.records.as_deref().expect("records"));
    assert_eq!(
        headers.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![0, 3, 7, 12]
    );
    // Stored batches are what was sent, with only the base offset and leader epoch rewritten.
    let records = data.records.expect("records");
    let first = validate(&records[..headers[0].total_size()])
        .expect("stored batch passes CRC")
        .header;
    assert_eq!(first.partition_leader_epoch, 0);
}

#[tokio::test]
async fn acks_zero_gets_no_response_and_bad_acks_an_error() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    conn.send_only(PRODUCE_V, &produce_request("t", 0, 0, batch(2, 10, 0)))
        .await
        .expect("send");
    // The next response on the connection must be the Metadata one: acks=0 got none.
    let metadata = conn
        .send(9, &MetadataRequest::default().with_topics(None))
        .await
        .expect("metadata after acks=0");
    assert_eq!(metadata.topics.len(), 1);
    assert_eq!(fetch(&mut conn, "t", 0, 0).await.high_watermark, 2);
    let response = conn
        .send(PRODUCE_V, &produce_request("t", 0, 2, batch(1, 10, 0)))
        .await
        .expect("produce");
    assert_eq!(response.responses[0].partition_responses[0].error_code, 21);
}

#[tokio::test]
async fn acks_zero_failure_closes_the_connection() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    conn.send_only(PRODUCE_V, &produce_request("missing", 0, 0, batch(1, 10, 0)))
        .await
        .expect("send");
    let next = conn.send(9, &MetadataRequest::default().with_topics(None)).await;
    assert!(
        next.is_err(),
        "an acks=0 produce that fails closes the connection: {next:?}"
    );
    // Other connections are unaffected.
    let mut other = common::connect(&broker).await;
    assert!(
        other
            .send(9, &MetadataRequest::default().with_topics(None))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let broker = TestBroker::start_with(|c| c.log_flush_interval_messages = 1)
        .await
        .expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        if i % 3 == 0 {
            ids.push((
                conn.send_only(9, &MetadataRequest::default().with_topics(None))
                    .await
                    .expect("send"),
                false,
            ));
        } else {
            ids.push((
                conn.send_only(PRODUCE_V, &produce_request("t", 0, 1, batch(1, 10, 0)))
                    .await
                    .expect("send"),
                true,
            ));
        }
    }
    let mut expected_offset = 0;
    for (id, is_produce) in ids {
        if is_produce {
            let response = conn.receive::<ProduceRequest>(PRODUCE_V, id).await.expect("in order");
            assert_eq!(
                response.responses[0].partition_responses[0].base_offset,
                expected_offset
            );
            expected_offset += 1;
        } else {
            conn.receive::<MetadataRequest>(9, id).await.expect("in order");
        }
    }
}

#[tokio::test]
async fn a_parked_fetch_wakes_when_data_arrives() {
    let broker = TestBroker::start().await.expect("broker");
    let mut admin = common::connect(&broker).await;
    create_topic(&mut admin, "t", 1, &[]).await;
    let mut consumer = common::connect(&broker).await;
    let id = consumer
        .send_only(FETCH_V, &fetch_request("t", 0, 0, 25_000, 1))
        .await
        .expect("fetch");
    let mut producer = common::connect(&broker).await;
    assert_eq!(produce(&mut producer, "t", 0, batch(5, 10, 0)).await, (0, 0));
    // Far less than max_wait_ms: the produce woke the fetch.
    let response = tokio::time::timeout(Duration::from_secs(10), consumer.receive::<FetchRequest>(FETCH_V, id))
        .await
        .expect("fetch woke before max_wait_ms")
        .expect("fetch");
    let data = &response.responses[0].partitions[0];
    assert_eq!(batch_headers(data.records.as_deref().expect("records")).len(), 1);
}

#[tokio::test]
async fn a_parked_fetch_returns_empty_after_max_wait() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    let response = conn
        .send(FETCH_V, &fetch_request("t", 0, 0, 50, 1))
        .await
        .expect("fetch");
    let data = &response.responses[0].partitions[0];
    assert_eq!((data.error_code, data.high_watermark), (0, 0));
    assert_eq!(data.records.as_deref(), Some(&b""[..]), "empty records, never null");
}

#[tokio::test]
async fn fetch_respects_partition_and_total_limits_with_whole_batches() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 2, &[]).await;
    for p in 0..2 {
        for _ in 0..10 {
            produce(&mut conn, "t", p, batch(1, 1000, 0)).await;
        }
    }
    let one = batch(1, 1000, 0).len();
    let request = |partition_max: i32, max: i32| {
        FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(max)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default().with_topic(common::name("t")).with_partitions(
                    (0..2)
                        .map(|p| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_partition_max_bytes(partition_max)
                        })
                        .collect(),
                ),
            ])
    };
    let counts = |response: &FetchResponse| {
        response.responses[0]
            .partitions
            .iter()
            .map(|p| batch_headers(p.records.as_deref().unwrap_or_default()).len())
            .collect::<Vec<_>>()
    };
    let response = conn
        .send(FETCH_V, &request((2 * one + one / 2) as i32, 1 << 20))
        .await
        .expect("fetch");
    assert_eq!(counts(&response), vec![2, 2], "per-partition limit, whole batches only");
    for p in &response.responses[0].partitions {
        assert_eq!(p.records.as_ref().map(Bytes::len), Some(2 * one), "no partial batch");
    }
    let response = conn
        .send(FETCH_V, &request(1 << 20, (3 * one) as i32))
        .await
        .expect("fetch");
    assert_eq!(counts(&response), vec![3, 0], "total limit");
    // KIP-74: a first batch larger than the limits is returned whole so consumers make progress.
    let response = conn.send(FETCH_V, &request(10, 10)).await.expect("fetch");
    assert_eq!(counts(&response), vec![1, 0]);
}

#[tokio::test]
async fn fetch_answers_every_partition_including_errors() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    produce(&mut conn, "t", 0, batch(3, 10, 0)).await;
    let request = FetchRequest::default()
        .with_max_wait_ms(5000)
        .with_min_bytes(1 << 20)
        .with_isolation_level(1)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(common::name("t"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                    FetchPartition::default()
                        .with_partition(7)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(99)
                        .with_partition_max_bytes(1 << 20),
                ]),
            FetchTopic::default()
                .with_topic(common::name("nope"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    // An error answers at once, even though min_bytes is not reached.
    let response = tokio::time::timeout(Duration::from_secs(3), conn.send(FETCH_V, &request))
        .await
        .expect("no parking")
        .expect("fetch");
    let codes: Vec<Vec<i16>> = response
        .responses
        .iter()
        .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
        .collect();
    assert_eq!(codes, vec![vec![0, 3, 1], vec![3]]);
    let ok = &response.responses[0].partitions[0];
    assert_eq!(
        ok.aborted_transactions.as_deref(),
        Some(&[][..]),
        "read_committed gets an empty aborted list"
    );
    assert_eq!(ok.last_stable_offset, 3);
}

#[tokio::test]
async fn idempotent_retries_get_original_offsets_and_gaps_are_refused() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    let init = conn
        .send(4, &InitProducerIdRequest::default().with_transactional_id(None))
        .await
        .expect("init");
    let stamp = |seq| ProducerStamp {
        producer_id: init.producer_id.0,
        producer_epoch: init.producer_epoch,
        base_sequence: seq,
    };
    let records: Vec<NewRecord> = common::records(4, 10, 0);
    let first = Bytes::from(build_batch(&records, stamp(0)));
    assert_eq!(produce(&mut conn, "t", 0, first.clone()).await, (0, 0));
    assert_eq!(
        produce(&mut conn, "t", 0, batch(2, 10, 0)).await,
        (0, 4),
        "a plain producer in between"
    );
    assert_eq!(
        produce(&mut conn, "t", 0, first).await,
        (0, 0),
        "retry gets its original offset"
    );
    assert_eq!(
        fetch(&mut conn, "t", 0, 0).await.high_watermark,
        6,
        "nothing appended twice"
    );
    assert_eq!(
        produce(&mut conn, "t", 0, Bytes::from(build_batch(&records[..1], stamp(9))))
            .await
            .0,
        45,
        "sequence gap"
    );
    assert_eq!(
        produce(&mut conn, "t", 0, Bytes::from(build_batch(&records[..1], stamp(4)))).await,
        (0, 6)
    );
}

#[tokio::test]
async fn validation_errors_map_to_kafka_codes() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "small", 1, &[("max.message.bytes", "500")]).await;
    create_topic(&mut conn, "compacted", 1, &[("cleanup.policy", "compact")]).await;
    create_topic(&mut conn, "isr", 1, &[("min.insync.replicas", "2")]).await;
    assert_eq!(
        produce(&mut conn, "small", 0, batch(1, 1000, 0)).await.0,
        10,
        "message too large"
    );
    let mut corrupt = batch(2, 10, 0).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(
        produce(&mut conn, "small", 0, Bytes::from(corrupt)).await.0,
        2,
        "CRC mismatch"
    );
    let mut control = batch(1, 10, 0).to_vec();
    control[22] |= 0x20;
    let crc = crc32c::crc32c(&control[21..]);
    control[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        produce(&mut conn, "small", 0, Bytes::from(control)).await.0,
        87,
        "client control batch"
    );
    let mut truncated = batch(2, 10, 0).to_vec();
    truncated.truncate(truncated.len() - 3);
    assert_eq!(
        produce(&mut conn, "small", 0, Bytes::from(truncated)).await.0,
        2,
        "truncated batch"
    );
    let keyless = vec![NewRecord {
        key: None,
        value: Some(b"v".to_vec()),
        ..Default::default()
    }];
    assert_eq!(
        produce(
            &mut conn,
            "compacted",
            0,
            Bytes::from(build_batch(&keyless, ProducerStamp::NONE))
        )
        .await
        .0,
        87
    );
    let zstd = build_compressed_batch(&keyless, ProducerStamp::NONE, Compression::Zstd).expect("zstd");
    assert_eq!(
        produce(&mut conn, "compacted", 0, Bytes::from(zstd)).await.0,
        87,
        "keyless inside a compressed batch"
    );
    assert_eq!(
        produce(&mut conn, "compacted", 0, batch(1, 10, 0)).await,
        (0, 0),
        "keyed records are fine"
    );
    let response = conn
        .send(PRODUCE_V, &produce_request("isr", 0, -1, batch(1, 10, 0)))
        .await
        .expect("produce");
    assert_eq!(
        response.responses[0].partition_responses[0].error_code, 19,
        "not enough replicas for acks=all"
    );
    assert_eq!(
        produce(&mut conn, "isr", 0, batch(1, 10, 0)).await,
        (0, 0),
        "acks=1 does not need the ISR"
    );
    // Nothing refused reached the log.
    assert_eq!(fetch(&mut conn, "small", 0, 0).await.high_watermark, 0);
}

#[tokio::test]
async fn compressed_batches_are_stored_as_sent() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    let records = common::records(50, 100, 1000);
    let mut sent = Vec::new();
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let wire = build_compressed_batch(&records, ProducerStamp::NONE, codec).expect("compress");
        let (code, _) = produce(&mut conn, "t", 0, Bytes::from(wire.clone())).await;
        assert_eq!(code, 0, "{codec:?}");
        sent.push(wire);
    }
    let data = fetch(&mut conn, "t", 0, 0).await;
    let stored = data.records.expect("records");
    let mut at = 0;
    for (i, wire) in sent.iter().enumerate() {
        let got = &stored[at..at + wire.len()];
        // Only the base offset (0..8) and the partition leader epoch (12..16) are rewritten.
        assert_eq!(&got[8..12], &wire[8..12], "batch {i} length");
        assert_eq!(
            &got[16..],
            &wire[16..],
            "batch {i} byte-identical after the leader epoch"
        );
        at += wire.len();
    }
}

#[tokio::test]
async fn durable_topics_acknowledge_after_fsync_with_many_writes_in_flight() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "durable", 1, &[("flush.messages", "1")]).await;
    let ids = {
        let mut ids = Vec::new();
        for _ in 0..32 {
            ids.push(
                conn.send_only(PRODUCE_V, &produce_request("durable", 0, -1, batch(10, 100, 0)))
                    .await
                    .expect("send"),
            );
        }
        ids
    };
    for (i, id) in ids.into_iter().enumerate() {
        let response = conn.receive::<ProduceRequest>(PRODUCE_V, id).await.expect("ack");
        assert_eq!(response.responses[0].partition_responses[0].base_offset, i as i64 * 10);
    }
    let data = fetch(&mut conn, "durable", 0, 0).await;
    assert_eq!(data.high_watermark, 320, "acknowledged records are visible");
}

#[tokio::test]
async fn log_append_time_topics_stamp_batches() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[("message.timestamp.type", "LogAppendTime")]).await;
    let response = conn
        .send(PRODUCE_V, &produce_request("t", 0, 1, batch(2, 10, 5)))
        .await
        .expect("produce");
    let stamped = response.responses[0].partition_responses[0].log_append_time_ms;
    assert!(stamped > 1_600_000_000_000, "{stamped}");
    let data = fetch(&mut conn, "t", 0, 0).await;
    let header = validate(data.records.as_deref().expect("records"))
        .expect("valid")
        .header;
    assert_eq!(header.max_timestamp, stamped);
}

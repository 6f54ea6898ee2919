//! Shared helpers for the broker's in-process integration tests: a raw protocol connection and
//! builders for the requests the tests send.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rill_broker::testing::TestBroker;
use rill_client::Connection;
use rill_client::protocol::batch::{self, BatchHeader};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_batch};

pub const PRODUCE_V: i16 = 9;
pub const FETCH_V: i16 = 12;

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

pub async fn connect(broker: &TestBroker) -> Connection {
    Connection::connect(broker.addr(), "rill-test").await.expect("connect")
}

/// Creates a topic and asserts success.
pub async fn create_topic(conn: &mut Connection, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let code = try_create_topic(conn, topic, partitions, configs).await;
    assert_eq!(code, 0, "creating {topic}");
}

pub async fn try_create_topic(conn: &mut Connection, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> i16 {
    let request = CreateTopicsRequest::default().with_timeout_ms(5000).with_topics(vec![
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                    .collect(),
            ),
    ]);
    let response = conn.send(7, &request).await.expect("create topics");
    response.topics[0].error_code
}

/// `n` records with values of `size` bytes and timestamps `ts0 + i`.
pub fn records(n: usize, size: usize, ts0: i64) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            key: Some(format!("key-{i}").into_bytes()),
            value: Some((0..size).map(|b| (b + i) as u8).collect()),
            headers: vec![(b"h".to_vec(), Some(vec![i as u8]))],
            timestamp: ts0 + i as i64,
        })
        .collect()
}

pub fn batch(n: usize, size: usize, ts0: i64) -> Bytes {
    Bytes::from(build_batch(&records(n, size, ts0), ProducerStamp::NONE))
}

pub fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

/// Produces `records` with acks=1 and returns (error code, base offset).
pub async fn produce(conn: &mut Connection, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let response = conn
        .send(PRODUCE_V, &produce_request(topic, partition, 1, records))
        .await
        .expect("produce");
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

pub fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(name(topic)).with_partitions(
            vec![
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20),
            ],
        )])
}

/// Fetches once without waiting; returns the partition's data.
pub async fn fetch(conn: &mut Connection, topic: &str, partition: i32, offset: i64) -> fetch_response::PartitionData {
    let response = conn
        .send(FETCH_V, &fetch_request(topic, partition, offset, 0, 0))
        .await
        .expect("fetch");
    response.responses[0].partitions[0].clone()
}

/// Headers of the complete batches in a record set.
pub fn batch_headers(records: &[u8]) -> Vec<BatchHeader> {
    batch::batches(records)
        .map(|b| b.expect("valid batch").header)
        .collect()
}

/// Reads a partition from `offset` to its high watermark; returns every batch header.
pub async fn read_all(conn: &mut Connection, topic: &str, partition: i32, mut offset: i64) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    loop {
        let data = fetch(conn, topic, partition, offset).await;
        assert_eq!(data.error_code, 0, "fetch {topic}-{partition}@{offset}");
        let headers = batch_headers(data.records.as_deref().unwrap_or_default());
        if headers.is_empty() {
            return out;
        }
        offset = headers.last().map(|h| h.next_offset()).unwrap_or(offset);
        out.extend(headers);
    }
}

pub async fn list_offset(conn: &mut Connection, topic: &str, partition: i32, timestamp: i64) -> (i16, i64, i64) {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default().with_name(name(topic)).with_partitions(vec![
                ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp),
            ]),
        ]);
    let response = conn.send(7, &request).await.expect("list offsets");
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp)
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    // A condition with no notification to await is polled at a fixed rate until the deadline.
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticks.tick().await;
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
    }
}

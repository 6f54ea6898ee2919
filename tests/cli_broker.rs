//! `rill broker` as users run it: configuration errors, graceful shutdown, and a SIGKILL in the
//! middle of producing to a durable topic.

mod process;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use process::{BrokerProcess, run_rill};
use rill_client::Connection;
use rill_client::protocol::batch::{self, HEADER_LEN};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_batch};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

#[test]
fn configuration_errors_name_the_key_and_exit_non_zero() {
    let dir = tempfile::tempdir().expect("temp");
    let data = dir.path().display().to_string();
    // (arguments, environment, the key the error must name)
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--set".into(), "num.partitions=three".into()],
            vec![],
            "num.partitions",
        ),
        (
            vec!["--set".into(), "log.retention.msx=1".into()],
            vec![],
            "log.retention.msx",
        ),
        (
            vec![],
            vec![("RILL_BROKER_LOG_SEGMENT_BYTES", "10")],
            "log.segment.bytes",
        ),
        (vec!["--listen".into(), "SSL://127.0.0.1:1".into()], vec![], "listeners"),
    ];
    for (args, env, key) in cases {
        let mut full = vec!["broker", "--data-dir", &data];
        full.extend(args.iter().map(String::as_str));
        let (code, _, stderr) = run_rill(&full, &env);
        assert_eq!(code, 1, "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(key), "the error names `{key}`: {stderr}");
    }
    let config = dir.path().join("broker.toml");
    std::fs::write(&config, "num.partitions = 3\n\"log.segment.bytes\" = 12\n").expect("write");
    let (code, _, stderr) = run_rill(
        &["broker", "--data-dir", &data, "--config", &config.display().to_string()],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("log.segment.bytes") && stderr.contains("at least 1024"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("temp");
    let broker = BrokerProcess::start(dir.path(), &["--set", "num.partitions=2"]);
    let mut conn = Connection::connect(broker.addr(), "cli-test").await.expect("connect");
    let metadata = conn
        .send(
            9,
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s("auto")))),
            ])),
        )
        .await
        .expect("metadata");
    assert_eq!(metadata.topics[0].partitions.len(), 2, "--set num.partitions applies");
    drop(conn);
    let status = broker.signal_and_wait("TERM");
    assert!(status.success(), "exit status {status}");
    assert!(
        dir.path().join(".rill_cleanshutdown").exists(),
        "a clean shutdown leaves its marker"
    );
    assert!(dir.path().join("recovery-point-offset-checkpoint").exists());
}

fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

/// The value of the record at `offset`: distinct, so that a lost or repeated record shows.
fn value_for(offset: i64) -> Vec<u8> {
    format!("record-{offset:08}-").repeat(20).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_producing_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().expect("temp");
    let broker = BrokerProcess::start(dir.path(), &["--set", "log.segment.bytes=262144"]);
    let addr = broker.addr();
    let mut admin = Connection::connect(addr, "admin").await.expect("connect");
    let created = admin
        .send(
            7,
            &CreateTopicsRequest::default().with_topics(vec![
                CreatableTopic::default()
                    .with_name(TopicName(s("durable")))
                    .with_num_partitions(1)
                    .with_replication_factor(1)
                    .with_configs(vec![
                        CreatableTopicConfig::default()
                            .with_name(s("flush.messages"))
                            .with_value(Some(s("1"))),
                    ]),
            ]),
        )
        .await
        .expect("create");
    assert_eq!(created.topics[0].error_code, 0);

    // A producer with 8 requests in flight, 10 records each; every record's value names the
    // offset it is expected at, so a gap or duplicate cannot hide.
    let producer = tokio::spawn(async move {
        let mut conn = Connection::connect(addr, "producer").await.expect("connect");
        let mut acked: Vec<(i64, usize)> = Vec::new();
        let mut in_flight = std::collections::VecDeque::new();
        let mut next_offset = 0i64;
        loop {
            while in_flight.len() < 8 {
                let records: Vec<NewRecord> = (0..10)
                    .map(|i| NewRecord {
                        key: Some(b"k".to_vec()),
                        value: Some(value_for(next_offset + i)),
                        timestamp: 1,
                        ..Default::default()
                    })
                    .collect();
                let request = produce_request("durable", Bytes::from(build_batch(&records, ProducerStamp::NONE)));
                let Ok(id) = conn.send_only(8, &request).await else {
                    return acked;
                };
                in_flight.push_back((id, next_offset));
                next_offset += 10;
            }
            let Some((id, expected)) = in_flight.pop_front() else {
                return acked;
            };
            match conn.receive::<ProduceRequest>(8, id).await {
                Ok(response) => {
                    let p = &response.responses[0].partition_responses[0];
                    assert_eq!((p.error_code, p.base_offset), (0, expected), "acknowledged in order");
                    acked.push((expected, 10));
                }
                Err(_) => return acked,
            }
        }
    });

    // Kill once a good number of writes are acknowledged, mid-stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    loop {
        ticks.tick().await;
        let mut probe = Connection::connect(addr, "probe").await.expect("connect");
        let request = ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(TopicName(s("durable")))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1),
                ]),
        ]);
        let end = probe.send(5, &request).await.expect("list offsets").topics[0].partitions[0].offset;
        if end >= 3000 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the producer made no progress");
    }
    let killed = broker.signal_and_wait("KILL");
    assert!(!killed.success());
    let acked = producer.await.expect("producer task");
    let acked_records: i64 = acked.iter().map(|(_, n)| *n as i64).sum();
    assert!(acked_records >= 3000, "acknowledged before the kill: {acked_records}");

    let broker = BrokerProcess::start(dir.path(), &["--set", "log.segment.bytes=262144"]);
    let mut conn = Connection::connect(broker.addr(), "reader").await.expect("connect");
    let mut offset = 0i64;
    let mut values: HashMap<i64, Vec<u8>> = HashMap::new();
    let high_watermark = loop {
        let request = FetchRequest::default()
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(s("durable")))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let response = conn.send(11, &request).await.expect("fetch");
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0);
        let records = data.records.clone().unwrap_or_default();
        if records.is_empty() {
            break data.high_watermark;
        }
        for span in batch::batches(&records) {
            let span = span.expect("batch header");
            let wire = &records[span.range.clone()];
            let valid = batch::validate(wire).expect("every served batch is whole and passes its CRC");
            for (i, record) in batch::records(&wire[HEADER_LEN..]).enumerate() {
                let record = record.expect("record");
                values.insert(
                    valid.header.base_offset + i as i64,
                    record.value.expect("value").to_vec(),
                );
            }
            offset = span.header.next_offset();
        }
    };
    assert!(
        high_watermark >= acked_records,
        "high watermark {high_watermark} covers {acked_records} acknowledged records"
    );
    for (base, count) in &acked {
        for o in *base..*base + *count as i64 {
            assert_eq!(values.get(&o), Some(&value_for(o)), "acknowledged record at offset {o}");
        }
    }
    for o in 0..high_watermark {
        assert_eq!(
            values.get(&o),
            Some(&value_for(o)),
            "every stored record is the one sent for its offset"
        );
    }
    let request = produce_request(
        "durable",
        Bytes::from(build_batch(
            &[NewRecord {
                key: Some(b"k".to_vec()),
                value: Some(b"after".to_vec()),
                ..Default::default()
            }],
            ProducerStamp::NONE,
        )),
    );
    let response = conn.send(8, &request).await.expect("produce after restart");
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(
        (p.error_code, p.base_offset),
        (0, high_watermark),
        "producing continues at the next offset"
    );
    let status = broker.signal_and_wait("TERM");
    assert!(status.success());
}

//! The Rust producer against an in-process broker: every codec round-trips, keyed records land
//! where the Java partitioner puts them, and an idempotent producer retrying across a broker
//! restart writes no duplicate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rill_broker::testing::TestBroker;
use rill_client::admin::Admin;
use rill_client::consumer::Consumer;
use rill_client::producer::{Producer, ProducerRecord, partition_for_key};
use rill_client::protocol::batch::{self, BatchHeader};
use rill_client::protocol::compression::record_area;
use rill_client::{Connection, TopicPartition};
use tokio::time::Instant;

/// A stored record: (offset, key, value, headers, timestamp).
type Stored = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
    i64,
);

/// Reads a whole partition back, decoding every batch (decompressing as needed).
async fn read_partition(addr: std::net::SocketAddr, topic: &str, partition: i32) -> (Vec<Stored>, Vec<BatchHeader>) {
    let mut conn = Connection::connect(addr, "reader").await.expect("connect");
    let mut offset = 0;
    let mut records = Vec::new();
    let mut headers = Vec::new();
    loop {
        let request = FetchRequest::default()
            .with_max_bytes(8 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(8 << 20),
                    ]),
            ]);
        let response = conn.send(12, &request).await.expect("fetch");
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0);
        let set = data.records.clone().unwrap_or_default();
        if set.is_empty() {
            return (records, headers);
        }
        for span in batch::batches(&set) {
            let span = span.expect("batch");
            let wire = &set[span.range.clone()];
            let header = batch::validate(wire).expect("valid stored batch").header;
            let area = record_area(wire, &header, 64 << 20).expect("records");
            for record in batch::records(&area) {
                let record = record.expect("record");
                let record_headers = record
                    .headers()
                    .expect("headers")
                    .into_iter()
                    .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                    .collect();
                records.push((
                    header.base_offset + i64::from(record.offset_delta),
                    record.key.map(<[u8]>::to_vec),
                    record.value.map(<[u8]>::to_vec),
                    record_headers,
                    header.base_timestamp + record.timestamp_delta,
                ));
            }
            offset = header.next_offset();
            headers.push(header);
        }
    }
}

fn value_of(i: usize, size: usize) -> Vec<u8> {
    (0..size).map(|b| ((b * 31 + i) % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_and_keys_follow_the_java_partitioner() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 3).await.expect("broker");
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        let bootstrap = broker.bootstrap();
        let producer = Producer::from_properties([
            ("bootstrap.servers", bootstrap.as_str()),
            ("compression.type", codec),
            ("linger.ms", "20"),
            ("batch.size", "65536"),
        ])
        .await
        .expect("producer");
        let mut deliveries = Vec::new();
        for i in 0..600usize {
            let key = format!("key-{}", i % 37);
            let record = ProducerRecord::new(topic.as_str())
                .key(key.clone())
                .value(value_of(i, 50 + i % 200))
                .header("i", i.to_string())
                .header("i", "again")
                .timestamp(1_700_000_000_000 + i as i64);
            deliveries.push((i, key, producer.send(record).await.expect("send")));
        }
        let mut expected: HashMap<(i32, i64), (String, usize)> = HashMap::new();
        for (i, key, delivery) in deliveries {
            let want = partition_for_key(key.as_bytes(), 3) as i32;
            assert_eq!(delivery.partition(), want, "{codec}: key {key} is placed by murmur2");
            let meta = delivery.await.expect("delivered");
            assert_eq!(
                (&*meta.topic, meta.partition, meta.timestamp),
                (topic.as_str(), want, 1_700_000_000_000 + i as i64)
            );
            expected.insert((meta.partition, meta.offset), (key, i));
        }
        producer.close().await.expect("close");
        let mut total = 0;
        for partition in 0..3 {
            let (records, headers) = read_partition(broker.addr(), &topic, partition).await;
            let codec_id = match codec {
                "none" => 0,
                "gzip" => 1,
                "snappy" => 2,
                "lz4" => 3,
                _ => 4,
            };
            assert!(
                headers.iter().all(|h| h.attributes & 7 == codec_id),
                "{codec}: stored with the codec"
            );
            assert!(headers.iter().all(|h| h.producer_id >= 0), "idempotent by default");
            let mut previous = -1;
            for (offset, key, value, record_headers, timestamp) in records {
                assert!(offset > previous, "in order");
                previous = offset;
                let (want_key, i) = expected
                    .get(&(partition, offset))
                    .unwrap_or_else(|| panic!("{codec}: unexpected {partition}@{offset}"));
                assert_eq!(key.as_deref(), Some(want_key.as_bytes()));
                assert_eq!(value, Some(value_of(*i, 50 + i % 200)), "{codec}: value byte-exact");
                assert_eq!(
                    record_headers,
                    vec![
                        (b"i".to_vec(), Some(i.to_string().into_bytes())),
                        (b"i".to_vec(), Some(b"again".to_vec()))
                    ]
                );
                assert_eq!(timestamp, 1_700_000_000_000 + *i as i64);
                total += 1;
            }
        }
        assert_eq!(total, 600, "{codec}: every record stored once");

        // And the Rust consumer reads back the same records, decompressing each codec.
        let mut consumer = Consumer::from_properties([
            ("bootstrap.servers", bootstrap.as_str()),
            ("auto.offset.reset", "earliest"),
        ])
        .await
        .expect("consumer");
        consumer
            .assign((0..3).map(|p| TopicPartition::new(&topic, p)))
            .expect("assign");
        let mut consumed = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while consumed < 600 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{codec}: consumed {consumed} of 600"
            );
            for record in consumer.poll(Duration::from_millis(200)).await.expect("poll") {
                let (want_key, i) = &expected[&(record.partition, record.offset)];
                assert_eq!(record.key.as_deref(), Some(want_key.as_bytes()), "{codec}");
                assert_eq!(
                    record.value.as_deref(),
                    Some(&value_of(*i, 50 + i % 200)[..]),
                    "{codec}"
                );
                assert_eq!(record.timestamp, 1_700_000_000_000 + *i as i64);
                assert_eq!(record.header("i").map(|v| v.to_vec()), Some(i.to_string().into_bytes()));
                assert_eq!(record.headers.len(), 2);
                consumed += 1;
            }
        }
        consumer.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unkeyed_records_stick_to_a_partition_per_batch() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 4).await.expect("broker");
    let bootstrap = broker.bootstrap();
    let producer = Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "1000"),
        ("batch.size", "1000"),
    ])
    .await
    .expect("producer");
    let mut partitions = Vec::new();
    for i in 0..40 {
        let delivery = producer
            .send(ProducerRecord::new("sticky").value(vec![i as u8; 100]))
            .await
            .expect("send");
        partitions.push(delivery.partition());
    }
    producer.close().await.expect("close");
    // ~9 records of 100 B fill a 1000-byte batch; each batch stays on one partition.
    let switches = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        (3..=6).contains(&switches),
        "switches only when a batch fills: {partitions:?}"
    );
    let used: std::collections::BTreeSet<i32> = partitions.iter().copied().collect();
    assert_eq!(used.len(), 4, "spread over every partition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_to_a_topic_take_records_after_the_next_metadata_refresh() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 2).await.expect("broker");
    let bootstrap = broker.bootstrap();
    let producer = Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("metadata.max.age.ms", "200"),
        ("batch.size", "1000"),
    ])
    .await
    .expect("producer");
    let send = |i: usize| {
        let producer = producer.clone();
        async move {
            let delivery = producer
                .send(ProducerRecord::new("growing").value(vec![i as u8; 300]))
                .await
                .expect("send");
            delivery.await.expect("delivered").partition
        }
    };
    for i in 0..20 {
        let partition = send(i).await;
        assert!(partition < 2, "record {i} went to partition {partition} of 2");
    }
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("admin");
    let grown = admin
        .create_partitions(&BTreeMap::from([("growing".to_owned(), 4)]), false)
        .await
        .expect("create partitions");
    assert!(grown["growing"].is_ok(), "{grown:?}");
    // Sticky partitioning moves on as batches fill; once the producer's metadata is older than
    // metadata.max.age.ms it sees four partitions and uses the new ones.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut used = BTreeSet::new();
    let mut i = 20;
    while !(used.contains(&2) && used.contains(&3)) {
        assert!(
            Instant::now() < deadline,
            "new partitions unused; records went to {used:?}"
        );
        used.insert(send(i).await);
        i += 1;
    }
    producer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_across_a_broker_restart_write_no_duplicate() {
    let temp = tempfile::tempdir().expect("temp");
    let configure = |c: &mut rill_broker::config::BrokerConfig| c.num_partitions = 1;
    let broker = TestBroker::start_in(temp.path(), configure).await.expect("broker");
    let addr = broker.addr();
    let bootstrap = broker.bootstrap();
    let producer = Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "2"),
        ("batch.size", "2048"),
        ("retry.backoff.ms", "20"),
        ("request.timeout.ms", "2000"),
        ("delivery.timeout.ms", "60000"),
    ])
    .await
    .expect("producer");
    let total = 3000usize;
    let mut deliveries = Vec::with_capacity(total);
    let mut broker = Some(broker);
    for i in 0..total {
        let record = ProducerRecord::new("restart").value(format!("record-{i:06}"));
        deliveries.push(producer.send(record).await.expect("send"));
        if i == total / 2 {
            // Restart under load: some requests are appended but their answers are lost, and the
            // producer resends them with the same sequence numbers.
            if let Some(running) = broker.take() {
                running.stop().await.expect("stop");
            }
            broker = Some(
                TestBroker::start_at(temp.path(), addr, configure)
                    .await
                    .expect("restart on the same port"),
            );
        }
    }
    let mut offsets = Vec::new();
    for delivery in deliveries {
        let meta = tokio::time::timeout(Duration::from_secs(60), delivery.wait())
            .await
            .expect("in time")
            .expect("delivered");
        offsets.push(meta.offset);
    }
    producer.close().await.expect("close");
    let (records, _) = read_partition(addr, "restart", 0).await;
    let values: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(r.2.clone().expect("value")).expect("utf8"))
        .collect();
    let expected: Vec<String> = (0..total).map(|i| format!("record-{i:06}")).collect();
    assert_eq!(values, expected, "every record exactly once, in order");
    assert_eq!(
        offsets,
        (0..total as i64).collect::<Vec<_>>(),
        "each future reports the record's offset"
    );
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_and_configs_are_refused_with_clear_errors() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 3).await.expect("broker");
    let bootstrap = broker.bootstrap();
    let error = Producer::from_properties([("bootstrap.servers", bootstrap.as_str()), ("acks", "2")])
        .await
        .expect_err("acks=2 is not a Kafka setting");
    assert!(error.to_string().contains("acks"), "{error}");
    let error = Producer::from_properties([("bootstrap.servers", bootstrap.as_str()), ("linger.msec", "5")])
        .await
        .expect_err("unknown key");
    assert!(error.to_string().contains("linger.msec"), "{error}");
    // Idempotence gives way to acks=1 unless asked for explicitly, as in Java.
    Producer::from_properties([("bootstrap.servers", bootstrap.as_str()), ("acks", "1")])
        .await
        .expect("acks=1 turns the default idempotence off")
        .close()
        .await
        .expect("close");
    let error = Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("acks", "1"),
        ("enable.idempotence", "true"),
    ])
    .await
    .expect_err("explicit idempotence with acks=1");
    assert!(error.to_string().contains("acks"), "{error}");

    let producer = Producer::from_properties([("bootstrap.servers", bootstrap.as_str()), ("max.request.size", "1000")])
        .await
        .expect("producer");
    let error = producer
        .send(ProducerRecord::new("bad").partition(7).value("x"))
        .await
        .expect_err("no partition 7");
    assert!(error.to_string().contains("partition 7"), "{error}");
    let error = producer
        .send(ProducerRecord::new("bad").value(vec![0u8; 5000]))
        .await
        .expect_err("too large");
    assert!(error.to_string().contains("max.request.size"), "{error}");
    // The producer still works after refusing them.
    let meta = producer
        .send(ProducerRecord::new("bad").partition(2).value("fine"))
        .await
        .expect("send")
        .await
        .expect("delivered");
    assert_eq!((meta.partition, meta.offset), (2, 0));
    producer.close().await.expect("close");
    let error = producer
        .send(ProducerRecord::new("bad").value("late"))
        .await
        .expect_err("closed");
    assert!(error.to_string().contains("closed"), "{error}");
}

//! The Rust client next to real Kafka clients on one in-process broker: what the Rust producer
//! writes (every codec) kcat, confluent-kafka and kafka-python read byte-exact; what kcat and
//! confluent-kafka write the Rust consumer reads byte-exact; and a consumer group whose members
//! are a confluent-kafka process and a Rust consumer splits the partitions, hands them over and
//! loses nothing, with the range and the cooperative-sticky assignors.
//!
//! Needs kcat and the virtualenv that `scripts/test` installs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::events::{Rebalance, RebalanceKind, Tp, What};
use common::kcat::{self, Kcat, ProduceOptions};
use common::kclient::{Client, KClient};
use common::ledger::Ledger;
use common::members::{GroupConsume, Observer};
use common::records::{Features, Record, base_timestamp, generate};
use common::tools::init_tracing;
use common::verify::{Consumed, Delivery, Timestamps, check_codecs, stored_codecs, verify_round_trip};
use rill_broker::testing::TestBroker;
use rill_client::consumer::{Consumer, ConsumerRecord, RebalanceContext, RebalanceListener};
use rill_client::producer::{Producer, ProducerRecord};
use rill_client::protocol::batch::TimestampType;
use rill_client::{OffsetAndMetadata, TopicPartition};
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 3;
/// The longest one step of a group test may take.
const STEP: Duration = Duration::from_secs(30);

async fn start_broker() -> TestBroker {
    init_tracing();
    TestBroker::start_with(|c| {
        c.num_partitions = PARTITIONS;
        c.group_initial_rebalance_delay_ms = 0;
        c.group_min_session_timeout_ms = 1000;
        c.offsets_topic_num_partitions = 5;
    })
    .await
    .expect("start the broker")
}

/// Produces `records` with the Rust producer configured by `properties`; returns the delivery
/// reports in produce order.
async fn rust_produce(bootstrap: &str, topic: &str, records: &[Record], properties: &[(&str, &str)]) -> Vec<Delivery> {
    let mut all = vec![("bootstrap.servers", bootstrap)];
    all.extend_from_slice(properties);
    let producer = Producer::from_properties(all).await.expect("producer");
    let mut futures = Vec::with_capacity(records.len());
    for r in records {
        let record = ProducerRecord {
            topic: topic.into(),
            partition: r.partition,
            key: r.key.clone().map(Into::into),
            value: r.value.clone().map(Into::into),
            headers: r
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone().map(Into::into)))
                .collect(),
            timestamp: r.timestamp,
        };
        futures.push(producer.send(record).await.expect("send"));
    }
    let mut deliveries = Vec::with_capacity(futures.len());
    for future in futures {
        let meta = future.await.expect("delivered");
        deliveries.push(Delivery {
            partition: meta.partition,
            offset: meta.offset,
            timestamp: meta.timestamp,
        });
    }
    producer.close().await.expect("close the producer");
    deliveries
}

/// A record as the Rust consumer got it, in the form the checks take.
fn consumed(record: &ConsumerRecord) -> Consumed {
    Consumed {
        phase: 0,
        partition: record.partition,
        offset: record.offset,
        key: record.key.as_deref().map(<[u8]>::to_vec),
        value: record.value.as_deref().map(<[u8]>::to_vec),
        headers: record
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.as_deref().map(<[u8]>::to_vec)))
            .collect(),
        timestamp: record.timestamp,
        timestamp_type: match record.timestamp_type {
            TimestampType::CreateTime => "create",
            TimestampType::LogAppendTime => "log_append",
        }
        .to_owned(),
    }
}

/// Reads every partition of `topic` from the beginning to its end with the Rust consumer
/// (assigned, no group).
async fn rust_consume(bootstrap: &str, topic: &str) -> Vec<Consumed> {
    let mut consumer = Consumer::from_properties([("bootstrap.servers", bootstrap), ("check.crcs", "true")])
        .await
        .expect("consumer");
    let partitions: Vec<TopicPartition> = (0..PARTITIONS).map(|p| TopicPartition::new(topic, p)).collect();
    consumer.assign(partitions.clone()).expect("assign");
    consumer.seek_to_beginning(&partitions).expect("seek to the beginning");
    let ends = consumer.end_offsets(&partitions).await.expect("end offsets");
    let mut out = Vec::new();
    let deadline = Instant::now() + STEP;
    loop {
        let mut done = true;
        for tp in &partitions {
            if consumer.position(tp).await.expect("position") < ends[tp] {
                done = false;
            }
        }
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Rust consumer read {} records of {topic}; ends {ends:?}",
            out.len()
        );
        out.extend(
            consumer
                .poll(Duration::from_millis(200))
                .await
                .expect("poll")
                .iter()
                .map(consumed),
        );
    }
    consumer.close().await.expect("close the consumer");
    out
}

// ---------------------------------------------------------------------------------------------
// Rust producer → kcat, confluent-kafka, kafka-python.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_and_confluent_read_what_the_rust_producer_wrote_with_every_codec() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let kcat = Kcat::new(&bootstrap);
    let confluent = KClient::new(Client::Confluent, &bootstrap);
    // kcat prints headers as `name=value,...`, so these records keep header values to text.
    let features = Features {
        binary_header_values: false,
        ..Features::ALL
    };
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("rust-{codec}");
        let records = generate(300, &topic, features, base_timestamp());
        let deliveries = rust_produce(
            &bootstrap,
            &topic,
            &records,
            &[("compression.type", codec), ("linger.ms", "20")],
        )
        .await;
        let codecs = stored_codecs(broker.data_dir(), &topic);
        if codec == "none" {
            assert!(codecs.iter().all(|&c| c == 0), "uncompressed batches: {codecs:?}");
        } else {
            check_codecs(&codecs, codec).unwrap_or_else(|e| panic!("the Rust producer compresses: {e}"));
        }
        let reads = [
            ("kcat -C", kcat.consume(&topic, &[]).await),
            ("confluent-kafka", confluent.consume(&topic, &[]).await),
        ];
        for (reader, read) in reads {
            verify_round_trip(
                &format!("Rust produce with {codec} -> {reader}"),
                &records,
                Some(&deliveries),
                &read,
                PARTITIONS,
                Timestamps::Exact,
            );
        }
    }
    broker.stop().await.expect("stop the broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_read_binary_headers_and_explicit_partitions_from_the_rust_producer() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let topic = "rust-binary";
    let mut records = generate(400, topic, Features::ALL, base_timestamp());
    for (i, r) in records.iter_mut().enumerate() {
        if i % 5 == 0 {
            r.partition = Some((i % 3) as i32);
        }
    }
    // Acks from the leader only, not idempotent: the plain path next to the default one.
    let deliveries = rust_produce(&bootstrap, topic, &records, &[("acks", "1"), ("batch.size", "4096")]).await;
    for client in [Client::Confluent, Client::KafkaPython] {
        let read = KClient::new(client, &bootstrap).consume(topic, &[]).await;
        verify_round_trip(
            &format!("Rust produce -> {client}"),
            &records,
            Some(&deliveries),
            &read,
            PARTITIONS,
            Timestamps::Exact,
        );
    }
    broker.stop().await.expect("stop the broker");
}

// ---------------------------------------------------------------------------------------------
// kcat and confluent-kafka → Rust consumer.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_consumer_reads_what_kcat_and_confluent_wrote() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let confluent = KClient::new(Client::Confluent, &bootstrap);

    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("confluent-{codec}");
        confluent.create_topic(&topic, PARTITIONS).await;
        let records = generate(300, &topic, Features::ALL, base_timestamp());
        let deliveries = confluent
            .produce(
                &topic,
                &records,
                &["--compression", codec, "--linger-ms", "20", "--idempotence", "on"],
            )
            .await;
        let read = rust_consume(&bootstrap, &topic).await;
        verify_round_trip(
            &format!("confluent-kafka with {codec} -> Rust consume"),
            &records,
            Some(&deliveries),
            &read,
            PARTITIONS,
            Timestamps::Exact,
        );
    }

    let kcat = Kcat::new(&bootstrap);
    for codec in [None, Some("lz4")] {
        let topic = format!("kcat-{}", codec.unwrap_or("none"));
        confluent.create_topic(&topic, PARTITIONS).await;
        let options = ProduceOptions {
            headers: kcat::headers(),
            compression: codec,
            ..Default::default()
        };
        let records = kcat::records(500, &topic, &options);
        let timestamps = kcat::produce_timed(&kcat, &topic, &records, &options).await;
        let read = rust_consume(&bootstrap, &topic).await;
        verify_round_trip(
            &format!("kcat -P {codec:?} -> Rust consume"),
            &records,
            None,
            &read,
            PARTITIONS,
            timestamps,
        );
    }
    broker.stop().await.expect("stop the broker");
}

// ---------------------------------------------------------------------------------------------
// One group, two clients: a confluent-kafka process and a Rust consumer in this process.

/// Reports the Rust member's rebalance callbacks to the observer, as the script does for its
/// members.
struct Reporter {
    observer: Observer,
    name: &'static str,
    incremental: bool,
    owned: BTreeSet<Tp>,
}

impl Reporter {
    fn report(&mut self, kind: RebalanceKind, partitions: &[TopicPartition]) {
        let partitions: BTreeSet<Tp> = partitions.iter().map(|tp| (tp.topic.clone(), tp.partition)).collect();
        match kind {
            RebalanceKind::Assigned => self.owned.extend(partitions.iter().cloned()),
            RebalanceKind::Revoked | RebalanceKind::Lost => self.owned.retain(|tp| !partitions.contains(tp)),
        }
        self.observer.push(
            self.name,
            What::Rebalance(Rebalance {
                kind,
                partitions,
                assignment: self.owned.clone(),
                incremental: self.incremental,
                member_id: None,
                generation: None,
            }),
        );
    }
}

impl RebalanceListener for Reporter {
    fn on_partitions_revoked(&mut self, context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        context.commit_positions(partitions);
        self.report(RebalanceKind::Revoked, partitions);
    }

    fn on_partitions_assigned(&mut self, _context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.report(RebalanceKind::Assigned, partitions);
    }

    fn on_partitions_lost(&mut self, _context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.report(RebalanceKind::Lost, partitions);
    }
}

/// Runs the Rust member `name` until `stop`: polls, reports each record, commits the offsets
/// after each batch synchronously and reports the commit; then closes the consumer.
fn spawn_rust_member(
    observer: Observer,
    name: &'static str,
    mut consumer: Consumer,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            let records = match consumer.poll(Duration::from_millis(100)).await {
                Ok(records) => records,
                Err(e) => {
                    observer.push(
                        name,
                        What::Error {
                            error: "poll".to_owned(),
                            detail: e.to_string(),
                        },
                    );
                    continue;
                }
            };
            if records.is_empty() {
                continue;
            }
            let mut next: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
            for r in &records {
                observer.push(
                    name,
                    What::Record {
                        tp: (r.topic.to_string(), r.partition),
                        offset: r.offset,
                        key: r.key.as_deref().map(<[u8]>::to_vec),
                    },
                );
                next.insert(
                    TopicPartition::new(&*r.topic, r.partition),
                    OffsetAndMetadata::new(r.offset + 1),
                );
            }
            match consumer.commit_offsets(next.clone()).await {
                Ok(()) => observer.push(
                    name,
                    What::Committed(
                        next.into_iter()
                            .map(|(tp, o)| ((tp.topic, tp.partition), o.offset))
                            .collect(),
                    ),
                ),
                Err(e) => observer.push(
                    name,
                    What::CommitFailed {
                        error: "commit".to_owned(),
                        detail: e.to_string(),
                    },
                ),
            }
        }
        let reason = match consumer.close().await {
            Ok(()) => "stopped".to_owned(),
            Err(e) => format!("close failed: {e}"),
        };
        observer.push(name, What::Closed { reason });
        observer.push(name, What::Exited);
    })
}

/// A confluent-kafka member `c` owns the topic; the Rust member `r` joins and they split it;
/// `c` leaves and `r` takes everything over from `c`'s commits. Every record is read once.
async fn mixed_group(strategy: &str) {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let producer = KClient::new(Client::Confluent, &bootstrap);
    let topic = format!("mixed-{strategy}");
    let group = format!("mixed-{strategy}");
    producer.create_topic(&topic, 4).await;
    let mut ledger = Ledger::new(&topic, 4);
    let all = ledger.all();
    ledger.produce(&producer, "first", 40).await;

    let obs = Observer::new();
    let spec = GroupConsume::new(Client::Confluent, &bootstrap, &group, &topic)
        .session(3000, 300)
        .strategy(strategy)
        .max_poll_records(20)
        .debug_from_env();
    let mut c = obs.spawn("c", &spec);
    obs.expect("c owns every partition", STEP, |e| e.assignment("c") == all)
        .await;

    let from = obs.snapshot().all.len();
    let mut consumer = Consumer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("client.id", "rust-member"),
        ("partition.assignment.strategy", strategy),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", "3000"),
        ("heartbeat.interval.ms", "300"),
        ("max.poll.records", "20"),
    ])
    .await
    .expect("consumer");
    let reporter = Reporter {
        observer: obs.clone(),
        name: "r",
        incremental: strategy == "cooperative-sticky",
        owned: BTreeSet::new(),
    };
    consumer
        .subscribe_with_listener([topic.as_str()], reporter)
        .expect("subscribe");
    let stop = CancellationToken::new();
    let r = spawn_rust_member(obs.clone(), "r", consumer, stop.clone());

    let events = obs
        .expect("c and r split the partitions", STEP, |e| {
            e.split(&["c", "r"], &all) && e.assignment("r").len() == 2
        })
        .await;
    if strategy == "cooperative-sticky" {
        assert_eq!(
            events.given_up_since(from, &["c"]),
            events.assignment("r"),
            "r joining moved exactly r's partitions away from c"
        );
    }
    ledger.produce(&producer, "second", 40).await;
    obs.expect("c and r read and commit every record", STEP, |e| {
        ledger.all_read(e, &["c", "r"]) && e.committed(&["c", "r"]) == ledger.ends()
    })
    .await;

    // c leaves the group: r takes its partitions over from c's commits.
    let before = obs.snapshot();
    let status = c.stop().await;
    assert!(status.success(), "c exits cleanly: {status}");
    let events = obs
        .expect("r owns every partition", STEP, |e| e.assignment("r") == all)
        .await;
    if strategy == "cooperative-sticky" {
        assert_eq!(
            events.given_up_since(before.all.len(), &["r"]),
            BTreeSet::new(),
            "c leaving revoked none of r's partitions"
        );
    }
    ledger.produce(&producer, "third", 40).await;
    let events = obs
        .expect("r reads everything", STEP, |e| ledger.all_read(e, &["c", "r"]))
        .await;
    stop.cancel();
    tokio::time::timeout(STEP, r)
        .await
        .expect("the Rust member stops")
        .expect("the Rust member's task");
    let events_after = obs.snapshot();
    assert!(
        events_after.closed("r"),
        "the Rust member closed: {}",
        events_after.summary()
    );
    let delivery = ledger.check(&events, &["c", "r"]);
    delivery.assert_complete(&format!("mixed group, {strategy}"), &events);
    assert!(
        delivery.duplicates.is_empty(),
        "{strategy}: members that commit every batch and leave cleanly read nothing twice: {}",
        delivery.describe_duplicates()
    );
    let errors: Vec<&What> = events
        .of("r")
        .map(|e| &e.what)
        .filter(|w| matches!(w, What::Error { .. } | What::CommitFailed { .. }))
        .collect();
    assert!(errors.is_empty(), "the Rust member had errors: {errors:?}");
    obs.show(&format!("mixed group {strategy}"));
    broker.stop().await.expect("stop the broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confluent_and_a_rust_consumer_share_a_range_group() {
    mixed_group("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confluent_and_a_rust_consumer_share_a_cooperative_sticky_group() {
    mixed_group("cooperative-sticky").await;
}

//! The Rust consumer against an in-process broker: positions, seeks, resets, offsets by time,
//! pause/resume, commits, lag, the record stream, and consumer groups that split partitions
//! and fail over without losing records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rill_broker::testing::TestBroker;
use rill_client::consumer::{Consumer, ConsumerRecord, RebalanceContext, RebalanceListener};
use rill_client::producer::{Producer, ProducerRecord};
use rill_client::{ClientError, OffsetAndMetadata, TopicPartition};
use tokio::time::Instant;

async fn broker(partitions: i32) -> TestBroker {
    TestBroker::start_with(|c| {
        c.num_partitions = partitions;
        c.group_initial_rebalance_delay_ms = 0;
        c.group_min_session_timeout_ms = 500;
    })
    .await
    .expect("broker")
}

/// Produces `count` records `{prefix}-{i}` to `topic`, keyed `k{i}` (partition by murmur2), each
/// with timestamp `base_ts + i`.
async fn produce(bootstrap: &str, topic: &str, prefix: &str, count: usize, base_ts: i64) {
    let producer = Producer::from_properties([("bootstrap.servers", bootstrap), ("linger.ms", "5")])
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..count {
        let record = ProducerRecord::new(topic)
            .key(format!("k{i}"))
            .value(format!("{prefix}-{i}"))
            .timestamp(base_ts + i as i64);
        deliveries.push(producer.send(record).await.expect("send"));
    }
    for delivery in deliveries {
        delivery.await.expect("delivered");
    }
    producer.close().await.expect("close");
}

async fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut properties = vec![("bootstrap.servers", bootstrap)];
    properties.extend_from_slice(extra);
    Consumer::from_properties(properties).await.expect("consumer")
}

/// Polls until `want` records arrived or 30 s passed.
async fn poll_n(consumer: &mut Consumer, want: usize) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut records = Vec::new();
    while records.len() < want {
        assert!(Instant::now() < deadline, "got {} of {want} records", records.len());
        records.extend(consumer.poll(Duration::from_millis(200)).await.expect("poll"));
    }
    records
}

fn value(record: &ConsumerRecord) -> String {
    String::from_utf8(record.value.clone().expect("value").to_vec()).expect("utf8")
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_consumer_seeks_resets_and_finds_offsets_by_time() {
    let broker = broker(1).await;
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, "seek", "r", 100, 1_000_000).await;
    let p0 = tp("seek", 0);

    // auto.offset.reset=earliest: from the start, in order, every field intact.
    let mut c = consumer(
        &bootstrap,
        &[("auto.offset.reset", "earliest"), ("max.poll.records", "30")],
    )
    .await;
    c.assign([p0.clone()]).expect("assign");
    let first = c.poll(Duration::from_secs(5)).await.expect("poll");
    assert!(
        !first.is_empty() && first.len() <= 30,
        "max.poll.records bounds a poll: {}",
        first.len()
    );
    let mut all = first;
    all.extend(poll_n(&mut c, 100 - all.len()).await);
    let offsets: Vec<i64> = all.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..100).collect::<Vec<_>>());
    assert_eq!(value(&all[42]), "r-42");
    assert_eq!(all[42].key.as_deref(), Some(&b"k42"[..]));
    assert_eq!(all[42].timestamp, 1_000_042);
    assert_eq!(c.position(&p0).await.expect("position"), 100);
    assert_eq!(c.lag(&p0), Some(0));

    // seek back; seek_to_beginning; seek_to_end then new records only.
    c.seek(&p0, 90).expect("seek");
    let again = poll_n(&mut c, 10).await;
    assert_eq!(again.first().map(|r| r.offset), Some(90));
    c.seek_to_beginning(std::slice::from_ref(&p0))
        .expect("seek to beginning");
    assert_eq!(c.position(&p0).await.expect("position"), 0);
    c.seek_to_end(std::slice::from_ref(&p0)).expect("seek to end");
    assert_eq!(c.position(&p0).await.expect("position"), 100);
    produce(&bootstrap, "seek", "late", 5, 2_000_000).await;
    let late = poll_n(&mut c, 5).await;
    assert_eq!(value(&late[0]), "late-0");
    assert_eq!(late[0].offset, 100);

    // offsets_for_times: the first record at or after the timestamp; none after the last.
    let found = c
        .offsets_for_times(&BTreeMap::from([(p0.clone(), 1_000_050)]))
        .await
        .expect("offsets for times");
    let hit = found[&p0].expect("a record that recent");
    assert_eq!((hit.offset, hit.timestamp), (50, 1_000_050));
    let none = c
        .offsets_for_times(&BTreeMap::from([(p0.clone(), 9_000_000)]))
        .await
        .expect("offsets for times");
    assert_eq!(none[&p0], None);
    assert_eq!(
        c.beginning_offsets(std::slice::from_ref(&p0)).await.expect("beginning")[&p0],
        0
    );
    assert_eq!(c.end_offsets(std::slice::from_ref(&p0)).await.expect("end")[&p0], 105);

    // Misuse is refused clearly.
    let error = c.seek(&tp("seek", 7), 0).expect_err("not assigned");
    assert!(error.to_string().contains("not assigned"), "{error}");
    let error = c.subscribe(["seek"]).expect_err("no group");
    assert!(error.to_string().contains("group.id"), "{error}");
    c.close().await.expect("close");
    assert!(matches!(c.poll(Duration::ZERO).await, Err(ClientError::Closed(_))));

    // latest: only what comes after; none: an error naming the partition.
    let mut latest = consumer(&bootstrap, &[("auto.offset.reset", "latest")]).await;
    latest.assign([p0.clone()]).expect("assign");
    assert_eq!(latest.position(&p0).await.expect("position"), 105);
    let mut strict = consumer(&bootstrap, &[("auto.offset.reset", "none"), ("group.id", "strict")]).await;
    strict.assign([p0.clone()]).expect("assign");
    let error = strict.poll(Duration::from_secs(1)).await.expect_err("no offset");
    assert!(matches!(error, ClientError::NoOffset { .. }), "{error}");
    assert!(error.to_string().contains("seek-0"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_commits_and_the_stream() {
    let broker = broker(2).await;
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, "pause", "v", 200, 0).await;
    let (p0, p1) = (tp("pause", 0), tp("pause", 1));
    let mut c = consumer(
        &bootstrap,
        &[
            ("auto.offset.reset", "earliest"),
            ("group.id", "manual"),
            ("enable.auto.commit", "false"),
        ],
    )
    .await;
    c.assign([p0.clone(), p1.clone()]).expect("assign");
    c.pause(std::slice::from_ref(&p1)).expect("pause");
    assert_eq!(c.paused(), vec![p1.clone()]);
    let end0 = c.end_offsets(std::slice::from_ref(&p0)).await.expect("end")[&p0];
    let from_p0 = poll_n(&mut c, end0 as usize).await;
    assert!(
        from_p0.iter().all(|r| r.partition == 0),
        "a paused partition returns nothing"
    );
    assert!(c.poll(Duration::from_millis(300)).await.expect("poll").is_empty());
    c.resume(std::slice::from_ref(&p1)).expect("resume");
    let from_p1 = poll_n(&mut c, 200 - end0 as usize).await;
    assert!(from_p1.iter().all(|r| r.partition == 1));

    // Manual commits: sync of positions, explicit offsets with metadata, async.
    c.commit_sync().await.expect("commit");
    let committed = c.committed(&[p0.clone(), p1.clone()]).await.expect("committed");
    assert_eq!(committed[&p0].offset, end0);
    assert_eq!(committed[&p1].offset, 200 - end0);
    c.seek(&p1, 1).expect("seek");
    c.commit_async().await.expect("joined").expect("async commit");
    assert_eq!(
        c.committed(std::slice::from_ref(&p1)).await.expect("committed")[&p1].offset,
        1
    );
    let mut explicit = BTreeMap::new();
    explicit.insert(
        p0.clone(),
        OffsetAndMetadata {
            offset: 3,
            leader_epoch: None,
            metadata: "checkpoint".to_owned(),
        },
    );
    c.commit_offsets(explicit).await.expect("commit offsets");
    let committed = c.committed(std::slice::from_ref(&p0)).await.expect("committed");
    assert_eq!(
        (committed[&p0].offset, committed[&p0].metadata.as_str()),
        (3, "checkpoint")
    );

    // A new consumer of the group starts from the committed offsets.
    let mut next = consumer(&bootstrap, &[("group.id", "manual")]).await;
    next.assign([p0.clone()]).expect("assign");
    assert_eq!(next.position(&p0).await.expect("position"), 3);
    let first = poll_n(&mut next, 1).await;
    assert_eq!(first[0].offset, 3);

    // The stream yields records one by one; dropping it rewinds to the first record not yielded.
    next.seek(&p0, 0).expect("seek");
    {
        let stream = next.stream();
        tokio::pin!(stream);
        for want in 0..5 {
            let record = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("in time")
                .expect("a record")
                .expect("no error");
            assert_eq!(record.offset, want);
        }
    }
    assert_eq!(next.position(&p0).await.expect("position"), 5, "the stream rewound");
}

/// A listener call: which one, with which partitions.
type Event = (&'static str, Vec<TopicPartition>);

/// Records the listener calls.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
}

impl RebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        context.commit_positions(partitions);
        self.events.lock().expect("lock").push(("revoked", partitions.to_vec()));
    }
    fn on_partitions_assigned(&mut self, _: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.events
            .lock()
            .expect("lock")
            .push(("assigned", partitions.to_vec()));
    }
    fn on_partitions_lost(&mut self, _: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.events.lock().expect("lock").push(("lost", partitions.to_vec()));
    }
}

/// A consumer task: polls until told to stop, sending what it got (member index, record).
fn spawn_member(
    index: usize,
    mut consumer: Consumer,
    out: tokio::sync::mpsc::UnboundedSender<(usize, String)>,
    stop: tokio_util::sync::CancellationToken,
    crash: tokio_util::sync::CancellationToken,
    crashed: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<Consumer> {
    tokio::spawn(async move {
        loop {
            if crash.is_cancelled() {
                // Vanish without leaving the group or committing (dropping stops the heartbeats
                // but sends nothing): the group finds out when the session expires.
                drop(consumer);
                crashed.cancel();
                return futures_util::future::pending::<Consumer>().await;
            }
            if stop.is_cancelled() {
                return consumer;
            }
            match consumer.poll(Duration::from_millis(100)).await {
                Ok(records) => {
                    for record in records {
                        let _ = out.send((index, value(&record)));
                    }
                }
                Err(e) => panic!("member {index}: {e}"),
            }
        }
    })
}

async fn group_splits_and_fails_over(strategy: &str) {
    let broker = broker(6).await;
    let bootstrap = broker.bootstrap();
    let topic = format!("group-{strategy}");
    let group = format!("g-{strategy}");
    produce(&bootstrap, &topic, "a", 600, 0).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let recorders: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
    let crash: Vec<_> = (0..3).map(|_| tokio_util::sync::CancellationToken::new()).collect();
    let crashed_signals: Vec<_> = (0..3).map(|_| tokio_util::sync::CancellationToken::new()).collect();
    let mut members = Vec::new();
    for (i, recorder) in recorders.iter().enumerate() {
        let mut c = consumer(
            &bootstrap,
            &[
                ("group.id", group.as_str()),
                ("auto.offset.reset", "earliest"),
                ("partition.assignment.strategy", strategy),
                ("session.timeout.ms", "1500"),
                ("heartbeat.interval.ms", "100"),
                ("auto.commit.interval.ms", "100"),
                ("client.id", &format!("member-{i}")),
            ],
        )
        .await;
        c.subscribe_with_listener([topic.as_str()], recorder.clone())
            .expect("subscribe");
        members.push(spawn_member(
            i,
            c,
            tx.clone(),
            stop.clone(),
            crash[i].clone(),
            crashed_signals[i].clone(),
        ));
    }

    // Every record arrives; once the group settles each member holds two partitions.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let assignment_of = |r: &Recorder| -> BTreeSet<TopicPartition> {
        let mut owned = BTreeSet::new();
        for (event, partitions) in r.events.lock().expect("lock").iter() {
            match *event {
                "assigned" => owned.extend(partitions.iter().cloned()),
                _ => {
                    for p in partitions {
                        owned.remove(p);
                    }
                }
            }
        }
        owned
    };
    loop {
        while let Ok((member, v)) = rx.try_recv() {
            seen.insert(v, member);
        }
        let sizes: Vec<usize> = recorders.iter().map(|r| assignment_of(r).len()).collect();
        if seen.len() == 600 && sizes == vec![2, 2, 2] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{strategy}: {} of 600 records, assignment sizes {sizes:?}",
            seen.len()
        );
        if let Ok(Some((member, v))) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            seen.insert(v, member);
        }
    }
    let all: BTreeSet<TopicPartition> = recorders.iter().flat_map(assignment_of).collect();
    assert_eq!(all.len(), 6, "{strategy}: the three members split all six partitions");

    // Member 0 crashes; more records follow; the other two take its partitions over.
    let crashed: BTreeSet<TopicPartition> = assignment_of(&recorders[0]);
    crash[0].cancel();
    tokio::time::timeout(Duration::from_secs(10), crashed_signals[0].cancelled())
        .await
        .expect("member 0 crashes");
    produce(&bootstrap, &topic, "b", 600, 0).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after: HashMap<String, usize> = HashMap::new();
    loop {
        while let Ok((member, v)) = rx.try_recv() {
            if v.starts_with("b-") {
                after.insert(v, member);
            }
        }
        let survivors: BTreeSet<TopicPartition> = recorders[1..].iter().flat_map(assignment_of).collect();
        if after.len() == 600 && survivors.len() == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{strategy}: after the crash {} of 600 records, survivors own {survivors:?}",
            after.len()
        );
        if let Ok(Some((member, v))) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            if v.starts_with("b-") {
                after.insert(v, member);
            }
        }
    }
    assert!(
        after.values().all(|m| *m != 0),
        "{strategy}: the crashed member got nothing more"
    );
    let moved: Vec<&TopicPartition> = crashed.iter().collect();
    assert_eq!(moved.len(), 2, "{strategy}: the crashed member held two partitions");
    stop.cancel();
    for (i, member) in members.into_iter().enumerate().skip(1) {
        let mut c = tokio::time::timeout(Duration::from_secs(10), member)
            .await
            .expect("member stops")
            .expect("member task");
        c.close().await.unwrap_or_else(|e| panic!("member {i} close: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_group_splits_partitions_and_fails_over_without_loss() {
    group_splits_and_fails_over("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooperative_sticky_group_splits_partitions_and_fails_over_without_loss() {
    group_splits_and_fails_over("cooperative-sticky").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roundrobin_group_splits_partitions_and_fails_over_without_loss() {
    group_splits_and_fails_over("roundrobin").await;
}

/// A member that closes while its join is still under way (the coordinator waiting for the
/// others) leaves the group with the id the coordinator gave it: the group rebalances at once
/// instead of waiting out that member's session timeout (60 s here, twice the time `poll_n` waits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_closed_during_its_join_does_not_hold_up_the_group() {
    let broker = broker(2).await;
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, "joiners", "a", 10, 0).await;
    let settings = [
        ("group.id", "joiners"),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "60000"),
        ("heartbeat.interval.ms", "200"),
    ];
    let mut first = consumer(&bootstrap, &settings).await;
    first.subscribe(["joiners"]).expect("subscribe");
    poll_n(&mut first, 10).await;
    assert_eq!(first.assignment().len(), 2);

    // The second member's JoinGroup waits for the first to rejoin, which it does only when it
    // polls again: close the second while it waits.
    let mut second = consumer(&bootstrap, &settings).await;
    second.subscribe(["joiners"]).expect("subscribe");
    let polled = second.poll(Duration::from_millis(500)).await.expect("poll");
    assert!(
        polled.is_empty() && second.assignment().is_empty(),
        "the join completed early"
    );
    second.close().await.expect("close");

    // The first member rejoins and gets both partitions back (within poll_n's 30 s).
    produce(&bootstrap, "joiners", "b", 10, 100).await;
    let records = poll_n(&mut first, 10).await;
    assert!(records.iter().all(|r| value(r).starts_with("b-")));
    assert_eq!(first.assignment().len(), 2);
    first.close().await.expect("close");
}

//! rhai pipelines on a real (in-process) broker: a filter reloaded while records flow loses and
//! duplicates none; a reload that restarts the pipeline keeps its counts; the watcher sees a
//! script replaced by an editor.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_broker::testing::TestBroker;
use rill_client::admin::{Admin, NewTopic};
use rill_client::consumer::Consumer;
use rill_client::producer::{Producer, ProducerRecord};
use rill_streams::StreamsConfig;
use rill_streams::script::{Reload, ScriptApp, ScriptOptions, ScriptWatcher};
use tokio::time::Instant;

async fn broker(topics: &[&str]) -> TestBroker {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let broker = TestBroker::start_with(|c| {
        c.group_initial_rebalance_delay_ms = 0;
        c.group_min_session_timeout_ms = 1000;
    })
    .await
    .expect("broker");
    let admin = Admin::from_properties([("bootstrap.servers", broker.bootstrap().as_str())])
        .await
        .expect("admin");
    let topics: Vec<NewTopic> = topics.iter().map(|t| NewTopic::new(*t).partitions(1)).collect();
    let created = admin.create_topics(&topics, false).await.expect("create topics");
    assert!(created.values().all(Result::is_ok), "{created:?}");
    broker
}

fn config(app: &str, bootstrap: &str) -> StreamsConfig {
    StreamsConfig::new(app, bootstrap)
        .commit_interval(Duration::from_millis(200))
        .property("consumer.session.timeout.ms", "2000")
        .property("consumer.heartbeat.interval.ms", "200")
}

async fn producer(bootstrap: &str) -> Producer {
    Producer::from_properties([("bootstrap.servers", bootstrap), ("linger.ms", "2")])
        .await
        .expect("producer")
}

async fn reader(bootstrap: &str, topic: &str) -> Consumer {
    let mut consumer = Consumer::from_properties([
        ("bootstrap.servers", bootstrap),
        ("group.id", "test-reader"),
        ("auto.offset.reset", "earliest"),
    ])
    .await
    .expect("consumer");
    consumer.subscribe([topic]).expect("subscribe");
    consumer
}

fn text(b: Option<bytes::Bytes>) -> String {
    String::from_utf8(b.unwrap_or_default().to_vec()).expect("utf8")
}

const EVENS: &str = r#"stream("nums").filter(|r| r.value.n % 2 == 0).map_values(|v| v.n).to("out");"#;
const THIRDS: &str = r#"stream("nums").filter(|r| r.value.n % 3 == 0).map_values(|v| v.n).to("out");"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_reloaded_while_records_flow_loses_and_duplicates_none() {
    const N: i64 = 20_000;
    let broker = broker(&["nums", "out"]).await;
    let bootstrap = broker.bootstrap();
    let mut app = ScriptApp::start(EVENS, &ScriptOptions::named("nums.rhai"), config("nums", &bootstrap))
        .await
        .expect("start");
    let sending = {
        let bootstrap = bootstrap.clone();
        tokio::spawn(async move {
            let producer = producer(&bootstrap).await;
            for chunk in (0..N).collect::<Vec<_>>().chunks(500) {
                let mut deliveries = Vec::new();
                for n in chunk {
                    let record = ProducerRecord::new("nums").value(format!(r#"{{"n":{n}}}"#));
                    deliveries.push(producer.send(record).await.expect("send"));
                }
                for d in deliveries {
                    d.await.expect("delivered");
                }
            }
            producer.close().await.expect("close");
        })
    };
    // Reload once the pipeline is under way, while the producer still sends.
    // The pipeline's counters have no notification to await: poll them until a deadline.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    while app.stats().processed < 2_000 {
        assert!(
            Instant::now() < deadline && !app.is_finished(),
            "no progress: {:?}",
            app.stats()
        );
        ticks.tick().await;
    }
    assert_eq!(app.reload(THIRDS).await.expect("compiles"), Reload::Swapped);
    let processed_at_reload = app.stats().processed;
    sending.await.expect("producer task");
    assert!(processed_at_reload < N as u64, "the reload came after the last record");

    // N - 1 = 19,999 is odd and not a multiple of 3: read up to the last multiple of 3.
    let last = (N - 1) / 3 * 3;
    let mut consumer = reader(&bootstrap, "out").await;
    let mut out: Vec<i64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.last() != Some(&last) {
        assert!(
            Instant::now() < deadline,
            "{} records read, last {:?}",
            out.len(),
            out.last()
        );
        assert!(!app.is_finished(), "the pipeline stopped: {:?}", app.stats());
        for r in consumer.poll(Duration::from_millis(200)).await.expect("poll") {
            out.push(text(r.value).parse().expect("a number"));
        }
    }
    // No duplicates: one partition, so the numbers only go up.
    assert!(out.windows(2).all(|w| w[0] < w[1]), "duplicated or reordered output");
    // Before the switch the old filter, after it the new one: some s makes it exact.
    let old_only = out
        .iter()
        .filter(|n| *n % 2 == 0 && *n % 3 != 0)
        .max()
        .copied()
        .expect("old filter ran");
    let new_only = out
        .iter()
        .filter(|n| *n % 3 == 0 && *n % 2 != 0)
        .min()
        .copied()
        .expect("new filter ran");
    assert!(old_only < new_only, "filters interleaved: {old_only} after {new_only}");
    let exact = (old_only + 1..=new_only).any(|s| {
        let want: Vec<i64> = (0..N)
            .filter(|n| if *n < s { n % 2 == 0 } else { n % 3 == 0 })
            .collect();
        want == out
    });
    assert!(exact, "records lost around the switch ({old_only}..{new_only})");
    app.close().await.expect("clean close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_restarts_the_pipeline_keeps_its_counts() {
    let broker = broker(&["clicks", "counts"]).await;
    let bootstrap = broker.bootstrap();
    let script = r#"stream("clicks").group_by(|r| r.value.user).count().to_stream().to("counts");"#;
    let mut app = ScriptApp::start(
        script,
        &ScriptOptions::named("clicks.rhai"),
        config("clicks", &bootstrap),
    )
    .await
    .expect("start");
    let send = |users: Vec<&'static str>| {
        let bootstrap = bootstrap.clone();
        async move {
            let producer = producer(&bootstrap).await;
            for user in users {
                let record = ProducerRecord::new("clicks").value(format!(r#"{{"user":"{user}"}}"#));
                producer.send(record).await.expect("send").await.expect("delivered");
            }
            producer.close().await.expect("close");
        }
    };
    let mut consumer = reader(&bootstrap, "counts").await;
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    let mut read_until = async |latest: &mut BTreeMap<String, String>, user: &str, count: &str, app: &ScriptApp| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while latest.get(user).map(String::as_str) != Some(count) {
            assert!(Instant::now() < deadline, "{user} not at {count}: {latest:?}");
            assert!(!app.is_finished(), "the pipeline stopped");
            for r in consumer.poll(Duration::from_millis(200)).await.expect("poll") {
                latest.insert(text(r.key), text(r.value));
            }
        }
    };
    send(vec!["ann"; 10]).await;
    read_until(&mut latest, "ann", "10", &app).await;

    let filtered = r#"stream("clicks").filter(|r| r.value.user != "bot").group_by(|r| r.value.user).count().to_stream().to("counts");"#;
    assert_eq!(app.reload(filtered).await.expect("compiles"), Reload::Restarted);
    send(vec!["bot", "ann", "ann", "bot", "ann"]).await;
    read_until(&mut latest, "ann", "13", &app).await;
    assert_eq!(latest.get("bot"), None, "the new filter was not applied");
    app.close().await.expect("clean close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_sees_a_script_replaced_by_rename() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pipeline.rhai");
    std::fs::write(&path, EVENS).expect("write");
    let mut watcher = ScriptWatcher::new(&path).expect("watch");
    // Editors write a new file and rename it over the old one.
    let tmp = dir.path().join(".pipeline.rhai.swp");
    std::fs::write(&tmp, THIRDS).expect("write");
    std::fs::rename(&tmp, &path).expect("rename");
    let changed = tokio::time::timeout(Duration::from_secs(10), watcher.changed())
        .await
        .expect("a change within 10 s");
    assert_eq!(changed.as_deref(), Some(THIRDS));
    // Writing the same content again is no change; a new one is.
    std::fs::write(&path, THIRDS).expect("write");
    std::fs::write(&path, EVENS).expect("write");
    let changed = tokio::time::timeout(Duration::from_secs(10), watcher.changed())
        .await
        .expect("a change within 10 s");
    assert_eq!(changed.as_deref(), Some(EVENS));
}

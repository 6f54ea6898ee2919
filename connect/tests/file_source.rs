//! The file source against a real (in-process) broker: lines appended while the file is rotated
//! by rename and by copytruncate and the task is stopped, restarted and killed all arrive in the
//! topic, once: after the kill, the task reads back what it wrote since its last stored
//! positions.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rill_broker::testing::TestBroker;
use rill_client::TopicPartition;
use rill_client::admin::{Admin, NewTopic};
use rill_client::consumer::Consumer;
use rill_client::producer::Producer;
use rill_connect::OffsetStore;
use rill_connect::file::{FileSourceConfig, run_file_source};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn append_lines(path: &Path, from: u32, to: u32) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    let text: String = (from..to).map(|i| format!("line {i}\n")).collect();
    file.write_all(text.as_bytes()).expect("append");
}

/// A running task, on a runtime of its own with its producer and offset store: a kill ends all
/// of it, as a crash does. (On the test's runtime, the producer's sender outlived an aborted
/// task and delivered its last lines after the next task had read the topic's end: those lines
/// came twice.)
struct Task {
    stop: CancellationToken,
    handle: JoinHandle<()>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Task {
    /// Stops it cleanly: everything sent is acknowledged and its positions stored.
    async fn stop(mut self) {
        self.stop.cancel();
        (&mut self.handle).await.expect("stopped");
    }

    /// A crash: the task and all it runs end where they are.
    fn kill(self) {
        drop(self);
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A broker with the topic `lines` (one partition).
async fn broker_with_lines_topic() -> (TestBroker, String) {
    let broker = TestBroker::start().await.expect("broker");
    let bootstrap = broker.bootstrap();
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("admin");
    admin
        .create_topics(&[NewTopic::new("lines").partitions(1)], false)
        .await
        .expect("create topic");
    (broker, bootstrap)
}

/// Waits until the topic holds at least `want` records.
async fn count_lines(bootstrap: &str, want: u32) {
    let consumer = Consumer::from_properties([("bootstrap.servers", bootstrap)])
        .await
        .expect("consumer");
    let tp = TopicPartition::new("lines", 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    loop {
        let end = consumer
            .end_offsets(std::slice::from_ref(&tp))
            .await
            .expect("end offsets");
        if end.get(&tp).copied().unwrap_or(0) >= i64::from(want) {
            return;
        }
        assert!(Instant::now() < deadline, "the topic did not reach {want} records");
        ticks.tick().await;
    }
}

async fn start(config: Arc<FileSourceConfig>, bootstrap: &str) -> Task {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let bootstrap = bootstrap.to_owned();
    let (producer, offsets) = runtime
        .spawn(async move {
            let producer = Producer::from_properties([("bootstrap.servers", bootstrap.as_str()), ("linger.ms", "5")])
                .await
                .expect("producer");
            let offsets = OffsetStore::open(&bootstrap, "connect-offsets").await.expect("offsets");
            (producer, offsets)
        })
        .await
        .expect("connected");
    let stop = CancellationToken::new();
    let token = stop.clone();
    let handle = runtime.spawn(async move {
        run_file_source(&config, &producer, &offsets, token)
            .await
            .expect("file source");
        producer.close().await.expect("close producer");
        offsets.close().await.expect("close offsets");
    });
    Task {
        stop,
        handle,
        runtime: Some(runtime),
    }
}

/// Reads the topic until every line `0..count` is there (or a minute passes); returns how many
/// times each came.
async fn read_lines(bootstrap: &str, count: u32) -> BTreeMap<u32, u32> {
    let mut consumer = Consumer::from_properties([("bootstrap.servers", bootstrap)])
        .await
        .expect("consumer");
    let tp = TopicPartition::new("lines", 0);
    consumer.assign([tp.clone()]).expect("assign");
    consumer.seek_to_beginning(&[tp]).expect("seek");
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (seen.len() as u32) < count {
        assert!(Instant::now() < deadline, "{} of {count} lines arrived", seen.len());
        for r in consumer.poll(Duration::from_millis(200)).await.expect("poll") {
            let text = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            let n: u32 = text.trim_start_matches("line ").parse().expect("a numbered line");
            *seen.entry(n).or_default() += 1;
            let headers: HashMap<&str, _> = r.headers.iter().map(|(k, v)| (k.as_str(), v)).collect();
            assert!(
                headers.contains_key("file.path") && headers.contains_key("file.offset"),
                "{:?}",
                r.headers
            );
        }
    }
    consumer.close().await.expect("close consumer");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_arrive_across_rotations_restarts_and_a_kill() {
    let (broker, bootstrap) = broker_with_lines_topic().await;
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("app.log");
    let mut settings = BTreeMap::new();
    for (k, v) in [
        ("name", "app-logs".to_owned()),
        ("topic", "lines".to_owned()),
        ("file.include", format!("{}/app.log*", dir.path().display())),
        ("scan.interval.ms", "20".to_owned()),
        // Positions are stored only on a clean stop: the kill loses all it read since.
        ("offset.flush.interval.ms", "600000".to_owned()),
    ] {
        settings.insert(k.to_owned(), v);
    }
    let config = Arc::new(FileSourceConfig::from_config(&settings).expect("config"));
    let mut task = start(Arc::clone(&config), &bootstrap).await;
    let chunk = 2_000;
    for step in 0..10u32 {
        append_lines(&log, step * chunk, (step + 1) * chunk);
        if matches!(step, 2 | 4 | 5 | 6 | 7 | 8) {
            // Rotate or stop while the task is in the middle of this chunk.
            count_lines(&bootstrap, step * chunk + chunk / 2).await;
        }
        match step {
            2 => fs::rename(&log, dir.path().join("app.log.1")).expect("rename"),
            4 | 7 => {
                // copytruncate (the second one shortly before the kill: the records read back
                // then hold the file at positions past its new content).
                fs::copy(&log, dir.path().join(format!("app.log.copy{step}"))).expect("copy");
                File::create(&log).expect("truncate");
            }
            5 => fs::rename(&log, dir.path().join("app.log.3")).expect("rename"),
            6 => {
                // A clean restart: everything sent is acknowledged and its positions stored.
                task.stop().await;
                task = start(Arc::clone(&config), &bootstrap).await;
            }
            8 => {
                // A crash while lines are being written, with no position stored since the
                // restart.
                task.kill();
                task = start(Arc::clone(&config), &bootstrap).await;
            }
            _ => {}
        }
    }
    let seen = read_lines(&bootstrap, 10 * chunk).await;
    let twice: Vec<u32> = seen.iter().filter(|(_, c)| **c > 1).map(|(n, _)| *n).collect();
    assert_eq!(seen.len() as u32, 10 * chunk, "every line arrived");
    assert!(
        twice.is_empty(),
        "{} lines came twice: {:?}",
        twice.len(),
        &twice[..twice.len().min(20)]
    );
    task.stop().await;
    broker.stop().await.expect("stop broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_line_events_become_one_record_each() {
    let (broker, bootstrap) = broker_with_lines_topic().await;
    let dir = tempfile::tempdir().expect("dir");
    let settings: BTreeMap<String, String> = [
        ("name", "traces".to_owned()),
        ("topic", "lines".to_owned()),
        ("file.include", format!("{}/*.log", dir.path().display())),
        ("scan.interval.ms", "20".to_owned()),
        ("multiline.start.pattern", "^event ".to_owned()),
        ("multiline.timeout.ms", "100".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Arc::new(FileSourceConfig::from_config(&settings).expect("config"));
    fs::write(
        dir.path().join("app.log"),
        "event 1\n  detail a\n  detail b\nevent 2\n  detail c\n",
    )
    .expect("write");
    let task = start(config, &bootstrap).await;
    let mut consumer = Consumer::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("consumer");
    let tp = TopicPartition::new("lines", 0);
    consumer.assign([tp.clone()]).expect("assign");
    consumer.seek_to_beginning(&[tp]).expect("seek");
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while events.len() < 2 {
        assert!(Instant::now() < deadline, "events so far: {events:?}");
        for r in consumer.poll(Duration::from_millis(100)).await.expect("poll") {
            events.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
        }
    }
    assert_eq!(events, ["event 1\n  detail a\n  detail b", "event 2\n  detail c"]);
    task.stop().await;
    broker.stop().await.expect("stop broker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_files_are_found_by_file_system_events_without_waiting_for_a_scan() {
    let (_broker, bootstrap) = broker_with_lines_topic().await;
    let dir = tempfile::tempdir().expect("dir");
    append_lines(&dir.path().join("a.log"), 0, 1);
    let mut settings = BTreeMap::new();
    for (k, v) in [
        ("name", "events".to_owned()),
        ("topic", "lines".to_owned()),
        ("file.include", format!("{}/*.log", dir.path().display())),
        // Only the scan at the start: later files can be found only through events.
        ("scan.interval.ms", "3600000".to_owned()),
    ] {
        settings.insert(k.to_owned(), v);
    }
    let config = Arc::new(FileSourceConfig::from_config(&settings).expect("config"));
    let task = start(config, &bootstrap).await;
    // The first scan is done once a.log's line is in the topic.
    count_lines(&bootstrap, 1).await;
    append_lines(&dir.path().join("b.log"), 1, 2);
    // A file renamed into the glob is found too.
    append_lines(&dir.path().join("c.txt"), 2, 3);
    fs::rename(dir.path().join("c.txt"), dir.path().join("c.log")).expect("rename");
    let seen = read_lines(&bootstrap, 3).await;
    assert_eq!(seen, BTreeMap::from([(0, 1), (1, 1), (2, 1)]));
    task.stop().await;
}

//! `rill connect standalone` tailing a log into a topic: 1,000,000 lines appended while the file
//! is rotated by rename twice and by copytruncate once, and the worker is SIGKILLed once and
//! started again; at the end every line is in the topic exactly once.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rill_broker::testing::TestBroker;
use rill_client::TopicPartition;
use rill_client::admin::{Admin, NewTopic};
use rill_client::consumer::Consumer;
use tokio::process::{Child, Command};
use tokio::time::Instant;

const LINES: u32 = 1_000_000;
const CHUNK: u32 = 50_000;

fn append_lines(path: &Path, from: u32, to: u32) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    let text: String = (from..to).map(|i| format!("line {i:07}\n")).collect();
    file.write_all(text.as_bytes()).expect("append");
}

fn worker(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["connect", "standalone"])
        .arg(dir.join("worker.toml"))
        .arg(dir.join("connector.json"))
        .env("RILL_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start rill connect standalone")
}

/// The topic's end offset.
async fn records(consumer: &Consumer) -> i64 {
    let tp = TopicPartition::new("app-lines", 0);
    let ends = consumer
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .expect("end offsets");
    ends.get(&tp).copied().unwrap_or(0)
}

/// Waits until the topic holds at least `want` records, failing after a minute or if the worker
/// exits.
async fn wait_for(consumer: &Consumer, want: i64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    while records(consumer).await < want {
        assert!(child.try_wait().expect("worker status").is_none(), "the worker exited");
        assert!(Instant::now() < deadline, "the topic did not reach {want} records");
        ticks.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_lines_through_rotations_and_a_sigkill_arrive_once() {
    let broker = TestBroker::start().await.expect("broker");
    let bootstrap = broker.bootstrap();
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("admin");
    admin
        .create_topics(&[NewTopic::new("app-lines").partitions(1)], false)
        .await
        .expect("create topic");
    let dir = tempfile::tempdir().expect("dir");
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).expect("logs dir");
    let log = logs.join("app.log");
    fs::write(
        dir.path().join("worker.toml"),
        format!("\"bootstrap.servers\" = \"{bootstrap}\"\nlisteners = \"http://127.0.0.1:0\"\n"),
    )
    .expect("worker.toml");
    let connector = serde_json::json!({
        "name": "app-logs",
        "config": {
            "connector.class": "FileStreamSource",
            "file.include": format!("{}/app.log*", logs.display()),
            "topic": "app-lines",
            "scan.interval.ms": "100",
            "offset.flush.interval.ms": "500",
        }
    });
    fs::write(dir.path().join("connector.json"), connector.to_string()).expect("connector.json");

    let probe = Consumer::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("consumer");
    let mut child = worker(dir.path());
    let started = Instant::now();
    for chunk in 0..LINES / CHUNK {
        append_lines(&log, chunk * CHUNK, (chunk + 1) * CHUNK);
        // Rotate or kill while the worker is in the middle of a chunk.
        let midway = i64::from(chunk * CHUNK + CHUNK / 2);
        match chunk {
            4 | 9 => {
                wait_for(&probe, midway, &mut child).await;
                fs::rename(&log, logs.join(format!("app.log.{chunk}"))).expect("rename");
            }
            13 => {
                wait_for(&probe, midway, &mut child).await;
                fs::copy(&log, logs.join("app.log.copy")).expect("copy");
                File::create(&log).expect("truncate");
            }
            16 => {
                wait_for(&probe, midway, &mut child).await;
                child.kill().await.expect("SIGKILL");
                child = worker(dir.path());
            }
            _ => {}
        }
    }
    wait_for(&probe, i64::from(LINES), &mut child).await;
    let secs = started.elapsed().as_secs_f64();
    // A clean stop.
    let pid = child.id().expect("pid");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exited = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the worker stops on SIGTERM")
        .expect("wait");
    assert!(exited.success(), "{exited:?}");

    let mut consumer =
        Consumer::from_properties([("bootstrap.servers", bootstrap.as_str()), ("max.poll.records", "50000")])
            .await
            .expect("consumer");
    let tp = TopicPartition::new("app-lines", 0);
    consumer.assign([tp.clone()]).expect("assign");
    consumer.seek_to_beginning(&[tp]).expect("seek");
    let end = records(&probe).await;
    let mut seen: HashMap<u32, u32> = HashMap::new();
    let mut read = 0;
    while read < end {
        for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
            read = r.offset + 1;
            let text = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            let n: u32 = text.trim_start_matches("line ").parse().expect("a numbered line");
            *seen.entry(n).or_default() += 1;
        }
    }
    let missing = (0..LINES).filter(|n| !seen.contains_key(n)).count();
    let twice: Vec<u32> = seen.iter().filter(|(_, c)| **c > 1).map(|(n, _)| *n).collect();
    println!(
        "{LINES} lines in {secs:.1} s through 2 renames, a copytruncate and a SIGKILL: {missing} missing, {} twice",
        twice.len()
    );
    assert_eq!(missing, 0, "every line arrived");
    assert!(
        twice.is_empty(),
        "{} lines twice, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    assert_eq!(end, i64::from(LINES), "nothing else in the topic");
    broker.stop().await.expect("stop broker");
}

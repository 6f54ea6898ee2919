//! `rill run pipeline.rhai --embedded`: the pipeline runs against its own broker, is reloaded
//! when the file changes, keeps running when the new script has a syntax error, and stops
//! cleanly on SIGTERM; `--check` reports a syntax error with its line.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rill_client::consumer::Consumer;
use rill_client::producer::{Producer, ProducerRecord};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::{Instant, timeout};

const ERRORS: &str =
    "stream(\"logs\")\n  .filter(|r| r.value.level == \"ERROR\")\n  .map_values(|v| v.msg)\n  .to(\"alerts\");\n";
const WARNINGS: &str =
    "stream(\"logs\")\n  .filter(|r| r.value.level == \"WARN\")\n  .map_values(|v| v.msg)\n  .to(\"alerts\");\n";

fn rill() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rill"));
    command.env("RILL_LOG", "warn");
    command
}

/// The next stdout line starting with `prefix` (earlier lines skipped), within 30 s.
async fn line_starting(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = timeout(left, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line starting with {prefix:?} within 30 s"))
            .expect("read stdout")
            .unwrap_or_else(|| panic!("rill run exited before printing {prefix:?}"));
        if line.starts_with(prefix) {
            return line;
        }
    }
}

async fn send_logs(bootstrap: &str, logs: &[(&str, &str)]) {
    let producer = Producer::from_properties([("bootstrap.servers", bootstrap)])
        .await
        .expect("producer");
    for (level, msg) in logs {
        let value = format!(r#"{{"level":"{level}","msg":"{msg}"}}"#);
        let record = ProducerRecord::new("logs").value(value);
        producer.send(record).await.expect("send").await.expect("delivered");
    }
    producer.close().await.expect("close");
}

async fn read_alerts(consumer: &mut Consumer, want: usize) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < want {
        assert!(Instant::now() < deadline, "alerts so far: {out:?}");
        for r in consumer.poll(Duration::from_millis(200)).await.expect("poll") {
            out.push(String::from_utf8(r.value.unwrap_or_default().to_vec()).expect("utf8"));
        }
    }
    out
}

/// `rill run <script> --embedded <extra>`: the process, its stdout's remaining lines and the
/// embedded broker's address (read from the first line).
async fn run_embedded(script: &Path, extra: &[&str], stderr: Stdio) -> (Child, Lines<BufReader<ChildStdout>>, String) {
    let mut child = rill()
        .arg("run")
        .arg(script)
        .arg("--embedded")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("start rill run");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let embedded = line_starting(&mut lines, "Embedded broker on ").await;
    let bootstrap = embedded.trim_start_matches("Embedded broker on ").to_owned();
    (child, lines, bootstrap)
}

fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rill_run_embedded_reloads_the_script_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("alerts.rhai");
    std::fs::write(&script, ERRORS).expect("write");
    let (mut child, mut lines, bootstrap) = run_embedded(&script, &[], Stdio::inherit()).await;
    let running = line_starting(&mut lines, "Running ").await;
    assert!(running.contains("as application alerts"), "{running}");
    assert!(running.contains("(4 steps); reloading it when it changes"), "{running}");

    let mut consumer = Consumer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", "alerts-reader"),
        ("auto.offset.reset", "earliest"),
    ])
    .await
    .expect("consumer");
    consumer.subscribe(["alerts"]).expect("subscribe");
    send_logs(
        &bootstrap,
        &[("ERROR", "disk full"), ("WARN", "slow"), ("ERROR", "timeout")],
    )
    .await;
    assert_eq!(read_alerts(&mut consumer, 2).await, ["disk full", "timeout"]);

    write_atomically(&script, WARNINGS);
    let reloaded = line_starting(&mut lines, "Reloaded ").await;
    assert!(
        reloaded.ends_with("same steps, new closures from the next record on"),
        "{reloaded}"
    );
    send_logs(&bootstrap, &[("ERROR", "ignored"), ("WARN", "queue deep")]).await;
    assert_eq!(read_alerts(&mut consumer, 1).await, ["queue deep"]);

    write_atomically(&script, "stream(\"logs\")\n  .filter(|r| r.value.level == )\n");
    let refused = line_starting(&mut lines, "Not reloaded: ").await;
    assert!(refused.contains("alerts.rhai:2:"), "{refused}");
    assert!(refused.ends_with("; the running script stays"), "{refused}");
    send_logs(&bootstrap, &[("WARN", "still warnings")]).await;
    assert_eq!(read_alerts(&mut consumer, 1).await, ["still warnings"]);
    consumer.close().await.expect("close consumer");

    let pid = child.id().expect("running").to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill -TERM");
    assert!(status.success());
    let stopped = line_starting(&mut lines, "Stopped after ").await;
    assert_eq!(stopped, "Stopped after 6 records");
    let exit = timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn rill_run_check_prints_the_steps_or_the_line_of_a_syntax_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.rhai");
    std::fs::write(&good, ERRORS).expect("write");
    let out = rill().arg("run").arg(&good).arg("--check").output().await.expect("run");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "  stream logs (auto, auto) (line 1)",
            "  filter (line 2)",
            "  map_values (line 3)",
            "  to alerts (auto, auto) (line 4)"
        ]
    );

    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "stream(\"logs\")\n  .filter(|r| r.value.level == )\n").expect("write");
    let out = rill().arg("run").arg(&bad).arg("--check").output().await.expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).expect("utf8");
    assert!(
        stderr.contains("bad.rhai:2:32: syntax error: Unexpected ')'"),
        "{stderr}"
    );

    let looping = dir.path().join("loop.rhai");
    std::fs::write(&looping, "let n = 0;\nwhile true { n += 1; }\n").expect("write");
    let out = rill()
        .arg("run")
        .arg(&looping)
        .args(["--check", "--max-operations", "10000"])
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).expect("utf8");
    assert!(stderr.contains("loop.rhai:2: too many operations"), "{stderr}");
}

#[tokio::test]
async fn rill_connect_test_transform_prints_each_sample_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let connector = dir.path().join("app.json");
    let script = "if r.value.level == \"DEBUG\" { return false; }\nr.value = #{ msg: r.value.msg };\nr";
    let config = serde_json::json!({
        "name": "app",
        "config": {
            "connector.class": "FileStreamSource",
            "topic": "app-logs",
            "transforms": "shape",
            "transforms.shape.type": "rhai",
            "transforms.shape.script": script,
        }
    });
    std::fs::write(&connector, config.to_string()).expect("write");
    let samples = dir.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        "{\"value\": {\"level\": \"ERROR\", \"msg\": \"disk full\"}, \"timestamp\": 1}\n\n{\"value\": {\"level\": \"DEBUG\"}}\n{\"value\": 3}\n",
    )
    .expect("write");
    let out = rill()
        .args(["connect", "test-transform"])
        .arg(&connector)
        .arg("--records")
        .arg(&samples)
        .output()
        .await
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..2],
        [
            r#"{"record":{"headers":{},"key":null,"partition":null,"timestamp":1,"topic":"app-logs","value":{"msg":"disk full"}}}"#,
            r#"{"dropped":true}"#,
        ]
    );
    assert!(
        lines[2].starts_with(r#"{"error":"transform `shape` (rhai) failed: script line 1: "#),
        "{}",
        lines[2]
    );
    assert_eq!(lines.len(), 3);

    std::fs::write(&connector, r#"{"name": "x", "config": {"transforms": "t", "transforms.t.type": "rhai", "transforms.t.script": "r.value = ;"}}"#)
        .expect("write");
    let out = rill()
        .args(["connect", "test-transform"])
        .arg(&connector)
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).expect("utf8");
    assert!(
        stderr.contains("invalid configuration `transforms.t.script`: syntax error at line 1, column 11"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_connect_example_transform_runs_on_samples() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/connect-rhai-transform.json");
    let mut child = rill()
        .args(["connect", "test-transform"])
        .arg(&example)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run");
    let samples = concat!(
        r#"{"value": "{\"level\":\"ERROR\",\"msg\":\"disk full\"}"}"#,
        "\n",
        r#"{"value": "{\"level\":\"DEBUG\",\"msg\":\"tick\"}"}"#,
        "\n",
    );
    let mut stdin = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, samples.as_bytes())
        .await
        .expect("write samples");
    drop(stdin);
    let out = child.wait_with_output().await.expect("output");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            r#"{"record":{"headers":{},"key":null,"partition":null,"timestamp":null,"topic":"app-errors","value":{"level":"ERROR","msg":"disk full"}}}"#,
            r#"{"dropped":true}"#,
        ]
    );
}

#[tokio::test]
async fn rill_perf_script_reports_rhai_and_rust_throughput() {
    let out = rill()
        .args(["perf", "script", "--records", "2000"])
        .output()
        .await
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[1].starts_with("rhai: 2000 records in "), "{stdout}");
    assert!(lines[1].ends_with("(1000 written)"), "{stdout}");
    assert!(lines[2].starts_with("Rust: 2000 records in "), "{stdout}");
    assert!(lines[2].ends_with("(1000 written)"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rill_run_stops_with_the_script_line_when_a_record_fails_under_on_error_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("strict.rhai");
    std::fs::write(
        &script,
        "stream(\"logs\")\n  .filter(|r| r.value.level.len() > 3)\n  .to(\"alerts\");\n",
    )
    .expect("write");
    let (mut child, _, bootstrap) = run_embedded(&script, &["--no-watch"], Stdio::piped()).await;
    let producer = Producer::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("producer");
    let record = ProducerRecord::new("logs").value("not json");
    producer.send(record).await.expect("send").await.expect("delivered");
    producer.close().await.expect("close");
    let mut stderr = child.stderr.take().expect("stderr");
    let status = timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s")
        .expect("exit status");
    assert!(!status.success());
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
        .await
        .expect("stderr");
    assert!(text.contains("script error at "), "{text}");
    assert!(text.contains("strict.rhai:2 (filter)"), "{text}");
}

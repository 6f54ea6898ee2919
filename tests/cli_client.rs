//! The client commands as users run them: `rill topic`, `rill produce`, `rill consume`,
//! `rill group` and `rill perf` against an in-process broker, checking what they print.

use std::process::Stdio;
use std::time::Duration;

use rill_broker::testing::TestBroker;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A finished `rill` run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `rill args...` against `broker`, feeding `stdin`, within 60 s.
async fn rill(broker: &TestBroker, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .env("RILL_BOOTSTRAP_SERVER", broker.bootstrap())
        .env("RILL_LOG", "warn")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn rill");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("rill {args:?} did not finish"))
        .expect("rill output");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs and expects success.
async fn ok(broker: &TestBroker, args: &[&str], stdin: Option<&str>) -> String {
    let run = rill(broker, args, stdin).await;
    assert_eq!(run.code, 0, "rill {args:?} failed:\n{}\n{}", run.stdout, run.stderr);
    run.stdout
}

async fn broker() -> TestBroker {
    TestBroker::start_with(|c| {
        c.num_partitions = 1;
        c.group_initial_rebalance_delay_ms = 0;
        c.group_min_session_timeout_ms = 500;
    })
    .await
    .expect("broker")
}

/// The columns of each line, split on runs of spaces.
fn columns(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_commands_print_what_kafka_topics_prints() {
    let broker = broker().await;
    let out = ok(
        &broker,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=60000",
        ],
        None,
    )
    .await;
    assert_eq!(out, "Created topic orders.\n");
    let out = ok(&broker, &["topic", "create", "--topic", "audit"], None).await;
    assert_eq!(out, "Created topic audit.\n");
    let again = rill(&broker, &["topic", "create", "orders"], None).await;
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("orders") && again.stderr.contains("TopicAlreadyExists"),
        "{}",
        again.stderr
    );
    ok(&broker, &["topic", "create", "orders", "--if-not-exists"], None).await;
    let bad = rill(
        &broker,
        &["topic", "create", "x", "--config", "cleanup.policy=sideways"],
        None,
    )
    .await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("cleanup.policy"), "{}", bad.stderr);

    let out = ok(&broker, &["topic", "list", "--exclude-internal"], None).await;
    assert_eq!(out, "audit\norders\n");

    let out = ok(&broker, &["topic", "describe", "orders"], None).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let head: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(head[0], "Topic: orders");
    assert!(
        head[1].starts_with("TopicId: ") && head[1].len() == "TopicId: ".len() + 22,
        "{}",
        head[1]
    );
    assert_eq!(
        &head[2..],
        [
            "PartitionCount: 3",
            "ReplicationFactor: 1",
            "Configs: retention.ms=60000"
        ]
    );
    for (p, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields[0], "", "partition lines are indented with a tab");
        assert_eq!(fields[1], "Topic: orders");
        assert_eq!(fields[2], format!("Partition: {p}"));
        let leader = fields[3].strip_prefix("Leader: ").expect("leader");
        assert_eq!(fields[4], format!("Replicas: {leader}"));
        assert_eq!(fields[5], format!("Isr: {leader}"));
    }

    let out = ok(
        &broker,
        &[
            "topic",
            "alter",
            "orders",
            "--partitions",
            "5",
            "--config",
            "cleanup.policy=compact",
            "--delete-config",
            "retention.ms",
        ],
        None,
    )
    .await;
    assert_eq!(
        out,
        "Adding partitions succeeded!\nCompleted updating config for topic orders.\n"
    );
    let out = ok(&broker, &["topic", "describe", "--topic", "orders"], None).await;
    assert!(
        out.contains("PartitionCount: 5\tReplicationFactor: 1\tConfigs: cleanup.policy=compact\n"),
        "{out}"
    );
    let shrink = rill(&broker, &["topic", "alter", "orders", "--partitions", "2"], None).await;
    assert_eq!(shrink.code, 1, "{}", shrink.stdout);

    assert_eq!(
        ok(&broker, &["topic", "delete", "audit"], None).await,
        "Deleted topic audit.\n"
    );
    let missing = rill(&broker, &["topic", "describe", "audit"], None).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("audit"), "{}", missing.stderr);
    let out = ok(&broker, &["topic", "list", "--exclude-internal"], None).await;
    assert_eq!(out, "orders\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_consume_lines_keys_headers_and_formats() {
    let broker = broker().await;
    ok(&broker, &["topic", "create", "lines", "--partitions", "1"], None).await;
    ok(
        &broker,
        &[
            "produce",
            "lines",
            "--key-separator",
            ":",
            "--header",
            "source=cli",
            "--compression-codec",
            "lz4",
        ],
        Some("k1:hello\nk2:world: with colon\n"),
    )
    .await;
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), "plain one\nplain two\n").expect("write");
    ok(
        &broker,
        &[
            "produce",
            "lines",
            "--file",
            &file.path().display().to_string(),
            "--acks",
            "1",
        ],
        None,
    )
    .await;
    let bad = rill(
        &broker,
        &["produce", "lines", "--key-separator", ":"],
        Some("no separator here\n"),
    )
    .await;
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("line 1") && bad.stderr.contains("separator"),
        "{}",
        bad.stderr
    );

    // Values only, from the beginning, stopping after --max-messages.
    let run = rill(
        &broker,
        &["consume", "lines", "--from-beginning", "--max-messages", "4"],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "hello\nworld: with colon\nplain one\nplain two\n");
    assert!(run.stderr.contains("Processed a total of 4 messages"), "{}", run.stderr);

    // Every field, in DefaultMessageFormatter order.
    let out = ok(
        &broker,
        &[
            "consume",
            "lines",
            "--from-beginning",
            "--max-messages",
            "3",
            "--print-timestamp",
            "--print-partition",
            "--print-offset",
            "--print-headers",
            "--print-key",
        ],
        None,
    )
    .await;
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(rows[0][0].starts_with("CreateTime:"), "{out}");
    assert_eq!(&rows[0][1..], ["Partition:0", "Offset:0", "source:cli", "k1", "hello"]);
    assert_eq!(
        &rows[2][1..],
        ["Partition:0", "Offset:2", "NO_HEADERS", "null", "plain one"]
    );

    // A kcat-style format; one partition from an offset; exit at the end.
    let out = ok(
        &broker,
        &[
            "consume",
            "lines",
            "--partition",
            "0",
            "--offset",
            "1",
            "-e",
            "--format",
            "%t/%p@%o %k=%s (%S)\\n",
        ],
        None,
    )
    .await;
    assert_eq!(
        out,
        "lines/0@1 k2=world: with colon (17)\nlines/0@2 =plain one (9)\nlines/0@3 =plain two (9)\n"
    );

    // Without --from-beginning a consumer starts at the end: it times out with nothing.
    let run = rill(&broker, &["consume", "lines", "--timeout-ms", "1000"], None).await;
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
    assert!(run.stderr.contains("Processed a total of 0 messages"), "{}", run.stderr);
    let misuse = rill(&broker, &["consume", "lines", "--offset", "3"], None).await;
    assert_ne!(misuse.code, 0, "--offset needs --partition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commands_describe_reset_and_delete() {
    let broker = broker().await;
    ok(&broker, &["topic", "create", "events", "--partitions", "2"], None).await;
    let lines: String = (0..10).map(|i| format!("k{i}:v{i}\n")).collect();
    ok(&broker, &["produce", "events", "--key-separator", ":"], Some(&lines)).await;
    let run = rill(
        &broker,
        &[
            "consume",
            "events",
            "--group",
            "readers",
            "--from-beginning",
            "--max-messages",
            "10",
            "-X",
            "client.id=cli-reader",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 10);

    assert_eq!(ok(&broker, &["group", "list"], None).await, "readers\n");
    let out = ok(&broker, &["group", "list", "--state"], None).await;
    assert_eq!(columns(&out), vec![vec!["GROUP", "STATE"], vec!["readers", "Empty"]]);

    // The consumer has left: offsets with no member, as in the seed's example.
    let out = ok(&broker, &["group", "describe", "readers"], None).await;
    assert!(
        out.starts_with("\nConsumer group 'readers' has no active members.\n\n"),
        "{out:?}"
    );
    let table = columns(&out);
    assert_eq!(
        table[1],
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ]
    );
    let rows = &table[2..];
    assert_eq!(rows.len(), 2, "{out}");
    let mut total = 0;
    for (p, row) in rows.iter().enumerate() {
        assert_eq!(&row[..3], ["readers", "events", &p.to_string()]);
        assert_eq!(row[3], row[4], "fully consumed: {row:?}");
        assert_eq!(&row[5..], ["0", "-", "-", "-"]);
        total += row[4].parse::<i64>().expect("offset");
    }
    assert_eq!(total, 10);

    // Reset: a dry run changes nothing, --execute does.
    let run = rill(
        &broker,
        &[
            "group",
            "reset-offsets",
            "readers",
            "--topic",
            "events",
            "--to-earliest",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("--execute option is missing"), "{}", run.stderr);
    let table = columns(&run.stdout);
    assert_eq!(table[0], ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    assert_eq!(
        table[1..].to_vec(),
        vec![vec!["readers", "events", "0", "0"], vec!["readers", "events", "1", "0"]]
    );
    let out = ok(&broker, &["group", "describe", "readers"], None).await;
    assert!(
        columns(&out)[2..].iter().all(|r| r[5] == "0"),
        "dry run changed nothing: {out}"
    );
    let out = ok(
        &broker,
        &[
            "group",
            "reset-offsets",
            "--group",
            "readers",
            "--topic",
            "events:1",
            "--shift-by",
            "-2",
            "--execute",
        ],
        None,
    )
    .await;
    let row = &columns(&out)[1];
    let new_offset: i64 = row[3].parse().expect("offset");
    let out = ok(&broker, &["group", "describe", "readers"], None).await;
    let p1 = columns(&out)[3].clone();
    assert_eq!(p1[3], new_offset.to_string());
    assert_eq!(p1[5], "2", "lag after shifting back by two: {out}");

    // A member shows up with its client id and host; its group cannot be deleted meanwhile.
    let mut member = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["consume", "events", "--group", "readers", "-X", "client.id=cli-reader"])
        .args(["-X", "session.timeout.ms=1000", "-X", "heartbeat.interval.ms=100"])
        .env("RILL_BOOTSTRAP_SERVER", broker.bootstrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn member");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut every = tokio::time::interval(Duration::from_millis(100));
    let described = loop {
        every.tick().await;
        let out = ok(&broker, &["group", "describe", "readers"], None).await;
        if out.contains("cli-reader") && !out.contains("no active members") {
            break out;
        }
        assert!(tokio::time::Instant::now() < deadline, "the member never showed: {out}");
    };
    for row in &columns(&described)[2..] {
        assert!(row[6].starts_with("cli-reader-"), "member id: {row:?}");
        assert_eq!((row[7].as_str(), row[8].as_str()), ("/127.0.0.1", "cli-reader"));
    }
    let out = ok(&broker, &["group", "describe", "readers", "--members"], None).await;
    let rows = columns(&out);
    assert_eq!(rows[0], ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]);
    assert_eq!(rows[1][4], "2");
    let out = ok(&broker, &["group", "describe", "readers", "--state"], None).await;
    let rows = columns(&out);
    assert_eq!(
        rows[0],
        [
            "GROUP",
            "COORDINATOR",
            "(ID)",
            "ASSIGNMENT-STRATEGY",
            "STATE",
            "#MEMBERS"
        ]
    );
    assert_eq!(rows[1][0], "readers");
    assert_eq!(&rows[1][3..], ["range", "Stable", "1"]);
    let busy = rill(&broker, &["group", "delete", "readers"], None).await;
    assert_eq!(busy.code, 1);
    assert!(busy.stderr.contains("could not be deleted"), "{}", busy.stderr);
    let refused = rill(
        &broker,
        &[
            "group",
            "reset-offsets",
            "readers",
            "--all-topics",
            "--to-latest",
            "--execute",
        ],
        None,
    )
    .await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("inactive"), "{}", refused.stderr);
    member.start_kill().expect("kill member");
    let _ = member.wait().await;

    // Once the member's session is over the group can go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        every.tick().await;
        let run = rill(&broker, &["group", "delete", "--group", "readers"], None).await;
        if run.code == 0 {
            assert_eq!(
                run.stdout,
                "Deletion of requested consumer groups ('readers') was successful.\n"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group never deletable: {}",
            run.stderr
        );
    }
    assert_eq!(ok(&broker, &["group", "list"], None).await, "");
    let gone = rill(&broker, &["group", "describe", "readers"], None).await;
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("does not exist"), "{}", gone.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perf_commands_report_throughput_and_latency() {
    let broker = broker().await;
    let out = ok(
        &broker,
        &[
            "perf",
            "produce",
            "--topic",
            "perf",
            "--num-records",
            "20000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            "acks=1",
            "linger.ms=5",
            "--reporting-interval",
            "100",
        ],
        None,
    )
    .await;
    let last = out.lines().last().expect("a summary line");
    let summary = regex_like(
        last,
        &[
            "records sent,",
            "records/sec (",
            "MB/sec),",
            "ms avg latency,",
            "ms max latency,",
            "ms 50th,",
            "ms 95th,",
            "ms 99th,",
            "ms 99.9th.",
        ],
    );
    assert_eq!(summary[0], 20_000.0, "{last}");
    assert!(summary[1] > 0.0 && summary[2] > 0.0, "{last}");
    assert!(
        summary[5] <= summary[6] && summary[6] <= summary[7] && summary[7] <= summary[8],
        "{last}"
    );

    let run = rill(
        &broker,
        &[
            "perf",
            "consume",
            "--topic",
            "perf",
            "--messages",
            "20000",
            "--reporting-interval",
            "100",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    );
    let fields: Vec<&str> = lines[1].split(", ").collect();
    assert_eq!(fields.len(), 10, "{}", lines[1]);
    assert_eq!(fields[4], "20000");
    let mb: f64 = fields[2].parse().expect("MB");
    assert!((mb - 20_000.0 * 100.0 / 1_048_576.0).abs() < 0.001, "{mb}");
    assert_eq!(fields[0].len(), "2024-01-01 00:00:00:000".len(), "{}", fields[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perf_streams_runs_a_topology_on_the_broker_and_reports_its_throughput() {
    let broker = broker().await;
    for workload in ["filter-map", "windowed-count"] {
        let out = ok(
            &broker,
            &[
                "perf",
                "streams",
                "--workload",
                workload,
                "--records",
                "3000",
                "--partitions",
                "2",
            ],
            None,
        )
        .await;
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("Produced 3000 records of 100 B to perf-streams-in-"),
            "{out}"
        );
        let last = lines.last().expect("a summary line");
        let summary = regex_like(last, &["records processed in", "s:", "records/sec ("]);
        assert_eq!(summary[0], 3000.0, "{last}");
        assert!(summary[2] > 0.0, "{last}");
        assert!(last.ends_with("records per CPU-second (application)."), "{last}");
    }
    let bad = rill(&broker, &["perf", "streams", "--records", "0"], None).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("must be positive"), "{}", bad.stderr);
}

/// The number before each of `labels` in `line`, in order (a tiny stand-in for a regex).
fn regex_like(line: &str, labels: &[&str]) -> Vec<f64> {
    let mut rest = line;
    let mut numbers = Vec::new();
    for label in labels {
        let at = rest
            .find(label)
            .unwrap_or_else(|| panic!("`{label}` missing in: {line}"));
        let number: f64 = rest[..at]
            .trim()
            .trim_start_matches([',', '('])
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no number before `{label}` in: {line}"));
        numbers.push(number);
        rest = &rest[at + label.len()..];
    }
    numbers
}

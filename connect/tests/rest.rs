//! Every endpoint of the worker's REST API, with Kafka Connect's response shapes and status
//! codes, against a real broker and real files: a file sink and a file source managed through
//! the API, paused, resumed, restarted, stopped, their offsets read, altered and reset, and a
//! worker restart that keeps configs and states.

mod support;

use std::path::Path;

use rill_client::producer::{Producer, ProducerRecord};
use serde_json::{Value, json};
use support::{RunningWorker, broker_with_topics, eventually};

async fn produce(bootstrap: &str, topic: &str, values: &[&str]) {
    let producer = Producer::from_properties([("bootstrap.servers", bootstrap)])
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for value in values {
        let record = ProducerRecord::new(topic).value(value.to_string());
        deliveries.push(producer.send(record).await.expect("send"));
    }
    for delivery in deliveries {
        delivery.await.expect("delivered");
    }
    producer.close().await.expect("close");
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn wait_lines(path: &Path, want: usize) -> Vec<String> {
    eventually(30, &format!("{want} lines in {}", path.display()), || async {
        let got = lines(path);
        (got.len() >= want).then_some(got)
    })
    .await
}

/// Waits until the connector and all its tasks are in `state` (and it has `tasks` tasks).
async fn wait_state(worker: &RunningWorker, name: &str, state: &str, tasks: usize) -> Value {
    eventually(30, &format!("{name} {state}"), || async {
        let (code, status, _) = worker.call("GET", &format!("/connectors/{name}/status"), None).await;
        let ok = code == 200
            && status["connector"]["state"] == state
            && status["tasks"]
                .as_array()
                .is_some_and(|t| t.len() == tasks && t.iter().all(|t| t["state"] == state));
        ok.then_some(status)
    })
    .await
}

fn sink_config(file: &Path) -> Value {
    json!({
        "connector.class": "FileStreamSink",
        "topics": "in",
        "file": file.display().to_string(),
        "offset.flush.interval.ms": "100",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_root_and_plugins() {
    let (_broker, bootstrap) = broker_with_topics(&[]).await;
    let worker = RunningWorker::start(&bootstrap).await;

    let (code, root, _) = worker.call("GET", "/", None).await;
    assert_eq!(code, 200);
    assert_eq!(root["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        root["kafka_cluster_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{root}"
    );

    let (code, plugins, _) = worker.call("GET", "/connector-plugins", None).await;
    assert_eq!(code, 200);
    let classes: Vec<(&str, &str)> = plugins
        .as_array()
        .expect("an array")
        .iter()
        .map(|p| (p["class"].as_str().expect("class"), p["type"].as_str().expect("type")))
        .collect();
    assert_eq!(
        classes,
        [
            ("io.rill.connect.file.FileSourceConnector", "source"),
            ("io.rill.connect.file.FileSinkConnector", "sink"),
            ("io.rill.connect.jdbc.JdbcSourceConnector", "source"),
            ("io.rill.connect.jdbc.JdbcSinkConnector", "sink"),
        ]
    );
    let (code, all, _) = worker
        .call("GET", "/connector-plugins?connectorsOnly=false", None)
        .await;
    assert_eq!(code, 200);
    let all = all.as_array().expect("an array");
    assert!(all.iter().any(|p| p["type"] == "converter"), "{all:?}");
    assert!(all.iter().any(|p| p["type"] == "transformation"), "{all:?}");

    let (code, defs, _) = worker
        .call("GET", "/connector-plugins/FileStreamSink/config", None)
        .await;
    assert_eq!(code, 200);
    let topics = defs
        .as_array()
        .expect("an array")
        .iter()
        .find(|d| d["name"] == "topics")
        .expect("topics is a key");
    assert_eq!(topics["type"], "LIST");
    assert_eq!(topics["required"], true);
    for key in [
        "default_value",
        "importance",
        "documentation",
        "group",
        "order_in_group",
        "width",
        "display_name",
        "dependents",
    ] {
        assert!(topics.get(key).is_some(), "{key} missing in {topics}");
    }
    let (code, error, _) = worker
        .call("GET", "/connector-plugins/NoSuchConnector/config", None)
        .await;
    assert_eq!((code, error["error_code"].as_u64()), (404, Some(404)));

    // Validation: always 200, errors on the keys at fault.
    let good = json!({ "connector.class": "FileStreamSink", "topics": "in", "file": "/tmp/x" });
    let (code, report, _) = worker
        .call("PUT", "/connector-plugins/FileStreamSink/config/validate", Some(&good))
        .await;
    assert_eq!(code, 200);
    assert_eq!(report["error_count"], 0, "{report}");
    assert_eq!(report["name"], "io.rill.connect.file.FileSinkConnector");
    assert!(
        report["groups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("Common")))
    );
    let bad = json!({ "connector.class": "FileStreamSink", "file": "/tmp/x" });
    let (code, report, _) = worker
        .call("PUT", "/connector-plugins/FileStreamSink/config/validate", Some(&bad))
        .await;
    assert_eq!(code, 200);
    assert_eq!(report["error_count"], 1, "{report}");
    let topics = report["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .find(|c| c["value"]["name"] == "topics")
        .expect("topics reported");
    assert!(
        topics["value"]["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("topics")),
        "{topics}"
    );
    let wrong =
        json!({ "connector.class": "FileStreamSink", "topics": "in", "file": "/tmp/x", "errors.tolerance": "some" });
    let (_, report, _) = worker
        .call("PUT", "/connector-plugins/FileStreamSink/config/validate", Some(&wrong))
        .await;
    let tolerance = report["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .find(|c| c["value"]["name"] == "errors.tolerance")
        .expect("errors.tolerance reported");
    assert_eq!(report["error_count"], 1, "{report}");
    assert!(
        tolerance["value"]["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("some")),
        "{tolerance}"
    );
    let (code, _, _) = worker
        .call(
            "PUT",
            "/connector-plugins/FileStreamSource/config/validate",
            Some(&good),
        )
        .await;
    assert_eq!(code, 400, "a class that is not the URL's plugin");

    let (code, error, _) = worker.call("GET", "/no/such/path", None).await;
    assert_eq!((code, error["error_code"].as_u64()), (404, Some(404)));
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_lifecycle_through_the_api() {
    let (_broker, bootstrap) = broker_with_topics(&["in"]).await;
    let worker = RunningWorker::start(&bootstrap).await;
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out.txt");

    // Create: 201, Location, ConnectorInfo.
    let body = json!({ "name": "sink", "config": sink_config(&out) });
    let (code, info, head) = worker.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 201, "{info}");
    assert!(
        head.to_ascii_lowercase().contains("location: /connectors/sink"),
        "{head}"
    );
    assert_eq!(info["name"], "sink");
    assert_eq!(info["type"], "sink");
    assert_eq!(info["config"]["name"], "sink");
    assert_eq!(info["tasks"], json!([{ "connector": "sink", "task": 0 }]));
    let (code, error, _) = worker.call("POST", "/connectors", Some(&body)).await;
    assert_eq!((code, error["error_code"].as_u64()), (409, Some(409)), "{error}");
    let (code, error, _) = worker.call("POST", "/connectors", Some(&json!({ "config": {} }))).await;
    assert_eq!((code, error["error_code"].as_u64()), (400, Some(400)), "{error}");
    let invalid = json!({ "name": "broken", "config": { "connector.class": "FileStreamSink", "file": "/tmp/x" } });
    let (code, error, _) = worker.call("POST", "/connectors", Some(&invalid)).await;
    assert_eq!(code, 400, "{error}");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("topics")),
        "{error}"
    );
    let (code, _, _) = worker.call("POST", "/connectors", None).await;
    assert_eq!(code, 400, "no body");

    // Lists and reads.
    let (code, names, _) = worker.call("GET", "/connectors", None).await;
    assert_eq!((code, names), (200, json!(["sink"])));
    wait_state(&worker, "sink", "RUNNING", 1).await;
    let (code, expanded, _) = worker.call("GET", "/connectors?expand=status&expand=info", None).await;
    assert_eq!(code, 200);
    assert_eq!(expanded["sink"]["status"]["connector"]["state"], "RUNNING");
    assert_eq!(expanded["sink"]["info"]["type"], "sink");
    let (code, got, _) = worker.call("GET", "/connectors/sink", None).await;
    assert_eq!((code, &got), (200, &info));
    let (code, error, _) = worker.call("GET", "/connectors/nope", None).await;
    assert_eq!(code, 404);
    assert_eq!(
        error,
        json!({ "error_code": 404, "message": "Connector nope not found" })
    );
    let (code, config, _) = worker.call("GET", "/connectors/sink/config", None).await;
    assert_eq!(code, 200);
    assert_eq!(config["topics"], "in");
    assert_eq!(config["file"], out.display().to_string());

    // Status shape.
    let (code, status, _) = worker.call("GET", "/connectors/sink/status", None).await;
    assert_eq!(code, 200);
    assert_eq!(status["name"], "sink");
    assert_eq!(status["type"], "sink");
    assert_eq!(status["connector"]["worker_id"], worker.address.to_string());
    assert_eq!(status["tasks"][0]["id"], 0);
    assert!(
        status["tasks"][0].get("trace").is_none(),
        "no trace while running: {status}"
    );
    let (code, task, _) = worker.call("GET", "/connectors/sink/tasks/0/status", None).await;
    assert_eq!((code, &task["id"], &task["state"]), (200, &json!(0), &json!("RUNNING")));
    let (code, _, _) = worker.call("GET", "/connectors/sink/tasks/7/status", None).await;
    assert_eq!(code, 404);
    let (code, tasks, _) = worker.call("GET", "/connectors/sink/tasks", None).await;
    assert_eq!(code, 200);
    assert_eq!(tasks[0]["id"], json!({ "connector": "sink", "task": 0 }));
    assert_eq!(tasks[0]["config"]["topics"], "in");

    // Records reach the file.
    produce(&bootstrap, "in", &["a", "b", "c"]).await;
    assert_eq!(wait_lines(&out, 3).await, ["a", "b", "c"]);

    // Pause: 202, PAUSED; resume: 202, RUNNING, and records flow again.
    let (code, _, _) = worker.call("PUT", "/connectors/sink/pause", None).await;
    assert_eq!(code, 202);
    wait_state(&worker, "sink", "PAUSED", 1).await;
    produce(&bootstrap, "in", &["d"]).await;
    let (code, _, _) = worker.call("PUT", "/connectors/sink/resume", None).await;
    assert_eq!(code, 202);
    wait_state(&worker, "sink", "RUNNING", 1).await;
    assert_eq!(wait_lines(&out, 4).await, ["a", "b", "c", "d"]);

    // Restarts: no parameters 204; with them 202 and the status.
    let (code, body, _) = worker.call("POST", "/connectors/sink/restart", None).await;
    assert_eq!((code, body), (204, Value::Null));
    let (code, status, _) = worker
        .call(
            "POST",
            "/connectors/sink/restart?includeTasks=true&onlyFailed=false",
            None,
        )
        .await;
    assert_eq!(code, 202);
    assert_eq!(status["name"], "sink");
    assert!(
        ["RESTARTING", "RUNNING"].contains(&status["tasks"][0]["state"].as_str().unwrap_or_default()),
        "{status}"
    );
    let (code, _, _) = worker.call("POST", "/connectors/sink/tasks/0/restart", None).await;
    assert_eq!(code, 204);
    let (code, _, _) = worker.call("POST", "/connectors/sink/tasks/3/restart", None).await;
    assert_eq!(code, 404);
    wait_state(&worker, "sink", "RUNNING", 1).await;
    produce(&bootstrap, "in", &["e"]).await;
    assert_eq!(wait_lines(&out, 5).await, ["a", "b", "c", "d", "e"]);

    // Offsets: the sink group's, changeable only when stopped.
    let offsets = eventually(30, "committed offset 5", || async {
        let (_, offsets, _) = worker.call("GET", "/connectors/sink/offsets", None).await;
        (offsets["offsets"][0]["offset"]["kafka_offset"] == 5).then_some(offsets)
    })
    .await;
    assert_eq!(
        offsets,
        json!({ "offsets": [{ "partition": { "kafka_topic": "in", "kafka_partition": 0 }, "offset": { "kafka_offset": 5 } }] })
    );
    let rewind = json!({ "offsets": [{ "partition": { "kafka_topic": "in", "kafka_partition": 0 }, "offset": { "kafka_offset": 3 } }] });
    let (code, error, _) = worker.call("PATCH", "/connectors/sink/offsets", Some(&rewind)).await;
    assert_eq!(code, 400);
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("STOPPED")),
        "{error}"
    );
    let (code, _, _) = worker.call("PUT", "/connectors/sink/stop", None).await;
    assert_eq!(code, 204);
    let status = wait_state(&worker, "sink", "STOPPED", 0).await;
    assert_eq!(status["tasks"], json!([]));
    let (code, message, _) = worker.call("PATCH", "/connectors/sink/offsets", Some(&rewind)).await;
    assert_eq!(code, 200, "{message}");
    assert_eq!(
        message["message"],
        "The offsets for this connector have been altered successfully"
    );
    let (_, offsets, _) = worker.call("GET", "/connectors/sink/offsets", None).await;
    assert_eq!(offsets["offsets"][0]["offset"]["kafka_offset"], 3);
    // Resumed, the sink goes on from offset 3: d and e come again.
    let (code, _, _) = worker.call("PUT", "/connectors/sink/resume", None).await;
    assert_eq!(code, 202);
    assert_eq!(wait_lines(&out, 7).await, ["a", "b", "c", "d", "e", "d", "e"]);
    worker.call("PUT", "/connectors/sink/stop", None).await;
    wait_state(&worker, "sink", "STOPPED", 0).await;
    let (code, message, _) = worker.call("DELETE", "/connectors/sink/offsets", None).await;
    assert_eq!(code, 200);
    assert_eq!(
        message["message"],
        "The offsets for this connector have been reset successfully"
    );
    let (_, offsets, _) = worker.call("GET", "/connectors/sink/offsets", None).await;
    assert_eq!(offsets, json!({ "offsets": [] }));

    // Config: PUT updates (200) or creates (201); PATCH changes keys, null removes one.
    let mut changed = sink_config(&out);
    changed["name"] = json!("sink");
    changed["errors.log.enable"] = json!("true");
    let (code, info, _) = worker.call("PUT", "/connectors/sink/config", Some(&changed)).await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["config"]["errors.log.enable"], "true");
    let mismatch = json!({ "name": "other", "connector.class": "FileStreamSink", "topics": "in", "file": "/tmp/x" });
    let (code, _, _) = worker.call("PUT", "/connectors/sink/config", Some(&mismatch)).await;
    assert_eq!(code, 400, "a name that is not the URL's");
    let second = dir.path().join("second.txt");
    let (code, info, _) = worker
        .call("PUT", "/connectors/second/config", Some(&sink_config(&second)))
        .await;
    assert_eq!(code, 201, "{info}");
    assert_eq!(info["name"], "second");
    let patch = json!({ "errors.log.enable": null, "tasks.max": "2" });
    let (code, info, _) = worker.call("PATCH", "/connectors/sink/config", Some(&patch)).await;
    assert_eq!(code, 200, "{info}");
    assert!(info["config"].get("errors.log.enable").is_none(), "{info}");
    assert_eq!(info["config"]["tasks.max"], "2");
    // Still stopped after the config change: no tasks.
    assert_eq!(info["tasks"], json!([]));

    // Delete: 204, then gone.
    let (code, _, _) = worker.call("DELETE", "/connectors/sink", None).await;
    assert_eq!(code, 204);
    let (code, _, _) = worker.call("GET", "/connectors/sink", None).await;
    assert_eq!(code, 404);
    let (code, _, _) = worker.call("DELETE", "/connectors/sink", None).await;
    assert_eq!(code, 404);
    let (_, names, _) = worker.call("GET", "/connectors", None).await;
    assert_eq!(names, json!(["second"]));
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_shows_its_offsets_and_configs_and_states_survive_a_worker_restart() {
    let (_broker, bootstrap) = broker_with_topics(&["lines"]).await;
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "one\ntwo\n").expect("log");
    let worker = RunningWorker::start(&bootstrap).await;
    let source = json!({
        "name": "tail",
        "config": {
            "connector.class": "FileStreamSource",
            "file": log.display().to_string(),
            "topic": "lines",
            "offset.flush.interval.ms": "50",
        }
    });
    let (code, info, _) = worker.call("POST", "/connectors", Some(&source)).await;
    assert_eq!(code, 201, "{info}");
    assert_eq!(info["type"], "source");
    let sink =
        json!({ "name": "paused-sink", "config": sink_config(&dir.path().join("o.txt")), "initial_state": "PAUSED" });
    let (code, _, _) = worker.call("POST", "/connectors", Some(&sink)).await;
    assert_eq!(code, 201);
    wait_state(&worker, "paused-sink", "PAUSED", 1).await;
    // The file's position (8 bytes: both lines) is stored once acknowledged.
    let offsets = eventually(30, "the file's stored position", || async {
        let (_, offsets, _) = worker.call("GET", "/connectors/tail/offsets", None).await;
        offsets["offsets"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["partition"].get("ino").is_some()).cloned())
            .filter(|o| o["offset"]["position"] == 8)
    })
    .await;
    assert_eq!(offsets["offset"]["path"], log.display().to_string());
    worker.call("PUT", "/connectors/tail/stop", None).await;
    wait_state(&worker, "tail", "STOPPED", 0).await;
    worker.shutdown().await;

    // A new worker on the same topics: the same connectors, configs and states.
    let worker = RunningWorker::start(&bootstrap).await;
    let (_, names, _) = worker.call("GET", "/connectors", None).await;
    assert_eq!(names, json!(["paused-sink", "tail"]));
    wait_state(&worker, "paused-sink", "PAUSED", 1).await;
    wait_state(&worker, "tail", "STOPPED", 0).await;
    let (_, config, _) = worker.call("GET", "/connectors/tail/config", None).await;
    assert_eq!(config["topic"], "lines");
    // Stopped, a source's offsets can be reset.
    let (code, _, _) = worker.call("DELETE", "/connectors/tail/offsets", None).await;
    assert_eq!(code, 200);
    let (_, offsets, _) = worker.call("GET", "/connectors/tail/offsets", None).await;
    assert_eq!(offsets, json!({ "offsets": [] }));
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_shows_why_and_is_restarted_with_backoff() {
    let (_broker, bootstrap) = broker_with_topics(&["in"]).await;
    let worker = RunningWorker::start(&bootstrap).await;
    let dir = tempfile::tempdir().expect("dir");
    // The sink's directory does not exist yet: writing fails until it does.
    let out = dir.path().join("later").join("out.txt");
    let mut config = sink_config(&out);
    config["task.restart.backoff.ms"] = json!("50");
    config["task.restart.backoff.max.ms"] = json!("200");
    let (code, _, _) = worker
        .call("POST", "/connectors", Some(&json!({ "name": "s", "config": config })))
        .await;
    assert_eq!(code, 201);
    produce(&bootstrap, "in", &["x"]).await;
    let failed = eventually(30, "the task to fail", || async {
        let (_, status, _) = worker.call("GET", "/connectors/s/status", None).await;
        (status["tasks"][0]["state"] == "FAILED").then_some(status)
    })
    .await;
    let trace = failed["tasks"][0]["trace"].as_str().expect("a trace");
    assert!(trace.contains("out.txt"), "the trace names the file: {trace}");
    // Restarted again and again (RESTARTING shows between); once the directory exists it runs.
    std::fs::create_dir(dir.path().join("later")).expect("mkdir");
    assert_eq!(wait_lines(&out, 1).await, ["x"]);
    wait_state(&worker, "s", "RUNNING", 1).await;
    // onlyFailed restarts nothing that runs.
    let (code, status, _) = worker
        .call("POST", "/connectors/s/restart?includeTasks=true&onlyFailed=true", None)
        .await;
    assert_eq!(code, 202);
    assert_eq!(status["tasks"][0]["state"], "RUNNING");
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_sink_cannot_read_go_to_the_dead_letter_topic_with_the_reason() {
    let (_broker, bootstrap) = broker_with_topics(&["in"]).await;
    let worker = RunningWorker::start(&bootstrap).await;
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out.txt");
    let mut config = sink_config(&out);
    config["value.converter"] = json!("org.apache.kafka.connect.json.JsonConverter");
    config["errors.tolerance"] = json!("all");
    config["errors.deadletterqueue.topic.name"] = json!("dlq");
    let (code, _, _) = worker
        .call("POST", "/connectors", Some(&json!({ "name": "j", "config": config })))
        .await;
    assert_eq!(code, 201);
    produce(&bootstrap, "in", &["{\"a\":1}", "not json", "{\"a\":2}"]).await;
    assert_eq!(wait_lines(&out, 2).await, ["{\"a\":1}", "{\"a\":2}"]);
    let mut consumer = rill_client::consumer::Consumer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", "dlq-reader"),
        ("auto.offset.reset", "earliest"),
    ])
    .await
    .expect("consumer");
    consumer.subscribe(["dlq"]).expect("subscribe");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let record = loop {
        let polled = consumer
            .poll(std::time::Duration::from_millis(100))
            .await
            .expect("poll");
        if let Some(record) = polled.into_iter().next() {
            break record;
        }
        assert!(tokio::time::Instant::now() < deadline, "no dead letter within 30 s");
    };
    assert_eq!(record.value.as_deref(), Some(&b"not json"[..]));
    let header = |name: &str| {
        record
            .header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| panic!("header {name}"))
    };
    assert_eq!(header("__connect.errors.topic"), "in");
    assert_eq!(header("__connect.errors.partition"), "0");
    assert_eq!(header("__connect.errors.offset"), "1");
    assert_eq!(header("__connect.errors.connector.name"), "j");
    assert_eq!(header("__connect.errors.task.id"), "0");
    assert_eq!(header("__connect.errors.stage"), "VALUE_CONVERTER");
    assert!(header("__connect.errors.exception.message").contains("not JSON"));
    let (_, status, _) = worker.call("GET", "/connectors/j/status", None).await;
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "the task goes on");
    consumer.close().await.expect("close");
    worker.shutdown().await;
}

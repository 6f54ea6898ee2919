//! The `rhai` transform in a running connector (filter, reshape, re-route; a failing line to the
//! dead-letter topic with the script line), and the dry run of `POST /transforms/test`.

mod support;

use rill_client::consumer::ConsumerRecord;
use serde_json::{Value, json};
use support::{RunningWorker, broker_with_topics, read};

fn json_values(records: &[ConsumerRecord]) -> Vec<Value> {
    records
        .iter()
        .map(|r| serde_json::from_slice(r.value.as_deref().expect("a value")).expect("JSON"))
        .collect()
}

/// Keeps warnings and errors, reshaped, errors to their own topic.
const SCRIPT: &str = r#"let log = parse_json(r.value);
if log.level == "DEBUG" || log.level == "INFO" { return false; }
r.value = #{ msg: log.msg, level: log.level };
if log.level == "ERROR" { r.topic = "app-errors"; }
r"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_source_filters_reshapes_and_routes_with_a_rhai_script() {
    let (_broker, bootstrap) = broker_with_topics(&["app-logs", "app-errors", "app-dlq"]).await;
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("app.log");
    let lines = [
        r#"{"level":"INFO","msg":"started"}"#,
        r#"{"level":"WARN","msg":"slow disk"}"#,
        "not json at all",
        r#"{"level":"DEBUG","msg":"tick"}"#,
        r#"{"level":"ERROR","msg":"disk full"}"#,
        r#"{"level":"WARN","msg":"retrying"}"#,
    ];
    std::fs::write(&log, lines.join("\n") + "\n").expect("log");
    let worker = RunningWorker::start(&bootstrap).await;
    let config = json!({
        "connector.class": "FileStreamSource",
        "file": log.display().to_string(),
        "topic": "app-logs",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "transforms": "shape",
        "transforms.shape.type": "rhai",
        "transforms.shape.script": SCRIPT,
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "app-dlq",
    });
    let (code, info, _) = worker
        .call("POST", "/connectors", Some(&json!({ "name": "app", "config": config })))
        .await;
    assert_eq!(code, 201, "{info}");

    assert_eq!(
        json_values(&read(&bootstrap, "app-logs", 2).await),
        [
            json!({ "msg": "slow disk", "level": "WARN" }),
            json!({ "msg": "retrying", "level": "WARN" })
        ]
    );
    assert_eq!(
        json_values(&read(&bootstrap, "app-errors", 1).await),
        [json!({ "msg": "disk full", "level": "ERROR" })]
    );
    let dead = read(&bootstrap, "app-dlq", 1).await;
    let message =
        String::from_utf8_lossy(dead[0].header("__connect.errors.exception.message").expect("message")).into_owned();
    assert!(
        message.starts_with("transform `shape` (rhai) failed: script line 1: "),
        "{message}"
    );
    assert_eq!(dead[0].value.as_deref(), Some(&br#""not json at all""#[..]));

    // The same chain on samples, through the API, by the connector's name.
    let samples = json!({ "connector": "app", "records": [
        { "value": r#"{"level":"ERROR","msg":"boom"}"# },
        { "value": r#"{"level":"INFO","msg":"hi"}"# },
    ]});
    let (code, body, _) = worker.call("POST", "/transforms/test", Some(&samples)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["results"][0]["record"]["topic"], "app-errors", "{body}");
    assert_eq!(
        body["results"][0]["record"]["value"],
        json!({ "msg": "boom", "level": "ERROR" })
    );
    assert_eq!(body["results"][1], json!({ "dropped": true }));
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transforms_test_endpoint_runs_a_chain_on_samples() {
    let (_broker, bootstrap) = broker_with_topics(&[]).await;
    let worker = RunningWorker::start(&bootstrap).await;
    let body = json!({
        "config": {
            "topic": "events",
            "transforms": "mask,tag",
            "transforms.mask.type": "org.apache.kafka.connect.transforms.MaskField$Value",
            "transforms.mask.fields": "card",
            "transforms.tag.type": "rhai",
            "transforms.tag.script": "r.headers.checked = \"yes\"; r.key = r.value.user;",
        },
        "records": [
            { "value": { "user": "ann", "card": "4111" }, "timestamp": 7 },
            { "topic": "other", "value": "text" },
        ],
    });
    let (code, out, _) = worker.call("POST", "/transforms/test", Some(&body)).await;
    assert_eq!(code, 200, "{out}");
    assert_eq!(
        out,
        json!({ "results": [
            { "record": { "topic": "events", "partition": null, "key": "ann", "value": { "user": "ann", "card": "" }, "timestamp": 7, "headers": { "checked": "yes" } } },
            { "error": "transform `mask` (MaskField$Value) failed: only objects are supported for masking in the absence of a schema, but the value is a string" },
        ]})
    );

    let bad_script = json!({ "config": { "transforms": "t", "transforms.t.type": "rhai", "transforms.t.script": "r.value = ;" }, "records": [] });
    let (code, out, _) = worker.call("POST", "/transforms/test", Some(&bad_script)).await;
    assert_eq!(code, 400, "{out}");
    assert_eq!(
        out["message"],
        "invalid configuration `transforms.t.script`: syntax error at line 1, column 11: Unexpected ';'"
    );
    let (code, out, _) = worker
        .call("POST", "/transforms/test", Some(&json!({ "records": [] })))
        .await;
    assert_eq!(code, 400, "{out}");
    let (code, out, _) = worker
        .call(
            "POST",
            "/transforms/test",
            Some(&json!({ "connector": "nope", "records": [] })),
        )
        .await;
    assert_eq!(code, 404, "{out}");
    worker.shutdown().await;
}

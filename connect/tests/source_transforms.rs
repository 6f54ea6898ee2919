//! A source connector's records through transforms, with failures skipped to the dead-letter
//! topic (Kafka Connect sends only sinks' failures there; Rill sends sources' too).

mod support;

use serde_json::{Value, json};
use support::{RunningWorker, broker_with_topics, read};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_lines_are_transformed_and_a_line_that_fails_goes_to_the_dead_letter_topic() {
    let (_broker, bootstrap) = broker_with_topics(&["lines", "numbers"]).await;
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("numbers.log");
    std::fs::write(&log, "1\n2\nx\n3\n").expect("log");
    let worker = RunningWorker::start(&bootstrap).await;
    let config = json!({
        "connector.class": "FileStreamSource",
        "file": log.display().to_string(),
        "topic": "lines",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "transforms": "wrap,num,tag,route",
        "transforms.wrap.type": "org.apache.kafka.connect.transforms.HoistField$Value",
        "transforms.wrap.field": "n",
        "transforms.num.type": "org.apache.kafka.connect.transforms.Cast$Value",
        "transforms.num.spec": "n:int32",
        "transforms.tag.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.tag.static.field": "source",
        "transforms.tag.static.value": "app",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "lines",
        "transforms.route.replacement": "numbers",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "numbers-dlq",
    });
    let (code, info, _) = worker
        .call(
            "POST",
            "/connectors",
            Some(&json!({ "name": "nums", "config": config })),
        )
        .await;
    assert_eq!(code, 201, "{info}");

    let records = read(&bootstrap, "numbers", 3).await;
    let values: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_slice(r.value.as_deref().expect("a value")).expect("JSON"))
        .collect();
    assert_eq!(
        values,
        [
            json!({ "n": 1, "source": "app" }),
            json!({ "n": 2, "source": "app" }),
            json!({ "n": 3, "source": "app" }),
        ]
    );
    assert!(records[0].header("file.path").is_some(), "the file headers stay");

    let dead = read(&bootstrap, "numbers-dlq", 1).await;
    let header =
        |name: &str| String::from_utf8_lossy(dead[0].header(name).unwrap_or_else(|| panic!("{name}"))).into_owned();
    assert_eq!(header("__connect.errors.stage"), "TRANSFORMATION");
    assert_eq!(header("__connect.errors.topic"), "lines");
    assert_eq!(header("__connect.errors.connector.name"), "nums");
    assert!(
        header("__connect.errors.exception.message").contains("num"),
        "{}",
        header("__connect.errors.exception.message")
    );
    assert_eq!(
        dead[0].value.as_deref(),
        Some(&b"\"x\""[..]),
        "the line as it was before the transforms"
    );
    let (_, status, _) = worker.call("GET", "/connectors/nums/status", None).await;
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
    worker.shutdown().await;
}

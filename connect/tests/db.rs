//! The database connectors against real databases: SQLite in a temporary file and PostgreSQL
//! (`RILL_TEST_DATABASE_URL`, which `scripts/test` sets after starting a server). Sources pick
//! up new and updated rows and resume from stored offsets; the sink upserts to the last value per
//! key, deletes on tombstones, creates its table, and hands back what the database refuses.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};

use rill_connect::db::{DbError, DbSink, DbSinkConfig, DbSource, DbSourceConfig};
use rill_connect::record::{ConnectRecord, SourceRecord};
use serde_json::{Value, json};
use sqlx::AnyPool;

/// The databases to test: SQLite in `dir`, and the PostgreSQL server.
fn databases(dir: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    let pg = std::env::var("RILL_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("RILL_TEST_DATABASE_URL is not set: run the tests through scripts/test, which starts PostgreSQL")
    });
    vec![
        (
            "sqlite",
            format!("sqlite:{}?mode=rwc", dir.path().join("test.db").display()),
        ),
        ("postgres", pg),
    ]
}

/// A table name no other test run uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

async fn sql(url: &str, statements: &[String]) {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.expect("connect");
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    pool.close().await;
}

fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn values(records: &[SourceRecord]) -> Vec<Value> {
    records
        .iter()
        .map(|r| r.record.value.clone().unwrap_or(Value::Null))
        .collect()
}

/// The stored offsets a task would have after `records` were acknowledged.
fn stored(records: &[SourceRecord]) -> HashMap<String, Value> {
    records
        .iter()
        .map(|r| (r.partition.to_string(), r.offset.clone()))
        .collect()
}

#[tokio::test]
async fn incrementing_sources_pick_up_new_rows_once_and_resume_from_offsets() {
    let dir = tempfile::tempdir().expect("dir");
    for (kind, url) in databases(&dir) {
        let table = unique("inc");
        sql(
            &url,
            &[
                format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, name TEXT)"),
                format!("INSERT INTO {table} VALUES (1, 'a'), (2, 'b')"),
            ],
        )
        .await;
        let settings = config(&[
            ("connection.url", &url),
            ("mode", "incrementing"),
            ("incrementing.column.name", "id"),
            ("table.whitelist", &table),
            ("topic.prefix", "db-"),
        ]);
        let source_config = DbSourceConfig::from_config(&settings).expect("config");
        let mut source = DbSource::open(source_config.clone(), &HashMap::new())
            .await
            .expect("open");
        let first = source.poll().await.expect("poll");
        assert_eq!(
            values(&first),
            [json!({"id": 1, "name": "a"}), json!({"id": 2, "name": "b"})],
            "{kind}"
        );
        assert_eq!(
            first[0].record.key,
            Some(json!({"id": 1})),
            "{kind}: keyed by the primary key"
        );
        assert_eq!(first[0].record.topic, format!("db-{table}"));
        assert_eq!(first[1].partition, json!({"protocol": "1", "table": table}));
        assert_eq!(first[1].offset, json!({"incrementing": 2}));
        assert!(source.poll().await.expect("poll").is_empty(), "{kind}: nothing new");
        sql(&url, &[format!("INSERT INTO {table} VALUES (3, 'c')")]).await;
        let second = source.poll().await.expect("poll");
        assert_eq!(values(&second), [json!({"id": 3, "name": "c"})], "{kind}");
        source.close().await;

        // A new task from the stored offsets reads only what is newer.
        let mut resumed = DbSource::open(source_config, &stored(&second)).await.expect("open");
        assert!(
            resumed.poll().await.expect("poll").is_empty(),
            "{kind}: resumed after 3"
        );
        sql(&url, &[format!("INSERT INTO {table} VALUES (4, 'd')")]).await;
        assert_eq!(
            values(&resumed.poll().await.expect("poll")),
            [json!({"id": 4, "name": "d"})],
            "{kind}"
        );
        resumed.close().await;
    }
}

#[tokio::test]
async fn timestamp_sources_pick_up_new_and_updated_rows() {
    let dir = tempfile::tempdir().expect("dir");
    for (kind, url) in databases(&dir) {
        let table = unique("ts");
        sql(
            &url,
            &[
                format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, name TEXT, updated_at TIMESTAMP)"),
                format!("INSERT INTO {table} VALUES (1, 'a', '2020-01-01 00:00:00'), (2, 'b', '2020-01-01 00:00:00')"),
            ],
        )
        .await;
        for mode in ["timestamp", "timestamp+incrementing"] {
            let settings = config(&[
                ("connection.url", &url),
                ("mode", mode),
                ("incrementing.column.name", "id"),
                ("timestamp.column.name", "updated_at"),
                ("table.whitelist", &table),
                ("topic.prefix", ""),
            ]);
            let mut source = DbSource::open(DbSourceConfig::from_config(&settings).expect("config"), &HashMap::new())
                .await
                .expect("open");
            let first = source.poll().await.expect("poll");
            // 2020-01-01T00:00:00Z in epoch milliseconds.
            let t0 = 1_577_836_800_000_i64;
            assert_eq!(
                values(&first),
                [
                    json!({"id": 1, "name": "a", "updated_at": t0}),
                    json!({"id": 2, "name": "b", "updated_at": t0}),
                ],
                "{kind} {mode}"
            );
            assert_eq!(first[1].record.timestamp, Some(t0));
            assert_eq!(first[1].offset["timestamp"], t0, "{kind} {mode}");
            assert!(
                source.poll().await.expect("poll").is_empty(),
                "{kind} {mode}: nothing new"
            );
            source.close().await;
        }
        let settings = config(&[
            ("connection.url", &url),
            ("mode", "timestamp+incrementing"),
            ("incrementing.column.name", "id"),
            ("timestamp.column.name", "updated_at"),
            ("table.whitelist", &table),
            ("topic.prefix", ""),
        ]);
        let mut source = DbSource::open(DbSourceConfig::from_config(&settings).expect("config"), &HashMap::new())
            .await
            .expect("open");
        assert_eq!(source.poll().await.expect("poll").len(), 2);
        sql(
            &url,
            &[
                format!("UPDATE {table} SET name = 'a2', updated_at = '2020-01-02 00:00:00' WHERE id = 1"),
                format!("INSERT INTO {table} VALUES (3, 'c', '2020-01-01 00:00:00')"),
            ],
        )
        .await;
        // Row 3 has the timestamp already passed but a higher id: timestamp+incrementing finds it.
        let names: Vec<Value> = values(&source.poll().await.expect("poll"))
            .iter()
            .map(|v| v["name"].clone())
            .collect();
        assert_eq!(names, [json!("c"), json!("a2")], "{kind}");
        source.close().await;
    }
}

#[tokio::test]
async fn bulk_reads_the_whole_table_and_bad_configs_name_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    for (kind, url) in databases(&dir) {
        let table = unique("bulk");
        sql(
            &url,
            &[
                format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, n DOUBLE PRECISION, ok BOOLEAN)"),
                format!("INSERT INTO {table} VALUES (1, 1.5, TRUE), (2, NULL, FALSE)"),
            ],
        )
        .await;
        let settings = config(&[
            ("connection.url", &url),
            ("mode", "bulk"),
            ("table.whitelist", &table),
            ("topic.prefix", ""),
        ]);
        let mut source = DbSource::open(DbSourceConfig::from_config(&settings).expect("config"), &HashMap::new())
            .await
            .expect("open");
        let rows = values(&source.poll().await.expect("poll"));
        assert_eq!(
            rows,
            [
                json!({"id": 1, "n": 1.5, "ok": true}),
                json!({"id": 2, "n": null, "ok": false})
            ],
            "{kind}"
        );
        source.close().await;
    }
    let key = |pairs: &[(&str, &str)]| {
        DbSourceConfig::from_config(&config(pairs))
            .err()
            .and_then(|e| e.config_key().map(str::to_owned))
    };
    assert_eq!(key(&[("mode", "bulk")]).as_deref(), Some("connection.url"));
    assert_eq!(
        key(&[("connection.url", "sqlite:x"), ("mode", "sometimes")]).as_deref(),
        Some("mode")
    );
    assert_eq!(
        key(&[
            ("connection.url", "sqlite:x"),
            ("mode", "incrementing"),
            ("table.whitelist", "t"),
            ("topic.prefix", "")
        ])
        .as_deref(),
        Some("incrementing.column.name")
    );
    let sink_key = |pairs: &[(&str, &str)]| {
        DbSinkConfig::from_config(&config(pairs))
            .err()
            .and_then(|e| e.config_key().map(str::to_owned))
    };
    assert_eq!(
        sink_key(&[("connection.url", "sqlite:x"), ("insert.mode", "upsert")]).as_deref(),
        Some("pk.mode")
    );
    assert_eq!(
        sink_key(&[
            ("connection.url", "sqlite:x"),
            ("delete.enabled", "true"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id")
        ])
        .as_deref(),
        Some("delete.enabled")
    );
    let missing = DbSource::open(
        DbSourceConfig::from_config(&config(&[
            (
                "connection.url",
                &format!("sqlite:{}?mode=rwc", dir.path().join("other.db").display()),
            ),
            ("mode", "bulk"),
            ("table.whitelist", "no_such_table"),
            ("topic.prefix", ""),
        ]))
        .expect("config"),
        &HashMap::new(),
    )
    .await;
    assert!(matches!(missing, Err(DbError::NoTable(t)) if t == "no_such_table"));
}

fn record(topic: &str, key: Value, value: Option<Value>) -> ConnectRecord {
    ConnectRecord::new(topic, Some(key), value)
}

/// The table's rows, ordered by id, as (id, v).
async fn rows(url: &str, table: &str) -> Vec<(i64, Option<String>)> {
    try_rows(url, table).await
}

/// The table's rows, ordered by id, as (id, v); none while it does not exist.
async fn try_rows(url: &str, table: &str) -> Vec<(i64, Option<String>)> {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.expect("connect");
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT id, v FROM {table} ORDER BY id")))
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    pool.close().await;
    rows
}

#[tokio::test]
async fn the_upsert_sink_converges_deletes_on_tombstones_and_returns_what_it_cannot_write() {
    let dir = tempfile::tempdir().expect("dir");
    for (kind, url) in databases(&dir) {
        let table = unique("sink");
        let settings = config(&[
            ("connection.url", &url),
            ("insert.mode", "upsert"),
            ("pk.mode", "record_key"),
            ("delete.enabled", "true"),
            ("auto.create", "true"),
            ("auto.evolve", "true"),
        ]);
        let mut sink = DbSink::open(DbSinkConfig::from_config(&settings).expect("config"))
            .await
            .expect("open");
        let batch = vec![
            record(&table, json!({"id": 1}), Some(json!({"v": "a", "n": 1}))),
            record(&table, json!({"id": 2}), Some(json!({"v": "b", "n": 2}))),
            record(&table, json!({"id": 1}), Some(json!({"v": "a2", "n": 3}))),
            record(&table, json!({"id": 3}), Some(json!("not an object"))),
            record(&table, json!({"id": 4}), Some(json!({"v": "d", "n": 4}))),
            record(&table, json!({"id": 2}), None),
        ];
        let failures = sink.put(&batch).await.expect("put");
        assert_eq!(failures.len(), 1, "{kind}: {failures:?}");
        assert_eq!(failures[0].index, 3);
        assert!(
            failures[0].reason.contains("not a JSON object"),
            "{kind}: {}",
            failures[0].reason
        );
        assert_eq!(
            rows(&url, &table).await,
            [(1, Some("a2".to_owned())), (4, Some("d".to_owned()))],
            "{kind}"
        );

        // Later batches: updates, a delete, a new column (auto.evolve), and a value the column
        // type refuses (PostgreSQL types its columns; SQLite takes it).
        let batch = vec![
            record(&table, json!({"id": 4}), None),
            record(&table, json!({"id": 5}), Some(json!({"v": "e", "n": 5, "extra": true}))),
            record(&table, json!({"id": 6}), Some(json!({"v": "f", "n": "not a number"}))),
            record(&table, json!({"id": 1}), Some(json!({"v": "a3", "n": 6}))),
        ];
        let failures = sink.put(&batch).await.expect("put");
        let mut want = vec![(1, Some("a3".to_owned())), (5, Some("e".to_owned()))];
        if kind == "postgres" {
            assert_eq!(failures.len(), 1, "{kind}: {failures:?}");
            assert_eq!(failures[0].index, 2);
            assert!(failures[0].reason.contains("bigint"), "{kind}: {}", failures[0].reason);
        } else {
            assert!(failures.is_empty(), "{kind}: {failures:?}");
            want.push((6, Some("f".to_owned())));
        }
        assert_eq!(rows(&url, &table).await, want, "{kind}");
        sink.close().await;
    }
}

mod support;

/// The worker running a database source and sink end to end: rows of a table go to a topic and
/// from it into another table, upserted; a tombstone deletes; a record the sink's database
/// refuses goes to the dead-letter topic with the reason while the task goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_flow_from_a_table_through_a_topic_into_another_table() {
    let dir = tempfile::tempdir().expect("dir");
    let (_broker, bootstrap) = support::broker_with_topics(&[]).await;
    let worker = support::RunningWorker::start(&bootstrap).await;
    for (kind, url) in databases(&dir) {
        let (from, into) = (unique("orders"), unique("orders_copy"));
        sql(
            &url,
            &[
                format!("CREATE TABLE {from} (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)"),
                format!("INSERT INTO {from} VALUES (1, 'a', 1), (2, 'b', 2)"),
            ],
        )
        .await;
        let topic = format!("rows-{from}");
        let source = json!({
            "name": format!("src-{from}"),
            "config": {
                "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
                "connection.url": url,
                "mode": "incrementing",
                "incrementing.column.name": "id",
                "table.whitelist": from,
                "topic.prefix": "rows-",
                "poll.interval.ms": "50",
            }
        });
        let (code, info, _) = worker.call("POST", "/connectors", Some(&source)).await;
        assert_eq!(code, 201, "{kind}: {info}");
        let sink = json!({
            "name": format!("sink-{from}"),
            "config": {
                "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
                "connection.url": url,
                "topics": topic,
                "table.name.format": into,
                "insert.mode": "upsert",
                "pk.mode": "record_key",
                "delete.enabled": "true",
                "auto.create": "true",
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": format!("dlq-{from}"),
                "offset.flush.interval.ms": "100",
            }
        });
        let (code, info, _) = worker.call("POST", "/connectors", Some(&sink)).await;
        assert_eq!(code, 201, "{kind}: {info}");
        support::eventually(60, &format!("{kind}: rows 1 and 2 copied"), || async {
            let got = try_rows(&url, &into).await;
            (got == [(1, Some("a".to_owned())), (2, Some("b".to_owned()))]).then_some(())
        })
        .await;
        // New rows are picked up; a later value of a key wins; a tombstone deletes.
        sql(&url, &[format!("INSERT INTO {from} VALUES (3, 'c', 3)")]).await;
        let producer = rill_client::producer::Producer::from_properties([("bootstrap.servers", bootstrap.as_str())])
            .await
            .expect("producer");
        let send = |key: &str, value: Option<&str>| {
            let mut record = rill_client::producer::ProducerRecord::new(topic.as_str()).key(key.to_owned());
            if let Some(value) = value {
                record = record.value(value.to_owned());
            }
            record
        };
        for record in [
            send(r#"{"id":1}"#, Some(r#"{"id":1,"v":"a2","n":10}"#)),
            send(r#"{"id":2}"#, None),
            send(r#"{"id":7}"#, Some(r#"{"id":7,"v":"bad","n":"not a number"}"#)),
            send(r#"{"id":1}"#, Some(r#"{"id":1,"v":"a3","n":11}"#)),
        ] {
            producer.send(record).await.expect("send").await.expect("delivered");
        }
        producer.close().await.expect("close");
        let want_sqlite = [
            (1, Some("a3".to_owned())),
            (3, Some("c".to_owned())),
            (7, Some("bad".to_owned())),
        ];
        let want_pg = [(1, Some("a3".to_owned())), (3, Some("c".to_owned()))];
        support::eventually(60, &format!("{kind}: the copy converges"), || async {
            let got = try_rows(&url, &into).await;
            let want: &[(i64, Option<String>)] = if kind == "postgres" { &want_pg } else { &want_sqlite };
            (got == want).then_some(())
        })
        .await;
        if kind == "postgres" {
            // The row PostgreSQL refused is in the dead-letter topic, with why.
            let mut consumer = rill_client::consumer::Consumer::from_properties([
                ("bootstrap.servers", bootstrap.as_str()),
                ("group.id", "dlq-check"),
                ("auto.offset.reset", "earliest"),
            ])
            .await
            .expect("consumer");
            consumer.subscribe([format!("dlq-{from}")]).expect("subscribe");
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            let dead = loop {
                let polled = consumer
                    .poll(std::time::Duration::from_millis(100))
                    .await
                    .expect("poll");
                if let Some(record) = polled.into_iter().next() {
                    break record;
                }
                assert!(tokio::time::Instant::now() < deadline, "no dead letter within 60 s");
            };
            assert_eq!(dead.key.as_deref(), Some(&br#"{"id":7}"#[..]));
            let reason = String::from_utf8_lossy(dead.header("__connect.errors.exception.message").expect("reason"))
                .into_owned();
            assert!(reason.contains("bigint"), "{reason}");
            assert_eq!(
                dead.header("__connect.errors.stage").map(|s| s.as_ref()),
                Some(&b"TASK_PUT"[..])
            );
            consumer.close().await.expect("close");
        }
        let (_, status, _) = worker
            .call("GET", &format!("/connectors/sink-{from}/status"), None)
            .await;
        assert_eq!(status["tasks"][0]["state"], "RUNNING", "{kind}: {status}");
    }
    worker.shutdown().await;
}

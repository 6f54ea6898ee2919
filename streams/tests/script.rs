//! rhai pipelines: each operator with its exact output (in the test driver), the error policies,
//! the limits, syntax errors, and reloads.

use std::collections::BTreeMap;

use bytes::Bytes;
use rill_streams::script::{ErrorPolicy, Limits, Pipeline, Reload, ScriptError, ScriptOptions};
use rill_streams::{StreamsError, TopologyTestDriver};

type Out = (Option<String>, Option<String>);

fn options() -> ScriptOptions {
    ScriptOptions::named("test.rhai")
}

fn on_error(policy: ErrorPolicy) -> ScriptOptions {
    ScriptOptions {
        on_error: policy,
        ..options()
    }
}

fn driver(script: &str) -> TopologyTestDriver {
    driver_with(script, &options())
}

fn driver_with(script: &str, options: &ScriptOptions) -> TopologyTestDriver {
    let pipeline = Pipeline::compile(script, options).unwrap_or_else(|e| panic!("{e}"));
    TopologyTestDriver::new(pipeline.topology(), "app").expect("valid topology")
}

fn send(d: &mut TopologyTestDriver, topic: &str, key: Option<&str>, value: &str, ts: i64) -> Result<(), StreamsError> {
    send_with(d, topic, key, value, ts, Vec::new())
}

fn send_with(
    d: &mut TopologyTestDriver,
    topic: &str,
    key: Option<&str>,
    value: &str,
    ts: i64,
    headers: Vec<(String, Option<Bytes>)>,
) -> Result<(), StreamsError> {
    let bytes = |s: &str| Some(Bytes::copy_from_slice(s.as_bytes()));
    d.pipe_raw(topic, key.and_then(bytes), bytes(value), ts, headers)
}

fn text(b: &Option<Bytes>) -> Option<String> {
    b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
}

fn read(d: &mut TopologyTestDriver, topic: &str) -> Vec<Out> {
    d.read_raw(topic)
        .iter()
        .map(|o| (text(&o.key), text(&o.value)))
        .collect()
}

fn kv(key: Option<&str>, value: &str) -> Out {
    (key.map(str::to_owned), Some(value.to_owned()))
}

fn values(d: &mut TopologyTestDriver, topic: &str) -> Vec<String> {
    read(d, topic).into_iter().map(|(_, v)| v.unwrap_or_default()).collect()
}

const LOGS: [&str; 4] = [
    r#"{"level":"ERROR","msg":"disk full","user":"ann"}"#,
    r#"{"level":"INFO","msg":"ok","user":"bob"}"#,
    r#"{"level":"ERROR","msg":"timeout","user":"bob"}"#,
    r#"{"level":"WARN","msg":"slow","user":"ann"}"#,
];

fn send_logs(d: &mut TopologyTestDriver) {
    for (i, log) in LOGS.iter().enumerate() {
        send(d, "logs", None, log, 1_000 * i as i64).expect("processed");
    }
}

#[test]
fn filter_and_map_values() {
    let mut d =
        driver(r#"stream("logs").filter(|r| r.value.level == "ERROR").map_values(|v| #{ msg: v.msg }).to("errors");"#);
    send_logs(&mut d);
    assert_eq!(
        values(&mut d, "errors"),
        [r#"{"msg":"disk full"}"#, r#"{"msg":"timeout"}"#]
    );
}

#[test]
fn filter_not_and_captured_variables() {
    let mut d = driver(
        r#"
        let quiet = ["INFO", "WARN"];
        stream("logs").filter_not(|r| r.value.level in quiet).to("loud");
        "#,
    );
    send_logs(&mut d);
    assert_eq!(values(&mut d, "loud"), [LOGS[0], LOGS[2]]);
}

#[test]
fn map_sets_key_value_timestamp_and_headers() {
    let mut d = driver(
        r#"
        stream("logs")
            .map(|r| #{ key: r.value.user, value: r.value.level, timestamp: r.timestamp + 5, headers: #{ src: r.topic } })
            .to("by-user");
        "#,
    );
    send(&mut d, "logs", Some("k"), LOGS[0], 100).expect("processed");
    let out = d.read_raw("by-user");
    assert_eq!(out.len(), 1);
    assert_eq!((text(&out[0].key), text(&out[0].value)), kv(Some("ann"), "ERROR"));
    assert_eq!(out[0].timestamp, 105);
    assert_eq!(
        out[0].headers,
        vec![("src".to_owned(), Some(Bytes::from_static(b"logs")))]
    );
}

#[test]
fn records_carry_topic_partition_offset_timestamp_and_headers() {
    let mut d = driver(
        r#"stream("in").map(|r| #{ value: `${r.topic}/${r.partition}/${r.offset}/${r.timestamp}/${r.headers.trace}/${r.key}` }).to("out");"#,
    );
    send_with(
        &mut d,
        "in",
        Some("k1"),
        "a",
        7,
        vec![("trace".to_owned(), Some(Bytes::from_static(b"t-1")))],
    )
    .expect("processed");
    send(&mut d, "in", Some("k2"), "b", 8).expect("processed");
    assert_eq!(values(&mut d, "out"), ["in/0/0/7/t-1/k1", "in/0/1/8//k2"]);
}

#[test]
fn flat_map_and_flat_map_values() {
    let mut d = driver(
        r#"
        let lines = stream("lines");
        lines.flat_map_values(|v| v.split(" ")).to("words");
        lines.flat_map(|r| r.value.split(" ").map(|w| #{ key: w, value: w.len })).to("lengths");
        "#,
    );
    send(&mut d, "lines", Some("l"), "to be or", 1).expect("processed");
    assert_eq!(
        read(&mut d, "words"),
        [kv(Some("l"), "to"), kv(Some("l"), "be"), kv(Some("l"), "or")]
    );
    assert_eq!(
        read(&mut d, "lengths"),
        [kv(Some("to"), "2"), kv(Some("be"), "2"), kv(Some("or"), "2")]
    );
}

#[test]
fn select_key_then_group_by_key_counts_by_the_new_key() {
    let mut d =
        driver(r#"stream("logs").select_key(|r| r.value.user).group_by_key().count().to_stream().to("per-user");"#);
    send_logs(&mut d);
    assert_eq!(
        read(&mut d, "per-user"),
        [
            kv(Some("ann"), "1"),
            kv(Some("bob"), "1"),
            kv(Some("bob"), "2"),
            kv(Some("ann"), "2")
        ]
    );
}

#[test]
fn group_by_count_with_store_named_by_step() {
    let pipeline = Pipeline::compile(
        r#"stream("logs").group_by(|r| r.value.level).count().to_stream().to("per-level");"#,
        &options(),
    )
    .expect("compiles");
    assert_eq!(pipeline.topology().store_names(), ["count-0"]);
    assert_eq!(pipeline.topology().changelog_topics("app"), ["app-count-0-changelog"]);
    let mut d = TopologyTestDriver::new(pipeline.topology(), "app").expect("valid");
    send_logs(&mut d);
    assert_eq!(
        read(&mut d, "per-level"),
        [
            kv(Some("ERROR"), "1"),
            kv(Some("INFO"), "1"),
            kv(Some("ERROR"), "2"),
            kv(Some("WARN"), "1")
        ]
    );
}

#[test]
fn reduce_and_aggregate() {
    let mut d = driver(
        r#"
        let orders = stream("orders");
        orders.group_by(|r| r.value.user).reduce(|a, b| #{ user: a.user, amount: a.amount + b.amount }, "totals")
            .to_stream().map_values(|v| v.amount).to("totals");
        orders.group_by(|r| r.value.user)
            .aggregate(#{ n: 0, max: 0 }, |k, v, agg| #{ n: agg.n + 1, max: max(agg.max, v.amount) })
            .to_stream().to("stats");
        "#,
    );
    for (i, (user, amount)) in [("ann", 5), ("bob", 7), ("ann", 3)].into_iter().enumerate() {
        let value = format!(r#"{{"user":"{user}","amount":{amount}}}"#);
        send(&mut d, "orders", None, &value, i as i64).expect("processed");
    }
    assert_eq!(
        read(&mut d, "totals"),
        [kv(Some("ann"), "5"), kv(Some("bob"), "7"), kv(Some("ann"), "8")]
    );
    assert_eq!(
        read(&mut d, "stats"),
        [
            kv(Some("ann"), r#"{"max":5,"n":1}"#),
            kv(Some("bob"), r#"{"max":7,"n":1}"#),
            kv(Some("ann"), r#"{"max":5,"n":2}"#)
        ]
    );
}

#[test]
fn tumbling_window_counts_per_minute() {
    let mut d = driver(
        r#"stream("clicks").group_by(|r| r.value.user).window_tumbling("1m").count().to_stream().to("clicks-per-min");"#,
    );
    for (user, ts) in [("u1", 1_000), ("u1", 59_000), ("u2", 30_000), ("u1", 61_000)] {
        send(&mut d, "clicks", None, &format!(r#"{{"user":"{user}"}}"#), ts).expect("processed");
    }
    let window = |user: &str, start: i64| format!(r#"{{"end":{},"key":"{user}","start":{start}}}"#, start + 60_000);
    assert_eq!(
        read(&mut d, "clicks-per-min"),
        [
            kv(Some(&window("u1", 0)), "1"),
            kv(Some(&window("u1", 0)), "2"),
            kv(Some(&window("u2", 0)), "1"),
            kv(Some(&window("u1", 60_000)), "1"),
        ]
    );
}

#[test]
fn hopping_sliding_and_session_windows() {
    let mut d = driver(
        r#"
        let g = stream("events").group_by_key();
        g.window_hopping("10s", "5s").count("hop").to_stream().map(|r| #{ key: `${r.key.key}@${r.key.start}` }).to("hopping");
        g.window_session("3s").count("sessions").to_stream().map(|r| #{ key: `${r.key.key}@${r.key.start}-${r.key.end}` }).to("sessions");
        g.window_sliding(2000).reduce(|a, b| a + b, "sums").to_stream().map(|r| #{ key: `${r.key.key}@${r.key.start}` }).to("sliding");
        "#,
    );
    for ts in [6_000, 8_000] {
        send(&mut d, "events", Some("k"), "1", ts).expect("processed");
    }
    assert_eq!(
        read(&mut d, "hopping"),
        [
            kv(Some("k@0"), "1"),
            kv(Some("k@5000"), "1"),
            kv(Some("k@0"), "2"),
            kv(Some("k@5000"), "2")
        ]
    );
    // The second record extends the session [6000, 6000] to [6000, 8000]: the old one is
    // deleted (a null value), the merged one written.
    assert_eq!(
        read(&mut d, "sessions"),
        [
            (Some("k@6000-6000".to_owned()), Some("1".to_owned())),
            (Some("k@6000-6000".to_owned()), None),
            kv(Some("k@6000-8000"), "2")
        ]
    );
    // Kafka's sliding windows: [4000, 6000] for the first record; the second opens [6001, 8001]
    // (itself) and [6000, 8000] (both). Values are strings: the reducer concatenates them.
    assert_eq!(
        read(&mut d, "sliding"),
        [
            kv(Some("k@4000"), "1"),
            kv(Some("k@6001"), "1"),
            kv(Some("k@6000"), "11")
        ]
    );
}

#[test]
fn suppress_emits_a_window_once_it_closes() {
    let mut d = driver(
        r#"stream("clicks").group_by_key().window_tumbling("1m", "0s").count().suppress().to_stream().map(|r| #{ key: r.key.key }).to("final");"#,
    );
    for ts in [1_000, 2_000, 30_000] {
        send(&mut d, "clicks", Some("u1"), "x", ts).expect("processed");
    }
    assert_eq!(read(&mut d, "final"), []);
    send(&mut d, "clicks", Some("u2"), "x", 60_000).expect("processed");
    assert_eq!(read(&mut d, "final"), [kv(Some("u1"), "3")]);
}

#[test]
fn split_routes_each_record_to_its_first_branch() {
    let mut d = driver(
        r#"
        let b = stream("logs").split([
            ["errors", |r| r.value.level == "ERROR"],
            ["bob", |r| r.value.user == "bob"],
            ["rest"],
        ]);
        b.errors.to("e");
        b.bob.to("b");
        b.rest.to("r");
        "#,
    );
    send_logs(&mut d);
    assert_eq!(values(&mut d, "e"), [LOGS[0], LOGS[2]]);
    assert_eq!(values(&mut d, "b"), [LOGS[1]]);
    assert_eq!(values(&mut d, "r"), [LOGS[3]]);
}

#[test]
fn merge_peek_and_dynamic_topics() {
    let mut d = driver(
        r#"
        let a = stream("a");
        let b = stream("b").peek(|r| print(`b: ${r.value}`));
        a.merge(b).to(|r| "out-" + r.topic);
        "#,
    );
    send(&mut d, "a", None, "1", 1).expect("processed");
    send(&mut d, "b", None, "2", 2).expect("processed");
    assert_eq!(values(&mut d, "out-a"), ["1"]);
    assert_eq!(values(&mut d, "out-b"), ["2"]);
}

#[test]
fn stream_table_join_and_left_join() {
    let mut d = driver(
        r#"
        let users = table("users");
        let clicks = stream("clicks");
        clicks.join(users, |click, user| `${click} by ${user.name}`).to("joined");
        clicks.left_join(users, |click, user| if user == () { `${click} by nobody` } else { `${click} by ${user.name}` }).to("left");
        "#,
    );
    send(&mut d, "users", Some("u1"), r#"{"name":"Ann"}"#, 1).expect("processed");
    send(&mut d, "clicks", Some("u1"), "home", 2).expect("processed");
    send(&mut d, "clicks", Some("u2"), "cart", 3).expect("processed");
    assert_eq!(read(&mut d, "joined"), [kv(Some("u1"), "home by Ann")]);
    assert_eq!(
        read(&mut d, "left"),
        [kv(Some("u1"), "home by Ann"), kv(Some("u2"), "cart by nobody")]
    );
}

#[test]
fn formats_of_sources_and_sinks() {
    let mut d = driver(
        r#"
        stream("in", #{ key: "string", value: "string" }).map_values(|v| v.len).to("len", #{ value: "json" });
        stream("raw", #{ value: "bytes" }).map_values(|v| v.len()).to("raw-len");
        stream("j", #{ value: "json" }).map_values(|v| v + 1).to("j-out", #{ value: "json" });
        stream("s", #{ value: "string" }).to("quoted", #{ value: "json" });
        "#,
    );
    send(&mut d, "in", Some("k"), r#"{"a":1}"#, 1).expect("processed");
    d.pipe_raw("raw", None, Some(Bytes::from_static(&[0xff, 0, 1])), 1, Vec::new())
        .expect("processed");
    send(&mut d, "j", None, "41", 1).expect("processed");
    send(&mut d, "s", None, "hi", 1).expect("processed");
    assert_eq!(values(&mut d, "len"), ["7"]);
    assert_eq!(values(&mut d, "raw-len"), ["3"]);
    assert_eq!(values(&mut d, "j-out"), ["42"]);
    assert_eq!(values(&mut d, "quoted"), [r#""hi""#]);
    let err = Pipeline::compile(r#"stream("x", #{ value: "xml" });"#, &options()).expect_err("bad format");
    assert_eq!(
        err.to_string(),
        r#"test.rhai:1: value: unknown format "xml" (expected auto, json, string or bytes)"#
    );
}

const FAILING: &str = r#"
stream("logs")
    .filter(|r| r.value.level.len() > 3)
    .to("out");
"#;

#[test]
fn a_failing_closure_stops_the_pipeline_by_default_naming_the_line() {
    let mut d = driver(FAILING);
    send(&mut d, "logs", None, r#"{"level":"ERROR"}"#, 1).expect("processed");
    let err = send(&mut d, "logs", None, "plain text", 2).expect_err("fails");
    let StreamsError::Script { location, message } = &err else {
        panic!("expected a script error, got {err}");
    };
    assert_eq!(location, "test.rhai:3 (filter)");
    assert!(message.contains("level"), "{message}");
    assert_eq!(values(&mut d, "out"), [r#"{"level":"ERROR"}"#]);
}

#[test]
fn skip_policy_leaves_failed_records_out() {
    let options = on_error(ErrorPolicy::Skip);
    let mut d = driver_with(FAILING, &options);
    for value in [r#"{"level":"ERROR"}"#, "plain text", r#"{"level":"WARN"}"#] {
        send(&mut d, "logs", None, value, 1).expect("processed");
    }
    assert_eq!(values(&mut d, "out"), [r#"{"level":"ERROR"}"#, r#"{"level":"WARN"}"#]);
    assert_eq!(d.skipped_records(), 1);
}

#[test]
fn dead_letter_policy_writes_the_record_with_error_line_and_step() {
    let options = on_error(ErrorPolicy::DeadLetter("logs-dlq".to_owned()));
    let mut d = driver_with(FAILING, &options);
    send(&mut d, "logs", Some("k0"), r#"{"level":"ERROR"}"#, 1).expect("processed");
    send_with(
        &mut d,
        "logs",
        Some("k1"),
        "plain text",
        2,
        vec![("h".to_owned(), Some(Bytes::from_static(b"v")))],
    )
    .expect("processed");
    assert_eq!(values(&mut d, "out"), [r#"{"level":"ERROR"}"#]);
    let dlq = d.read_raw("logs-dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!((text(&dlq[0].key), text(&dlq[0].value)), kv(Some("k1"), "plain text"));
    assert_eq!(dlq[0].timestamp, 2);
    let header = |name: &str| {
        dlq[0]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| text(v))
    };
    assert_eq!(header("h").as_deref(), Some("v"));
    assert_eq!(header("rill.script.line").as_deref(), Some("3"));
    assert_eq!(header("rill.script.step").as_deref(), Some("filter"));
    assert_eq!(header("rill.script.name").as_deref(), Some("test.rhai"));
    assert_eq!(header("rill.source.topic").as_deref(), Some("logs"));
    assert_eq!(header("rill.source.offset").as_deref(), Some("1"));
    assert!(header("rill.script.error").is_some_and(|e| e.contains("level")));
}

#[test]
fn dead_letter_policy_covers_aggregators() {
    let options = on_error(ErrorPolicy::DeadLetter("dlq".to_owned()));
    let mut d = driver_with(
        r#"stream("n").group_by_key().aggregate(0, |k, v, sum| sum + parse_int(v)).to_stream().to("sums");"#,
        &options,
    );
    for v in ["1", "x", "2"] {
        send(&mut d, "n", Some("k"), v, 1).expect("processed");
    }
    assert_eq!(read(&mut d, "sums"), [kv(Some("k"), "1"), kv(Some("k"), "3")]);
    let dlq = d.read_raw("dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(text(&dlq[0].value).as_deref(), Some("x"));
}

#[test]
fn wrong_result_types_are_script_errors() {
    let mut d = driver("stream(\"in\")\n  .filter(|r| r.value)\n  .to(\"out\");");
    let err = send(&mut d, "in", None, "text", 1).expect_err("not a boolean");
    assert_eq!(
        err.to_string(),
        "script error at test.rhai:2 (filter): filter must return true or false, not string"
    );
    let mut d = driver("stream(\"in\").map(|r| 42).to(\"out\");");
    let err = send(&mut d, "in", None, "text", 1).expect_err("not a record");
    assert_eq!(
        err.to_string(),
        "script error at test.rhai:1 (map): map: expected a record map #{key, value}, got i64"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let err = Pipeline::compile("stream(\"in\")\n  .filter(|r| r.value ==)\n  .to(\"out\");", &options())
        .expect_err("does not parse");
    assert!(matches!(err, ScriptError::Syntax { line: 2, .. }), "{err:?}");
    assert_eq!(err.line(), Some(2));
    assert!(err.to_string().starts_with("test.rhai:2:"), "{err}");
}

#[test]
fn operators_refuse_closures_of_the_wrong_arity_and_unknown_options() {
    let err = Pipeline::compile("stream(\"in\")\n  .filter(|k, v| true);", &options()).expect_err("two parameters");
    assert_eq!(
        err.to_string(),
        "test.rhai:2: filter takes a function of 1 parameter (the record); this one has 2"
    );
    let err = Pipeline::compile("stream(\"in\", #{ vale: \"json\" });", &options()).expect_err("typo");
    assert_eq!(
        err.to_string(),
        r#"test.rhai:1: unknown option "vale" (expected key, value, name)"#
    );
    let err = Pipeline::compile("let x = 1;", &options()).expect_err("no source");
    assert!(matches!(err, ScriptError::Topology { .. }), "{err:?}");
}

fn small_limits() -> ScriptOptions {
    ScriptOptions {
        limits: Limits {
            max_operations: 10_000,
            max_string_size: 1_000,
            ..Limits::default()
        },
        ..options()
    }
}

#[test]
fn a_runaway_loop_is_stopped_with_the_line() {
    let err = Pipeline::compile("let n = 0;\nloop { n += 1; }\nstream(\"in\");", &small_limits())
        .expect_err("runaway while building");
    assert_eq!(err.line(), Some(2));
    assert!(err.to_string().contains("too many operations"), "{err}");

    let mut d = driver_with(
        "stream(\"in\")\n  .filter(|r| {\n    while true {}\n    true\n  })\n  .to(\"out\");",
        &small_limits(),
    );
    // rhai reports limits hit inside a closure at the call: the line of the step.
    let err = send(&mut d, "in", None, "x", 1).expect_err("runaway per record");
    assert!(
        err.to_string()
            .starts_with("script error at test.rhai:2 (filter): too many operations"),
        "{err}"
    );
}

#[test]
fn an_oversized_string_is_stopped_with_the_line() {
    let mut d = driver_with(
        "stream(\"in\")\n  .map_values(|v| {\n    let s = v;\n    loop { s += s; }\n  })\n  .to(\"out\");",
        &small_limits(),
    );
    let err = send(&mut d, "in", None, "abc", 1).expect_err("too large");
    assert_eq!(
        err.to_string(),
        "script error at test.rhai:2 (map_values): Length of string is larger than the limit"
    );
}

#[test]
fn imports_are_refused() {
    let err = Pipeline::compile("import \"secrets\" as s;\nstream(\"in\");", &options()).expect_err("no modules");
    assert_eq!(err.line(), Some(1));
}

#[test]
fn reload_with_the_same_operators_swaps_closures_in_the_running_topology() {
    let mut pipeline = Pipeline::compile(
        r#"stream("logs").filter(|r| r.value.level == "ERROR").to("out");"#,
        &options(),
    )
    .expect("compiles");
    let mut d = TopologyTestDriver::new(pipeline.topology(), "app").expect("valid");
    send(&mut d, "logs", None, LOGS[0], 1).expect("processed");
    send(&mut d, "logs", None, LOGS[3], 2).expect("processed");
    let reload = pipeline
        .reload("// now warnings\nstream(\"logs\")\n  .filter(|r| r.value.level == \"WARN\")\n  .to(\"out\");")
        .expect("compiles");
    assert_eq!(reload, Reload::Swapped);
    send(&mut d, "logs", None, LOGS[0], 3).expect("processed");
    send(&mut d, "logs", None, LOGS[3], 4).expect("processed");
    assert_eq!(values(&mut d, "out"), [LOGS[0], LOGS[3]]);
    // A new closure's errors name its own line.
    let reload = pipeline.reload("stream(\"logs\")\n\n  .filter(|r| r.value.nope.len() > 0)\n  .to(\"out\");");
    assert_eq!(reload.expect("compiles"), Reload::Swapped);
    let err = send(&mut d, "logs", None, LOGS[0], 5).expect_err("fails");
    assert!(
        err.to_string().starts_with("script error at test.rhai:3 (filter)"),
        "{err}"
    );
}

#[test]
fn reload_that_keeps_the_stateful_steps_restarts_and_one_that_changes_them_is_refused() {
    let script = r#"stream("clicks").group_by(|r| r.value.user).count().to_stream().to("counts");"#;
    let mut pipeline = Pipeline::compile(script, &options()).expect("compiles");
    let with_filter = r#"stream("clicks").filter(|r| r.value.user != "bot").group_by(|r| r.value.user).count().to_stream().to("counts");"#;
    assert_eq!(pipeline.reload(with_filter).expect("compiles"), Reload::Restarted);
    assert_eq!(pipeline.topology().store_names(), ["count-0"]);
    let reduced = r#"stream("clicks").group_by(|r| r.value.user).reduce(|a, b| b).to_stream().to("counts");"#;
    let Reload::Kept { reason } = pipeline.reload(reduced).expect("compiles") else {
        panic!("a changed aggregation must be refused");
    };
    assert!(
        reason.starts_with("its stateful step 1 is `reduce into store reduce-0"),
        "{reason}"
    );
    // A script that does not compile is an error, and the pipeline stays.
    assert!(pipeline.reload("stream(").is_err());
    assert_eq!(pipeline.topology().store_names(), ["count-0"]);
    assert_eq!(pipeline.describe_steps()[1], "filter (line 1)");
}

fn example(name: &str) -> TopologyTestDriver {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    driver_with(&source, &ScriptOptions::named(name))
}

#[test]
fn example_log_filter() {
    let mut d = example("log-filter.rhai");
    for line in [
        r#"{"level":"ERROR","msg":"disk full"}"#,
        r#"{"level":"INFO","msg":"started"}"#,
        "plain text",
        r#"{"level":"WARN","msg":"slow"}"#,
    ] {
        send(&mut d, "app-logs", None, line, 1).expect("processed");
    }
    assert_eq!(
        values(&mut d, "app-alerts"),
        [
            r#"{"level":"ERROR","msg":"disk full"}"#,
            r#"{"level":"WARN","msg":"slow"}"#
        ]
    );
}

#[test]
fn example_reshape_json() {
    let mut d = example("reshape-json.rhai");
    let order = r#"{"id":"o-1","customer":{"id":"c-7","name":"Ann"},"items":[{"price_cents":250,"qty":2},{"price_cents":100,"qty":1}]}"#;
    send(&mut d, "orders", None, order, 1_700_000_000_000).expect("processed");
    assert_eq!(
        read(&mut d, "orders-flat"),
        [kv(
            Some("c-7"),
            r#"{"customer":"Ann","items":2,"order":"o-1","placed_at":1700000000000,"total_cents":600}"#
        )]
    );
}

#[test]
fn example_clicks_per_minute() {
    let mut d = example("clicks-per-minute.rhai");
    for (page, ts) in [
        ("/home", 1_000),
        ("/cart", 5_000),
        ("/home", 59_000),
        ("/home", 65_000),
        ("/cart", 80_000),
    ] {
        send(&mut d, "clicks", None, &format!(r#"{{"page":"{page}"}}"#), ts).expect("processed");
    }
    // The first minute closes at 60 s + 10 s of grace: stream time 80 s has passed it.
    assert_eq!(
        read(&mut d, "clicks-per-minute"),
        [
            kv(Some("/cart"), r#"{"clicks":1,"minute":0,"page":"/cart"}"#),
            kv(Some("/home"), r#"{"clicks":2,"minute":0,"page":"/home"}"#)
        ]
    );
}

#[test]
fn foreach_calls_its_closure_for_every_record_and_writes_nothing() {
    let options = on_error(ErrorPolicy::DeadLetter("seen".to_owned()));
    // The closure's only visible effect: a record it throws on goes to the dead-letter topic.
    let mut d = driver_with(
        r#"stream("in").foreach(|r| if r.value.starts_with("x") { throw `saw ${r.value}` });"#,
        &options,
    );
    for v in ["a", "x1", "b", "x2"] {
        send(&mut d, "in", None, v, 1).expect("processed");
    }
    let seen = d.read_raw("seen");
    let errors: Vec<(Option<String>, Option<String>)> = seen
        .iter()
        .map(|o| {
            let error = o
                .headers
                .iter()
                .find(|(n, _)| n == "rill.script.error")
                .and_then(|(_, v)| text(v));
            (text(&o.value), error)
        })
        .collect();
    assert_eq!(
        errors,
        [
            (Some("x1".to_owned()), Some("saw x1".to_owned())),
            (Some("x2".to_owned()), Some("saw x2".to_owned()))
        ]
    );
    assert_eq!(d.unread_topics(), BTreeMap::new());
}

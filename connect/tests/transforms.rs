//! Single-message transforms and predicates, built from connector config maps as Kafka Connect
//! writes them, with the exact records (or errors) they produce.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use rill_connect::record::{ConnectRecord, Origin};
use rill_connect::transform::{TransformChain, TransformError, predicate_types, transform_types};
use serde_json::{Value, json};

/// 2024-03-05T07:08:09.012Z.
const T: i64 = 1_709_622_489_012;
/// 2024-03-05T00:00:00Z.
const DAY: i64 = 1_709_596_800_000;

/// Config entries, as `(key, value)`.
type Pairs<'a> = &'a [(&'a str, &'a str)];

fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn chain(pairs: &[(&str, &str)]) -> TransformChain {
    TransformChain::from_config(&config(pairs)).expect("valid transform config")
}

/// The key and reason of the config error `pairs` give.
fn config_error(pairs: &[(&str, &str)]) -> (String, String) {
    match TransformChain::from_config(&config(pairs)) {
        Err(TransformError::Config { key, reason }) => (key, reason),
        Err(other) => panic!("expected a config error, got {other:?}"),
        Ok(chain) => panic!("expected a config error, got {chain:?}"),
    }
}

fn config_error_key(pairs: &[(&str, &str)]) -> String {
    config_error(pairs).0
}

fn run(chain: &TransformChain, record: ConnectRecord) -> ConnectRecord {
    chain.apply(record).expect("transforms apply").expect("record kept")
}

fn value_of(chain: &TransformChain, value: Value) -> Option<Value> {
    run(chain, with_value(value)).value
}

/// The alias, type and reason of the record error.
fn record_error(chain: &TransformChain, record: ConnectRecord) -> (String, String, String) {
    match chain.apply(record) {
        Err(TransformError::Record { alias, kind, reason }) => (alias, kind, reason),
        other => panic!("expected a record error, got {other:?}"),
    }
}

fn with_value(value: Value) -> ConnectRecord {
    ConnectRecord::new("orders", None, Some(value))
}

fn with_key(key: Value) -> ConnectRecord {
    ConnectRecord::new("orders", Some(key), Some(json!({"v": 1})))
}

/// A record as a sink sees it: read from `orders` partition 2 at offset 42.
fn sink_record(value: Value) -> ConnectRecord {
    ConnectRecord {
        topic: "orders".into(),
        partition: Some(2),
        key: Some(json!("k")),
        value: Some(value),
        timestamp: Some(T),
        headers: Vec::new(),
        origin: Some(Origin {
            topic: Arc::from("orders"),
            partition: 2,
            offset: 42,
        }),
    }
}

fn header(name: &str, value: &str) -> (String, Option<Bytes>) {
    (name.to_owned(), Some(Bytes::copy_from_slice(value.as_bytes())))
}

// ---------------------------------------------------------------------------------------------
// The chain

#[test]
fn no_transforms_pass_records_through() {
    let empty = chain(&[]);
    assert!(empty.is_empty());
    assert!(chain(&[("transforms", " ")]).is_empty());
    let record = sink_record(json!({"a": 1}));
    assert_eq!(empty.apply(record.clone()).expect("applies"), Some(record));
}

#[test]
fn chain_is_shareable_across_threads() {
    fn assert_shareable<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_shareable::<TransformChain>();
    let c = chain(&[
        ("transforms", "h"),
        ("transforms.h.type", "HoistField$Value"),
        ("transforms.h.field", "f"),
    ]);
    let clone = c.clone();
    assert!(!clone.is_empty());
    let handle = std::thread::spawn(move || value_of(&clone, json!(1)));
    assert_eq!(handle.join().expect("thread"), Some(json!({"f": 1})));
    assert_eq!(value_of(&c, json!(2)), Some(json!({"f": 2})));
}

#[test]
fn transforms_run_in_the_listed_order() {
    let c = chain(&[
        ("transforms", " hoist , insert,key, extract ,route"),
        (
            "transforms.hoist.type",
            "org.apache.kafka.connect.transforms.HoistField$Value",
        ),
        ("transforms.hoist.field", "amount"),
        ("transforms.insert.type", "InsertField$Value"),
        ("transforms.insert.topic.field", "source"),
        ("transforms.insert.offset.field", "offset"),
        ("transforms.key.type", "ValueToKey"),
        ("transforms.key.fields", "source,offset"),
        ("transforms.extract.type", "ExtractField$Key"),
        ("transforms.extract.field", "offset"),
        ("transforms.route.type", "RegexRouter"),
        ("transforms.route.regex", "ord(.*)"),
        ("transforms.route.replacement", "archive-ord$1"),
    ]);
    let out = run(&c, sink_record(json!(12.5)));
    assert_eq!(out.topic, "archive-orders");
    assert_eq!(out.key, Some(json!(42)));
    assert_eq!(
        out.value,
        Some(json!({"amount": 12.5, "source": "orders", "offset": 42}))
    );
    assert_eq!(out.timestamp, Some(T));
    assert_eq!(out.partition, Some(2));
}

#[test]
fn record_errors_name_alias_type_and_reason() {
    let c = chain(&[
        ("transforms", "ok,bad"),
        ("transforms.ok.type", "HoistField$Key"),
        ("transforms.ok.field", "k"),
        ("transforms.bad.type", "InsertField$Value"),
        ("transforms.bad.topic.field", "t"),
    ]);
    let error = c
        .apply(with_value(json!("text")))
        .expect_err("a string value cannot take fields");
    assert_eq!(
        error.to_string(),
        "transform `bad` (InsertField$Value) failed: only objects are supported for field insertion in the \
         absence of a schema, but the value is a string"
    );
    assert_eq!(
        error,
        TransformError::Record {
            alias: "bad".into(),
            kind: "InsertField$Value".into(),
            reason: "only objects are supported for field insertion in the absence of a schema, but the value is a \
                     string"
                .into(),
        }
    );
}

#[test]
fn config_errors_display_the_key() {
    let error = TransformChain::from_config(&config(&[
        ("transforms", "mask"),
        ("transforms.mask.type", "MaskField$Value"),
    ]))
    .expect_err("fields is required");
    assert_eq!(
        error.to_string(),
        "invalid configuration `transforms.mask.fields`: missing required configuration: a comma-separated list of \
         at least one name"
    );
}

#[test]
fn type_names_are_kafkas_class_names() {
    let types = transform_types();
    assert_eq!(types.len(), 23);
    for name in [
        "org.apache.kafka.connect.transforms.Cast$Key",
        "org.apache.kafka.connect.transforms.InsertField$Value",
        "org.apache.kafka.connect.transforms.TimestampConverter$Value",
        "org.apache.kafka.connect.transforms.RegexRouter",
        "org.apache.kafka.connect.transforms.Filter",
        "org.apache.kafka.connect.transforms.HeaderFrom$Key",
        "rhai",
    ] {
        assert!(types.contains(&name), "{name} missing from {types:?}");
    }
    assert_eq!(
        predicate_types(),
        [
            "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
            "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
            "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        ]
    );
    // Every listed type is accepted, by full and by short name: the only complaint, if any, is
    // about one of its own settings, never its type.
    for class in types {
        let short = class.trim_start_matches("org.apache.kafka.connect.transforms.");
        for name in [*class, short] {
            match TransformChain::from_config(&config(&[("transforms", "t"), ("transforms.t.type", name)])) {
                Ok(_) => {}
                Err(TransformError::Config { key, .. }) => assert_ne!(key, "transforms.t.type", "{name}"),
                Err(other) => panic!("{name}: {other:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Config errors

#[test]
fn config_errors_name_the_key_at_fault() {
    let cases: &[(Pairs<'_>, &str)] = &[
        (&[("transforms", "a")], "transforms.a.type"),
        (
            &[("transforms", "a"), ("transforms.a.type", "Nope$Value")],
            "transforms.a.type",
        ),
        (
            &[("transforms", "a"), ("transforms.a.type", "com.example.Custom")],
            "transforms.a.type",
        ),
        (
            &[
                ("transforms", "a,b,a"),
                ("transforms.a.type", "Filter"),
                ("transforms.b.type", "Filter"),
            ],
            "transforms",
        ),
        (
            &[
                ("transforms", "a"),
                ("transforms.a.type", "Filter"),
                ("transforms.a.predicate", "p"),
            ],
            "transforms.a.predicate",
        ),
        (
            &[
                ("transforms", "a"),
                ("transforms.a.type", "Filter"),
                ("transforms.a.predicate", "p"),
                ("transforms.a.negate", "maybe"),
                ("predicates", "p"),
                ("predicates.p.type", "RecordIsTombstone"),
            ],
            "transforms.a.negate",
        ),
        (&[("predicates", "p")], "predicates.p.type"),
        (
            &[("predicates", "p"), ("predicates.p.type", "IsFriday")],
            "predicates.p.type",
        ),
        (
            &[("predicates", "p"), ("predicates.p.type", "TopicNameMatches")],
            "predicates.p.pattern",
        ),
        (
            &[
                ("predicates", "p"),
                ("predicates.p.type", "TopicNameMatches"),
                ("predicates.p.pattern", "("),
            ],
            "predicates.p.pattern",
        ),
        (
            &[("predicates", "p"), ("predicates.p.type", "HasHeaderKey")],
            "predicates.p.name",
        ),
        (
            &[("predicates", "p,p"), ("predicates.p.type", "RecordIsTombstone")],
            "predicates",
        ),
        (
            &[
                ("transforms", "a"),
                ("transforms.a.type", "InsertHeader"),
                ("transforms.a.header", "h"),
            ],
            "transforms.a.value.literal",
        ),
        (
            &[("transforms", "a"), ("transforms.a.type", "DropHeaders")],
            "transforms.a.headers",
        ),
        (
            &[("transforms", "a"), ("transforms.a.type", "ValueToKey")],
            "transforms.a.fields",
        ),
        (
            &[("transforms", "a"), ("transforms.a.type", "HoistField$Key")],
            "transforms.a.field",
        ),
        (
            &[("transforms", "a"), ("transforms.a.type", "ExtractField$Value")],
            "transforms.a.field",
        ),
        (
            &[
                ("transforms", "a"),
                ("transforms.a.type", "RegexRouter"),
                ("transforms.a.replacement", "x"),
            ],
            "transforms.a.regex",
        ),
        (
            &[
                ("transforms", "a"),
                ("transforms.a.type", "RegexRouter"),
                ("transforms.a.regex", "x"),
            ],
            "transforms.a.replacement",
        ),
        (
            &[("transforms", "a"), ("transforms.a.type", "TimestampConverter$Value")],
            "transforms.a.target.type",
        ),
        (
            &[
                ("transforms", "a"),
                ("transforms.a.type", "TimestampRouter"),
                ("transforms.a.timestamp.format", "yyyy GG"),
            ],
            "transforms.a.timestamp.format",
        ),
        (
            &[("transforms", "a"), ("transforms.a.type", "Cast$Value")],
            "transforms.a.spec",
        ),
    ];
    for (pairs, key) in cases {
        assert_eq!(config_error_key(pairs), *key, "{pairs:?}");
    }
}

#[test]
fn config_error_reasons_say_why() {
    assert_eq!(
        config_error(&[
            ("transforms", "a"),
            ("transforms.a.type", "Filter"),
            ("transforms.a.predicate", "p")
        ]),
        (
            "transforms.a.predicate".into(),
            "unknown predicate `p`: it is not among the aliases in `predicates`".into()
        )
    );
    assert_eq!(
        config_error(&[("predicates", "p"), ("predicates.p.type", "IsFriday")]),
        (
            "predicates.p.type".into(),
            "unknown predicate type `IsFriday`: expected TopicNameMatches, HasHeaderKey or RecordIsTombstone".into()
        )
    );
    assert_eq!(
        config_error(&[("transforms", "a,a"), ("transforms.a.type", "Filter")]),
        ("transforms".into(), "duplicate alias `a`".into())
    );
    let (key, reason) = config_error(&[("transforms", "a"), ("transforms.a.type", "Nope$Value")]);
    assert_eq!(key, "transforms.a.type");
    assert!(
        reason.starts_with("unknown transform type `Nope$Value`: expected one of Cast$Key, Cast$Value, DropHeaders,"),
        "{reason}"
    );
    let (key, reason) = config_error(&[
        ("predicates", "p"),
        ("predicates.p.type", "TopicNameMatches"),
        ("predicates.p.pattern", "("),
    ]);
    assert_eq!(key, "predicates.p.pattern");
    assert!(reason.starts_with("invalid regex: "), "{reason}");
}

// ---------------------------------------------------------------------------------------------
// Predicates

fn filter_if(predicate: &[(&str, &str)], negate: &str) -> TransformChain {
    let mut pairs = vec![
        ("transforms", "drop"),
        ("transforms.drop.type", "org.apache.kafka.connect.transforms.Filter"),
        ("transforms.drop.predicate", "p"),
        ("transforms.drop.negate", negate),
        ("predicates", "p"),
    ];
    pairs.extend_from_slice(predicate);
    chain(&pairs)
}

fn kept(chain: &TransformChain, record: ConnectRecord) -> bool {
    chain.apply(record).expect("applies").is_some()
}

#[test]
fn filter_without_predicate_drops_everything() {
    let c = chain(&[("transforms", "f"), ("transforms.f.type", "Filter")]);
    assert_eq!(c.apply(with_value(json!(1))).expect("applies"), None);
    assert_eq!(c.apply(ConnectRecord::new("x", None, None)).expect("applies"), None);
}

#[test]
fn topic_name_matches_must_match_the_whole_topic() {
    let pattern = [
        ("predicates.p.type", "TopicNameMatches"),
        ("predicates.p.pattern", "orders|audit-.*"),
    ];
    let c = filter_if(&pattern, "false");
    assert!(!kept(&c, ConnectRecord::new("orders", None, Some(json!(1)))));
    assert!(!kept(&c, ConnectRecord::new("audit-2024", None, Some(json!(1)))));
    assert!(kept(&c, ConnectRecord::new("orders-eu", None, Some(json!(1)))));
    assert!(kept(&c, ConnectRecord::new("my-orders", None, Some(json!(1)))));
    let negated = filter_if(&pattern, "true");
    assert!(kept(&negated, ConnectRecord::new("orders", None, Some(json!(1)))));
    assert!(!kept(&negated, ConnectRecord::new("orders-eu", None, Some(json!(1)))));
}

#[test]
fn has_header_key_looks_at_every_header() {
    let name = [
        (
            "predicates.p.type",
            "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        ),
        ("predicates.p.name", "trace"),
    ];
    let mut traced = with_value(json!(1));
    traced.headers = vec![header("trace", "abc"), header("other", "x")];
    let mut null_trace = with_value(json!(1));
    null_trace.headers = vec![("trace".into(), None)];
    let mut untraced = with_value(json!(1));
    untraced.headers = vec![header("tracer", "x")];

    let c = filter_if(&name, "false");
    assert!(!kept(&c, traced.clone()));
    assert!(!kept(&c, null_trace.clone()));
    assert!(kept(&c, untraced.clone()));
    let negated = filter_if(&name, "TRUE");
    assert!(kept(&negated, traced));
    assert!(kept(&negated, null_trace));
    assert!(!kept(&negated, untraced));
}

#[test]
fn record_is_tombstone_is_a_null_value() {
    let tombstone = [("predicates.p.type", "RecordIsTombstone")];
    let c = filter_if(&tombstone, "false");
    assert!(!kept(&c, ConnectRecord::new("t", Some(json!("k")), None)));
    assert!(!kept(&c, ConnectRecord::new("t", Some(json!("k")), Some(Value::Null))));
    assert!(kept(&c, ConnectRecord::new("t", Some(json!("k")), Some(json!(0)))));
    let negated = filter_if(&tombstone, "true");
    assert!(kept(&negated, ConnectRecord::new("t", Some(json!("k")), None)));
    assert!(!kept(
        &negated,
        ConnectRecord::new("t", Some(json!("k")), Some(json!({})))
    ));
}

#[test]
fn predicates_gate_any_transform() {
    let c = chain(&[
        ("transforms", "route,mask"),
        ("transforms.route.type", "RegexRouter"),
        ("transforms.route.regex", ".*"),
        ("transforms.route.replacement", "dlq"),
        ("transforms.route.predicate", "empty"),
        ("transforms.mask.type", "MaskField$Value"),
        ("transforms.mask.fields", "card"),
        ("transforms.mask.predicate", "is-orders"),
        ("transforms.mask.negate", "true"),
        ("predicates", "empty, is-orders"),
        ("predicates.empty.type", "RecordIsTombstone"),
        ("predicates.is-orders.type", "TopicNameMatches"),
        ("predicates.is-orders.pattern", "orders"),
    ]);
    let tombstone = run(&c, ConnectRecord::new("orders", None, None));
    assert_eq!(tombstone.topic, "dlq");
    let orders = run(&c, with_value(json!({"card": "4111"})));
    assert_eq!(
        (orders.topic.as_str(), orders.value),
        ("orders", Some(json!({"card": "4111"})))
    );
    let payments = run(&c, ConnectRecord::new("payments", None, Some(json!({"card": "4111"}))));
    assert_eq!(
        (payments.topic.as_str(), payments.value),
        ("payments", Some(json!({"card": ""})))
    );
}

// ---------------------------------------------------------------------------------------------
// InsertField

#[test]
fn insert_field_adds_record_metadata_to_the_value() {
    let c = chain(&[
        ("transforms", "meta"),
        ("transforms.meta.type", "InsertField$Value"),
        ("transforms.meta.topic.field", "topic!"),
        ("transforms.meta.partition.field", "partition"),
        ("transforms.meta.offset.field", "offset?"),
        ("transforms.meta.timestamp.field", "ts"),
        ("transforms.meta.static.field", "source"),
        ("transforms.meta.static.value", "crm"),
    ]);
    let out = run(&c, sink_record(json!({"id": 7})));
    assert_eq!(
        out.value,
        Some(json!({"id": 7, "topic": "orders", "partition": 2, "offset": 42, "ts": T, "source": "crm"}))
    );
    assert_eq!(out.key, Some(json!("k")));
}

#[test]
fn insert_field_on_a_source_record_skips_the_offset() {
    let c = chain(&[
        ("transforms", "meta"),
        ("transforms.meta.type", "InsertField$Key"),
        ("transforms.meta.offset.field", "offset"),
        ("transforms.meta.partition.field", "partition"),
        ("transforms.meta.timestamp.field", "ts"),
        ("transforms.meta.static.field", "s"),
    ]);
    let out = run(&c, with_key(json!({"id": 1})));
    assert_eq!(
        out.key,
        Some(json!({"id": 1, "partition": null, "ts": null, "s": null}))
    );
    assert_eq!(out.value, Some(json!({"v": 1})));
}

#[test]
fn insert_field_passes_nulls_and_rejects_non_objects() {
    let c = chain(&[
        ("transforms", "ins"),
        ("transforms.ins.type", "InsertField$Value"),
        ("transforms.ins.static.field", "s"),
        ("transforms.ins.static.value", "v"),
    ]);
    assert_eq!(
        c.apply(ConnectRecord::new("t", None, None)).expect("applies"),
        Some(ConnectRecord::new("t", None, None))
    );
    assert_eq!(
        record_error(&c, with_value(json!([1, 2]))),
        (
            "ins".into(),
            "InsertField$Value".into(),
            "only objects are supported for field insertion in the absence of a schema, but the value is an array"
                .into()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// ReplaceField

fn replace(settings: &[(&str, &str)]) -> TransformChain {
    let mut pairs = vec![("transforms", "r"), ("transforms.r.type", "ReplaceField$Value")];
    pairs.extend_from_slice(settings);
    chain(&pairs)
}

#[test]
fn replace_field_excludes_includes_and_renames() {
    let value = json!({"a": 1, "b": 2, "c": 3, "d": 4});
    assert_eq!(
        value_of(&replace(&[("transforms.r.exclude", "a,c")]), value.clone()),
        Some(json!({"b": 2, "d": 4}))
    );
    assert_eq!(
        value_of(&replace(&[("transforms.r.include", "a, c, z")]), value.clone()),
        Some(json!({"a": 1, "c": 3}))
    );
    assert_eq!(
        value_of(
            &replace(&[("transforms.r.include", "a,b"), ("transforms.r.exclude", "b")]),
            value.clone()
        ),
        Some(json!({"a": 1}))
    );
    assert_eq!(
        value_of(&replace(&[("transforms.r.renames", "a:alpha, b:beta")]), value.clone()),
        Some(json!({"alpha": 1, "beta": 2, "c": 3, "d": 4}))
    );
    assert_eq!(
        value_of(
            &replace(&[("transforms.r.include", "a,b"), ("transforms.r.renames", "a:b,b:a")]),
            value.clone()
        ),
        Some(json!({"b": 1, "a": 2}))
    );
    assert_eq!(
        value_of(&replace(&[("transforms.r.blacklist", "d")]), value.clone()),
        Some(json!({"a": 1, "b": 2, "c": 3}))
    );
    assert_eq!(
        value_of(&replace(&[("transforms.r.whitelist", "d")]), value),
        Some(json!({"d": 4}))
    );
}

#[test]
fn replace_field_on_keys_and_bad_renames() {
    let c = chain(&[
        ("transforms", "r"),
        ("transforms.r.type", "ReplaceField$Key"),
        ("transforms.r.renames", "id:order_id"),
    ]);
    assert_eq!(run(&c, with_key(json!({"id": 5}))).key, Some(json!({"order_id": 5})));
    assert_eq!(run(&c, ConnectRecord::new("t", None, Some(json!(1)))).key, None);
    assert_eq!(
        record_error(&c, with_key(json!("id"))).2,
        "only objects are supported for field replacement in the absence of a schema, but the key is a string"
    );
    assert_eq!(
        config_error(&[
            ("transforms", "r"),
            ("transforms.r.type", "ReplaceField$Key"),
            ("transforms.r.renames", "a:b,c")
        ]),
        (
            "transforms.r.renames".into(),
            "invalid rename mapping `c`: expected `old:new` pairs separated by commas".into()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// MaskField

fn mask(part: &str, fields: &str, replacement: Option<&str>) -> TransformChain {
    let kind = format!("MaskField${part}");
    let mut pairs = vec![
        ("transforms", "m"),
        ("transforms.m.type", kind.as_str()),
        ("transforms.m.fields", fields),
    ];
    if let Some(r) = replacement {
        pairs.push(("transforms.m.replacement", r));
    }
    chain(&pairs)
}

#[test]
fn mask_field_empties_each_type() {
    let c = mask("Value", "s,i,f,b,arr,obj,n,missing", None);
    assert_eq!(
        value_of(
            &c,
            json!({"s": "secret", "i": 42, "f": 1.5, "b": true, "arr": [1], "obj": {"x": 1}, "n": null, "keep": "k"})
        ),
        Some(json!({"s": "", "i": 0, "f": 0.0, "b": false, "arr": [], "obj": {}, "n": null, "keep": "k"}))
    );
    let key = mask("Key", "pin", None);
    assert_eq!(
        run(&key, with_key(json!({"pin": 1234, "id": 1}))).key,
        Some(json!({"pin": 0, "id": 1}))
    );
}

#[test]
fn mask_field_with_a_replacement() {
    let text = mask("Value", "ssn,flag", Some("***"));
    assert_eq!(
        value_of(&text, json!({"ssn": "123-45", "flag": true})),
        Some(json!({"ssn": "***", "flag": false}))
    );
    let number = mask("Value", "ssn,amount,rate,flag", Some("-1"));
    assert_eq!(
        value_of(&number, json!({"ssn": "123", "amount": 99, "rate": 0.5, "flag": true})),
        Some(json!({"ssn": "-1", "amount": -1, "rate": -1, "flag": false}))
    );
    let decimal = mask("Value", "amount", Some("9.5"));
    assert_eq!(value_of(&decimal, json!({"amount": 3})), Some(json!({"amount": 9.5})));
    let truthy = mask("Value", "flag", Some("TRUE"));
    assert_eq!(value_of(&truthy, json!({"flag": false})), Some(json!({"flag": true})));
}

#[test]
fn mask_field_replacement_errors() {
    let text = mask("Value", "amount", Some("***"));
    assert_eq!(
        record_error(&text, with_value(json!({"amount": 10}))),
        (
            "m".into(),
            "MaskField$Value".into(),
            "cannot mask number field `amount` with replacement `***`: not a number".into()
        )
    );
    let nested = mask("Value", "obj", Some("x"));
    assert_eq!(
        record_error(&nested, with_value(json!({"obj": {"a": 1}}))).2,
        "cannot mask field `obj`, which is an object, with a custom replacement"
    );
    assert_eq!(
        record_error(&nested, with_value(json!(5))).2,
        "only objects are supported for masking in the absence of a schema, but the value is a number"
    );
    assert_eq!(value_of(&nested, Value::Null), Some(Value::Null));
}

// ---------------------------------------------------------------------------------------------
// ValueToKey

#[test]
fn value_to_key_builds_the_key_from_value_fields() {
    let c = chain(&[
        ("transforms", "k"),
        ("transforms.k.type", "ValueToKey"),
        ("transforms.k.fields", "id, region"),
    ]);
    let out = run(
        &c,
        with_value(json!({"id": 9, "region": {"code": "eu"}, "other": true})),
    );
    assert_eq!(out.key, Some(json!({"id": 9, "region": {"code": "eu"}})));
    assert_eq!(
        out.value,
        Some(json!({"id": 9, "region": {"code": "eu"}, "other": true}))
    );
    assert_eq!(
        record_error(&c, with_value(json!({"id": 9}))),
        (
            "k".into(),
            "ValueToKey".into(),
            "field `region` is missing from the value".into()
        )
    );
    assert_eq!(
        record_error(&c, ConnectRecord::new("t", None, None)).2,
        "the value is null: there are no fields to copy to the key"
    );
    assert_eq!(
        record_error(&c, with_value(json!("id"))).2,
        "only objects are supported for copying fields from value to key in the absence of a schema, but the value \
         is a string"
    );
}

// ---------------------------------------------------------------------------------------------
// ExtractField

fn extract(part: &str, field: &str, syntax: Option<&str>) -> TransformChain {
    let kind = format!("ExtractField${part}");
    let mut pairs = vec![
        ("transforms", "x"),
        ("transforms.x.type", kind.as_str()),
        ("transforms.x.field", field),
    ];
    if let Some(s) = syntax {
        pairs.push(("transforms.x.field.syntax.version", s));
    }
    chain(&pairs)
}

#[test]
fn extract_field_takes_one_field() {
    let c = extract("Value", "after", None);
    assert_eq!(
        value_of(&c, json!({"before": 1, "after": {"id": 2}})),
        Some(json!({"id": 2}))
    );
    assert_eq!(value_of(&c, json!({"before": 1})), None);
    assert_eq!(value_of(&c, json!({"after": null})), None);
    assert_eq!(run(&c, ConnectRecord::new("t", None, None)).value, None);
    assert_eq!(
        record_error(&c, with_value(json!(3))),
        (
            "x".into(),
            "ExtractField$Value".into(),
            "only objects are supported for field extraction in the absence of a schema, but the value is a number"
                .into()
        )
    );
    let key = extract("Key", "id", None);
    assert_eq!(
        run(&key, with_key(json!({"id": "a-1", "x": 0}))).key,
        Some(json!("a-1"))
    );
}

#[test]
fn extract_field_v1_names_may_hold_dots() {
    let v1 = extract("Value", "a.b", Some("V1"));
    assert_eq!(value_of(&v1, json!({"a.b": 1, "a": {"b": 2}})), Some(json!(1)));
    let default = extract("Value", "a.b", None);
    assert_eq!(value_of(&default, json!({"a.b": 1, "a": {"b": 2}})), Some(json!(1)));
}

#[test]
fn extract_field_v2_follows_nested_paths() {
    let v2 = extract("Value", "after.customer.id", Some("V2"));
    assert_eq!(
        value_of(&v2, json!({"after": {"customer": {"id": 17, "name": "x"}}})),
        Some(json!(17))
    );
    assert_eq!(value_of(&v2, json!({"after": {"customer": "flat"}})), None);
    assert_eq!(value_of(&v2, json!({"after": {}})), None);
    let quoted = extract("Value", "`a.b`.c", Some("v2"));
    assert_eq!(
        value_of(&quoted, json!({"a.b": {"c": true}, "a": {"b": {"c": false}}})),
        Some(json!(true))
    );
    assert_eq!(
        config_error(&[
            ("transforms", "x"),
            ("transforms.x.type", "ExtractField$Value"),
            ("transforms.x.field", "a"),
            ("transforms.x.field.syntax.version", "V3"),
        ]),
        (
            "transforms.x.field.syntax.version".into(),
            "expected V1 or V2, got `V3`".into()
        )
    );
    assert_eq!(
        config_error(&[
            ("transforms", "x"),
            ("transforms.x.type", "ExtractField$Value"),
            ("transforms.x.field", "`a.b"),
            ("transforms.x.field.syntax.version", "V2"),
        ]),
        (
            "transforms.x.field".into(),
            "unclosed backtick in field path \"`a.b\"".into()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// HoistField

#[test]
fn hoist_field_wraps_the_whole_key_or_value() {
    let value = chain(&[
        ("transforms", "h"),
        ("transforms.h.type", "HoistField$Value"),
        ("transforms.h.field", "line"),
    ]);
    assert_eq!(value_of(&value, json!("hello")), Some(json!({"line": "hello"})));
    assert_eq!(value_of(&value, json!({"a": [1]})), Some(json!({"line": {"a": [1]}})));
    assert_eq!(
        run(&value, ConnectRecord::new("t", None, None)).value,
        Some(json!({"line": null}))
    );
    let key = chain(&[
        ("transforms", "h"),
        ("transforms.h.type", "HoistField$Key"),
        ("transforms.h.field", "id"),
    ]);
    let out = run(&key, with_key(json!(5)));
    assert_eq!((out.key, out.value), (Some(json!({"id": 5})), Some(json!({"v": 1}))));
}

// ---------------------------------------------------------------------------------------------
// Cast

fn cast(part: &str, spec: &str) -> TransformChain {
    let kind = format!("Cast${part}");
    chain(&[
        ("transforms", "c"),
        ("transforms.c.type", kind.as_str()),
        ("transforms.c.spec", spec),
    ])
}

#[test]
fn cast_fields_to_each_type() {
    let c = cast(
        "Value",
        "a:int8, b:int16,c:int32,d:int64,e:float32,f:float64,g:boolean,h:string,i:STRING,j:int32,k:boolean,missing:int8",
    );
    assert_eq!(
        value_of(
            &c,
            json!({"a": "12", "b": 3.99, "c": true, "d": "-9000000000", "e": "0.1", "f": 7, "g": "true",
                   "h": 1.25, "i": false, "j": null, "k": 0, "other": "x"})
        ),
        Some(
            json!({"a": 12, "b": 3, "c": 1, "d": -9_000_000_000i64, "e": 0.1, "f": 7.0, "g": true,
                    "h": "1.25", "i": "false", "j": null, "k": false, "other": "x"})
        )
    );
}

#[test]
fn cast_the_whole_key_or_value() {
    assert_eq!(value_of(&cast("Value", "int64"), json!("42")), Some(json!(42)));
    assert_eq!(value_of(&cast("Value", "string"), json!(42)), Some(json!("42")));
    assert_eq!(
        run(&cast("Value", "int64"), ConnectRecord::new("t", None, None)).value,
        None
    );
    assert_eq!(
        run(&cast("Key", "float64"), with_key(json!("2.5"))).key,
        Some(json!(2.5))
    );
    assert_eq!(
        run(&cast("Key", "id:string"), with_key(json!({"id": 7}))).key,
        Some(json!({"id": "7"}))
    );
}

#[test]
fn cast_errors() {
    assert_eq!(
        record_error(&cast("Value", "n:int8"), with_value(json!({"n": 300}))),
        (
            "c".into(),
            "Cast$Value".into(),
            "cannot cast field `n`: 300 is out of range for int8".into()
        )
    );
    assert_eq!(
        record_error(&cast("Value", "n:int32"), with_value(json!({"n": "abc"}))).2,
        "cannot cast field `n`: a string \"abc\" cannot be cast to int32"
    );
    assert_eq!(
        record_error(&cast("Value", "int16"), with_value(json!(40000))).2,
        "cannot cast the value: 40000 is out of range for int16"
    );
    assert_eq!(
        record_error(&cast("Value", "n:int64"), with_value(json!([1]))).2,
        "only objects are supported for casting fields in the absence of a schema, but the value is an array"
    );
    assert_eq!(
        config_error(&[
            ("transforms", "c"),
            ("transforms.c.type", "Cast$Value"),
            ("transforms.c.spec", "a:int128")
        ]),
        (
            "transforms.c.spec".into(),
            "unknown type `int128`: expected one of int8, int16, int32, int64, float32, float64, boolean, string"
                .into()
        )
    );
    assert_eq!(
        config_error(&[
            ("transforms", "c"),
            ("transforms.c.type", "Cast$Key"),
            ("transforms.c.spec", "a:int8,int16")
        ]),
        (
            "transforms.c.spec".into(),
            "invalid cast `int16`: expected `field:type` pairs, or a single type to cast the whole key".into()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// TimestampConverter

fn converter(part: &str, settings: &[(&str, &str)]) -> TransformChain {
    let kind = format!("TimestampConverter${part}");
    let mut pairs = vec![("transforms", "ts"), ("transforms.ts.type", kind.as_str())];
    pairs.extend_from_slice(settings);
    chain(&pairs)
}

#[test]
fn timestamp_converter_from_epoch_millis() {
    let to = |target: &str| {
        let c = converter(
            "Value",
            &[("transforms.ts.field", "at"), ("transforms.ts.target.type", target)],
        );
        value_of(&c, json!({"at": T, "id": 1}))
    };
    assert_eq!(to("string"), Some(json!({"at": "2024-03-05T07:08:09.012Z", "id": 1})));
    assert_eq!(to("unix"), Some(json!({"at": T, "id": 1})));
    assert_eq!(to("Timestamp"), Some(json!({"at": T, "id": 1})));
    assert_eq!(to("Date"), Some(json!({"at": DAY, "id": 1})));
    assert_eq!(to("Time"), Some(json!({"at": 25_689_012, "id": 1})));
}

#[test]
fn timestamp_converter_with_formats() {
    let to_string = converter(
        "Value",
        &[
            ("transforms.ts.field", "at"),
            ("transforms.ts.target.type", "string"),
            ("transforms.ts.format", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
        ],
    );
    assert_eq!(
        value_of(&to_string, json!({"at": T})),
        Some(json!({"at": "2024-03-05T07:08:09.012Z"}))
    );
    let from_string = converter(
        "Value",
        &[
            ("transforms.ts.field", "at"),
            ("transforms.ts.target.type", "unix"),
            ("transforms.ts.format", "dd/MM/yy hh:mm a"),
        ],
    );
    assert_eq!(
        value_of(&from_string, json!({"at": "05/03/24 07:08 PM"})),
        Some(json!({"at": 1_709_665_680_000i64}))
    );
    assert_eq!(value_of(&from_string, json!({"at": null})), Some(json!({"at": null})));
    assert_eq!(value_of(&from_string, json!({"other": 1})), Some(json!({"other": 1})));
    assert_eq!(
        record_error(&from_string, with_value(json!({"at": "yesterday"}))),
        (
            "ts".into(),
            "TimestampConverter$Value".into(),
            "field `at`: cannot parse `yesterday` with date pattern `dd/MM/yy hh:mm a`: input contains invalid characters"
                .into()
        )
    );
    let date_only = converter(
        "Value",
        &[
            ("transforms.ts.target.type", "Timestamp"),
            ("transforms.ts.format", "yyyyMMdd"),
        ],
    );
    assert_eq!(value_of(&date_only, json!("20240305")), Some(json!(DAY)));
}

#[test]
fn timestamp_converter_unix_precisions() {
    let seconds_to_string = converter(
        "Value",
        &[
            ("transforms.ts.target.type", "string"),
            ("transforms.ts.unix.precision", "seconds"),
        ],
    );
    assert_eq!(
        value_of(&seconds_to_string, json!(1_704_067_199)),
        Some(json!("2023-12-31T23:59:59.000Z"))
    );
    let micros = converter(
        "Value",
        &[
            ("transforms.ts.target.type", "unix"),
            ("transforms.ts.unix.precision", "microseconds"),
        ],
    );
    assert_eq!(
        value_of(&micros, json!("2024-03-05T07:08:09.012345Z")),
        Some(json!(1_709_622_489_012_345i64))
    );
    let nanos = converter(
        "Value",
        &[
            ("transforms.ts.target.type", "Timestamp"),
            ("transforms.ts.unix.precision", "nanoseconds"),
        ],
    );
    assert_eq!(value_of(&nanos, json!(1_709_622_489_012_345_678i64)), Some(json!(T)));
    let rfc3339 = converter("Value", &[("transforms.ts.target.type", "unix")]);
    assert_eq!(
        value_of(&rfc3339, json!("2024-03-05T09:08:09.012+02:00")),
        Some(json!(T))
    );
    assert_eq!(
        record_error(&rfc3339, with_value(json!(1.5))).2,
        "the Unix timestamp 1.5 is not an integer"
    );
    assert_eq!(
        record_error(&rfc3339, with_value(json!(true))).2,
        "expected a timestamp as a number or a string, found a boolean"
    );
}

#[test]
fn timestamp_converter_on_the_key_and_its_config_errors() {
    let key = converter("Key", &[("transforms.ts.target.type", "Date")]);
    let out = run(&key, with_key(json!(T)));
    assert_eq!((out.key, out.value), (Some(json!(DAY)), Some(json!({"v": 1}))));
    let cases: &[(Pairs<'_>, &str, &str)] = &[
        (
            &[("transforms.ts.target.type", "instant")],
            "transforms.ts.target.type",
            "unknown timestamp type `instant`: expected string, unix, Date, Time or Timestamp",
        ),
        (
            &[
                ("transforms.ts.target.type", "unix"),
                ("transforms.ts.unix.precision", "minutes"),
            ],
            "transforms.ts.unix.precision",
            "unknown precision `minutes`: expected seconds, milliseconds, microseconds or nanoseconds",
        ),
        (
            &[
                ("transforms.ts.target.type", "string"),
                ("transforms.ts.format", "yyyy-MM-dd GG"),
            ],
            "transforms.ts.format",
            "date pattern `yyyy-MM-dd GG`: unsupported letter `GG`",
        ),
    ];
    for (settings, key, reason) in cases {
        let mut pairs = vec![("transforms", "ts"), ("transforms.ts.type", "TimestampConverter$Value")];
        pairs.extend_from_slice(settings);
        assert_eq!(config_error(&pairs), ((*key).to_owned(), (*reason).to_owned()));
    }
}

// ---------------------------------------------------------------------------------------------
// Routers

fn regex_router(regex: &str, replacement: &str) -> TransformChain {
    chain(&[
        ("transforms", "r"),
        ("transforms.r.type", "org.apache.kafka.connect.transforms.RegexRouter"),
        ("transforms.r.regex", regex),
        ("transforms.r.replacement", replacement),
    ])
}

fn topic_after(chain: &TransformChain, topic: &str) -> String {
    run(chain, ConnectRecord::new(topic, None, Some(json!(1)))).topic
}

#[test]
fn regex_router_renames_fully_matching_topics() {
    let c = regex_router("(\\w+)-raw-(\\d+)", "$1_clean_$2");
    assert_eq!(topic_after(&c, "orders-raw-7"), "orders_clean_7");
    assert_eq!(topic_after(&c, "orders-raw-7x"), "orders-raw-7x");
    assert_eq!(topic_after(&c, "x.orders-raw-7"), "x.orders-raw-7");
    let named = regex_router("(?<name>[a-z]+)\\.v1", "${name}-\\$1");
    assert_eq!(topic_after(&named, "users.v1"), "users-$1");
    let whole = regex_router(".*", "everything");
    assert_eq!(topic_after(&whole, "anything"), "everything");
    let key = config_error_key(&[
        ("transforms", "r"),
        ("transforms.r.type", "RegexRouter"),
        ("transforms.r.regex", "(a"),
        ("transforms.r.replacement", ""),
    ]);
    assert_eq!(key, "transforms.r.regex");
    assert_eq!(
        config_error(&[
            ("transforms", "r"),
            ("transforms.r.type", "RegexRouter"),
            ("transforms.r.regex", "(a)"),
            ("transforms.r.replacement", "$2"),
        ]),
        (
            "transforms.r.replacement".into(),
            "no group 2 in the regex, which has 1".into()
        )
    );
}

#[test]
fn timestamp_router_appends_the_date() {
    let default = chain(&[("transforms", "t"), ("transforms.t.type", "TimestampRouter")]);
    assert_eq!(run(&default, sink_record(json!(1))).topic, "orders-20240305");
    let custom = chain(&[
        ("transforms", "t"),
        ("transforms.t.type", "TimestampRouter"),
        ("transforms.t.topic.format", "archive_${timestamp}_${topic}"),
        ("transforms.t.timestamp.format", "yyyy.MM.dd-HH"),
    ]);
    assert_eq!(
        run(&custom, sink_record(json!(1))).topic,
        "archive_2024.03.05-07_orders"
    );
    assert_eq!(
        record_error(&default, with_value(json!(1))),
        (
            "t".into(),
            "TimestampRouter".into(),
            "the record has no timestamp to route by".into()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Headers

#[test]
fn insert_and_drop_headers() {
    let c = chain(&[
        ("transforms", "drop,insert"),
        ("transforms.insert.type", "InsertHeader"),
        ("transforms.insert.header", "source"),
        ("transforms.insert.value.literal", "rill connect"),
        ("transforms.drop.type", "DropHeaders"),
        ("transforms.drop.headers", "secret, trace"),
    ]);
    let mut record = with_value(json!(1));
    record.headers = vec![
        header("secret", "s"),
        header("keep", "k"),
        ("trace".into(), None),
        header("secret", "t"),
    ];
    assert_eq!(
        run(&c, record).headers,
        vec![header("keep", "k"), header("source", "rill connect")]
    );
}

#[test]
fn header_from_copies_or_moves_fields() {
    let copy = chain(&[
        ("transforms", "h"),
        ("transforms.h.type", "HeaderFrom$Value"),
        ("transforms.h.fields", "id,meta,name,gone"),
        ("transforms.h.headers", "x-id,x-meta,x-name,x-gone"),
        ("transforms.h.operation", "copy"),
    ]);
    let out = run(&copy, with_value(json!({"id": 5, "meta": {"a": true}, "name": "n"})));
    assert_eq!(out.value, Some(json!({"id": 5, "meta": {"a": true}, "name": "n"})));
    assert_eq!(
        out.headers,
        vec![
            header("x-id", "5"),
            header("x-meta", "{\"a\":true}"),
            header("x-name", "n"),
            ("x-gone".into(), None)
        ]
    );
    let move_key = chain(&[
        ("transforms", "h"),
        ("transforms.h.type", "HeaderFrom$Key"),
        ("transforms.h.fields", "tenant"),
        ("transforms.h.headers", "tenant"),
        ("transforms.h.operation", "move"),
    ]);
    let out = run(&move_key, with_key(json!({"tenant": "acme", "id": 1})));
    assert_eq!(out.key, Some(json!({"id": 1})));
    assert_eq!(out.headers, vec![header("tenant", "acme")]);
    assert_eq!(
        record_error(&move_key, with_key(json!(1))).2,
        "only objects are supported for copying fields to headers in the absence of a schema, but the key is a number"
    );
    assert_eq!(
        config_error(&[
            ("transforms", "h"),
            ("transforms.h.type", "HeaderFrom$Value"),
            ("transforms.h.fields", "a,b"),
            ("transforms.h.headers", "a"),
            ("transforms.h.operation", "copy"),
        ]),
        (
            "transforms.h.headers".into(),
            "has 1 names but `fields` has 2: they must be the same length".into()
        )
    );
    assert_eq!(
        config_error(&[
            ("transforms", "h"),
            ("transforms.h.type", "HeaderFrom$Value"),
            ("transforms.h.fields", "a"),
            ("transforms.h.headers", "a"),
            ("transforms.h.operation", "swap"),
        ]),
        (
            "transforms.h.operation".into(),
            "expected copy or move, got `swap`".into()
        )
    );
}

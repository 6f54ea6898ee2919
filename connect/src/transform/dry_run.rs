//! A transform chain run on sample records, without a connector: what `rill connect
//! test-transform` and `POST /transforms/test` print.
//!
//! Sample records are JSON objects: `{"topic": "logs", "key": .., "value": .., "timestamp": ..,
//! "partition": .., "headers": {"name": "value"}}` (all optional but the value; headers also as
//! `[["name", "value"], ...]`). Each gives `{"record": {..}}`, `{"dropped": true}` or
//! `{"error": ".."}`.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::TransformChain;
use crate::record::ConnectRecord;

/// A sample record from its JSON; the topic is `default_topic` when it names none.
pub fn record_from_json(sample: &Value, default_topic: &str) -> Result<ConnectRecord, String> {
    let Some(object) = sample.as_object() else {
        return Err(format!("a sample record is a JSON object, not {sample}"));
    };
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "topic" | "partition" | "key" | "value" | "timestamp" | "headers"
        ) {
            return Err(format!(
                "unknown field `{key}` (expected topic, partition, key, value, timestamp, headers)"
            ));
        }
    }
    let present = |name: &str| object.get(name).filter(|v| !v.is_null());
    let topic = match present("topic") {
        None => default_topic.to_owned(),
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        Some(other) => return Err(format!("topic must be a non-empty string, not {other}")),
    };
    let int = |name: &str| -> Result<Option<i64>, String> {
        present(name)
            .map(|v| v.as_i64().ok_or_else(|| format!("{name} must be an integer, not {v}")))
            .transpose()
    };
    let partition = int("partition")?
        .map(|p| i32::try_from(p).map_err(|_| format!("partition {p} is out of range")))
        .transpose()?;
    let header = |name: &str, value: &Value| -> Result<(String, Option<Bytes>), String> {
        let bytes = match value {
            Value::Null => None,
            Value::String(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
            other => Some(Bytes::from(other.to_string())),
        };
        Ok((name.to_owned(), bytes))
    };
    let headers = match present("headers") {
        None => Vec::new(),
        Some(Value::Object(map)) => map.iter().map(|(n, v)| header(n, v)).collect::<Result<_, _>>()?,
        Some(Value::Array(pairs)) => pairs
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(n), v]) => header(n, v),
                _ => Err(format!("a header is [name, value], not {pair}")),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("headers must be an object or a list of pairs, not {other}")),
    };
    Ok(ConnectRecord {
        topic,
        partition,
        key: present("key").cloned(),
        value: present("value").cloned(),
        timestamp: int("timestamp")?,
        headers,
        origin: None,
    })
}

/// A record as JSON, in the shape samples take (headers as an object of strings; the last of
/// repeated names).
pub fn record_to_json(record: &ConnectRecord) -> Value {
    let mut headers = Map::new();
    for (name, value) in &record.headers {
        let value = match value {
            None => Value::Null,
            Some(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        };
        headers.insert(name.clone(), value);
    }
    json!({
        "topic": record.topic,
        "partition": record.partition,
        "key": record.key,
        "value": record.value,
        "timestamp": record.timestamp,
        "headers": headers,
    })
}

/// The topic of samples that name none: the connector's `topic` (a source's), its first
/// `topics` (a sink's), or `test`.
pub fn default_sample_topic(config: &std::collections::BTreeMap<String, String>) -> String {
    let first = |key: &str| {
        config
            .get(key)
            .and_then(|v| v.split(',').map(str::trim).find(|t| !t.is_empty()))
            .map(str::to_owned)
    };
    first("topic")
        .or_else(|| first("topics"))
        .unwrap_or_else(|| "test".to_owned())
}

/// Runs `chain` on each sample: `{"record": ..}`, `{"dropped": true}` or `{"error": ..}`.
pub fn dry_run(chain: &TransformChain, samples: &[Value], default_topic: &str) -> Vec<Value> {
    samples
        .iter()
        .map(|sample| {
            let record = match record_from_json(sample, default_topic) {
                Ok(record) => record,
                Err(e) => return json!({ "error": format!("bad sample: {e}") }),
            };
            match chain.apply(record) {
                Ok(Some(out)) => json!({ "record": record_to_json(&out) }),
                Ok(None) => json!({ "dropped": true }),
                Err(e) => json!({ "error": e.to_string() }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn chain(pairs: &[(&str, &str)]) -> TransformChain {
        let config: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        TransformChain::from_config(&config).expect("valid chain")
    }

    #[test]
    fn a_chain_with_a_rhai_step_on_samples() {
        let chain = chain(&[
            ("transforms", "keep,route"),
            ("transforms.keep.type", "rhai"),
            ("transforms.keep.script", r#"r.value.level != "DEBUG""#),
            ("transforms.route.type", "rhai"),
            (
                "transforms.route.script",
                r#"r.topic = "logs-" + r.value.level.to_lower(); r.headers.seen = "yes";"#,
            ),
        ]);
        let samples = [
            json!({"value": {"level": "ERROR", "msg": "disk full"}, "headers": {"host": "web-1"}, "timestamp": 5}),
            json!({"value": {"level": "DEBUG"}}),
            json!({"value": "not an object"}),
            json!({"value": 1, "colour": "red"}),
        ];
        let out = dry_run(&chain, &samples, "logs");
        assert_eq!(
            out[0],
            json!({"record": {
                "topic": "logs-error", "partition": null, "key": null,
                "value": {"level": "ERROR", "msg": "disk full"}, "timestamp": 5,
                "headers": {"host": "web-1", "seen": "yes"}
            }})
        );
        assert_eq!(out[1], json!({"dropped": true}));
        let error = out[2]["error"].as_str().expect("an error");
        assert!(
            error.starts_with("transform `keep` (rhai) failed: script line 1: "),
            "{error}"
        );
        assert_eq!(
            out[3],
            json!({"error": "bad sample: unknown field `colour` (expected topic, partition, key, value, timestamp, headers)"})
        );
    }

    #[test]
    fn samples_round_trip() {
        let sample = json!({"topic": "t", "partition": 2, "key": "k", "value": [1, 2], "timestamp": 9, "headers": [["a", "1"], ["b", null]]});
        let record = record_from_json(&sample, "x").expect("valid");
        assert_eq!(
            record_to_json(&record),
            json!({"topic": "t", "partition": 2, "key": "k", "value": [1, 2], "timestamp": 9, "headers": {"a": "1", "b": null}})
        );
        assert!(record_from_json(&json!({"timestamp": "soon"}), "x").is_err());
    }
}

//! `rhai`: a transform written as a rhai script, run on each record.
//!
//! ```text
//! transforms=shape
//! transforms.shape.type=rhai
//! transforms.shape.script=if r.value.level == "DEBUG" { return false; } r.value = #{ msg: r.value.msg }; r
//! ```
//!
//! The script (`script`, or a file named by `script.file`) sees the record as the map `r`:
//! `#{topic, partition, key, value, timestamp, headers}` (keys and values as JSON values,
//! headers a map of strings). It can change `r` in place, or return:
//! - `false`: the record is dropped;
//! - `true` or nothing (`()`): `r`, as the script left it;
//! - a map: the record (`topic` re-routes it; fields it lacks keep their values).
//!
//! Compiled once when the connector is configured (a syntax error names the line); run under the
//! same limits as `rill run` pipelines (`max.operations` changes the operations per record). An
//! error on a record names the script line and follows the connector's `errors.tolerance`.

use std::sync::Arc;

use rill_streams::script::rhai::{AST, Dynamic, Engine, Map, Scope};
use rill_streams::script::{self, Limits};
use serde_json::Value;

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Transform};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct Rhai {
    engine: Arc<Engine>,
    ast: AST,
}

impl Rhai {
    pub(crate) fn new(settings: &Settings<'_>) -> Result<Self, TransformError> {
        let (source, key) = match (settings.get_raw("script"), settings.get("script.file")) {
            (Some(script), None) => (script.to_owned(), "script"),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| settings.error("script.file", format!("cannot read {path}: {e}")))?;
                (text, "script.file")
            }
            (Some(_), Some(_)) => {
                return Err(settings.error("script", "give the script inline or in script.file, not both"));
            }
            (None, None) => return Err(settings.error("script", "missing: the script, or script.file")),
        };
        let mut limits = Limits::default();
        if let Some(ops) = settings.get("max.operations") {
            limits.max_operations = ops
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| settings.error("max.operations", format!("not a positive number: {ops}")))?;
        }
        let engine = script::engine(&limits);
        let ast = engine.compile(&source).map_err(|e| {
            let pos = e.position();
            settings.error(
                key,
                format!(
                    "syntax error at line {}, column {}: {}",
                    pos.line().unwrap_or(0),
                    pos.position().unwrap_or(0),
                    e.err_type()
                ),
            )
        })?;
        Ok(Self {
            engine: Arc::new(engine),
            ast,
        })
    }
}

/// The record as the script's map `r`.
fn to_script(record: &ConnectRecord) -> Result<Dynamic, String> {
    let json = |v: &Option<Value>| match v {
        None => Ok(Dynamic::UNIT),
        Some(v) => script::rhai::serde::to_dynamic(v).map_err(|e| e.to_string()),
    };
    let mut map = Map::new();
    map.insert("topic".into(), record.topic.clone().into());
    map.insert(
        "partition".into(),
        record
            .partition
            .map_or(Dynamic::UNIT, |p| Dynamic::from_int(i64::from(p))),
    );
    map.insert("key".into(), json(&record.key)?);
    map.insert("value".into(), json(&record.value)?);
    map.insert(
        "timestamp".into(),
        record.timestamp.map_or(Dynamic::UNIT, Dynamic::from_int),
    );
    map.insert("headers".into(), script::headers_to_map(&record.headers));
    Ok(Dynamic::from_map(map))
}

/// Sets `record` from the script's map (fields it lacks stay).
fn from_script(result: Dynamic, record: &mut ConnectRecord) -> Result<(), String> {
    let type_name = result.type_name();
    let Some(mut map) = result.try_cast::<Map>() else {
        return Err(format!(
            "the script must return a record map, true, false or nothing; it returned {type_name}"
        ));
    };
    let json = |v: Dynamic| -> Result<Option<Value>, String> {
        if v.is_unit() {
            return Ok(None);
        }
        script::rhai::serde::from_dynamic::<Value>(&v)
            .map(Some)
            .map_err(|e| e.to_string())
    };
    if let Some(topic) = map.remove("topic") {
        let name = topic
            .into_string()
            .map_err(|t| format!("topic must be a string, not {t}"))?;
        if name.is_empty() {
            return Err("topic must not be empty".to_owned());
        }
        record.topic = name;
    }
    if let Some(partition) = map.remove("partition") {
        record.partition = match partition.is_unit() {
            true => None,
            false => Some(
                partition
                    .as_int()
                    .ok()
                    .and_then(|p| i32::try_from(p).ok())
                    .ok_or("partition must be an integer")?,
            ),
        };
    }
    if let Some(key) = map.remove("key") {
        record.key = json(key)?;
    }
    if let Some(value) = map.remove("value") {
        record.value = json(value)?;
    }
    if let Some(ts) = map.remove("timestamp") {
        record.timestamp = match ts.is_unit() {
            true => None,
            false => Some(
                ts.as_int()
                    .map_err(|t| format!("timestamp must be an integer (ms), not {t}"))?,
            ),
        };
    }
    if let Some(headers) = map.remove("headers") {
        record.headers = script::headers_from_map(&headers)?;
    }
    Ok(())
}

impl Transform for Rhai {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let mut scope = Scope::new();
        scope.push("r", to_script(record)?);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &self.ast)
            .map_err(|e| {
                let (line, message) = script::describe(&e);
                match line {
                    Some(line) => format!("script line {line}: {message}"),
                    None => format!("script: {message}"),
                }
            })?;
        let result = match result.as_bool() {
            Ok(false) => return Ok(Outcome::Drop),
            Ok(true) => scope.remove::<Dynamic>("r").unwrap_or_default(),
            Err(_) if result.is_unit() => scope.remove::<Dynamic>("r").unwrap_or_default(),
            Err(_) => result,
        };
        from_script(result, record)?;
        Ok(Outcome::Keep)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    fn transform(script: &str) -> Result<Rhai, TransformError> {
        let config = BTreeMap::from([("transforms.t.script".to_owned(), script.to_owned())]);
        Rhai::new(&Settings::new(&config, "transforms.t."))
    }

    fn record() -> ConnectRecord {
        let mut r = ConnectRecord::new(
            "logs",
            Some(json!("k")),
            Some(json!({"level": "ERROR", "msg": "disk full"})),
        );
        r.headers.push(("host".to_owned(), Some(Bytes::from_static(b"web-1"))));
        r.timestamp = Some(42);
        r
    }

    #[test]
    fn maps_in_place_or_by_returning_a_record() {
        let t = transform(r#"r.value = #{ msg: r.value.msg, host: r.headers.host };"#).expect("compiles");
        let mut r = record();
        assert_eq!(t.apply(&mut r), Ok(Outcome::Keep));
        assert_eq!(r.value, Some(json!({"msg": "disk full", "host": "web-1"})));
        assert_eq!(
            (r.key, r.timestamp, r.topic.as_str()),
            (Some(json!("k")), Some(42), "logs")
        );

        let t = transform(r#"#{ key: (), value: r.value.level, timestamp: r.timestamp + 1 }"#).expect("compiles");
        let mut r = record();
        assert_eq!(t.apply(&mut r), Ok(Outcome::Keep));
        assert_eq!((r.key, r.value, r.timestamp), (None, Some(json!("ERROR")), Some(43)));
    }

    #[test]
    fn filters_and_reroutes() {
        let t = transform(r#"r.value.level != "DEBUG""#).expect("compiles");
        let mut r = record();
        assert_eq!(t.apply(&mut r), Ok(Outcome::Keep));
        assert_eq!(r, record());
        let mut debug = record();
        debug.value = Some(json!({"level": "DEBUG"}));
        assert_eq!(t.apply(&mut debug), Ok(Outcome::Drop));

        let t = transform(r#"r.topic = "logs-" + r.value.level.to_lower(); true"#).expect("compiles");
        let mut r = record();
        assert_eq!(t.apply(&mut r), Ok(Outcome::Keep));
        assert_eq!(r.topic, "logs-error");
    }

    #[test]
    fn errors_name_the_line_and_bad_configs_the_key() {
        let t = transform("let x = 1;\nr.value.msg.len() + r.nope.len()").expect("compiles");
        let err = t.apply(&mut record()).expect_err("no such property");
        assert!(err.starts_with("script line 2: "), "{err}");
        let t = transform("42").expect("compiles");
        assert_eq!(
            t.apply(&mut record()),
            Err("the script must return a record map, true, false or nothing; it returned i64".to_owned())
        );
        let err = transform("r.value = ;").expect_err("syntax error");
        assert!(
            err.to_string()
                .starts_with("invalid configuration `transforms.t.script`: syntax error at line 1, column 11"),
            "{err}"
        );
        let config = BTreeMap::from([("transforms.t.max.operations".to_owned(), "0".to_owned())]);
        let err = Rhai::new(&Settings::new(&config, "transforms.t.")).expect_err("no script");
        assert_eq!(
            err.to_string(),
            "invalid configuration `transforms.t.script`: missing: the script, or script.file"
        );
    }

    #[test]
    fn a_runaway_script_is_stopped() {
        let config = BTreeMap::from([
            (
                "transforms.t.script".to_owned(),
                "let n = 0;\nloop { n += 1; }".to_owned(),
            ),
            ("transforms.t.max.operations".to_owned(), "10000".to_owned()),
        ]);
        let t = Rhai::new(&Settings::new(&config, "transforms.t.")).expect("compiles");
        let err = t.apply(&mut record()).expect_err("stopped");
        assert!(err.starts_with("script line 2: too many operations"), "{err}");
    }
}

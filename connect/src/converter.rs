//! Converters between a topic's bytes and Connect's JSON values (`key.converter`,
//! `value.converter`), as Kafka Connect's JsonConverter and StringConverter.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

use crate::error::ConnectError;

/// How keys or values are turned into bytes and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converter {
    /// JSON text; with `schemas.enable=true` wrapped as `{"schema": .., "payload": ..}`.
    Json {
        /// Whether the schema/payload envelope is written and expected.
        schemas: bool,
    },
    /// Text as is (a value that is not a string is written as its JSON text).
    String,
}

impl Converter {
    /// The converter `<prefix>` (`key.converter` or `value.converter`) of `config`, or `default`.
    pub fn from_config(
        config: &BTreeMap<String, String>,
        prefix: &str,
        default: Converter,
    ) -> Result<Self, ConnectError> {
        let Some(class) = config.get(prefix).map(|c| c.trim()).filter(|c| !c.is_empty()) else {
            return Ok(default);
        };
        let short = class.rsplit('.').next().unwrap_or(class);
        match short {
            "JsonConverter" | "json" => {
                let key = format!("{prefix}.schemas.enable");
                let schemas = match config.get(&key).map(String::as_str) {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(other) => {
                        return Err(ConnectError::Config {
                            key,
                            reason: format!("{other}: not true or false"),
                        });
                    }
                };
                Ok(Self::Json { schemas })
            }
            "StringConverter" | "string" => Ok(Self::String),
            _ => Err(ConnectError::Config {
                key: prefix.to_owned(),
                reason: format!("{class}: not a known converter (JsonConverter, StringConverter)"),
            }),
        }
    }

    /// The bytes of `value` (`None` stays null).
    pub fn encode(self, value: Option<&Value>) -> Option<Bytes> {
        let value = value?;
        Some(match self {
            Self::Json { schemas: false } => Bytes::from(value.to_string()),
            Self::Json { schemas: true } => {
                Bytes::from(serde_json::json!({ "schema": null, "payload": value }).to_string())
            }
            Self::String => match value {
                Value::String(s) => Bytes::from(s.clone()),
                other => Bytes::from(other.to_string()),
            },
        })
    }

    /// The value of `bytes` (`None` stays null); an error says why the bytes are not valid.
    pub fn decode(self, bytes: Option<&[u8]>) -> Result<Option<Value>, String> {
        let Some(bytes) = bytes else { return Ok(None) };
        match self {
            Self::Json { schemas } => {
                let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
                match (schemas, value) {
                    (true, Value::Object(mut envelope)) if envelope.contains_key("payload") => {
                        Ok(envelope.remove("payload").filter(|p| !p.is_null()))
                    }
                    (true, _) => Err("not a JSON {\"schema\", \"payload\"} envelope (schemas.enable=true)".to_owned()),
                    (false, value) => Ok(Some(value)),
                }
            }
            Self::String => Ok(Some(Value::String(String::from_utf8_lossy(bytes).into_owned()))),
        }
    }
}

//! The header transforms: `InsertHeader`, `DropHeaders`, and `HeaderFrom$Key` / `$Value` (fields
//! copied or moved into headers).

use bytes::Bytes;
use serde_json::Value;

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform, object_mut};
use crate::record::ConnectRecord;

/// `InsertHeader`: adds header `header` with the text of `value.literal`.
#[derive(Debug)]
pub(crate) struct InsertHeader {
    name: String,
    value: Bytes,
}

impl InsertHeader {
    pub(crate) fn new(settings: &Settings<'_>) -> Result<Self, TransformError> {
        let value = settings.get_raw("value.literal").ok_or_else(|| {
            settings.error(
                "value.literal",
                "missing required configuration, which has no default value",
            )
        })?;
        Ok(Self {
            name: settings.required("header")?.to_owned(),
            value: Bytes::copy_from_slice(value.as_bytes()),
        })
    }
}

impl Transform for InsertHeader {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        record.headers.push((self.name.clone(), Some(self.value.clone())));
        Ok(Outcome::Keep)
    }
}

/// `DropHeaders`: removes every header named in `headers`.
#[derive(Debug)]
pub(crate) struct DropHeaders {
    names: Vec<String>,
}

impl DropHeaders {
    pub(crate) fn new(settings: &Settings<'_>) -> Result<Self, TransformError> {
        Ok(Self {
            names: settings.required_list("headers")?,
        })
    }
}

impl Transform for DropHeaders {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        record.headers.retain(|(name, _)| !self.names.contains(name));
        Ok(Outcome::Keep)
    }
}

/// `HeaderFrom$Key` / `$Value`: `fields[i]` of an object key or value becomes header
/// `headers[i]`, copied or moved (`operation`). A string becomes its text, null or a missing
/// field a null header, anything else its JSON text.
#[derive(Debug)]
pub(crate) struct HeaderFrom {
    part: Part,
    mappings: Vec<(String, String)>,
    remove: bool,
}

impl HeaderFrom {
    pub(crate) fn new(settings: &Settings<'_>, part: Part) -> Result<Self, TransformError> {
        let fields = settings.required_list("fields")?;
        let headers = settings.required_list("headers")?;
        if fields.len() != headers.len() {
            return Err(settings.error(
                "headers",
                format!(
                    "has {} names but `fields` has {}: they must be the same length",
                    headers.len(),
                    fields.len()
                ),
            ));
        }
        let remove = match settings.required("operation")? {
            "copy" => false,
            "move" => true,
            other => return Err(settings.error("operation", format!("expected copy or move, got `{other}`"))),
        };
        Ok(Self {
            part,
            mappings: fields.into_iter().zip(headers).collect(),
            remove,
        })
    }
}

impl Transform for HeaderFrom {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let ConnectRecord {
            key, value, headers, ..
        } = record;
        let slot = match self.part {
            Part::Key => key,
            Part::Value => value,
        };
        let Some(map) = object_mut(slot, self.part, "copying fields to headers")? else {
            return Ok(Outcome::Keep);
        };
        for (field, header) in &self.mappings {
            let bytes = if self.remove {
                map.remove(field).and_then(header_bytes)
            } else {
                map.get(field).and_then(header_bytes_of)
            };
            headers.push((header.clone(), bytes));
        }
        Ok(Outcome::Keep)
    }
}

fn header_bytes(value: Value) -> Option<Bytes> {
    match value {
        Value::String(s) => Some(Bytes::from(s)),
        other => header_bytes_of(&other),
    }
}

fn header_bytes_of(value: &Value) -> Option<Bytes> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        other => Some(Bytes::from(other.to_string())),
    }
}

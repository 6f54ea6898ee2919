//! How a script's keys and values cross topics: [`Format`]s between record bytes and rhai values.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use rhai::{Blob, Dynamic, ImmutableString};

use crate::serde::{Serde, SerdeError};

/// How a key or value is read from and written to a topic.
///
/// | format | read | written |
/// |---|---|---|
/// | `auto` (default) | a JSON object or array as a map or array, other UTF-8 as a string, else a blob | strings and blobs as they are, anything else as JSON |
/// | `json` | JSON (numbers, strings, ... as such) | JSON |
/// | `string` | UTF-8 | strings as they are, anything else as JSON |
/// | `bytes` | a blob | blobs and strings as they are |
///
/// A null key or value is `()`, and `()` is written as null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON objects and arrays decoded, anything else a string (or bytes).
    #[default]
    Auto,
    /// JSON.
    Json,
    /// UTF-8 text.
    String,
    /// Raw bytes (a rhai `Blob`).
    Bytes,
}

impl Format {
    /// The format's name, as scripts and the command line spell it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Json => "json",
            Format::String => "string",
            Format::Bytes => "bytes",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Format::Auto),
            "json" => Ok(Format::Json),
            "string" => Ok(Format::String),
            "bytes" => Ok(Format::Bytes),
            other => Err(format!(
                "unknown format {other:?} (expected auto, json, string or bytes)"
            )),
        }
    }
}

/// `value` as JSON bytes.
pub fn to_json(value: &Dynamic) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}

/// The rhai value of JSON `bytes`.
pub fn from_json(bytes: &[u8]) -> Result<Dynamic, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// The bytes of a string or blob, as they are.
pub(crate) fn raw_bytes(value: &Dynamic) -> Option<Bytes> {
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Some(Bytes::copy_from_slice(s.as_bytes()));
    }
    value.read_lock::<Blob>().map(|b| Bytes::copy_from_slice(&b))
}

fn json_bytes(format: Format, value: &Dynamic) -> Result<Option<Bytes>, SerdeError> {
    to_json(value)
        .map(|b| Some(Bytes::from(b)))
        .map_err(|e| SerdeError::new(format.name(), e))
}

impl Serde<Dynamic> for Format {
    fn serialize(&self, value: &Dynamic) -> Result<Option<Bytes>, SerdeError> {
        if value.is_unit() {
            return Ok(None);
        }
        match self {
            Format::Json => json_bytes(*self, value),
            Format::Auto | Format::String => match raw_bytes(value) {
                Some(bytes) if !value.is_blob() || *self == Format::Auto => Ok(Some(bytes)),
                _ => json_bytes(*self, value),
            },
            Format::Bytes => raw_bytes(value).map(Some).ok_or_else(|| {
                SerdeError::new(
                    "bytes",
                    format!("a {} is neither a blob nor a string", value.type_name()),
                )
            }),
        }
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Dynamic, SerdeError> {
        let Some(bytes) = bytes else {
            return Ok(Dynamic::UNIT);
        };
        match self {
            Format::Json => from_json(bytes).map_err(|e| SerdeError::new("json", e)),
            Format::String => std::str::from_utf8(bytes)
                .map(|s| Dynamic::from(ImmutableString::from(s)))
                .map_err(|e| SerdeError::new("string", e)),
            Format::Bytes => Ok(Dynamic::from_blob(bytes.to_vec())),
            Format::Auto => {
                let structured = matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['));
                if structured && let Ok(value) = from_json(bytes) {
                    return Ok(value);
                }
                Ok(match std::str::from_utf8(bytes) {
                    Ok(s) => Dynamic::from(ImmutableString::from(s)),
                    Err(_) => Dynamic::from_blob(bytes.to_vec()),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(format: Format, bytes: &[u8]) -> (String, Option<Bytes>) {
        let value = format.deserialize(Some(bytes)).expect("readable");
        let back = format.serialize(&value).expect("writable");
        (value.type_name().to_owned(), back)
    }

    #[test]
    fn auto_reads_objects_and_arrays_as_json_and_the_rest_as_text() {
        let (kind, back) = round(Format::Auto, br#"{"level":"ERROR","n":3}"#);
        assert_eq!(kind, "map");
        assert_eq!(back.as_deref(), Some(&br#"{"level":"ERROR","n":3}"#[..]));
        let (kind, back) = round(Format::Auto, b"42");
        assert_eq!((kind.as_str(), back.as_deref()), ("string", Some(&b"42"[..])));
        let (kind, back) = round(Format::Auto, b"{not json");
        assert_eq!((kind.as_str(), back.as_deref()), ("string", Some(&b"{not json"[..])));
        let (kind, back) = round(Format::Auto, &[0xff, 0x00]);
        assert_eq!((kind.as_str(), back.as_deref()), ("blob", Some(&[0xff, 0x00][..])));
    }

    #[test]
    fn json_keeps_types_and_null_is_unit() {
        let value = Format::Json.deserialize(Some(b"42")).expect("json");
        assert_eq!(value.as_int(), Ok(42));
        assert!(Format::Json.deserialize(None).expect("null").is_unit());
        assert_eq!(Format::Json.serialize(&Dynamic::UNIT).expect("null"), None);
        assert_eq!(
            Format::Json.serialize(&Dynamic::from("a")).expect("json").as_deref(),
            Some(&b"\"a\""[..])
        );
        let err = Format::Json.deserialize(Some(b"{")).expect_err("bad json");
        assert_eq!(err.serde, "json");
    }

    #[test]
    fn string_and_bytes() {
        assert!(Format::String.deserialize(Some(&[0xff])).is_err());
        assert_eq!(
            Format::String
                .serialize(&Dynamic::from(7_i64))
                .expect("text")
                .as_deref(),
            Some(&b"7"[..])
        );
        let blob = Format::Bytes.deserialize(Some(b"ab")).expect("bytes");
        assert!(blob.is_blob());
        assert!(Format::Bytes.serialize(&Dynamic::from(1_i64)).is_err());
        assert_eq!(
            "xml".parse::<Format>().expect_err("unknown"),
            "unknown format \"xml\" (expected auto, json, string or bytes)"
        );
    }
}

//! What every transform implements, and the helpers they share for keys and values.

use std::fmt;

use serde_json::{Map, Value};

use crate::record::ConnectRecord;

/// One configured single-message transform. It changes the record in place; an `Err` is the
/// reason it could not handle this record (the chain adds the alias and type).
pub(crate) trait Transform: fmt::Debug + Send + Sync {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String>;
}

/// What happens to the record after a transform ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Goes on to the next transform.
    Keep,
    /// Dropped (`Filter`).
    Drop,
}

/// The half of a record a `$Key` or `$Value` transform works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Key,
    Value,
}

impl Part {
    pub(crate) fn of(self, record: &mut ConnectRecord) -> &mut Option<Value> {
        match self {
            Part::Key => &mut record.key,
            Part::Value => &mut record.value,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Value => "value",
        }
    }
}

/// The object in `slot`: `Ok(None)` for a null key or value (which transforms pass through),
/// an error naming `purpose` for anything else than an object.
pub(crate) fn object_mut<'v>(
    slot: &'v mut Option<Value>,
    part: Part,
    purpose: &str,
) -> Result<Option<&'v mut Map<String, Value>>, String> {
    match slot {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(not_an_object(other, part, purpose)),
    }
}

pub(crate) fn not_an_object(value: &Value, part: Part, purpose: &str) -> String {
    format!(
        "only objects are supported for {purpose} in the absence of a schema, but the {} is {}",
        part.name(),
        type_name(value)
    )
}

/// Whether a key or value is null.
pub(crate) fn is_null(slot: &Option<Value>) -> bool {
    matches!(slot, None | Some(Value::Null))
}

/// A JSON value's type, for error messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A field name as Kafka's `InsertField` takes it: a trailing `!` (required) or `?` (optional)
/// only matters with schemas, so it is dropped.
pub(crate) fn strip_optionality(field: &str) -> &str {
    field.strip_suffix(['!', '?']).unwrap_or(field)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn object_mut_passes_nulls_and_rejects_scalars() {
        let mut none = None;
        assert_eq!(object_mut(&mut none, Part::Value, "x"), Ok(None));
        let mut null = Some(Value::Null);
        assert_eq!(object_mut(&mut null, Part::Value, "x"), Ok(None));
        let mut obj = Some(json!({"a": 1}));
        assert_eq!(
            object_mut(&mut obj, Part::Key, "x").map(|m| m.map(|m| m.len())),
            Ok(Some(1))
        );
        let mut num = Some(json!(3));
        assert_eq!(
            object_mut(&mut num, Part::Key, "field insertion"),
            Err(
                "only objects are supported for field insertion in the absence of a schema, but the key is a number"
                    .into()
            )
        );
    }

    #[test]
    fn strips_optionality_markers() {
        assert_eq!(strip_optionality("a!"), "a");
        assert_eq!(strip_optionality("a?"), "a");
        assert_eq!(strip_optionality("a"), "a");
    }
}

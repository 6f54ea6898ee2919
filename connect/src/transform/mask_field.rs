//! `MaskField$Key` / `$Value`: replaces fields of an object key or value with their type's empty
//! value, or with `replacement`.

use serde_json::{Map, Number, Value};

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform, object_mut, type_name};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct MaskField {
    part: Part,
    fields: Vec<String>,
    replacement: Option<Replacement>,
}

/// `replacement`, parsed once for each type of field it may stand in for.
#[derive(Debug)]
struct Replacement {
    text: String,
    /// `None` when the text is not a number (masking a number field then fails).
    number: Option<Number>,
    /// As Java's `Boolean.parseBoolean`: `true` only for "true", any case.
    boolean: bool,
}

impl MaskField {
    pub(crate) fn new(settings: &Settings<'_>, part: Part) -> Result<Self, TransformError> {
        let replacement = settings.get("replacement").map(|text| Replacement {
            text: text.to_owned(),
            number: parse_number(text),
            boolean: text.eq_ignore_ascii_case("true"),
        });
        Ok(Self {
            part,
            fields: settings.required_list("fields")?,
            replacement,
        })
    }

    fn masked(&self, field: &str, value: &Value) -> Result<Value, String> {
        let Some(replacement) = &self.replacement else {
            return Ok(empty_like(value));
        };
        match value {
            Value::Null => Ok(Value::Null),
            Value::String(_) => Ok(Value::String(replacement.text.clone())),
            Value::Bool(_) => Ok(Value::Bool(replacement.boolean)),
            Value::Number(_) => replacement.number.clone().map(Value::Number).ok_or_else(|| {
                format!(
                    "cannot mask number field `{field}` with replacement `{}`: not a number",
                    replacement.text
                )
            }),
            Value::Array(_) | Value::Object(_) => Err(format!(
                "cannot mask field `{field}`, which is {}, with a custom replacement",
                type_name(value)
            )),
        }
    }
}

/// The type's empty value: 0, false, "", [] or {}.
fn empty_like(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::Bool(_) => Value::Bool(false),
        Value::Number(n) if n.is_f64() => Value::from(0.0),
        Value::Number(_) => Value::from(0),
        Value::String(_) => Value::String(String::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Object(_) => Value::Object(Map::new()),
    }
}

fn parse_number(text: &str) -> Option<Number> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

impl Transform for MaskField {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let Some(map) = object_mut(self.part.of(record), self.part, "masking")? else {
            return Ok(Outcome::Keep);
        };
        for field in &self.fields {
            if let Some(value) = map.get_mut(field) {
                *value = self.masked(field, value)?;
            }
        }
        Ok(Outcome::Keep)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_values_keep_the_type() {
        assert_eq!(empty_like(&json!(12)), json!(0));
        assert_eq!(empty_like(&json!(1.5)), json!(0.0));
        assert_eq!(empty_like(&json!(-3)), json!(0));
        assert_eq!(empty_like(&json!(true)), json!(false));
        assert_eq!(empty_like(&json!("x")), json!(""));
        assert_eq!(empty_like(&json!([1])), json!([]));
        assert_eq!(empty_like(&json!({"a": 1})), json!({}));
    }

    #[test]
    fn numeric_replacements_parse_as_integers_first() {
        assert_eq!(parse_number("42"), Some(Number::from(42)));
        assert_eq!(parse_number("-1.5"), Number::from_f64(-1.5));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("xx"), None);
    }
}

//! Field names and KIP-821 nested paths (`field.syntax.version=V2`): `a.b.c`, with a name that
//! holds dots wrapped in backticks (`` `a.b`.c ``) and a backtick inside one escaped as `` \` ``.

use serde_json::Value;

use super::TransformError;
use super::settings::Settings;

/// A path to a field: one name (V1), or the names down through nested objects (V2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    segments: Vec<String>,
}

impl FieldPath {
    /// Reads the path in `name`, in the syntax `field.syntax.version` (V1 or V2) asks for.
    pub(crate) fn from_settings(settings: &Settings<'_>, name: &str) -> Result<Self, TransformError> {
        let field = settings.required(name)?;
        match settings.get("field.syntax.version") {
            None => Ok(Self::single(field)),
            Some(v) if v.eq_ignore_ascii_case("V1") => Ok(Self::single(field)),
            Some(v) if v.eq_ignore_ascii_case("V2") => Self::parse_v2(field).map_err(|e| settings.error(name, e)),
            Some(v) => Err(settings.error("field.syntax.version", format!("expected V1 or V2, got `{v}`"))),
        }
    }

    pub(crate) fn single(name: &str) -> Self {
        Self {
            segments: vec![name.to_owned()],
        }
    }

    pub(crate) fn parse_v2(path: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut chars = path.chars().peekable();
        loop {
            let mut segment = String::new();
            if chars.peek() == Some(&'`') {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err(format!("unclosed backtick in field path \"{path}\"")),
                        Some('\\') if chars.peek() == Some(&'`') => {
                            chars.next();
                            segment.push('`');
                        }
                        Some('`') if matches!(chars.peek(), None | Some('.')) => break,
                        Some(c) => segment.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    segment.push(c);
                    chars.next();
                }
            }
            segments.push(segment);
            match chars.next() {
                None => return Ok(Self { segments }),
                Some(_dot) => {}
            }
        }
    }

    /// Takes the field out of `value` (no copy): `Null` when it or an object on the way is missing.
    pub(crate) fn take(&self, value: Value) -> Value {
        let mut current = value;
        for segment in &self.segments {
            current = match current {
                Value::Object(mut map) => map.remove(segment).unwrap_or(Value::Null),
                _ => return Value::Null,
            };
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn segments(path: &str) -> Vec<String> {
        FieldPath::parse_v2(path).map(|p| p.segments).unwrap_or_default()
    }

    #[test]
    fn parses_dotted_and_backticked_paths() {
        assert_eq!(segments("a"), ["a"]);
        assert_eq!(segments("a.b.c"), ["a", "b", "c"]);
        assert_eq!(segments("`a.b`.c"), ["a.b", "c"]);
        assert_eq!(segments("a.`b.c`"), ["a", "b.c"]);
        assert_eq!(segments("`a\\`b`"), ["a`b"]);
        assert_eq!(segments("`a`b`"), ["a`b"]);
        assert!(FieldPath::parse_v2("`a.b").is_err());
    }

    #[test]
    fn takes_nested_values() {
        let path = FieldPath::parse_v2("a.b").expect("valid path");
        assert_eq!(path.take(json!({"a": {"b": 7}})), json!(7));
        assert_eq!(path.take(json!({"a": 1})), Value::Null);
        assert_eq!(path.take(json!({"x": 1})), Value::Null);
        assert_eq!(FieldPath::single("a.b").take(json!({"a.b": 2})), json!(2));
    }
}

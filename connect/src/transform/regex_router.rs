//! `RegexRouter`: renames the topic when it fully matches `regex`, to `replacement` with `$1`
//! group references.

use regex::Regex;

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Transform};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct RegexRouter {
    regex: Regex,
    /// In `regex`'s replacement syntax (`${1}`, `$$`).
    replacement: String,
}

impl RegexRouter {
    pub(crate) fn new(settings: &Settings<'_>) -> Result<Self, TransformError> {
        let regex = full_match(settings, "regex", settings.required("regex")?)?;
        let replacement = settings.get_raw("replacement").ok_or_else(|| {
            settings.error(
                "replacement",
                "missing required configuration, which has no default value",
            )
        })?;
        let replacement =
            java_replacement(replacement, regex.captures_len() - 1).map_err(|e| settings.error("replacement", e))?;
        Ok(Self { regex, replacement })
    }
}

impl Transform for RegexRouter {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        if let Some(captures) = self.regex.captures(&record.topic) {
            let mut topic = String::with_capacity(record.topic.len() + self.replacement.len());
            captures.expand(&self.replacement, &mut topic);
            record.topic = topic;
        }
        Ok(Outcome::Keep)
    }
}

/// Compiles `pattern` to match whole strings only, as Java's `Matcher.matches()`.
pub(crate) fn full_match(settings: &Settings<'_>, name: &str, pattern: &str) -> Result<Regex, TransformError> {
    Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(|e| settings.error(name, format!("invalid regex: {e}")))
}

/// Translates a Java `Matcher.replaceFirst` replacement (`$1`, `${name}`, `\$`) to `regex`'s.
/// As in Java, `$12` is group 12 only if there are 12 groups, else group 1 then "2".
fn java_replacement(java: &str, groups: usize) -> Result<String, String> {
    let mut out = String::with_capacity(java.len() + 8);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(escaped) => out.push(escaped),
                None => return Err("character to be escaped is missing at the end".into()),
            },
            '$' => match chars.next() {
                Some('{') => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(n) if n.is_ascii_alphanumeric() => name.push(n),
                            _ => return Err(format!("invalid named group reference in `{java}`")),
                        }
                    }
                    if name.is_empty() || name.starts_with(|n: char| n.is_ascii_digit()) {
                        return Err(format!("invalid named group reference in `{java}`"));
                    }
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut group = d as usize - '0' as usize;
                    if group > groups {
                        return Err(format!("no group {group} in the regex, which has {groups}"));
                    }
                    while let Some(next) = chars.peek().and_then(|n| n.to_digit(10)) {
                        let longer = group * 10 + next as usize;
                        if longer > groups {
                            break;
                        }
                        group = longer;
                        chars.next();
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                _ => {
                    return Err(format!(
                        "illegal group reference in `{java}`: `$` must be followed by a group number or {{name}}"
                    ));
                }
            },
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_java_replacements() {
        assert_eq!(java_replacement("$1-x", 1), Ok("${1}-x".into()));
        assert_eq!(java_replacement("a$12", 1), Ok("a${1}2".into()));
        assert_eq!(java_replacement("a$12", 12), Ok("a${12}".into()));
        assert_eq!(java_replacement("${name}_\\$\\\\", 1), Ok("${name}_$$\\".into()));
        assert_eq!(java_replacement("plain", 0), Ok("plain".into()));
        assert_eq!(
            java_replacement("$2", 1),
            Err("no group 2 in the regex, which has 1".into())
        );
        assert!(java_replacement("$x", 1).is_err());
        assert!(java_replacement("end\\", 1).is_err());
    }
}

//! Reading one transform's or predicate's keys out of a connector's flat config.

use std::collections::BTreeMap;

use super::TransformError;

/// The keys under one prefix (`transforms.<alias>.` or `predicates.<alias>.`). Values are trimmed,
/// as Kafka's `ConfigDef` does, and an empty value counts as unset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings<'a> {
    config: &'a BTreeMap<String, String>,
    prefix: &'a str,
}

impl<'a> Settings<'a> {
    pub(crate) fn new(config: &'a BTreeMap<String, String>, prefix: &'a str) -> Self {
        Self { config, prefix }
    }

    /// The full key of `name`, as error messages name it.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A config error about `name`.
    pub(crate) fn error(&self, name: &str, reason: impl Into<String>) -> TransformError {
        TransformError::Config {
            key: self.key(name),
            reason: reason.into(),
        }
    }

    /// The trimmed value of `name`, `None` when unset or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.config
            .get(&self.key(name))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The trimmed value of `name`, possibly empty, `None` only when the key is absent.
    pub(crate) fn get_raw(&self, name: &str) -> Option<&'a str> {
        self.config.get(&self.key(name)).map(|v| v.trim())
    }

    pub(crate) fn required(&self, name: &str) -> Result<&'a str, TransformError> {
        self.get(name)
            .ok_or_else(|| self.error(name, "missing required configuration, which has no default value"))
    }

    /// A comma-separated list, entries trimmed and empty ones dropped.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.get(name).map(split_list).unwrap_or_default()
    }

    pub(crate) fn required_list(&self, name: &str) -> Result<Vec<String>, TransformError> {
        let list = self.list(name);
        if list.is_empty() {
            return Err(self.error(
                name,
                "missing required configuration: a comma-separated list of at least one name",
            ));
        }
        Ok(list)
    }

    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, TransformError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(self.error(name, format!("expected true or false, got `{v}`"))),
        }
    }
}

/// Splits a Kafka `LIST` value: comma-separated, entries trimmed, empty entries dropped.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trimmed_values_lists_and_booleans() {
        let config: BTreeMap<String, String> = [
            ("transforms.a.x", "  v "),
            ("transforms.a.empty", " "),
            ("transforms.a.list", " a, b ,,c "),
            ("transforms.a.flag", "TRUE"),
            ("transforms.a.bad", "yes"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = Settings::new(&config, "transforms.a.");
        assert_eq!(s.get("x"), Some("v"));
        assert_eq!(s.get("empty"), None);
        assert_eq!(s.get_raw("empty"), Some(""));
        assert_eq!(s.list("list"), ["a", "b", "c"]);
        assert_eq!(s.bool("flag", false), Ok(true));
        assert_eq!(s.bool("missing", true), Ok(true));
        assert_eq!(
            s.bool("bad", false),
            Err(TransformError::Config {
                key: "transforms.a.bad".into(),
                reason: "expected true or false, got `yes`".into()
            })
        );
        assert!(matches!(s.required("empty"), Err(TransformError::Config { key, .. }) if key == "transforms.a.empty"));
    }
}

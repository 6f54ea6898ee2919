//! Layered broker configuration: defaults → TOML file → environment → `--set` flags.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::broker::UNIT_ALIASES;
use super::{BrokerConfig, ConfigError, IGNORED_KAFKA_KEYS};

/// Prefix of environment variables that set broker keys: `RILL_BROKER_NUM_PARTITIONS=3` sets
/// `num.partitions`.
pub const ENV_PREFIX: &str = "RILL_BROKER_";

/// The environment variable that sets `key`.
pub fn env_var_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Where broker settings come from, lowest precedence first.
#[derive(Debug, Default, Clone)]
pub struct ConfigSources {
    /// A TOML file; keys may be quoted (`"log.retention.ms" = 1000`) or dotted tables.
    pub file: Option<PathBuf>,
    /// Environment variables (all of them; only `RILL_BROKER_*` are read).
    pub env: Vec<(String, String)>,
    /// `key=value` pairs from the command line, applied last.
    pub sets: Vec<String>,
}

/// A loaded configuration and the keys that were accepted but ignored.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: BrokerConfig,
    /// Kafka keys that Rill accepts and ignores, for a warning.
    pub ignored: Vec<String>,
}

impl ConfigSources {
    /// Reads every source, applies them in order and validates the result.
    pub fn load(&self) -> Result<Loaded, ConfigError> {
        let mut pairs: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            flatten("", &toml::Value::Table(table), &mut pairs);
        }
        let env_keys = known_env_names();
        for (name, value) in &self.env {
            if !name.starts_with(ENV_PREFIX) {
                continue;
            }
            let key = env_keys
                .get(name)
                .ok_or_else(|| ConfigError::UnknownKey { key: name.clone() })?;
            pairs.insert((*key).to_owned(), value.clone());
        }
        for arg in &self.sets {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| ConfigError::NotKeyValue { arg: arg.clone() })?;
            pairs.insert(key.trim().to_owned(), value.to_owned());
        }
        let mut config = BrokerConfig::default();
        let mut ignored = Vec::new();
        // Unit aliases first, least precise first, so that the precise key wins when both are set.
        for (alias, target, factor) in UNIT_ALIASES.iter().rev() {
            if let Some(raw) = pairs.remove(*alias) {
                if pairs.contains_key(*target) {
                    continue;
                }
                let value = if *factor == 0 {
                    raw
                } else {
                    let n: i64 = raw.trim().parse().map_err(|_| ConfigError::BadValue {
                        key: (*alias).to_owned(),
                        value: raw.clone(),
                        expected: "a 64-bit integer".to_owned(),
                    })?;
                    n.saturating_mul(*factor).to_string()
                };
                config.set(target, &value)?;
            }
        }
        for (key, value) in &pairs {
            if IGNORED_KAFKA_KEYS.contains(&key.as_str()) {
                ignored.push(key.clone());
            } else if !config.set(key, value)? {
                return Err(ConfigError::UnknownKey { key: key.clone() });
            }
        }
        Ok(Loaded {
            config: config.validate()?,
            ignored,
        })
    }
}

fn known_env_names() -> BTreeMap<String, &'static str> {
    BrokerConfig::KEYS
        .iter()
        .map(|k| k.name)
        .chain(UNIT_ALIASES.iter().map(|(alias, _, _)| *alias))
        .chain(IGNORED_KAFKA_KEYS.iter().copied())
        .map(|key| (env_var_name(key), key))
        .collect()
}

/// Turns nested TOML tables into dotted keys, since `log.retention.ms = 1` in TOML is a table path.
fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
    let rendered = match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
            return;
        }
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    out.insert(prefix.to_owned(), rendered);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(file.path(), text).expect("write");
        file
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let file = write("num.partitions = 2\n\"log.segment.bytes\" = 4096\nlog.retention.hours = 1\n");
        let sources = ConfigSources {
            file: Some(file.path().to_owned()),
            env: vec![
                ("RILL_BROKER_NUM_PARTITIONS".into(), "5".into()),
                ("PATH".into(), "/bin".into()),
                ("RILL_LOG".into(), "debug".into()),
            ],
            sets: vec!["log.segment.bytes=8192".into()],
        };
        let config = sources.load().expect("valid").config;
        assert_eq!(config.num_partitions, 5);
        assert_eq!(config.log_segment_bytes, 8192);
        assert_eq!(config.log_retention_ms, 3_600_000);
    }

    #[test]
    fn precise_unit_wins_over_coarse_alias() {
        let sources = ConfigSources {
            sets: vec!["log.retention.ms=5".into(), "log.retention.hours=2".into()],
            ..Default::default()
        };
        assert_eq!(sources.load().expect("valid").config.log_retention_ms, 5);
    }

    #[test]
    fn errors_name_the_key_or_variable() {
        let err = ConfigSources {
            sets: vec!["num.partitions=x".into()],
            ..Default::default()
        }
        .load()
        .expect_err("bad");
        assert!(err.to_string().contains("num.partitions"), "{err}");
        let err = ConfigSources {
            env: vec![("RILL_BROKER_NUM_PARTITONS".into(), "1".into())],
            ..Default::default()
        }
        .load()
        .expect_err("typo");
        assert!(err.to_string().contains("RILL_BROKER_NUM_PARTITONS"), "{err}");
        let file = write("nonsense.key = 1\n");
        let err = ConfigSources {
            file: Some(file.path().to_owned()),
            ..Default::default()
        }
        .load()
        .expect_err("unknown");
        assert!(err.to_string().contains("nonsense.key"), "{err}");
        let file = write("num.partitions = [");
        let err = ConfigSources {
            file: Some(file.path().to_owned()),
            ..Default::default()
        }
        .load()
        .expect_err("toml");
        assert!(matches!(err, ConfigError::File { .. }), "{err}");
    }

    #[test]
    fn kafka_only_keys_are_ignored_with_a_report() {
        let loaded = ConfigSources {
            sets: vec!["num.io.threads=8".into()],
            ..Default::default()
        }
        .load()
        .expect("ok");
        assert_eq!(loaded.ignored, vec!["num.io.threads".to_owned()]);
    }
}

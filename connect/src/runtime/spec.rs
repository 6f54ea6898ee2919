//! A connector's configuration, checked and parsed: what its tasks run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::errors::ErrorPolicy;
use super::plugin::Plugin;
use crate::converter::Converter;
use crate::db::{DbSinkConfig, DbSourceConfig};
use crate::error::ConnectError;
use crate::file::{FileSinkConfig, FileSourceConfig};
use crate::transform::TransformChain;

/// A connector's flat configuration, as Kafka Connect's REST API takes it.
pub type Config = BTreeMap<String, String>;

/// What a plugin's tasks are given.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    FileSource(Arc<FileSourceConfig>),
    FileSink(FileSinkConfig),
    /// One config per task (tables shared out between tasks).
    JdbcSource(Vec<DbSourceConfig>),
    JdbcSink(DbSinkConfig),
}

/// A connector's configuration, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) plugin: Plugin,
    pub(crate) job: Job,
    /// Each task's configuration (as `GET /connectors/{name}/tasks` shows it).
    pub(crate) task_configs: Vec<Config>,
    pub(crate) transforms: TransformChain,
    pub(crate) key_converter: Converter,
    pub(crate) value_converter: Converter,
    pub(crate) errors: ErrorPolicy,
    /// Sinks: the topics consumed.
    pub(crate) topics: Vec<String>,
    pub(crate) backoff: Duration,
    pub(crate) backoff_max: Duration,
}

pub(crate) fn config_error(key: &str, reason: impl Into<String>) -> ConnectError {
    ConnectError::Config {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// A comma-separated list, trimmed, without empty items.
pub(crate) fn list(config: &Config, key: &str) -> Vec<String> {
    config
        .get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn millis(config: &Config, key: &str, default: u64) -> Result<Duration, ConnectError> {
    match config.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => v
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| config_error(key, format!("{v} is not a number of milliseconds"))),
    }
}

pub(crate) fn boolean(config: &Config, key: &str, default: bool) -> Result<bool, ConnectError> {
    match config.get(key).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(config_error(key, format!("{v} is not true or false"))),
    }
}

/// Shares `items` out round-robin between at most `tasks` groups (none empty).
fn share<T: Clone>(items: &[T], tasks: usize) -> Vec<Vec<T>> {
    let groups = tasks.clamp(1, items.len().max(1));
    let mut out = vec![Vec::new(); groups];
    for (i, item) in items.iter().enumerate() {
        out[i % groups].push(item.clone());
    }
    out
}

impl Spec {
    /// Checks and parses `config`; the error names the key at fault.
    pub(crate) fn parse(config: &Config) -> Result<Self, ConnectError> {
        let name = config
            .get("name")
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| config_error("name", "missing"))?
            .clone();
        let class = config
            .get("connector.class")
            .ok_or_else(|| config_error("connector.class", "missing"))?;
        let plugin = Plugin::from_class(class).ok_or_else(|| {
            config_error(
                "connector.class",
                format!("{class}: no such connector plugin (see GET /connector-plugins)"),
            )
        })?;
        let tasks_max: usize = match config.get("tasks.max").map(|v| v.trim()) {
            None | Some("") => 1,
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| config_error("tasks.max", format!("{v} is not a number of tasks (at least 1)")))?,
        };
        let transforms = TransformChain::from_config(config).map_err(ConnectError::from)?;
        let string = Converter::String;
        let json = Converter::Json { schemas: false };
        // Lines are text, rows and sink values JSON, as users of each expect by default.
        let (key_default, value_default) = match plugin {
            Plugin::FileSource => (string, string),
            Plugin::FileSink => (string, string),
            Plugin::JdbcSource | Plugin::JdbcSink => (json, json),
        };
        let key_converter = Converter::from_config(config, "key.converter", key_default)?;
        let value_converter = Converter::from_config(config, "value.converter", value_default)?;
        let errors = ErrorPolicy::from_config(config)?;
        let topics = list(config, "topics");
        if plugin.kind() == super::plugin::PluginType::Sink && topics.is_empty() {
            return Err(config_error("topics", "a sink needs the topics it consumes"));
        }
        let mut task_configs = Vec::new();
        let job = match plugin {
            Plugin::FileSource => {
                let mut config = config.clone();
                // Kafka's FileStreamSource names one file with `file`.
                if let Some(file) = config.get("file").cloned() {
                    config.entry("file.include".to_owned()).or_insert(file);
                }
                task_configs.push(config.clone());
                Job::FileSource(Arc::new(FileSourceConfig::from_config(&config)?))
            }
            Plugin::FileSink => {
                task_configs.extend(std::iter::repeat_n(config.clone(), tasks_max));
                Job::FileSink(FileSinkConfig::from_config(config)?)
            }
            Plugin::JdbcSource => {
                let tables_key = if config.contains_key("table.include.list") {
                    "table.include.list"
                } else {
                    "table.whitelist"
                };
                let tables = list(config, tables_key);
                let mut per_task = Vec::new();
                if tables.is_empty() {
                    task_configs.push(config.clone());
                } else {
                    for group in share(&tables, tasks_max) {
                        let mut task = config.clone();
                        task.remove("table.include.list");
                        task.insert("table.whitelist".to_owned(), group.join(","));
                        task_configs.push(task);
                    }
                }
                for task in &task_configs {
                    per_task.push(DbSourceConfig::from_config(task).map_err(ConnectError::from)?);
                }
                Job::JdbcSource(per_task)
            }
            Plugin::JdbcSink => {
                task_configs.extend(std::iter::repeat_n(config.clone(), tasks_max));
                Job::JdbcSink(DbSinkConfig::from_config(config).map_err(ConnectError::from)?)
            }
        };
        Ok(Self {
            name,
            plugin,
            job,
            task_configs,
            transforms,
            key_converter,
            value_converter,
            errors,
            topics,
            backoff: millis(config, "task.restart.backoff.ms", 1_000)?,
            backoff_max: millis(config, "task.restart.backoff.max.ms", 60_000)?,
        })
    }

    /// How many tasks it runs.
    pub(crate) fn tasks(&self) -> usize {
        self.task_configs.len()
    }
}

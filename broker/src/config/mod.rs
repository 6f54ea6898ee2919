//! Broker and topic configuration under Kafka's names.
//!
//! Broker settings layer as defaults → TOML file → `RILL_BROKER_*` environment → command-line
//! `--set key=value`, and are validated once at start with errors that name the key. Topic settings
//! default to their broker synonyms (`retention.ms` ← `log.retention.ms`) and may be overridden per
//! topic at creation or with AlterConfigs.

mod broker;
mod source;
mod topic;
mod value;

pub use broker::{BrokerConfig, IGNORED_KAFKA_KEYS};
pub use rill_client::config::ConfigError;
pub use rill_client::config::{ConfigType, KeyInfo};
pub use source::{ConfigSources, ENV_PREFIX, Loaded, env_var_name};
pub use topic::{CleanupPolicy, TopicConfig, TopicConfigKey};
pub use value::TimestampType;

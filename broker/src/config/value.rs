//! Broker-specific configuration value types; the generic machinery lives in
//! `rill_client::config`.

pub(crate) use rill_client::config::{ConfigType, ConfigValue, any, at_least, between};
pub(crate) use rill_client::config_table;

use super::ConfigError;

/// Which clock stamps appended records (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    CreateTime,
    /// Overwrite with the broker's clock at append.
    LogAppendTime,
}

impl ConfigValue for TimestampType {
    const TYPE: ConfigType = ConfigType::String;
    fn parse(key: &str, raw: &str) -> Result<Self, ConfigError> {
        match raw.trim() {
            "CreateTime" => Ok(Self::CreateTime),
            "LogAppendTime" => Ok(Self::LogAppendTime),
            _ => Err(ConfigError::BadValue {
                key: key.to_owned(),
                value: raw.to_owned(),
                expected: "CreateTime or LogAppendTime".to_owned(),
            }),
        }
    }
    fn render(&self) -> String {
        match self {
            Self::CreateTime => "CreateTime",
            Self::LogAppendTime => "LogAppendTime",
        }
        .to_owned()
    }
}

/// `compression.type`: only `producer` (store batches as producers compressed them) is supported.
pub(crate) fn producer_compression_only(key: &str, value: &String) -> Result<(), ConfigError> {
    if value == "producer" {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key: key.to_owned(),
            value: value.clone(),
            reason: "only `producer` is supported: batches are stored as producers compressed them".to_owned(),
        })
    }
}

//! A consumer's configuration: the shared client settings and the consumer's own, validated
//! together.

use std::time::Duration;

use crate::config::{CommonConfig, ConfigError, ConsumerSettings, apply, assignor_name};

/// Where a partition without a committed offset starts (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The log start.
    Earliest,
    /// The log end: only records produced from now on.
    Latest,
    /// Fail the poll.
    None,
}

/// Which records a fetch may return (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// Everything up to the high watermark, aborted transactions included.
    ReadUncommitted,
    /// Up to the last stable offset, without aborted transactional records.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value of Fetch and ListOffsets.
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::ReadUncommitted => 0,
            Self::ReadCommitted => 1,
        }
    }
}

/// A consumer's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerConfig {
    /// Connection settings.
    pub common: CommonConfig,
    /// Consumer settings.
    pub consumer: ConsumerSettings,
}

impl ConsumerConfig {
    /// From Kafka property names; an unknown or invalid property, or settings that contradict each
    /// other, are an error naming the key.
    pub fn from_properties<'a>(properties: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let map = crate::config::properties(properties);
        apply(&map, &mut config.common, |k, v| config.consumer.set(k, v))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that depend on each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.consumer;
        if c.heartbeat_interval_ms >= c.session_timeout_ms {
            return Err(ConfigError::Invalid {
                key: "heartbeat.interval.ms".to_owned(),
                value: c.heartbeat_interval_ms.to_string(),
                reason: format!("must be below session.timeout.ms ({})", c.session_timeout_ms),
            });
        }
        Ok(())
    }

    /// The group, if `group.id` is set.
    pub fn group_id(&self) -> Option<&str> {
        Some(self.consumer.group_id.as_str()).filter(|g| !g.is_empty())
    }

    /// The static member id, if `group.instance.id` is set.
    pub fn group_instance_id(&self) -> Option<&str> {
        Some(self.consumer.group_instance_id.as_str()).filter(|g| !g.is_empty())
    }

    /// `auto.offset.reset`.
    pub fn offset_reset(&self) -> OffsetReset {
        match self.consumer.auto_offset_reset.as_str() {
            "earliest" => OffsetReset::Earliest,
            "none" => OffsetReset::None,
            _ => OffsetReset::Latest,
        }
    }

    /// `isolation.level`.
    pub fn isolation(&self) -> IsolationLevel {
        match self.consumer.isolation_level.as_str() {
            "read_committed" => IsolationLevel::ReadCommitted,
            _ => IsolationLevel::ReadUncommitted,
        }
    }

    /// The assignors' protocol names, most preferred first.
    pub fn assignors(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for name in self.consumer.partition_assignment_strategy.split(',').map(str::trim) {
            if let Some(name) = assignor_name(name).filter(|n| !names.contains(n)) {
                names.push(name);
            }
        }
        names
    }

    /// Whether offsets are committed in the background (needs a group).
    pub fn auto_commit(&self) -> Option<Duration> {
        (self.consumer.enable_auto_commit && self.group_id().is_some())
            .then(|| Duration::from_millis(self.consumer.auto_commit_interval_ms.max(0) as u64))
    }
}

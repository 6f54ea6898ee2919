//! Per-topic configuration: Kafka's topic-level keys, each defaulting to a broker key.

use std::collections::BTreeMap;

use super::value::{
    ConfigType, ConfigValue, TimestampType, any, at_least, between, config_table, producer_compression_only,
};
use super::{BrokerConfig, ConfigError};

/// `cleanup.policy`: delete old segments, compact to the last record per key, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Segments are deleted by `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// The log is compacted to the last record per key.
    pub compact: bool,
}

impl CleanupPolicy {
    /// `delete`.
    pub const DELETE: Self = Self {
        delete: true,
        compact: false,
    };
    /// `compact`.
    pub const COMPACT: Self = Self {
        delete: false,
        compact: true,
    };
}

impl ConfigValue for CleanupPolicy {
    const TYPE: ConfigType = ConfigType::List;
    fn parse(key: &str, raw: &str) -> Result<Self, ConfigError> {
        let mut policy = Self {
            delete: false,
            compact: false,
        };
        for part in raw.split(',').map(str::trim) {
            match part {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => {
                    return Err(ConfigError::BadValue {
                        key: key.to_owned(),
                        value: raw.to_owned(),
                        expected: "delete, compact, or compact,delete".to_owned(),
                    });
                }
            }
        }
        Ok(policy)
    }
    fn render(&self) -> String {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        }
        .to_owned()
    }
}

config_table! {
    /// The effective configuration of one topic.
    pub struct TopicConfig {
        /// `delete`, `compact` or `compact,delete`.
        cleanup_policy: CleanupPolicy = "cleanup.policy", default CleanupPolicy::DELETE, check any;
        /// Milliseconds to keep a segment after its newest record; -1 forever.
        retention_ms: i64 = "retention.ms", default 604_800_000, check at_least(-1);
        /// Bytes a partition may hold before its oldest segments are deleted; -1 unlimited.
        retention_bytes: i64 = "retention.bytes", default -1, check at_least(-1);
        /// Segment size in bytes that triggers a roll.
        segment_bytes: i32 = "segment.bytes", default 1 << 30, check at_least(1024);
        /// Segment age in milliseconds that triggers a roll.
        segment_ms: i64 = "segment.ms", default 604_800_000, check at_least(1);
        /// Largest offset index in bytes; a segment rolls when its index fills.
        segment_index_bytes: i32 = "segment.index.bytes", default 10 << 20, check at_least(4096);
        /// Bytes of log between index entries.
        index_interval_bytes: i32 = "index.interval.bytes", default 4096, check at_least(0);
        /// Messages between fsyncs; 1 fsyncs (group-committed) before every acknowledgement.
        flush_messages: i64 = "flush.messages", default i64::MAX, check at_least(1);
        /// Longest time in milliseconds appended data stays unflushed.
        flush_ms: i64 = "flush.ms", default i64::MAX, check at_least(0);
        /// Largest batch in bytes a producer may append.
        max_message_bytes: i32 = "max.message.bytes", default 1_048_588, check at_least(0);
        /// `CreateTime` or `LogAppendTime`.
        message_timestamp_type: TimestampType = "message.timestamp.type", default TimestampType::CreateTime, check any;
        /// Replicas that must acknowledge an `acks=all` write.
        min_insync_replicas: i32 = "min.insync.replicas", default 1, check at_least(1);
        /// Compression of stored batches; only `producer` (keep the producer's) is supported.
        compression_type: String = "compression.type", default "producer".to_owned(), check producer_compression_only;
        /// Milliseconds a tombstone survives compaction.
        delete_retention_ms: i64 = "delete.retention.ms", default 86_400_000, check at_least(0);
        /// Dirty ratio above which the log is compacted.
        min_cleanable_dirty_ratio: f64 = "min.cleanable.dirty.ratio", default 0.5, check between(0.0, 1.0);
        /// Milliseconds a record stays uncompacted.
        min_compaction_lag_ms: i64 = "min.compaction.lag.ms", default 0, check at_least(0);
    }
}

/// A topic key and the broker key it defaults to.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    /// Topic-level name.
    pub name: &'static str,
    /// Broker-level synonym supplying the default.
    pub broker_key: &'static str,
}

/// Each topic key's broker-level default, as in Kafka's `LogConfig`.
pub(crate) const BROKER_SYNONYMS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "cleanup.policy",
        broker_key: "log.cleanup.policy",
    },
    TopicConfigKey {
        name: "retention.ms",
        broker_key: "log.retention.ms",
    },
    TopicConfigKey {
        name: "retention.bytes",
        broker_key: "log.retention.bytes",
    },
    TopicConfigKey {
        name: "segment.bytes",
        broker_key: "log.segment.bytes",
    },
    TopicConfigKey {
        name: "segment.ms",
        broker_key: "log.roll.ms",
    },
    TopicConfigKey {
        name: "segment.index.bytes",
        broker_key: "log.index.size.max.bytes",
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        broker_key: "log.index.interval.bytes",
    },
    TopicConfigKey {
        name: "flush.messages",
        broker_key: "log.flush.interval.messages",
    },
    TopicConfigKey {
        name: "flush.ms",
        broker_key: "log.flush.interval.ms",
    },
    TopicConfigKey {
        name: "max.message.bytes",
        broker_key: "message.max.bytes",
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        broker_key: "log.message.timestamp.type",
    },
    TopicConfigKey {
        name: "min.insync.replicas",
        broker_key: "min.insync.replicas",
    },
    TopicConfigKey {
        name: "compression.type",
        broker_key: "compression.type",
    },
    TopicConfigKey {
        name: "delete.retention.ms",
        broker_key: "log.cleaner.delete.retention.ms",
    },
    TopicConfigKey {
        name: "min.cleanable.dirty.ratio",
        broker_key: "log.cleaner.min.cleanable.ratio",
    },
    TopicConfigKey {
        name: "min.compaction.lag.ms",
        broker_key: "log.cleaner.min.compaction.lag.ms",
    },
];

impl TopicConfig {
    /// The broker key a topic key defaults to.
    pub fn broker_synonym(name: &str) -> Option<&'static str> {
        BROKER_SYNONYMS.iter().find(|k| k.name == name).map(|k| k.broker_key)
    }

    /// The topic defaults implied by a broker configuration.
    pub fn from_broker(broker: &BrokerConfig) -> Self {
        let mut config = Self::default();
        for key in BROKER_SYNONYMS {
            if let Some(value) = broker.get(key.broker_key) {
                // The broker value passed the same checks when it was set, so it parses here.
                let applied = config.set(key.name, &value);
                debug_assert!(matches!(applied, Ok(true)), "{} <- {}", key.name, key.broker_key);
            }
        }
        config
    }

    /// Broker defaults with a topic's overrides applied; errors name the offending key.
    pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut config = Self::from_broker(broker);
        for (key, value) in overrides {
            if !config.set(key, value)? {
                return Err(ConfigError::UnknownKey { key: key.clone() });
            }
        }
        Ok(config)
    }

    /// Whether every acknowledged append must be fsynced first.
    pub fn is_durable(&self) -> bool {
        self.flush_messages == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_key_has_a_broker_synonym_of_the_same_type() {
        let broker = BrokerConfig::default();
        for key in TopicConfig::KEYS {
            let synonym =
                TopicConfig::broker_synonym(key.name).unwrap_or_else(|| panic!("{} lacks a synonym", key.name));
            assert!(broker.get(synonym).is_some(), "{synonym} is not a broker key");
        }
    }

    #[test]
    fn overrides_apply_over_broker_defaults() {
        let broker = BrokerConfig {
            log_retention_ms: 1000,
            ..Default::default()
        };
        let overrides = BTreeMap::from([("cleanup.policy".to_owned(), "compact,delete".to_owned())]);
        let config = TopicConfig::resolve(&broker, &overrides).expect("valid");
        assert_eq!(config.retention_ms, 1000);
        assert_eq!(
            config.cleanup_policy,
            CleanupPolicy {
                compact: true,
                delete: true
            }
        );
        let bad = BTreeMap::from([("retention.ms".to_owned(), "-5".to_owned())]);
        assert_eq!(
            TopicConfig::resolve(&broker, &bad).expect_err("bad").key(),
            Some("retention.ms")
        );
        let unknown = BTreeMap::from([("retention.msx".to_owned(), "5".to_owned())]);
        assert!(matches!(
            TopicConfig::resolve(&broker, &unknown),
            Err(ConfigError::UnknownKey { .. })
        ));
    }
}

//! The broker's static configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::ConfigError;
use super::topic::CleanupPolicy;
use super::value::{TimestampType, any, at_least, between, config_table, producer_compression_only};

config_table! {
    /// Everything `rill broker` can be configured with, under Apache Kafka's names and defaults
    /// except where a field's doc says otherwise.
    pub struct BrokerConfig {
        /// Id of this broker, reported in Metadata and as the controller id.
        node_id: i32 = "node.id", default 1, check at_least(0);
        /// Address to listen on, `host:port` or `PLAINTEXT://host:port`. Rill defaults to
        /// 127.0.0.1:9092 so that a fresh broker is not exposed to the network.
        listeners: String = "listeners", default "127.0.0.1:9092".to_owned(), check any;
        /// Address clients are told to connect to, when it differs from the listener (empty: the
        /// address actually bound).
        advertised_listeners: Option<String> = "advertised.listeners", default None, check any;
        /// Directory holding all partition logs and broker metadata.
        log_dirs: String = "log.dirs", default "./rill-data".to_owned(), check any;
        /// Partitions of an auto-created topic, and of a CreateTopics request that gives -1.
        num_partitions: i32 = "num.partitions", default 1, check between(1, 100_000);
        /// Replication factor of auto-created topics; a single node supports only 1.
        default_replication_factor: i16 = "default.replication.factor", default 1, check between(1, 1);
        /// Create a topic when a producer or a Metadata request that allows it names an unknown one.
        auto_create_topics_enable: bool = "auto.create.topics.enable", default true, check any;
        /// Whether DeleteTopics is allowed.
        delete_topic_enable: bool = "delete.topic.enable", default true, check any;
        /// Largest segment file in bytes before a new one is rolled (`segment.bytes`).
        log_segment_bytes: i32 = "log.segment.bytes", default 1024 * 1024 * 1024, check at_least(1024);
        /// Longest time in milliseconds before a segment is rolled (`segment.ms`); 7 days.
        log_roll_ms: i64 = "log.roll.ms", default 7 * 24 * 3_600_000, check at_least(1);
        /// How long to keep a segment after its newest record, in milliseconds (`retention.ms`);
        /// -1 keeps forever. 7 days. `log.retention.minutes` and `.hours` are accepted too.
        log_retention_ms: i64 = "log.retention.ms", default 7 * 24 * 3_600_000, check at_least(-1);
        /// Largest partition size in bytes before old segments are deleted (`retention.bytes`);
        /// -1 is unlimited.
        log_retention_bytes: i64 = "log.retention.bytes", default -1, check at_least(-1);
        /// How often the retention task runs, in milliseconds.
        log_retention_check_interval_ms: i64 = "log.retention.check.interval.ms", default 300_000, check at_least(1);
        /// Messages appended to a partition before it is fsynced (`flush.messages`); 1 makes
        /// every acknowledged record durable, with one fsync shared by all concurrent appends.
        log_flush_interval_messages: i64 = "log.flush.interval.messages", default i64::MAX, check at_least(1);
        /// Longest time in milliseconds that appended data may stay unflushed (`flush.ms`).
        log_flush_interval_ms: i64 = "log.flush.interval.ms", default i64::MAX, check at_least(0);
        /// How often the flush task checks `flush.ms`, in milliseconds. Kafka's default never
        /// checks; Rill checks every second so that `flush.ms` works without further set-up.
        log_flush_scheduler_interval_ms: i64 = "log.flush.scheduler.interval.ms", default 1000, check at_least(1);
        /// How often recovery points are written, in milliseconds.
        log_flush_offset_checkpoint_interval_ms: i64 = "log.flush.offset.checkpoint.interval.ms", default 60_000, check at_least(1);
        /// Bytes of log between two offset-index entries (`index.interval.bytes`).
        log_index_interval_bytes: i32 = "log.index.interval.bytes", default 4096, check at_least(0);
        /// Largest index file in bytes (`segment.index.bytes`); a segment rolls when its index is full.
        log_index_size_max_bytes: i32 = "log.index.size.max.bytes", default 10 * 1024 * 1024, check at_least(4096);
        /// `delete`, `compact` or both (`cleanup.policy`).
        log_cleanup_policy: CleanupPolicy = "log.cleanup.policy", default CleanupPolicy::DELETE, check any;
        /// `CreateTime` or `LogAppendTime` (`message.timestamp.type`).
        log_message_timestamp_type: TimestampType = "log.message.timestamp.type", default TimestampType::CreateTime, check any;
        /// How long tombstones are kept on compacted topics, in milliseconds (`delete.retention.ms`).
        log_cleaner_delete_retention_ms: i64 = "log.cleaner.delete.retention.ms", default 86_400_000, check at_least(0);
        /// Dirty ratio above which a compacted log is cleaned (`min.cleanable.dirty.ratio`).
        log_cleaner_min_cleanable_ratio: f64 = "log.cleaner.min.cleanable.ratio", default 0.5, check between(0.0, 1.0);
        /// Minimum age in milliseconds of a record before compaction may remove it.
        log_cleaner_min_compaction_lag_ms: i64 = "log.cleaner.min.compaction.lag.ms", default 0, check at_least(0);
        /// Whether the log cleaner compacts `cleanup.policy=compact` topics. Turning it off lets
        /// compacted topics (`__consumer_offsets` among them) grow without bound.
        log_cleaner_enable: bool = "log.cleaner.enable", default true, check any;
        /// Milliseconds between two passes of the log cleaner over the compacted partitions.
        log_cleaner_backoff_ms: i64 = "log.cleaner.backoff.ms", default 15_000, check at_least(1);
        /// Bytes the cleaner's offset map (key → latest offset) may use in one round; a round
        /// whose dirty keys do not fit cleans up to the last segment that did. Rill stores whole
        /// keys, so fewer fit than in Kafka's 24-byte hashed entries.
        log_cleaner_dedupe_buffer_size: i64 = "log.cleaner.dedupe.buffer.size", default 134_217_728, check at_least(1024);
        /// Largest record batch in bytes a producer may append (`max.message.bytes`).
        message_max_bytes: i32 = "message.max.bytes", default 1_048_588, check at_least(0);
        /// Replicas that must acknowledge an `acks=all` write (`min.insync.replicas`).
        min_insync_replicas: i32 = "min.insync.replicas", default 1, check at_least(1);
        /// Compression of stored batches (`compression.type`); `producer` keeps what producers send.
        compression_type: String = "compression.type", default "producer".to_owned(), check producer_compression_only;
        /// Largest request in bytes; a bigger frame closes the connection.
        socket_request_max_bytes: i32 = "socket.request.max.bytes", default 100 * 1024 * 1024, check at_least(64);
        /// Most client connections open at once; further ones wait in the accept queue.
        max_connections: i32 = "max.connections", default 10_000, check at_least(1);
        /// Requests one connection may have in flight (read but not yet answered); reading pauses
        /// beyond it. Kafka answers strictly one at a time; pipelining lets a durable produce
        /// share one fsync across requests.
        queued_max_requests: i32 = "queued.max.requests", default 64, check between(1, 100_000);
        /// Bytes of requests one connection may have read but not yet executed; reading pauses
        /// beyond it. Kafka's key bounds the whole broker's request queue (-1, unbounded, by
        /// default); Rill bounds each connection, 100 MiB by default, never below one request of
        /// `socket.request.max.bytes`.
        queued_max_request_bytes: i64 = "queued.max.request.bytes", default 100 * 1024 * 1024, check at_least(-1);
        /// How long a group with no members waits for more before its first rebalance, in ms.
        group_initial_rebalance_delay_ms: i64 = "group.initial.rebalance.delay.ms", default 3000, check at_least(0);
        /// Shortest session timeout a member may ask for, in milliseconds.
        group_min_session_timeout_ms: i32 = "group.min.session.timeout.ms", default 6000, check at_least(1);
        /// Longest session timeout a member may ask for, in milliseconds.
        group_max_session_timeout_ms: i32 = "group.max.session.timeout.ms", default 1_800_000, check at_least(1);
        /// Most members a group may have.
        group_max_size: i32 = "group.max.size", default i32::MAX, check at_least(1);
        /// Partitions of `__consumer_offsets`, which spread groups (`hash(group.id) % partitions`).
        offsets_topic_num_partitions: i32 = "offsets.topic.num.partitions", default 50, check between(1, 1000);
        /// Segment size of `__consumer_offsets`, kept small so compaction has work to do.
        offsets_topic_segment_bytes: i32 = "offsets.topic.segment.bytes", default 104_857_600, check at_least(1024);
        /// How long the offsets of a group without members are kept, in minutes (7 days).
        offsets_retention_minutes: i32 = "offsets.retention.minutes", default 10_080, check at_least(1);
        /// How often expired offsets are looked for, in milliseconds.
        offsets_retention_check_interval_ms: i64 = "offsets.retention.check.interval.ms", default 600_000, check at_least(1);
        /// Largest metadata string a committed offset may carry, in bytes.
        offset_metadata_max_bytes: i32 = "offset.metadata.max.bytes", default 4096, check at_least(0);
        /// How long an idle producer's state is kept, in milliseconds.
        producer_id_expiration_ms: i64 = "producer.id.expiration.ms", default 86_400_000, check at_least(1);
        /// Largest decompressed size in bytes of one batch the broker inflates (compaction, time
        /// lookups); protects against compression bombs.
        max_decompressed_batch_bytes: i32 = "rill.max.decompressed.batch.bytes", default 64 * 1024 * 1024, check at_least(1024);
    }
}

/// Kafka broker keys that have no meaning in Rill (threads, ZooKeeper, buffers). They are accepted
/// with a warning so that a Kafka `server.properties` carries over.
pub const IGNORED_KAFKA_KEYS: &[&str] = &[
    "num.network.threads",
    "num.io.threads",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "process.roles",
    "controller.quorum.voters",
    "controller.listener.names",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions.per.broker",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "log.cleaner.threads",
];

/// Keys that set another key in different units, with the multiplier to milliseconds. Kafka gives
/// the most precise one precedence (`ms` over `minutes` over `hours`).
pub(crate) const UNIT_ALIASES: &[(&str, &str, i64)] = &[
    ("log.retention.hours", "log.retention.ms", 3_600_000),
    ("log.retention.minutes", "log.retention.ms", 60_000),
    ("log.roll.hours", "log.roll.ms", 3_600_000),
    ("log.dir", "log.dirs", 0),
];

impl BrokerConfig {
    /// The listen address: `listeners` without a `PLAINTEXT://` prefix, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_listener("listeners", &self.listeners)
    }

    /// The address advertised to clients, if configured.
    pub fn advertised_addr(&self) -> Result<Option<(String, u16)>, ConfigError> {
        let Some(raw) = &self.advertised_listeners else {
            return Ok(None);
        };
        let addr = strip_scheme("advertised.listeners", raw)?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| ConfigError::Invalid {
            key: "advertised.listeners".to_owned(),
            value: raw.clone(),
            reason: "expected host:port".to_owned(),
        })?;
        let port = port.parse().map_err(|_| ConfigError::Invalid {
            key: "advertised.listeners".to_owned(),
            value: raw.clone(),
            reason: "port is not a number".to_owned(),
        })?;
        Ok(Some((host.trim_matches(|c| c == '[' || c == ']').to_owned(), port)))
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.log_dirs)
    }

    /// Checks relations between keys that single-key checks cannot see.
    pub fn validate(self) -> Result<Self, ConfigError> {
        self.listen_addr()?;
        self.advertised_addr()?;
        if self.log_dirs.contains(',') {
            return Err(ConfigError::Invalid {
                key: "log.dirs".to_owned(),
                value: self.log_dirs.clone(),
                reason: "one data directory is supported".to_owned(),
            });
        }
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms {
            return Err(ConfigError::Invalid {
                key: "group.min.session.timeout.ms".to_owned(),
                value: self.group_min_session_timeout_ms.to_string(),
                reason: format!(
                    "must not exceed group.max.session.timeout.ms ({})",
                    self.group_max_session_timeout_ms
                ),
            });
        }
        if self.message_max_bytes > self.socket_request_max_bytes {
            return Err(ConfigError::Invalid {
                key: "message.max.bytes".to_owned(),
                value: self.message_max_bytes.to_string(),
                reason: format!(
                    "must not exceed socket.request.max.bytes ({})",
                    self.socket_request_max_bytes
                ),
            });
        }
        Ok(self)
    }
}

fn strip_scheme<'a>(key: &str, raw: &'a str) -> Result<&'a str, ConfigError> {
    let raw = raw.trim();
    if raw.contains(',') {
        return Err(ConfigError::Invalid {
            key: key.to_owned(),
            value: raw.to_owned(),
            reason: "one listener is supported".to_owned(),
        });
    }
    match raw.split_once("://") {
        None => Ok(raw),
        Some(("PLAINTEXT", rest)) => Ok(rest),
        Some((scheme, _)) => Err(ConfigError::Invalid {
            key: key.to_owned(),
            value: raw.to_owned(),
            reason: format!("security protocol {scheme} is not supported (only PLAINTEXT)"),
        }),
    }
}

fn parse_listener(key: &str, raw: &str) -> Result<SocketAddr, ConfigError> {
    let addr = strip_scheme(key, raw)?;
    let addr = if let Some(port) = addr.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else {
        addr.to_owned()
    };
    let addr = addr.replacen("localhost:", "127.0.0.1:", 1);
    addr.parse().map_err(|_| ConfigError::Invalid {
        key: key.to_owned(),
        value: raw.to_owned(),
        reason: "expected an IP address and port such as 127.0.0.1:9092".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let c = BrokerConfig::default().validate().expect("valid");
        assert_eq!(c.listen_addr().expect("addr").to_string(), "127.0.0.1:9092");
        assert_eq!(c.log_segment_bytes, 1 << 30);
        assert_eq!(c.log_retention_ms, 604_800_000);
        assert_eq!(c.get("num.partitions").as_deref(), Some("1"));
    }

    #[test]
    fn set_checks_type_and_range_and_names_the_key() {
        let mut c = BrokerConfig::default();
        assert_eq!(c.set("num.partitions", "3"), Ok(true));
        assert_eq!(c.num_partitions, 3);
        let err = c.set("num.partitions", "three").expect_err("bad");
        assert_eq!(err.key(), Some("num.partitions"));
        assert!(err.to_string().contains("num.partitions"), "{err}");
        let err = c.set("log.segment.bytes", "10").expect_err("small");
        assert!(err.to_string().contains("at least 1024"), "{err}");
        assert_eq!(c.set("no.such.key", "1"), Ok(false));
    }

    #[test]
    fn listeners_accept_kafka_forms() {
        for (raw, want) in [
            ("PLAINTEXT://127.0.0.1:9093", "127.0.0.1:9093"),
            ("localhost:9094", "127.0.0.1:9094"),
            (":9095", "0.0.0.0:9095"),
        ] {
            let c = BrokerConfig {
                listeners: raw.to_owned(),
                ..Default::default()
            };
            assert_eq!(c.listen_addr().expect(raw).to_string(), want);
        }
        let c = BrokerConfig {
            listeners: "SSL://1.2.3.4:1".to_owned(),
            ..Default::default()
        };
        assert!(c.validate().expect_err("ssl").to_string().contains("SSL"));
    }
}

//! The client's configuration, under the Java client's property names and defaults.

use std::collections::BTreeMap;

use super::ConfigError;
use super::value::{any, at_least, between};
use crate::config_table;

config_table! {
    /// Settings every client (producer, consumer, admin) shares.
    pub struct CommonConfig {
        /// Comma-separated `host:port` list used to discover the cluster.
        bootstrap_servers: String = "bootstrap.servers", default "127.0.0.1:9092".to_owned(), check any;
        /// Name sent with every request, shown in broker logs and group descriptions.
        client_id: String = "client.id", default "rill".to_owned(), check any;
        /// How long to wait for a response before giving up on a request, in milliseconds.
        request_timeout_ms: i64 = "request.timeout.ms", default 30_000, check at_least(1);
        /// Metadata older than this is refreshed even without errors, in milliseconds.
        metadata_max_age_ms: i64 = "metadata.max.age.ms", default 300_000, check at_least(0);
        /// Pause before retrying a failed request, in milliseconds.
        retry_backoff_ms: i64 = "retry.backoff.ms", default 100, check at_least(0);
        /// How long a blocking call (commit, offset lookup, admin request) retries before it
        /// fails, in milliseconds.
        default_api_timeout_ms: i64 = "default.api.timeout.ms", default 60_000, check at_least(1);
        /// How long to wait for a TCP connection to a broker, in milliseconds.
        socket_connection_setup_timeout_ms: i64 = "socket.connection.setup.timeout.ms", default 10_000, check at_least(1);
    }
}

config_table! {
    /// Producer settings.
    pub struct ProducerSettings {
        /// `0` (no acknowledgement), `1` (the leader), or `all`/`-1` (every in-sync replica).
        acks: String = "acks", default "all".to_owned(), check acks;
        /// How long a partition's batch may wait for more records before it is sent, in ms.
        linger_ms: i64 = "linger.ms", default 5, check at_least(0);
        /// Target size of one partition's batch in bytes; a full batch is sent at once.
        batch_size: i32 = "batch.size", default 16_384, check at_least(1);
        /// Bytes of records waiting to be sent before `send` waits for room (back-pressure).
        buffer_memory: i64 = "buffer.memory", default 33_554_432, check at_least(1);
        /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
        compression_type: String = "compression.type", default "none".to_owned(), check codec;
        /// Producer id and sequence numbers, so that retries never duplicate records.
        enable_idempotence: bool = "enable.idempotence", default true, check any;
        /// Produce requests in flight per broker (at most 5 with idempotence).
        max_in_flight_requests_per_connection: i32 = "max.in.flight.requests.per.connection", default 5, check between(1, 1000);
        /// Upper bound on the time from `send` to the record's outcome, retries included, in ms.
        delivery_timeout_ms: i64 = "delivery.timeout.ms", default 120_000, check at_least(1);
        /// Largest produce request in bytes.
        max_request_size: i32 = "max.request.size", default 1_048_576, check at_least(1);
        /// How long `send` may wait for buffer room or metadata, in milliseconds.
        max_block_ms: i64 = "max.block.ms", default 60_000, check at_least(0);
        /// Spread keyed records like unkeyed ones (sticky), ignoring the key.
        partitioner_ignore_keys: bool = "partitioner.ignore.keys", default false, check any;
    }
}

config_table! {
    /// Consumer settings.
    pub struct ConsumerSettings {
        /// Consumer group to join with `subscribe` and to commit offsets in (empty: none).
        group_id: String = "group.id", default String::new(), check any;
        /// Static membership: a stable identity that survives restarts (empty: dynamic).
        group_instance_id: String = "group.instance.id", default String::new(), check any;
        /// Where to start without a committed offset: `earliest`, `latest` or `none` (an error).
        auto_offset_reset: String = "auto.offset.reset", default "latest".to_owned(), check reset;
        /// Commit the consumed position periodically in the background.
        enable_auto_commit: bool = "enable.auto.commit", default true, check any;
        /// How often auto-commit runs, in milliseconds.
        auto_commit_interval_ms: i64 = "auto.commit.interval.ms", default 5000, check at_least(0);
        /// The group forgets a member that sends no heartbeat for this long, in milliseconds.
        session_timeout_ms: i32 = "session.timeout.ms", default 45_000, check at_least(1);
        /// How often to heartbeat, in milliseconds (well below the session timeout).
        heartbeat_interval_ms: i32 = "heartbeat.interval.ms", default 3000, check at_least(1);
        /// Longest time a member may take to rejoin during a rebalance, in milliseconds.
        max_poll_interval_ms: i32 = "max.poll.interval.ms", default 300_000, check at_least(1);
        /// Assignors offered to the group, most preferred first: `range`, `roundrobin`,
        /// `cooperative-sticky` (Java class names are accepted too).
        partition_assignment_strategy: String = "partition.assignment.strategy", default "range,cooperative-sticky".to_owned(), check assignors;
        /// `read_uncommitted` or `read_committed`.
        isolation_level: String = "isolation.level", default "read_uncommitted".to_owned(), check isolation;
        /// The broker waits for this many bytes before answering a fetch.
        fetch_min_bytes: i32 = "fetch.min.bytes", default 1, check at_least(0);
        /// Largest fetch response in bytes (the first batch may exceed it).
        fetch_max_bytes: i32 = "fetch.max.bytes", default 52_428_800, check at_least(0);
        /// Longest the broker waits for `fetch.min.bytes`, in milliseconds.
        fetch_max_wait_ms: i32 = "fetch.max.wait.ms", default 500, check at_least(0);
        /// Largest amount of data per partition in one fetch, in bytes.
        max_partition_fetch_bytes: i32 = "max.partition.fetch.bytes", default 1_048_576, check at_least(0);
        /// Verify each fetched batch's CRC-32C.
        check_crcs: bool = "check.crcs", default true, check any;
        /// Most records one `poll` returns.
        max_poll_records: i32 = "max.poll.records", default 500, check at_least(1);
        /// Whether subscribing to or fetching an unknown topic may create it (if the broker allows).
        allow_auto_create_topics: bool = "allow.auto.create.topics", default true, check any;
    }
}

fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::BadValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected: allowed.join(", "),
        })
    }
}

fn acks(key: &str, value: &str) -> Result<(), ConfigError> {
    one_of(key, value, &["0", "1", "-1", "all"])
}

fn codec(key: &str, value: &str) -> Result<(), ConfigError> {
    one_of(key, value, &["none", "gzip", "snappy", "lz4", "zstd"])
}

fn reset(key: &str, value: &str) -> Result<(), ConfigError> {
    one_of(key, value, &["earliest", "latest", "none"])
}

fn isolation(key: &str, value: &str) -> Result<(), ConfigError> {
    one_of(key, value, &["read_uncommitted", "read_committed"])
}

fn assignors(key: &str, value: &str) -> Result<(), ConfigError> {
    for name in value.split(',').map(str::trim) {
        if assignor_name(name).is_none() {
            return Err(ConfigError::BadValue {
                key: key.to_owned(),
                value: value.to_owned(),
                expected: "range, roundrobin or cooperative-sticky".to_owned(),
            });
        }
    }
    Ok(())
}

impl CommonConfig {
    /// `default.api.timeout.ms`.
    pub fn api_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.default_api_timeout_ms.max(1) as u64)
    }

    /// `retry.backoff.ms`.
    pub fn retry_backoff(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retry_backoff_ms.max(0) as u64)
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.request_timeout_ms.max(1) as u64)
    }
}

/// The protocol name of an assignor given by its short or Java class name.
pub fn assignor_name(name: &str) -> Option<&'static str> {
    match name.rsplit('.').next().unwrap_or(name) {
        "range" | "RangeAssignor" => Some("range"),
        "roundrobin" | "RoundRobinAssignor" => Some("roundrobin"),
        "cooperative-sticky" | "CooperativeStickyAssignor" => Some("cooperative-sticky"),
        _ => None,
    }
}

/// Applies `properties` to `common` and `role`; a key neither knows is an error naming it.
pub(crate) fn apply(
    properties: &BTreeMap<String, String>,
    common: &mut CommonConfig,
    mut role: impl FnMut(&str, &str) -> Result<bool, ConfigError>,
) -> Result<(), ConfigError> {
    for (key, value) in properties {
        if !common.set(key, value)? && !role(key, value)? {
            return Err(ConfigError::UnknownKey { key: key.clone() });
        }
    }
    Ok(())
}

/// Turns `[("key", "value"), ...]` into a property map.
pub fn properties<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

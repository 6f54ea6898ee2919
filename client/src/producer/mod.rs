//! An asynchronous Kafka producer (the Java client's design): records are batched per partition
//! (`linger.ms`, `batch.size`) within `buffer.memory`, optionally compressed, sent by a background
//! task, retried without duplicates (idempotence is on by default), and each `send` returns a
//! future that resolves to where the record landed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rill_client::ClientError> {
//! use rill_client::producer::{Producer, ProducerRecord};
//! let producer = Producer::from_properties([("bootstrap.servers", "127.0.0.1:9092"), ("linger.ms", "5")]).await?;
//! let delivery = producer.send(ProducerRecord::new("logs").key("host-1").value("hello")).await?;
//! let metadata = delivery.await.map_err(|e| rill_client::ClientError::Records(e.to_string()))?;
//! println!("{}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
//! producer.close().await?;
//! # Ok(()) }
//! ```

mod accumulator;
mod buffer;
mod outcome;
mod partitioner;
mod sender;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::accumulator::{Accumulator, AppendError, BatchSettings, Placement};
use self::buffer::BufferPool;
pub use self::outcome::{DeliveryFuture, RecordMetadata};
pub use self::partitioner::{murmur2, partition_for_key};
use self::sender::{SenderSettings, Shared};
use crate::cluster::Cluster;
use crate::config::{CommonConfig, ConfigError, ProducerSettings, apply};
use crate::error::ClientError;
use crate::protocol::batch::Compression;
use crate::protocol::builder::{HeaderRef, new_record_len, put_new_record};

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic (shared: a producer of many records to one topic clones it without allocating).
    pub topic: Arc<str>,
    /// Partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Bytes>,
    /// Value (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// Headers, in order (duplicate names allowed).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Timestamp in ms; `None` is now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value or headers yet.
    pub fn new(topic: impl Into<Arc<str>>) -> Self {
        Self {
            topic: topic.into(),
            ..Default::default()
        }
    }
    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }
    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), Some(value.into())));
        self
    }
    /// Sets the partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    /// Sets the timestamp.
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// A producer's configuration: the shared client settings and the producer's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerConfig {
    /// Connection settings.
    pub common: CommonConfig,
    /// Producer settings.
    pub producer: ProducerSettings,
}

impl ProducerConfig {
    /// From Kafka property names; an unknown or invalid property is an error naming it.
    pub fn from_properties<'a>(properties: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let map = crate::config::properties(properties);
        apply(&map, &mut config.common, |k, v| config.producer.set(k, v))?;
        // As in Java: idempotence is on by default only while nothing conflicts with it; set
        // explicitly, a conflict is an error.
        let conflicting = (config.producer.acks != "all" && config.producer.acks != "-1")
            || config.producer.max_in_flight_requests_per_connection > 5;
        if !map.contains_key("enable.idempotence") && conflicting {
            config.producer.enable_idempotence = false;
        }
        if config.producer.enable_idempotence && config.producer.max_in_flight_requests_per_connection > 5 {
            return Err(ConfigError::Invalid {
                key: "max.in.flight.requests.per.connection".to_owned(),
                value: config.producer.max_in_flight_requests_per_connection.to_string(),
                reason: "must be at most 5 with enable.idempotence=true".to_owned(),
            });
        }
        if config.producer.enable_idempotence && config.producer.acks != "all" && config.producer.acks != "-1" {
            return Err(ConfigError::Invalid {
                key: "acks".to_owned(),
                value: config.producer.acks.clone(),
                reason: "must be all with enable.idempotence=true".to_owned(),
            });
        }
        Ok(config)
    }

    fn codec(&self) -> Compression {
        match self.producer.compression_type.as_str() {
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            _ => Compression::None,
        }
    }

    fn acks(&self) -> i16 {
        match self.producer.acks.as_str() {
            "0" => 0,
            "1" => 1,
            _ => -1,
        }
    }
}

/// An asynchronous producer. Cloning shares it.
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
    buffer: Arc<BufferPool>,
    config: Arc<ProducerConfig>,
    sender: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Producer {
    /// Connects with Kafka-named properties.
    pub async fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ClientError> {
        Self::new(ProducerConfig::from_properties(properties)?).await
    }

    /// Connects, and with idempotence obtains a producer id.
    pub async fn new(config: ProducerConfig) -> Result<Self, ClientError> {
        let cluster = Cluster::connect(config.common.clone()).await?;
        let p = &config.producer;
        let buffer = BufferPool::new(p.buffer_memory.clamp(1, i64::MAX) as usize);
        let settings = BatchSettings {
            batch_size: p.batch_size.max(1) as usize,
            linger: Duration::from_millis(p.linger_ms.max(0) as u64),
            codec: config.codec(),
            max_in_flight: p.max_in_flight_requests_per_connection.max(1) as usize,
        };
        let mut accumulator = Accumulator::new(settings, Arc::clone(&buffer));
        if p.enable_idempotence {
            let connection = cluster.any().await?;
            let request = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let (_, response) = connection.send(&request).await?;
            if let Some(error) = ClientError::from_code("InitProducerId", response.error_code, None) {
                return Err(error);
            }
            accumulator.set_producer(response.producer_id.0, response.producer_epoch);
        }
        let shared = Arc::new(Shared {
            cluster,
            accumulator: Mutex::new(accumulator),
            wake: tokio::sync::Notify::new(),
            settings: SenderSettings {
                acks: config.acks(),
                request_timeout: Duration::from_millis(config.common.request_timeout_ms.max(1) as u64),
                retry_backoff: Duration::from_millis(config.common.retry_backoff_ms.max(0) as u64),
                delivery_timeout: Duration::from_millis(p.delivery_timeout_ms.max(1) as u64),
                max_request_size: p.max_request_size.max(1) as usize,
            },
            closing: CancellationToken::new(),
            closed: AtomicBool::new(false),
        });
        let sender = tokio::spawn(sender::run(Arc::clone(&shared)));
        Ok(Self {
            shared,
            buffer,
            config: Arc::new(config),
            sender: Arc::new(Mutex::new(Some(sender))),
        })
    }

    /// The cluster view this producer uses.
    pub fn cluster(&self) -> &Cluster {
        &self.shared.cluster
    }

    /// Queues a record; waits only for buffer room (`buffer.memory`) or first metadata. The
    /// returned future resolves when the record is acknowledged.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ClientError> {
        if self.shared.closed.load(Ordering::Relaxed) {
            return Err(ClientError::Closed("producer"));
        }
        let headers: Vec<HeaderRef<'_>> = record
            .headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_deref()))
            .collect();
        let size = new_record_len(record.key.as_deref(), record.value.as_deref(), &headers);
        let placement = match (record.partition, &record.key) {
            (Some(p), _) => Placement::Explicit(p),
            (None, Some(key)) if !self.config.producer.partitioner_ignore_keys => {
                Placement::KeyHash(murmur2(key) & 0x7fff_ffff)
            }
            (None, _) => Placement::Sticky,
        };
        let max = self.config.producer.max_request_size.max(1) as usize;
        if size > max {
            return Err(ClientError::InvalidRecord(format!(
                "{size} bytes exceed max.request.size ({max})"
            )));
        }
        let max_block = Duration::from_millis(self.config.producer.max_block_ms.max(0) as u64);
        let room = self.buffer.reserve(size, max_block).await?;
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let encode = |out: &mut Vec<u8>, delta: i32, base: i64| {
            put_new_record(
                out,
                delta,
                timestamp - base,
                record.key.as_deref(),
                record.value.as_deref(),
                &headers,
            );
        };
        let first = self
            .shared
            .accumulator()
            .append(&record.topic, placement, timestamp, size, room, encode);
        let appended = match first {
            Ok(appended) => Ok(appended),
            Err(AppendError::UnknownTopic(room)) => {
                // The topic's first record: learn its partition count, then append again.
                let info = self.shared.cluster.topic(&record.topic, true).await?;
                let mut accumulator = self.shared.accumulator();
                accumulator.add_topic(&record.topic, info.partitions.len() as u32);
                accumulator.append(&record.topic, placement, timestamp, size, room, encode)
            }
            Err(e) => Err(e),
        };
        let appended = match appended {
            Ok(appended) => appended,
            Err(AppendError::NoSuchPartition { partitions }) => {
                return Err(ClientError::InvalidRecord(format!(
                    "topic {} has {partitions} partitions, not partition {}",
                    record.topic,
                    record.partition.unwrap_or(-1)
                )));
            }
            Err(AppendError::UnknownTopic(_)) => {
                return Err(ClientError::UnknownTopic {
                    topic: record.topic.to_string(),
                });
            }
        };
        if appended.wake {
            self.shared.wake.notify_one();
        }
        Ok(DeliveryFuture {
            outcome: appended.outcome,
            offset_delta: appended.offset_delta,
            timestamp,
        })
    }

    /// Sends everything queued now and waits until each of those records has an outcome.
    pub async fn flush(&self) {
        let outcomes = self.shared.accumulator().begin_flush();
        self.shared.wake.notify_one();
        for outcome in outcomes {
            let _ = outcome.wait().await;
        }
        self.shared.accumulator().flushed();
    }

    /// Flushes, then stops the background sender. Later sends fail.
    pub async fn close(&self) -> Result<(), ClientError> {
        self.flush().await;
        self.shared.closed.store(true, Ordering::Relaxed);
        self.shared.closing.cancel();
        self.shared.wake.notify_one();
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.await;
        }
        Ok(())
    }
}

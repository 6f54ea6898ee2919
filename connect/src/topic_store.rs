//! A key-value store in a compacted topic of one partition, as Kafka Connect keeps its offsets,
//! configs and statuses: the latest value of each key wins, a null value deletes it.

use std::time::Duration;

use bytes::Bytes;
use rill_client::TopicPartition;
use rill_client::admin::{Admin, NewTopic};
use rill_client::consumer::Consumer;
use rill_client::producer::{DeliveryFuture, Producer, ProducerRecord};

use crate::error::{ConnectError, client};

/// Creates `topic` with one partition (and `replication` replicas, -1 for the broker's default)
/// unless it exists.
pub(crate) async fn ensure_topic(
    bootstrap: &str,
    topic: &str,
    replication: i16,
    configs: &[(&str, &str)],
) -> Result<(), ConnectError> {
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap)])
        .await
        .map_err(client)?;
    let mut new = NewTopic::new(topic).partitions(1);
    if replication > 0 {
        new = new.replication_factor(replication);
    }
    for (key, value) in configs {
        new = new.config(*key, *value);
    }
    for (_, outcome) in admin.create_topics(&[new], false).await.map_err(client)? {
        match outcome {
            Ok(()) => tracing::info!(topic, "created a topic"),
            Err(e) if e.kafka() == Some(rill_client::ResponseError::TopicAlreadyExists) => {}
            Err(e) => return Err(client(e)),
        }
    }
    Ok(())
}

/// One compacted topic used as a store.
#[derive(Debug)]
pub(crate) struct TopicStore {
    bootstrap: String,
    topic: String,
    producer: Producer,
}

impl TopicStore {
    /// The store in `topic` (created compacted, with one partition, if missing).
    pub(crate) async fn open(bootstrap: &str, topic: &str) -> Result<Self, ConnectError> {
        ensure_topic(bootstrap, topic, -1, &[("cleanup.policy", "compact")]).await?;
        let producer = Producer::from_properties([("bootstrap.servers", bootstrap), ("linger.ms", "0")])
            .await
            .map_err(client)?;
        Ok(Self {
            bootstrap: bootstrap.to_owned(),
            topic: topic.to_owned(),
            producer,
        })
    }

    /// The cluster's `bootstrap.servers`.
    pub(crate) fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Every record of the topic, oldest first, read to its current end (callers keep the latest
    /// value of each key).
    pub(crate) async fn read_all(&self) -> Result<Vec<(Bytes, Option<Bytes>)>, ConnectError> {
        let mut reader = Consumer::from_properties([("bootstrap.servers", self.bootstrap.as_str())])
            .await
            .map_err(client)?;
        let tp = TopicPartition::new(&self.topic, 0);
        reader.assign([tp.clone()]).map_err(client)?;
        reader.seek_to_beginning(std::slice::from_ref(&tp)).map_err(client)?;
        let end = reader
            .end_offsets(std::slice::from_ref(&tp))
            .await
            .map_err(client)?
            .get(&tp)
            .copied()
            .unwrap_or(0);
        let mut records = Vec::new();
        let mut position = 0;
        while position < end {
            for record in reader.poll(Duration::from_millis(200)).await.map_err(client)? {
                if let Some(key) = record.key {
                    records.push((key, record.value));
                }
            }
            position = reader.position(&tp).await.map_err(client)?;
        }
        reader.close().await.map_err(client)?;
        Ok(records)
    }

    /// Sends one record (`None` deletes the key); await the future for it to be stored.
    pub(crate) async fn put(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<DeliveryFuture, ConnectError> {
        let mut record = ProducerRecord::new(self.topic.as_str()).key(key);
        if let Some(value) = value {
            record = record.value(value);
        }
        self.producer.send(record).await.map_err(client)
    }

    /// Waits until `deliveries` are stored.
    pub(crate) async fn confirm(&self, deliveries: Vec<DeliveryFuture>) -> Result<(), ConnectError> {
        for delivery in deliveries {
            delivery.await.map_err(|e| self.bad(e.to_string()))?;
        }
        Ok(())
    }

    /// An error about this store's topic.
    pub(crate) fn bad(&self, reason: String) -> ConnectError {
        ConnectError::Store {
            topic: self.topic.clone(),
            reason,
        }
    }

    /// Flushes and closes the producer.
    pub(crate) async fn close(&self) -> Result<(), ConnectError> {
        self.producer.close().await.map_err(client)
    }
}

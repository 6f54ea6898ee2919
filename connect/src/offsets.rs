//! Source offsets in a compacted topic, as Kafka Connect keeps them in `connect-offsets`: the key
//! is the JSON `["<connector>", <source partition>]`, the value the JSON source offset (null
//! deletes it). Offsets are written only for records the broker acknowledged.

use std::collections::HashMap;
use std::time::Duration;

use rill_client::TopicPartition;
use rill_client::admin::{Admin, NewTopic};
use rill_client::consumer::Consumer;
use rill_client::producer::{Producer, ProducerRecord};
use serde_json::Value;

use crate::error::{ConnectError, client};

/// The offsets of one worker's source connectors.
#[derive(Debug)]
pub struct OffsetStore {
    bootstrap: String,
    topic: String,
    producer: Producer,
}

impl OffsetStore {
    /// The store in `topic` (created compacted, with one partition, if missing).
    pub async fn open(bootstrap: &str, topic: &str) -> Result<Self, ConnectError> {
        let admin = Admin::from_properties([("bootstrap.servers", bootstrap)])
            .await
            .map_err(client)?;
        let new = NewTopic::new(topic).partitions(1).config("cleanup.policy", "compact");
        for (_, outcome) in admin.create_topics(&[new], false).await.map_err(client)? {
            match outcome {
                Ok(()) => tracing::info!(topic, "created the offsets topic"),
                Err(e) if e.kafka() == Some(rill_client::ResponseError::TopicAlreadyExists) => {}
                Err(e) => return Err(client(e)),
            }
        }
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

    fn bad(&self, reason: String) -> ConnectError {
        ConnectError::Offsets {
            topic: self.topic.clone(),
            reason,
        }
    }

    /// The offsets of `connector` by source partition: the topic read to its end.
    pub async fn load(&self, connector: &str) -> Result<HashMap<String, Value>, ConnectError> {
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
        let mut offsets = HashMap::new();
        let mut position = 0;
        while position < end {
            for record in reader.poll(Duration::from_millis(200)).await.map_err(client)? {
                let Some(key) = record.key else { continue };
                let key: Value = serde_json::from_slice(&key).map_err(|e| self.bad(e.to_string()))?;
                let (Some(name), Some(partition)) = (key.get(0).and_then(Value::as_str), key.get(1)) else {
                    return Err(self.bad(format!("a key that is not [connector, partition]: {key}")));
                };
                if name != connector {
                    continue;
                }
                let partition = partition.to_string();
                match record.value {
                    Some(value) => {
                        let value = serde_json::from_slice(&value).map_err(|e| self.bad(e.to_string()))?;
                        offsets.insert(partition, value);
                    }
                    None => {
                        offsets.remove(&partition);
                    }
                }
            }
            position = reader.position(&tp).await.map_err(client)?;
        }
        reader.close().await.map_err(client)?;
        Ok(offsets)
    }

    /// Writes `connector`'s offsets (`None` deletes one) and waits until they are stored.
    pub async fn save(&self, connector: &str, offsets: &[(Value, Option<Value>)]) -> Result<(), ConnectError> {
        let mut deliveries = Vec::with_capacity(offsets.len());
        for (partition, offset) in offsets {
            let key =
                serde_json::to_vec(&serde_json::json!([connector, partition])).map_err(|e| self.bad(e.to_string()))?;
            let mut record = ProducerRecord::new(self.topic.as_str()).key(key);
            if let Some(offset) = offset {
                record = record.value(serde_json::to_vec(offset).map_err(|e| self.bad(e.to_string()))?);
            }
            deliveries.push(self.producer.send(record).await.map_err(client)?);
        }
        for delivery in deliveries {
            delivery.await.map_err(|e| self.bad(e.to_string()))?;
        }
        Ok(())
    }

    /// Flushes and closes the producer.
    pub async fn close(&self) -> Result<(), ConnectError> {
        self.producer.close().await.map_err(client)
    }
}

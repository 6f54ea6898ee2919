//! Source offsets in a compacted topic, as Kafka Connect keeps them in `connect-offsets`: the key
//! is the JSON `["<connector>", <source partition>]`, the value the JSON source offset (null
//! deletes it). Offsets are written only for records the broker acknowledged.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::ConnectError;
use crate::topic_store::TopicStore;

/// The offsets of one worker's source connectors.
#[derive(Debug)]
pub struct OffsetStore {
    store: TopicStore,
}

impl OffsetStore {
    /// The store in `topic` (created compacted, with one partition, if missing).
    pub async fn open(bootstrap: &str, topic: &str) -> Result<Self, ConnectError> {
        Ok(Self {
            store: TopicStore::open(bootstrap, topic).await?,
        })
    }

    /// The cluster's `bootstrap.servers`.
    pub(crate) fn bootstrap(&self) -> &str {
        self.store.bootstrap()
    }

    /// The offsets of `connector` by source partition (its compact JSON text): the topic read to
    /// its end.
    pub async fn load(&self, connector: &str) -> Result<HashMap<String, Value>, ConnectError> {
        let mut offsets = HashMap::new();
        for (key, value) in self.store.read_all().await? {
            let key: Value = serde_json::from_slice(&key).map_err(|e| self.store.bad(e.to_string()))?;
            let (Some(name), Some(partition)) = (key.get(0).and_then(Value::as_str), key.get(1)) else {
                return Err(self
                    .store
                    .bad(format!("a key that is not [connector, partition]: {key}")));
            };
            if name != connector {
                continue;
            }
            let partition = partition.to_string();
            match value {
                Some(value) => {
                    let value = serde_json::from_slice(&value).map_err(|e| self.store.bad(e.to_string()))?;
                    offsets.insert(partition, value);
                }
                None => {
                    offsets.remove(&partition);
                }
            }
        }
        Ok(offsets)
    }

    /// Writes `connector`'s offsets (`None` deletes one) and waits until they are stored.
    pub async fn save(&self, connector: &str, offsets: &[(Value, Option<Value>)]) -> Result<(), ConnectError> {
        let mut deliveries = Vec::with_capacity(offsets.len());
        for (partition, offset) in offsets {
            let key = serde_json::json!([connector, partition]).to_string().into_bytes();
            let value = offset.as_ref().map(|offset| offset.to_string().into_bytes());
            deliveries.push(self.store.put(key, value).await?);
        }
        self.store.confirm(deliveries).await
    }

    /// Flushes and closes the producer.
    pub async fn close(&self) -> Result<(), ConnectError> {
        self.store.close().await
    }
}

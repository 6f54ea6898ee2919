//! What the examples share: a broker (embedded, or the one `RILL_BOOTSTRAP_SERVER` names),
//! topics, sample input, and a reader for the output.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use rill_client::admin::{Admin, NewTopic};
use rill_client::consumer::{Consumer, ConsumerRecord};
use rill_client::producer::{Producer, ProducerRecord};
use rill_streams::EmbeddedBroker;

/// A broker for the example: `RILL_BOOTSTRAP_SERVER` if set, else one started in this process.
pub struct Cluster {
    pub bootstrap: String,
    embedded: Option<EmbeddedBroker>,
}

impl Cluster {
    pub async fn start() -> Result<Self, Box<dyn std::error::Error>> {
        if let Ok(bootstrap) = std::env::var("RILL_BOOTSTRAP_SERVER") {
            return Ok(Self {
                bootstrap,
                embedded: None,
            });
        }
        let broker = EmbeddedBroker::start(None).await?;
        println!("(an embedded broker on {})", broker.bootstrap());
        Ok(Self {
            bootstrap: broker.bootstrap(),
            embedded: Some(broker),
        })
    }

    /// Creates `topics` with `partitions` partitions each (existing ones are kept).
    pub async fn create_topics(&self, topics: &[&str], partitions: i32) -> Result<(), Box<dyn std::error::Error>> {
        let admin = Admin::from_properties([("bootstrap.servers", self.bootstrap.as_str())]).await?;
        let new: Vec<NewTopic> = topics
            .iter()
            .map(|t| NewTopic::new(*t).partitions(partitions))
            .collect();
        admin.create_topics(&new, false).await?;
        Ok(())
    }

    /// Writes (key, value, timestamp) records to `topic`.
    pub async fn produce(&self, topic: &str, records: &[(&str, &str, i64)]) -> Result<(), Box<dyn std::error::Error>> {
        let producer = Producer::from_properties([("bootstrap.servers", self.bootstrap.as_str())]).await?;
        for (key, value, ts) in records {
            let record = ProducerRecord::new(topic)
                .key(key.to_string())
                .value(value.to_string())
                .timestamp(*ts);
            producer.send(record).await?;
        }
        producer.close().await?;
        Ok(())
    }

    /// Reads `topic` until `want` records came or 10 s passed without one.
    pub async fn read(&self, topic: &str, want: usize) -> Result<Vec<ConsumerRecord>, Box<dyn std::error::Error>> {
        let mut consumer = Consumer::from_properties([
            ("bootstrap.servers", self.bootstrap.as_str()),
            ("group.id", "example-reader"),
            ("auto.offset.reset", "earliest"),
        ])
        .await?;
        consumer.subscribe([topic])?;
        let mut records = Vec::new();
        let mut idle = 0;
        while records.len() < want && idle < 50 {
            let got = consumer.poll(Duration::from_millis(200)).await?;
            idle = if got.is_empty() { idle + 1 } else { 0 };
            records.extend(got);
        }
        consumer.close().await?;
        Ok(records)
    }

    pub async fn stop(self) -> Result<(), Box<dyn std::error::Error>> {
        if let Some(broker) = self.embedded {
            broker.stop().await?;
        }
        Ok(())
    }
}

/// A record's key and value as text.
pub fn text(record: &ConsumerRecord) -> (String, String) {
    let s = |b: &Option<bytes::Bytes>| {
        b.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    (s(&record.key), s(&record.value))
}

/// The last value per key.
pub fn latest<V>(pairs: impl IntoIterator<Item = (String, V)>) -> BTreeMap<String, V> {
    pairs.into_iter().collect()
}

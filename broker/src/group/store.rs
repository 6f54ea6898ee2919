//! Reading and writing `__consumer_offsets` for the coordinator (blocking: call on the
//! blocking pool).

use std::sync::Arc;

use bytes::Bytes;
use rill_client::protocol::batch::{self, BatchHeader, HEADER_LEN};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_batch};
use tracing::warn;

use super::offsets_topic::{Key, TOPIC};
use crate::clock::now_ms;
use crate::log::LogError;
use crate::topics::{NewTopic, Topic, Topics};

/// A record to write: a key and a value, or `None` for a tombstone.
pub(crate) type Record = (Key, Option<Bytes>);

/// Settings of the offsets topic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OffsetsTopicConfig {
    pub(crate) partitions: i32,
    pub(crate) segment_bytes: i32,
}

/// The offsets topic, created on first use like Kafka does.
pub(crate) async fn ensure_topic(topics: &Topics, config: OffsetsTopicConfig) -> Result<Arc<Topic>, String> {
    if let Some(topic) = topics.get(TOPIC) {
        return Ok(topic);
    }
    let spec = NewTopic {
        name: TOPIC.to_owned(),
        partitions: config.partitions,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: [
            ("cleanup.policy".to_owned(), "compact".to_owned()),
            ("segment.bytes".to_owned(), config.segment_bytes.to_string()),
        ]
        .into_iter()
        .collect(),
    };
    match topics.create(spec, false).await {
        Ok(created) => created.topic.ok_or_else(|| "offsets topic not created".to_owned()),
        Err(_) if topics.get(TOPIC).is_some() => topics.get(TOPIC).ok_or_else(|| "offsets topic vanished".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Appends `records` to one partition of the offsets topic as a single batch.
pub(crate) fn append(topic: &Topic, partition: i32, records: &[Record]) -> Result<(), LogError> {
    let Some(partition) = topic.partition(partition) else {
        return Err(LogError::NothingToAppend);
    };
    let now = now_ms();
    let records: Vec<NewRecord> = records
        .iter()
        .map(|(key, value)| NewRecord {
            key: Some(key.encode().to_vec()),
            value: value.as_ref().map(|v| v.to_vec()),
            headers: Vec::new(),
            timestamp: now,
        })
        .collect();
    let wire = Bytes::from(build_batch(&records, ProducerStamp::NONE));
    let header = BatchHeader::parse(&wire).map_err(|e| LogError::Io {
        op: "encoding a batch for",
        path: TOPIC.into(),
        source: std::io::Error::other(e),
    })?;
    partition.append(&[(wire, header)], now).outcome.map(drop)
}

/// Every record in the offsets topic, partition by partition, in log order.
pub(crate) fn read_all(topic: &Topic) -> Vec<(Key, Option<Bytes>)> {
    let mut out = Vec::new();
    for partition in topic.partitions().iter() {
        let mut offset = partition.log_start_offset();
        loop {
            let slice = match partition.plan_read(offset, 1 << 20, true) {
                Ok(Some(slice)) => slice,
                Ok(None) => break,
                Err(e) => {
                    warn!(partition = partition.index(), cause = %e, "cannot read the offsets topic");
                    break;
                }
            };
            let bytes = match slice.read() {
                Ok(bytes) => bytes,
                Err(e) => {
                    warn!(partition = partition.index(), cause = %e, "cannot read the offsets topic");
                    break;
                }
            };
            let mut advanced = false;
            for span in batch::batches(&bytes) {
                let Ok(span) = span else { break };
                offset = span.header.next_offset();
                advanced = true;
                let area = &bytes[span.range.start + HEADER_LEN..span.range.end];
                for record in batch::records(area) {
                    let Ok(record) = record else { break };
                    let Some(key) = record.key else { continue };
                    match Key::decode(key) {
                        Ok(key) => out.push((key, record.value.map(Bytes::copy_from_slice))),
                        Err(e) => warn!(cause = %e, "skipping unreadable offsets-topic record"),
                    }
                }
            }
            if !advanced {
                break;
            }
        }
    }
    out
}

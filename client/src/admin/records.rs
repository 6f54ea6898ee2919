//! Records: delete (move the log start forward) and look offsets up.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::{DeleteRecordsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Admin;
use crate::error::ClientError;
use crate::offsets::{self, ListedOffset, OffsetSpec};
use crate::topic_partition::TopicPartition;

impl Admin {
    /// Deletes every record before the given offset of each partition (-1: up to the high
    /// watermark); returns the new log start offsets.
    pub async fn delete_records(
        &self,
        before: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        let mut by_leader: HashMap<i32, Vec<(&TopicPartition, i64)>> = HashMap::new();
        for (tp, offset) in before {
            let (leader, _) = self.cluster.leader(&tp.topic, tp.partition).await?;
            by_leader.entry(leader).or_default().push((tp, *offset));
        }
        let mut low_watermarks = BTreeMap::new();
        for (leader, partitions) in by_leader {
            let connection = self.cluster.broker(leader).await?;
            let version = connection.version::<DeleteRecordsRequest>(Some(2))?;
            let mut topics: Vec<DeleteRecordsTopic> = Vec::new();
            for (tp, offset) in partitions {
                let partition = DeleteRecordsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_offset(offset);
                match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
                    Some(t) => t.partitions.push(partition),
                    None => topics.push(
                        DeleteRecordsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                            .with_partitions(vec![partition]),
                    ),
                }
            }
            let request = DeleteRecordsRequest::default()
                .with_timeout_ms(self.timeout_ms())
                .with_topics(topics);
            let response = connection.send_version(version, &request).await?;
            for topic in &response.topics {
                for p in &topic.partitions {
                    let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
                    if let Some(error) = ClientError::from_code("DeleteRecords", p.error_code, Some(&tp.to_string())) {
                        return Err(error);
                    }
                    low_watermarks.insert(tp, p.low_watermark);
                }
            }
        }
        Ok(low_watermarks)
    }

    /// Looks offsets up (earliest, latest, by timestamp); read_uncommitted.
    pub async fn list_offsets(
        &self,
        specs: &[(TopicPartition, OffsetSpec)],
    ) -> Result<BTreeMap<TopicPartition, Option<ListedOffset>>, ClientError> {
        offsets::list_offsets(&self.cluster, 0, specs).await
    }
}

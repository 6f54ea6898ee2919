//! OffsetCommit: from group members (checked against the generation) or standalone consumers.

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::clock::now_ms;
use crate::group::coordinator::CommitEntry;
use crate::group::offsets_topic::OffsetValue;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: OffsetCommitRequest) -> Answer<OffsetCommitResponse> {
    let now = now_ms();
    let entries: Vec<CommitEntry> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|p| CommitEntry {
                topic: topic.name.0.to_string(),
                partition: p.partition_index,
                value: OffsetValue {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    commit_timestamp: now,
                },
            })
        })
        .collect();
    let result = ctx
        .broker
        .groups
        .commit(
            request.group_id.0.to_string(),
            request.member_id.to_string(),
            request.group_instance_id.map(|s| s.to_string()),
            request.generation_id_or_member_epoch,
            entries,
        )
        .await;
    let mut errors = match result {
        Ok(errors) => errors.into_iter(),
        Err(error) => vec![error; request.topics.iter().map(|t| t.partitions.len()).sum()].into_iter(),
    };
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let error = errors
                        .next()
                        .unwrap_or(crate::error_code::ErrorCode::UnknownServerError);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.code())
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    Answer::Now(OffsetCommitResponse::default().with_topics(topics))
}

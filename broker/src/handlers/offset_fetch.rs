//! OffsetFetch: one group (v1-7) or several (v8); null topics (v2+) mean every committed
//! partition; a partition without a commit gets offset -1.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::{str_bytes, topic_name};
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

type Committed = Vec<(String, i32, i64, i32, String)>;
/// A partition's committed position: (partition, offset, leader epoch, metadata).
type Row = (i32, i64, i32, String);

async fn committed(
    ctx: &RequestContext,
    group: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Committed, ErrorCode> {
    let rows = ctx
        .broker
        .groups
        .fetch(group, topics)
        .await
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    Ok(rows
        .into_iter()
        .map(|(topic, partition, value)| match value {
            Some(v) => (topic, partition, v.offset, v.leader_epoch, v.metadata),
            None => (topic, partition, -1, -1, String::new()),
        })
        .collect())
}

/// Groups rows by topic, keeping first-seen topic order.
fn by_topic(rows: Committed) -> Vec<(String, Vec<Row>)> {
    let mut out: Vec<(String, Vec<Row>)> = Vec::new();
    for (topic, partition, offset, epoch, metadata) in rows {
        match out.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, partitions)) => partitions.push((partition, offset, epoch, metadata)),
            None => out.push((topic, vec![(partition, offset, epoch, metadata)])),
        }
    }
    out
}

pub(crate) async fn handle(ctx: &RequestContext, request: OffsetFetchRequest) -> Answer<OffsetFetchResponse> {
    if ctx.version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in request.groups {
            let topics = group.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name.0.to_string(), t.partition_indexes))
                    .collect()
            });
            let result = OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone());
            groups.push(match committed(ctx, group.group_id.0.to_string(), topics).await {
                Ok(rows) => result.with_topics(
                    by_topic(rows)
                        .into_iter()
                        .map(|(topic, partitions)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(topic_name(&topic))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|(p, offset, epoch, metadata)| {
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_committed_offset(offset)
                                                .with_committed_leader_epoch(epoch)
                                                .with_metadata(Some(str_bytes(metadata)))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
                Err(error) => result.with_error_code(error.code()),
            });
        }
        return Answer::Now(OffsetFetchResponse::default().with_groups(groups));
    }
    let topics = request.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    match committed(ctx, request.group_id.0.to_string(), topics).await {
        Ok(rows) => {
            let topics = by_topic(rows)
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(p, offset, epoch, metadata)| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(if ctx.version >= 5 { epoch } else { -1 })
                                        .with_metadata(Some(str_bytes(metadata)))
                                })
                                .collect(),
                        )
                })
                .collect();
            Answer::Now(OffsetFetchResponse::default().with_topics(topics))
        }
        Err(error) => {
            Answer::Now(OffsetFetchResponse::default().with_error_code(if ctx.version >= 2 { error.code() } else { 0 }))
        }
    }
}

//! ListOffsets: latest (-1), earliest (-2), max timestamp (-3), or the first offset whose record
//! is at or after a timestamp. Only committed offsets (below the high watermark) are returned.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::log_error_code;
use crate::error_code::ErrorCode;
use crate::partition::Partition;
use crate::server::{Answer, RequestContext};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

/// Resolves one partition's query (blocking).
fn lookup(partition: &Partition, timestamp: i64) -> Result<(i64, i64), ErrorCode> {
    let hw = partition.high_watermark();
    match timestamp {
        LATEST => Ok((-1, partition.last_stable_offset())),
        EARLIEST => Ok((-1, partition.log_start_offset())),
        MAX_TIMESTAMP => {
            let found = partition
                .lock()
                .max_timestamp_offset()
                .map_err(|e| log_error_code(&e))?;
            Ok(found
                .filter(|(offset, _)| *offset < hw)
                .map_or((-1, -1), |(offset, ts)| (ts, offset)))
        }
        ts if ts >= 0 => {
            let found = partition
                .lock()
                .offset_for_timestamp(ts)
                .map_err(|e| log_error_code(&e))?;
            Ok(found
                .filter(|(offset, _)| *offset < hw)
                .map_or((-1, -1), |(offset, ts)| (ts, offset)))
        }
        _ => Err(ErrorCode::InvalidRequest),
    }
}

pub(crate) async fn handle(ctx: &RequestContext, request: ListOffsetsRequest) -> Answer<ListOffsetsResponse> {
    let broker = Arc::clone(&ctx.broker);
    let version = ctx.version;
    let topics = tokio::task::spawn_blocking(move || {
        request
            .topics
            .into_iter()
            .map(|topic| {
                let found = broker.topics.get(&topic.name.0);
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let response = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                        let outcome = match found.as_ref().and_then(|t| t.partition(p.partition_index)) {
                            None => Err(ErrorCode::UnknownTopicOrPartition),
                            Some(_) if p.timestamp == MAX_TIMESTAMP && version < 7 => {
                                Err(ErrorCode::UnsupportedVersion)
                            }
                            Some(partition) => lookup(&partition, p.timestamp),
                        };
                        match outcome {
                            // leader_epoch exists from v4; earlier versions must leave it at its default.
                            Ok((timestamp, offset)) => response
                                .with_timestamp(timestamp)
                                .with_offset(offset)
                                .with_leader_epoch(if version >= 4 { 0 } else { -1 }),
                            Err(code) => response.with_error_code(code.code()).with_timestamp(-1).with_offset(-1),
                        }
                    })
                    .collect();
                ListOffsetsTopicResponse::default()
                    .with_name(topic.name)
                    .with_partitions(partitions)
            })
            .collect::<Vec<_>>()
    })
    .await;
    match topics {
        Ok(topics) => Answer::Now(ListOffsetsResponse::default().with_topics(topics)),
        Err(e) => {
            tracing::error!(cause = %e, "list offsets task panicked");
            Answer::Close("internal error".to_owned())
        }
    }
}

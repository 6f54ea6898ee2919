//! DeleteRecords: moves a partition's log start offset forward (at most to the high watermark,
//! -1 meaning the high watermark) and deletes the segments wholly below it.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use tracing::error;

use super::log_error_code;
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: DeleteRecordsRequest) -> Answer<DeleteRecordsResponse> {
    let broker = Arc::clone(&ctx.broker);
    let result = tokio::task::spawn_blocking(move || {
        let mut changed = false;
        let topics: Vec<_> = request
            .topics
            .into_iter()
            .map(|topic| {
                let found = broker.topics.get(&topic.name.0);
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let result = DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index)
                            .with_low_watermark(-1);
                        let Some(partition) = found.as_ref().and_then(|t| t.partition(p.partition_index)) else {
                            return result.with_error_code(ErrorCode::UnknownTopicOrPartition.code());
                        };
                        let hw = partition.high_watermark();
                        let target = if p.offset == -1 { hw } else { p.offset };
                        if target < 0 || target > hw {
                            return result.with_error_code(ErrorCode::OffsetOutOfRange.code());
                        }
                        let moved = partition.lock().delete_records_before(target);
                        match moved {
                            Ok(start) => {
                                partition.publish_log_start(start);
                                changed = true;
                                result.with_low_watermark(start)
                            }
                            Err(e) => result.with_error_code(log_error_code(&e).code()),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(topic.name)
                    .with_partitions(partitions)
            })
            .collect();
        // The new log start must survive a restart.
        if changed {
            if let Err(e) = broker.topics.write_checkpoints() {
                error!(cause = %e, "writing log start checkpoint failed");
            }
        }
        topics
    })
    .await;
    match result {
        Ok(topics) => Answer::Now(DeleteRecordsResponse::default().with_topics(topics)),
        Err(e) => {
            error!(cause = %e, "delete records task panicked");
            Answer::Close("internal error".to_owned())
        }
    }
}

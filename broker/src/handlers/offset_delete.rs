//! OffsetDelete: removes a group's committed offsets for partitions its members do not consume.

use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: OffsetDeleteRequest) -> Answer<OffsetDeleteResponse> {
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let result = ctx
        .broker
        .groups
        .delete_offsets(request.group_id.0.to_string(), partitions)
        .await;
    let mut errors = match result {
        Ok(errors) => errors.into_iter(),
        Err(error) => return Answer::Now(OffsetDeleteResponse::default().with_error_code(error.code())),
    };
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let error = errors.next().unwrap_or(ErrorCode::UnknownServerError);
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.code())
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    Answer::Now(OffsetDeleteResponse::default().with_topics(topics))
}

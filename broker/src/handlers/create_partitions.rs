//! CreatePartitions: grows a topic. Assignments may name only this broker.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::str_bytes;
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: CreatePartitionsRequest) -> Answer<CreatePartitionsResponse> {
    let node_id = ctx.broker.node_id();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let result = CreatePartitionsTopicResult::default().with_name(topic.name);
        let bad_assignment = topic.assignments.as_ref().is_some_and(|a| {
            a.iter().any(|assignment| {
                assignment.broker_ids.iter().any(|b| b.0 != node_id) || assignment.broker_ids.is_empty()
            })
        });
        if bad_assignment {
            results.push(
                result
                    .with_error_code(ErrorCode::InvalidReplicaAssignment.code())
                    .with_error_message(Some(str_bytes(format!(
                        "replica assignment must name only broker {node_id}"
                    )))),
            );
            continue;
        }
        match ctx
            .broker
            .topics
            .add_partitions(&name, topic.count, request.validate_only)
            .await
        {
            Ok(()) => results.push(result),
            Err(e) => results.push(
                result
                    .with_error_code(e.code().code())
                    .with_error_message(Some(str_bytes(e.to_string()))),
            ),
        }
    }
    Answer::Now(CreatePartitionsResponse::default().with_results(results))
}

//! DeleteTopics, by name (v1-5) or by name or id (v6).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use uuid::Uuid;

use super::{str_bytes, topic_name};
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: DeleteTopicsRequest) -> Answer<DeleteTopicsResponse> {
    let topics = &ctx.broker.topics;
    let wanted: Vec<(Option<String>, Uuid)> = if ctx.version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let name = name.or_else(|| {
            topics
                .list()
                .into_iter()
                .find(|t| t.id() == id)
                .map(|t| t.name().to_string())
        });
        let result = DeletableTopicResult::default()
            .with_topic_id(id)
            .with_name(name.as_deref().map(topic_name));
        let Some(name) = name else {
            responses.push(result.with_error_code(ErrorCode::UnknownTopicOrPartition.code()));
            continue;
        };
        match topics.delete(&name).await {
            Ok(topic_id) => responses.push(result.with_topic_id(topic_id)),
            Err(e) => responses.push(
                result
                    .with_error_code(e.code().code())
                    .with_error_message(Some(str_bytes(e.to_string()))),
            ),
        }
    }
    Answer::Now(DeleteTopicsResponse::default().with_responses(responses))
}

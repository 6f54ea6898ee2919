//! AlterConfigs (the legacy API): replaces a topic's overrides with the given set.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::{resource, str_bytes};
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};
use crate::topics::TopicError;

/// The error for resources other than topics: broker settings are static in Rill.
pub(crate) fn not_a_topic(resource_type: i8) -> (ErrorCode, String) {
    if resource_type == resource::BROKER {
        (
            ErrorCode::InvalidRequest,
            "broker configurations are static: set them in the config file, environment or flags".to_owned(),
        )
    } else {
        (
            ErrorCode::InvalidRequest,
            format!("resource type {resource_type} cannot be altered"),
        )
    }
}

/// Applies overrides to a topic and turns the outcome into an error code and message.
pub(crate) async fn apply(
    ctx: &RequestContext,
    topic: &str,
    overrides: BTreeMap<String, String>,
    validate_only: bool,
) -> Option<(ErrorCode, String)> {
    match ctx.broker.topics.set_overrides(topic, overrides, validate_only).await {
        Ok(()) => None,
        Err(e @ TopicError::Unknown { .. }) => Some((ErrorCode::UnknownTopicOrPartition, e.to_string())),
        Err(e) => Some((e.code(), e.to_string())),
    }
}

pub(crate) async fn handle(ctx: &RequestContext, request: AlterConfigsRequest) -> Answer<AlterConfigsResponse> {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let error = if resource.resource_type == resource::TOPIC {
            let overrides = resource
                .configs
                .into_iter()
                .filter_map(|c| Some((c.name.to_string(), c.value?.to_string())))
                .collect();
            apply(ctx, &resource.resource_name, overrides, request.validate_only).await
        } else {
            Some(not_a_topic(resource.resource_type))
        };
        responses.push(match error {
            None => response,
            Some((code, message)) => response
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message))),
        });
    }
    Answer::Now(AlterConfigsResponse::default().with_responses(responses))
}

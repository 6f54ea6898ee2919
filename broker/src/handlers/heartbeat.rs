//! Heartbeat.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: HeartbeatRequest) -> Answer<HeartbeatResponse> {
    let error = ctx
        .broker
        .groups
        .heartbeat(
            request.group_id.0.to_string(),
            request.member_id.to_string(),
            request.group_instance_id.map(|s| s.to_string()),
            request.generation_id,
        )
        .await;
    Answer::Now(HeartbeatResponse::default().with_error_code(error.code()))
}

//! JoinGroup: the coordinator answers once the rebalance completes, so the answer is deferred.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::str_bytes;
use crate::group::Join;
use crate::group::group::JoinResult;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: JoinGroupRequest) -> Answer<JoinGroupResponse> {
    let client_id = ctx.client_id.clone().unwrap_or_default();
    let rebalance_timeout = if ctx.version >= 1 {
        request.rebalance_timeout_ms
    } else {
        request.session_timeout_ms
    };
    let join = Join {
        request: 0,
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|s| s.to_string()),
        new_member_id: format!("{client_id}-{}", uuid::Uuid::new_v4()),
        client_id,
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: request.session_timeout_ms.max(0) as u64,
        rebalance_timeout_ms: rebalance_timeout.max(0) as u64,
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: ctx.version >= 4,
    };
    let broker = std::sync::Arc::clone(&ctx.broker);
    let version = ctx.version;
    let group = request.group_id.0.to_string();
    Answer::Later(Box::pin(async move {
        response(broker.groups.join(group, join).await, version)
    }))
}

fn response(result: JoinResult, version: i16) -> JoinGroupResponse {
    let members = result
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(id))
                .with_group_instance_id(if version >= 5 { instance.map(str_bytes) } else { None })
                .with_metadata(metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(result.error.code())
        .with_generation_id(result.generation)
        .with_protocol_type(if version >= 7 {
            result.protocol_type.map(str_bytes)
        } else {
            None
        })
        .with_protocol_name(result.protocol.map(str_bytes))
        .with_leader(str_bytes(result.leader))
        .with_member_id(str_bytes(result.member_id))
        .with_members(members)
}

//! SyncGroup: followers wait for the leader's assignment, so the answer is deferred.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::str_bytes;
use crate::group::Sync;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: SyncGroupRequest) -> Answer<SyncGroupResponse> {
    let sync = Sync {
        request: 0,
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|s| s.to_string()),
        generation: request.generation_id,
        protocol_type: request.protocol_type.map(|s| s.to_string()),
        protocol: request.protocol_name.map(|s| s.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let broker = std::sync::Arc::clone(&ctx.broker);
    let version = ctx.version;
    let group = request.group_id.0.to_string();
    Answer::Later(Box::pin(async move {
        let result = broker.groups.sync(group, sync).await;
        let flexible_names = version >= 5;
        SyncGroupResponse::default()
            .with_error_code(result.error.code())
            .with_protocol_type(if flexible_names {
                result.protocol_type.map(str_bytes)
            } else {
                None
            })
            .with_protocol_name(if flexible_names {
                result.protocol.map(str_bytes)
            } else {
                None
            })
            .with_assignment(result.assignment)
    }))
}

//! LeaveGroup: one member (v0-2) or a batch, by member id or `group.instance.id` (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::str_bytes;
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: LeaveGroupRequest) -> Answer<LeaveGroupResponse> {
    let members: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let result = ctx
        .broker
        .groups
        .leave(request.group_id.0.to_string(), members.clone())
        .await;
    let errors = match result {
        Ok(errors) => errors,
        Err(error) => return Answer::Now(LeaveGroupResponse::default().with_error_code(error.code())),
    };
    if ctx.version < 3 {
        return Answer::Now(
            LeaveGroupResponse::default().with_error_code(errors.first().copied().unwrap_or(ErrorCode::None).code()),
        );
    }
    let responses = members
        .into_iter()
        .zip(errors)
        .map(|((member_id, instance_id), error)| {
            MemberResponse::default()
                .with_member_id(str_bytes(member_id))
                .with_group_instance_id(instance_id.map(str_bytes))
                .with_error_code(error.code())
        })
        .collect();
    Answer::Now(LeaveGroupResponse::default().with_members(responses))
}

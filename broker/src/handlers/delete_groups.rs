//! DeleteGroups: only groups without members; their offsets and metadata are tombstoned.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: DeleteGroupsRequest) -> Answer<DeleteGroupsResponse> {
    let ids: Vec<String> = request.groups_names.iter().map(|g| g.0.to_string()).collect();
    let errors = ctx
        .broker
        .groups
        .delete(ids)
        .await
        .unwrap_or_else(|| vec![ErrorCode::CoordinatorNotAvailable; request.groups_names.len()]);
    let results = request
        .groups_names
        .into_iter()
        .zip(errors)
        .map(|(group, error)| {
            DeletableGroupResult::default()
                .with_group_id(group)
                .with_error_code(error.code())
        })
        .collect();
    Answer::Now(DeleteGroupsResponse::default().with_results(results))
}

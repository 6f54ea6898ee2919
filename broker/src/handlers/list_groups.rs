//! ListGroups, with the state filter of v4 and the type filter of v5 (only `classic` groups
//! exist here).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::error_code::ErrorCode;
use crate::group::state::GroupState;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: ListGroupsRequest) -> Answer<ListGroupsResponse> {
    let Some(groups) = ctx.broker.groups.list().await else {
        return Answer::Now(ListGroupsResponse::default().with_error_code(ErrorCode::CoordinatorNotAvailable.code()));
    };
    let states: Vec<GroupState> = request
        .states_filter
        .iter()
        .filter_map(|s| GroupState::parse(s))
        .collect();
    let wants_classic =
        request.types_filter.is_empty() || request.types_filter.iter().any(|t| t.eq_ignore_ascii_case("classic"));
    let listed = groups
        .into_iter()
        .filter(|g| g.state != GroupState::Dead && wants_classic)
        .filter(|g| request.states_filter.is_empty() || states.contains(&g.state))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type));
            let listed = if ctx.version >= 4 {
                listed.with_group_state(str_bytes(g.state.name()))
            } else {
                listed
            };
            if ctx.version >= 5 {
                listed.with_group_type(str_bytes("classic"))
            } else {
                listed
            }
        })
        .collect();
    Answer::Now(ListGroupsResponse::default().with_groups(listed))
}

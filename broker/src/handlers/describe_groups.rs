//! DescribeGroups: state, protocol and members with their metadata and assignment. A group
//! that does not exist is reported as `Dead`, as Kafka does.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::str_bytes;
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: DescribeGroupsRequest) -> Answer<DescribeGroupsResponse> {
    let ids: Vec<String> = request.groups.iter().map(|g| g.0.to_string()).collect();
    let Some(summaries) = ctx.broker.groups.describe(ids).await else {
        let groups = request
            .groups
            .into_iter()
            .map(|g| {
                DescribedGroup::default()
                    .with_group_id(g)
                    .with_error_code(ErrorCode::CoordinatorNotAvailable.code())
            })
            .collect();
        return Answer::Now(DescribeGroupsResponse::default().with_groups(groups));
    };
    let groups = request
        .groups
        .into_iter()
        .zip(summaries)
        .map(|(id, summary)| {
            let members = summary
                .members
                .iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.id.clone()))
                        .with_group_instance_id(if ctx.version >= 4 {
                            m.instance_id.clone().map(str_bytes)
                        } else {
                            None
                        })
                        .with_client_id(str_bytes(m.client_id.clone()))
                        .with_client_host(str_bytes(m.client_host.clone()))
                        .with_member_metadata(m.metadata(&summary.protocol).cloned().unwrap_or_default())
                        .with_member_assignment(m.assignment.clone())
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes(summary.state.name()))
                .with_protocol_type(str_bytes(summary.protocol_type))
                .with_protocol_data(str_bytes(summary.protocol))
                .with_members(members)
        })
        .collect();
    Answer::Now(DescribeGroupsResponse::default().with_groups(groups))
}

//! Consumer groups and their committed offsets.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetDeleteRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use super::Admin;
use super::client::{Outcomes, item_error};
use crate::consumer::assignor::decode_assignment;
use crate::error::ClientError;
use crate::offsets::{self, OffsetAndMetadata, at_coordinator};
use crate::topic_partition::TopicPartition;

/// A group in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// `consumer` for consumer groups (empty for groups that only commit offsets).
    pub protocol_type: String,
    /// State (`Stable`, `Empty`, ...), if the broker reports it (ListGroups v4+).
    pub state: Option<String>,
}

/// A group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address as the broker saw it (`/127.0.0.1`).
    pub host: String,
    /// The partitions assigned to it (consumer groups only).
    pub assignment: Vec<TopicPartition>,
}

/// A group's state and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead`.
    pub state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// The assignor in use (`range`, ...), while the group has members.
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

impl Admin {
    /// Every group on every broker, sorted by id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, ClientError> {
        self.cluster.refresh(Some(&[]), false).await?;
        let mut groups: BTreeMap<String, GroupListing> = BTreeMap::new();
        for broker in self.cluster.brokers() {
            let connection = self.cluster.broker(broker.id).await?;
            let version = connection.version::<ListGroupsRequest>(Some(4))?;
            let response = connection.send_version(version, &ListGroupsRequest::default()).await?;
            item_error(
                "ListGroups",
                response.error_code,
                None,
                &format!("broker {}", broker.id),
            )?;
            for g in response.groups {
                let listing = GroupListing {
                    group_id: g.group_id.0.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    state: (version >= 4).then(|| g.group_state.to_string()),
                };
                groups.insert(listing.group_id.clone(), listing);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Describes groups; a group that does not exist is described in state `Dead`, as Kafka does.
    pub async fn describe_groups(&self, groups: &[String]) -> Result<Vec<GroupDescription>, ClientError> {
        let mut described = Vec::with_capacity(groups.len());
        for group in groups {
            let response = at_coordinator(&self.cluster, group, "describing a group", async |connection| {
                let version = connection.version::<DescribeGroupsRequest>(Some(5))?;
                let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
                let response = connection.send_version(version, &request).await?;
                // A coordinator error on the group itself is retried (the coordinator moved).
                if let Some(g) = response.groups.first() {
                    if let Some(error) = ClientError::from_code("DescribeGroups", g.error_code, Some(group)) {
                        if error.is_retriable() {
                            return Err(error);
                        }
                    }
                }
                Ok(response)
            })
            .await?;
            let Some(g) = response.groups.into_iter().next() else {
                return Err(ClientError::Protocol {
                    what: "DescribeGroups",
                    reason: format!("no result for group {group}"),
                });
            };
            item_error(
                "DescribeGroups",
                g.error_code,
                g.error_message.as_ref().map(|m| m.as_str()),
                group,
            )?;
            let consumer = g.protocol_type.as_str() == "consumer";
            let members = g
                .members
                .iter()
                .map(|m| {
                    let assignment = if consumer && !m.member_assignment.is_empty() {
                        match decode_assignment(&m.member_assignment) {
                            Ok((partitions, _)) => partitions,
                            Err(e) => {
                                debug!(group = %group, member = %m.member_id.as_str(), cause = %e, "undecodable assignment");
                                Vec::new()
                            }
                        }
                    } else {
                        Vec::new()
                    };
                    MemberDescription {
                        member_id: m.member_id.to_string(),
                        group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                        client_id: m.client_id.to_string(),
                        host: m.client_host.to_string(),
                        assignment,
                    }
                })
                .collect();
            described.push(GroupDescription {
                group_id: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                protocol: g.protocol_data.to_string(),
                members,
            });
        }
        Ok(described)
    }

    /// Deletes groups (each must be empty: no active members).
    pub async fn delete_groups(&self, groups: &[String]) -> Result<Outcomes, ClientError> {
        let mut outcomes = Outcomes::new();
        for group in groups {
            let outcome = at_coordinator(&self.cluster, group, "deleting a group", async |connection| {
                let version = connection.version::<DeleteGroupsRequest>(Some(2))?;
                let request = DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]);
                let response = connection.send_version(version, &request).await?;
                let code = response.results.first().map_or(0, |r| r.error_code);
                match ClientError::from_code("DeleteGroups", code, Some(group)) {
                    Some(error) if error.is_retriable() => Err(error),
                    Some(error) => Ok(Err(error)),
                    None => Ok(Ok(())),
                }
            })
            .await?;
            outcomes.insert(group.clone(), outcome);
        }
        Ok(outcomes)
    }

    /// The group's committed offsets, every partition it has committed.
    pub async fn list_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, ClientError> {
        offsets::fetch_committed(&self.cluster, group, None).await
    }

    /// Sets committed offsets of a group that has no active members (Kafka refuses otherwise,
    /// with UNKNOWN_MEMBER_ID).
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), ClientError> {
        offsets::commit(&self.cluster, group, None, offsets).await
    }

    /// Deletes a group's committed offsets for partitions of topics it no longer consumes.
    pub async fn delete_group_offsets(&self, group: &str, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        let mut topics: Vec<OffsetDeleteRequestTopic> = Vec::new();
        for tp in partitions {
            let partition = OffsetDeleteRequestPartition::default().with_partition_index(tp.partition);
            match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let request = OffsetDeleteRequest::default()
            .with_group_id(group_id(group))
            .with_topics(topics);
        at_coordinator(&self.cluster, group, "deleting committed offsets", async |connection| {
            let version = connection.version::<OffsetDeleteRequest>(Some(0))?;
            let response = connection.send_version(version, &request).await?;
            item_error("OffsetDelete", response.error_code, None, group)?;
            for topic in &response.topics {
                for p in &topic.partitions {
                    let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
                    item_error("OffsetDelete", p.error_code, None, &tp.to_string())?;
                }
            }
            Ok(())
        })
        .await
    }
}

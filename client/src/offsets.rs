//! Offset lookups and commits shared by the consumer and the admin client: ListOffsets to the
//! partition leaders, OffsetFetch and OffsetCommit to the group coordinator.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    BrokerId, GroupId, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::Cluster;
use crate::error::ClientError;
use crate::net::BrokerConnection;
use crate::retry::Retry;
use crate::topic_partition::TopicPartition;

/// What a ListOffsets lookup finds in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the high watermark, or the last stable offset with read_committed).
    Latest,
    /// The first offset whose timestamp is at or after this one (milliseconds since the epoch).
    Timestamp(i64),
    /// The offset of the record with the largest timestamp.
    MaxTimestamp,
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            Self::Earliest => -2,
            Self::Latest => -1,
            Self::MaxTimestamp => -3,
            Self::Timestamp(ts) => ts,
        }
    }
}

/// An offset ListOffsets found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset.
    pub offset: i64,
    /// The record's timestamp for timestamp lookups, else -1.
    pub timestamp: i64,
    /// Leader epoch, if the broker reported one.
    pub leader_epoch: Option<i32>,
}

/// A committed offset and the metadata string committed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset without metadata.
    pub fn new(offset: i64) -> Self {
        Self {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// The group member a commit is made by; `None` commits as a standalone (`assign`) consumer or
/// an admin client, which the coordinator accepts only while the group has no members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberIdentity {
    /// Generation of the group the member joined.
    pub generation: i32,
    /// Member id given by the coordinator.
    pub member_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

fn partition_error(api: &'static str, code: i16, tp: &TopicPartition) -> Option<ClientError> {
    ClientError::from_code(api, code, Some(&tp.to_string()))
}

/// Looks offsets up at each partition's leader; `None` where a timestamp lookup found no record.
pub(crate) async fn list_offsets(
    cluster: &Cluster,
    isolation: i8,
    specs: &[(TopicPartition, OffsetSpec)],
) -> Result<BTreeMap<TopicPartition, Option<ListedOffset>>, ClientError> {
    let config = cluster.config();
    let retry = Retry::new("listing offsets", config.api_timeout(), config.retry_backoff());
    let mut found = BTreeMap::new();
    let mut left: Vec<(TopicPartition, OffsetSpec)> = specs.to_vec();
    loop {
        let pending = std::mem::take(&mut left);
        match retry
            .attempt(list_round(cluster, isolation, pending, &mut found, &mut left))
            .await
        {
            Ok(()) => return Ok(found),
            Err(e) => retry.failed(e).await?,
        }
    }
}

/// One round: every pending lookup at its leader; what failed retriably is put back in `left`.
async fn list_round(
    cluster: &Cluster,
    isolation: i8,
    pending: Vec<(TopicPartition, OffsetSpec)>,
    found: &mut BTreeMap<TopicPartition, Option<ListedOffset>>,
    left: &mut Vec<(TopicPartition, OffsetSpec)>,
) -> Result<(), ClientError> {
    let mut by_leader: HashMap<i32, Vec<(TopicPartition, OffsetSpec)>> = HashMap::new();
    let mut pending = pending.into_iter();
    while let Some((tp, spec)) = pending.next() {
        match cluster.leader(&tp.topic, tp.partition).await {
            Ok((leader, _)) => by_leader.entry(leader).or_default().push((tp, spec)),
            Err(e) => {
                left.push((tp, spec));
                left.extend(pending);
                left.extend(by_leader.into_values().flatten());
                return Err(e);
            }
        }
    }
    let mut first_error = None;
    for (leader, specs) in by_leader {
        if let Err(e) = list_at(cluster, leader, isolation, &specs, found, left).await {
            left.extend(specs.into_iter().filter(|(tp, _)| !found.contains_key(tp)));
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None if !left.is_empty() => Err(ClientError::Kafka {
            api: "ListOffsets",
            error: ResponseError::NotLeaderOrFollower,
            message: Some(format!("{} partitions moved", left.len())),
        }),
        None => Ok(()),
    }
}

/// One ListOffsets request to `leader`; partitions that failed retriably go to `left`.
async fn list_at(
    cluster: &Cluster,
    leader: i32,
    isolation: i8,
    specs: &[(TopicPartition, OffsetSpec)],
    found: &mut BTreeMap<TopicPartition, Option<ListedOffset>>,
    left: &mut Vec<(TopicPartition, OffsetSpec)>,
) -> Result<(), ClientError> {
    let connection = cluster.broker(leader).await?;
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (tp, spec) in specs {
        let partition = ListOffsetsPartition::default()
            .with_partition_index(tp.partition)
            .with_current_leader_epoch(-1)
            .with_timestamp(spec.wire());
        match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(name(&tp.topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let needs_v7 = specs.iter().any(|(_, s)| *s == OffsetSpec::MaxTimestamp);
    let version = connection.version::<ListOffsetsRequest>(Some(7))?;
    if needs_v7 && version < 7 {
        return Err(ClientError::Unsupported {
            api: "ListOffsets (max timestamp)",
            min: 7,
            max: 7,
        });
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(topics);
    let response = connection.send_version(version, &request).await?;
    for topic in &response.topics {
        for p in &topic.partitions {
            let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
            let Some(spec) = specs.iter().find(|(t, _)| *t == tp).map(|(_, s)| *s) else {
                continue;
            };
            match partition_error("ListOffsets", p.error_code, &tp) {
                None => {
                    let listed = (p.offset >= 0).then_some(ListedOffset {
                        offset: p.offset,
                        timestamp: p.timestamp,
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    });
                    found.insert(tp, listed);
                }
                Some(e) if e.is_retriable() => {
                    cluster.invalidate(&tp.topic);
                    left.push((tp, spec));
                }
                Some(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Errors after which the group's coordinator must be looked up again.
fn coordinator_moved(error: &ClientError) -> bool {
    matches!(
        error.kafka(),
        Some(ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable)
    ) || matches!(error, ClientError::Connection { .. })
}

/// Runs `attempt` against the group's coordinator with retries, finding it again when it moved.
/// Each attempt owns what it needs (the futures are spawned-safe).
pub(crate) async fn at_coordinator<T, Fut>(
    cluster: &Cluster,
    group: &str,
    what: &'static str,
    attempt: impl Fn(BrokerConnection) -> Fut,
) -> Result<T, ClientError>
where
    Fut: Future<Output = Result<T, ClientError>>,
{
    let config = cluster.config();
    let retry = Retry::new(what, config.api_timeout(), config.retry_backoff());
    loop {
        let result = retry
            .attempt(async {
                let connection = cluster.coordinator(group).await?;
                attempt(connection).await
            })
            .await;
        match result {
            Ok(value) => return Ok(value),
            Err(e) => {
                if coordinator_moved(&e) {
                    cluster.forget_coordinator(group);
                }
                retry.failed(e).await?;
            }
        }
    }
}

/// The group's committed offsets for `partitions` (`None`: every partition it has committed).
/// Partitions without a committed offset are absent.
pub(crate) async fn fetch_committed(
    cluster: &Cluster,
    group: &str,
    partitions: Option<&[TopicPartition]>,
) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, ClientError> {
    let topics = partitions.map(|partitions| {
        let mut topics: Vec<OffsetFetchRequestTopic> = Vec::new();
        for tp in partitions {
            match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
                Some(topic) => topic.partition_indexes.push(tp.partition),
                None => topics.push(
                    OffsetFetchRequestTopic::default()
                        .with_name(name(&tp.topic))
                        .with_partition_indexes(vec![tp.partition]),
                ),
            }
        }
        topics
    });
    at_coordinator(cluster, group, "fetching committed offsets", |connection| {
        let topics = topics.clone();
        let group = group.to_owned();
        async move {
            let version = connection.version::<OffsetFetchRequest>(Some(7))?;
            if topics.is_none() && version < 2 {
                return Err(ClientError::Unsupported {
                    api: "OffsetFetch (all partitions)",
                    min: 2,
                    max: 7,
                });
            }
            let request = OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                .with_topics(topics)
                .with_require_stable(version >= 7);
            let response = connection.send_version(version, &request).await?;
            if let Some(e) = ClientError::from_code("OffsetFetch", response.error_code, Some(&group)) {
                return Err(e);
            }
            let mut committed = BTreeMap::new();
            for topic in &response.topics {
                for p in &topic.partitions {
                    let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
                    if let Some(e) = partition_error("OffsetFetch", p.error_code, &tp) {
                        return Err(e);
                    }
                    if p.committed_offset >= 0 {
                        committed.insert(
                            tp,
                            OffsetAndMetadata {
                                offset: p.committed_offset,
                                leader_epoch: (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
                                metadata: p.metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                            },
                        );
                    }
                }
            }
            Ok(committed)
        }
    })
    .await
}

/// Commits `offsets` for the group. A partition the coordinator refuses fails the whole call
/// with its error (for a member: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS
/// mean the group rebalanced and the partitions may belong to someone else now).
pub(crate) async fn commit(
    cluster: &Cluster,
    group: &str,
    member: Option<&MemberIdentity>,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Result<(), ClientError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (tp, offset) in offsets {
        let partition = OffsetCommitRequestPartition::default()
            .with_partition_index(tp.partition)
            .with_committed_offset(offset.offset)
            .with_committed_leader_epoch(offset.leader_epoch.unwrap_or(-1))
            .with_committed_metadata(Some(StrBytes::from_string(offset.metadata.clone())));
        match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(name(&tp.topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_generation_id_or_member_epoch(member.map_or(-1, |m| m.generation))
        .with_member_id(StrBytes::from_string(
            member.map(|m| m.member_id.clone()).unwrap_or_default(),
        ))
        .with_group_instance_id(
            member
                .and_then(|m| m.group_instance_id.clone())
                .map(StrBytes::from_string),
        )
        .with_retention_time_ms(-1)
        .with_topics(topics);
    at_coordinator(cluster, group, "committing offsets", |connection: BrokerConnection| {
        let request = request.clone();
        async move {
            let version = connection.version::<OffsetCommitRequest>(Some(8))?;
            let request = if version < 7 {
                request.with_group_instance_id(None)
            } else {
                request
            };
            let response = connection.send_version(version, &request).await?;
            for topic in &response.topics {
                for p in &topic.partitions {
                    let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
                    if let Some(e) = partition_error("OffsetCommit", p.error_code, &tp) {
                        return Err(e);
                    }
                }
            }
            Ok(())
        }
    })
    .await
}

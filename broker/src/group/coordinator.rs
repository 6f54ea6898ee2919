//! The group coordinator: one actor task owning every group and every committed offset.
//!
//! Handlers send it commands over a bounded channel; answers go back on oneshot channels. A
//! JoinGroup or SyncGroup that must wait for other members is parked by request id and answered
//! when the group's state machine releases it. Timers (sessions, rebalance deadlines) are the
//! groups' own deadlines, checked by the actor loop. Every change that must survive a restart is
//! appended to `__consumer_offsets` before the request that caused it is answered; the actor
//! replays that topic when it starts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::group::{Group, GroupTimings, JoinResult, Reply, SyncResult};
use super::member::{Member, RequestId};
use super::offsets_topic::{GroupValue, Key, OffsetValue, StoredMember, partition_for};
use super::state::GroupState;
pub(crate) use super::store::OffsetsTopicConfig;
use super::store::{self, Record};
use super::{Join, Sync};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::error_code::ErrorCode;

/// Coordinator settings, from the broker configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoordinatorConfig {
    pub(crate) timings: GroupTimings,
    pub(crate) min_session_timeout_ms: i32,
    pub(crate) max_session_timeout_ms: i32,
    pub(crate) max_group_size: usize,
    pub(crate) offsets_topic: OffsetsTopicConfig,
    pub(crate) offsets_retention_ms: i64,
    pub(crate) offsets_retention_check_ms: u64,
    pub(crate) offset_metadata_max_bytes: usize,
}

/// A committed offset, as a request gives it.
#[derive(Debug, Clone)]
pub(crate) struct CommitEntry {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) value: OffsetValue,
}

/// What DescribeGroups and ListGroups report about a group.
#[derive(Debug, Clone)]
pub(crate) struct GroupSummary {
    pub(crate) group_id: String,
    pub(crate) state: GroupState,
    pub(crate) protocol_type: String,
    pub(crate) protocol: String,
    pub(crate) members: Vec<Member>,
}

type Committed = Vec<(String, i32, Option<OffsetValue>)>;

/// A request to the coordinator actor.
pub(crate) enum Command {
    Join {
        group: String,
        join: Join,
        reply: oneshot::Sender<JoinResult>,
    },
    Sync {
        group: String,
        sync: Sync,
        reply: oneshot::Sender<SyncResult>,
    },
    Heartbeat {
        group: String,
        member_id: String,
        instance_id: Option<String>,
        generation: i32,
        reply: oneshot::Sender<ErrorCode>,
    },
    Leave {
        group: String,
        members: Vec<(String, Option<String>)>,
        reply: oneshot::Sender<Result<Vec<ErrorCode>, ErrorCode>>,
    },
    Commit {
        group: String,
        member_id: String,
        instance_id: Option<String>,
        generation: i32,
        entries: Vec<CommitEntry>,
        reply: oneshot::Sender<Result<Vec<ErrorCode>, ErrorCode>>,
    },
    Fetch {
        group: String,
        topics: Option<Vec<(String, Vec<i32>)>>,
        reply: oneshot::Sender<Committed>,
    },
    Describe {
        groups: Vec<String>,
        reply: oneshot::Sender<Vec<GroupSummary>>,
    },
    List {
        reply: oneshot::Sender<Vec<GroupSummary>>,
    },
    Delete {
        groups: Vec<String>,
        reply: oneshot::Sender<Vec<ErrorCode>>,
    },
    DeleteOffsets {
        group: String,
        partitions: Vec<(String, i32)>,
        reply: oneshot::Sender<Result<Vec<ErrorCode>, ErrorCode>>,
    },
}

/// The handlers' side of the coordinator.
#[derive(Debug, Clone)]
pub(crate) struct CoordinatorHandle {
    tx: mpsc::Sender<Command>,
}

/// The receiving end, handed to [`run`] when the broker starts serving.
pub(crate) type Coordinator = mpsc::Receiver<Command>;

/// Creates the coordinator's channel.
pub(crate) fn channel() -> (CoordinatorHandle, Coordinator) {
    let (tx, rx) = mpsc::channel(1024);
    (CoordinatorHandle { tx }, rx)
}

/// The coordinator is gone (the broker is shutting down).
const GONE: ErrorCode = ErrorCode::CoordinatorNotAvailable;

impl CoordinatorHandle {
    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(command(reply)).await.ok()?;
        rx.await.ok()
    }

    pub(crate) async fn join(&self, group: String, join: Join) -> JoinResult {
        let member_id = join.member_id.clone();
        self.ask(|reply| Command::Join { group, join, reply })
            .await
            .unwrap_or_else(|| JoinResult::error(GONE, &member_id))
    }

    pub(crate) async fn sync(&self, group: String, sync: Sync) -> SyncResult {
        self.ask(|reply| Command::Sync { group, sync, reply })
            .await
            .unwrap_or_else(|| SyncResult::error(GONE))
    }

    pub(crate) async fn heartbeat(
        &self,
        group: String,
        member_id: String,
        instance_id: Option<String>,
        generation: i32,
    ) -> ErrorCode {
        self.ask(|reply| Command::Heartbeat {
            group,
            member_id,
            instance_id,
            generation,
            reply,
        })
        .await
        .unwrap_or(GONE)
    }

    pub(crate) async fn leave(
        &self,
        group: String,
        members: Vec<(String, Option<String>)>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.ask(|reply| Command::Leave { group, members, reply })
            .await
            .unwrap_or(Err(GONE))
    }

    pub(crate) async fn commit(
        &self,
        group: String,
        member_id: String,
        instance_id: Option<String>,
        generation: i32,
        entries: Vec<CommitEntry>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.ask(|reply| Command::Commit {
            group,
            member_id,
            instance_id,
            generation,
            entries,
            reply,
        })
        .await
        .unwrap_or(Err(GONE))
    }

    pub(crate) async fn fetch(&self, group: String, topics: Option<Vec<(String, Vec<i32>)>>) -> Option<Committed> {
        self.ask(|reply| Command::Fetch { group, topics, reply }).await
    }

    pub(crate) async fn describe(&self, groups: Vec<String>) -> Option<Vec<GroupSummary>> {
        self.ask(|reply| Command::Describe { groups, reply }).await
    }

    pub(crate) async fn list(&self) -> Option<Vec<GroupSummary>> {
        self.ask(|reply| Command::List { reply }).await
    }

    pub(crate) async fn delete(&self, groups: Vec<String>) -> Option<Vec<ErrorCode>> {
        self.ask(|reply| Command::Delete { groups, reply }).await
    }

    pub(crate) async fn delete_offsets(
        &self,
        group: String,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.ask(|reply| Command::DeleteOffsets {
            group,
            partitions,
            reply,
        })
        .await
        .unwrap_or(Err(GONE))
    }
}

/// The actor's state.
struct Actor {
    broker: Arc<Broker>,
    config: CoordinatorConfig,
    groups: HashMap<String, Group>,
    offsets: HashMap<String, BTreeMap<(String, i32), OffsetValue>>,
    /// When each memberless group became empty (wall ms), for offsets retention.
    empty_since: HashMap<String, i64>,
    joins: HashMap<RequestId, oneshot::Sender<JoinResult>>,
    syncs: HashMap<RequestId, oneshot::Sender<SyncResult>>,
    next_request: RequestId,
    epoch: Instant,
}

/// Runs the coordinator until the broker shuts down.
pub(crate) async fn run(broker: Arc<Broker>, config: CoordinatorConfig, mut rx: Coordinator) {
    let mut actor = Actor {
        broker,
        config,
        groups: HashMap::new(),
        offsets: HashMap::new(),
        empty_since: HashMap::new(),
        joins: HashMap::new(),
        syncs: HashMap::new(),
        next_request: 0,
        epoch: Instant::now(),
    };
    actor.load().await;
    let mut retention = tokio::time::interval(Duration::from_millis(config.offsets_retention_check_ms.max(1)));
    retention.tick().await;
    loop {
        let deadline = actor
            .groups
            .values()
            .filter_map(Group::next_deadline)
            .min()
            .map(|ms| actor.epoch + Duration::from_millis(ms));
        let shutdown = actor.broker.shutdown.clone();
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            command = rx.recv() => match command {
                Some(command) => actor.handle(command).await,
                None => return,
            },
            () = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } else { std::future::pending().await } } => actor.tick().await,
            _ = retention.tick() => actor.expire_offsets().await,
        }
    }
}

impl Actor {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn group_mut(&mut self, id: &str) -> &mut Group {
        let timings = self.config.timings;
        self.groups
            .entry(id.to_owned())
            .or_insert_with(|| Group::new(id, timings))
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Join { group, mut join, reply } => {
                if group.is_empty() {
                    let _ = reply.send(JoinResult::error(ErrorCode::InvalidGroupId, &join.member_id));
                    return;
                }
                let session = join.session_timeout_ms as i64;
                if session < i64::from(self.config.min_session_timeout_ms)
                    || session > i64::from(self.config.max_session_timeout_ms)
                {
                    let _ = reply.send(JoinResult::error(ErrorCode::InvalidSessionTimeout, &join.member_id));
                    return;
                }
                let max = self.config.max_group_size;
                let g = self.group_mut(&group);
                if join.member_id.is_empty() && g.members.len() + g.pending.len() >= max {
                    let _ = reply.send(JoinResult::error(ErrorCode::GroupMaxSizeReached, &join.member_id));
                    return;
                }
                self.next_request += 1;
                join.request = self.next_request;
                self.joins.insert(join.request, reply);
                let now = self.now();
                let replies = self.group_mut(&group).join(join, now);
                self.settle(&group, replies).await;
            }
            Command::Sync { group, mut sync, reply } => {
                self.next_request += 1;
                sync.request = self.next_request;
                self.syncs.insert(sync.request, reply);
                let now = self.now();
                let replies = match self.groups.get_mut(&group) {
                    Some(g) => g.sync(sync, now),
                    None => vec![Reply::Sync(sync.request, SyncResult::error(ErrorCode::UnknownMemberId))],
                };
                self.settle(&group, replies).await;
            }
            Command::Heartbeat {
                group,
                member_id,
                instance_id,
                generation,
                reply,
            } => {
                let now = self.now();
                let error = match self.groups.get_mut(&group) {
                    Some(g) => g.heartbeat(&member_id, instance_id.as_deref(), generation, now),
                    None => ErrorCode::UnknownMemberId,
                };
                let _ = reply.send(error);
            }
            Command::Leave { group, members, reply } => {
                let now = self.now();
                let Some(g) = self.groups.get_mut(&group) else {
                    let _ = reply.send(Ok(vec![ErrorCode::UnknownMemberId; members.len()]));
                    return;
                };
                let (errors, replies) = g.leave(&members, now);
                self.settle(&group, replies).await;
                let _ = reply.send(Ok(errors));
            }
            Command::Commit {
                group,
                member_id,
                instance_id,
                generation,
                entries,
                reply,
            } => {
                let result = self
                    .commit(&group, &member_id, instance_id.as_deref(), generation, entries)
                    .await;
                let _ = reply.send(result);
            }
            Command::Fetch { group, topics, reply } => {
                let _ = reply.send(self.committed(&group, topics));
            }
            Command::Describe { groups, reply } => {
                let _ = reply.send(groups.iter().map(|g| self.summary(g)).collect());
            }
            Command::List { reply } => {
                let mut ids: Vec<&String> = self.groups.keys().chain(self.offsets.keys()).collect();
                ids.sort();
                ids.dedup();
                let summaries = ids.into_iter().map(|g| self.summary(g)).collect();
                let _ = reply.send(summaries);
            }
            Command::Delete { groups, reply } => {
                let mut errors = Vec::with_capacity(groups.len());
                for group in groups {
                    errors.push(self.delete_group(&group).await);
                }
                let _ = reply.send(errors);
            }
            Command::DeleteOffsets {
                group,
                partitions,
                reply,
            } => {
                let _ = reply.send(self.delete_offsets(&group, partitions).await);
            }
        }
    }

    /// Sends released replies and persists the group if it changed.
    async fn settle(&mut self, group: &str, replies: Vec<Reply>) {
        let changed = self.groups.get_mut(group).is_some_and(|g| std::mem::take(&mut g.dirty));
        let persisted = if changed {
            self.persist_group(group).await
        } else {
            Ok(())
        };
        for reply in replies {
            match reply {
                Reply::Join(id, mut result) => {
                    if let (Err(code), ErrorCode::None) = (persisted, result.error) {
                        result.error = code;
                    }
                    if let Some(tx) = self.joins.remove(&id) {
                        let _ = tx.send(result);
                    }
                }
                Reply::Sync(id, mut result) => {
                    if let (Err(code), ErrorCode::None) = (persisted, result.error) {
                        result.error = code;
                    }
                    if let Some(tx) = self.syncs.remove(&id) {
                        let _ = tx.send(result);
                    }
                }
            }
        }
        if let Some(g) = self.groups.get(group) {
            if g.members.is_empty() && g.state == GroupState::Empty {
                self.empty_since.entry(group.to_owned()).or_insert_with(now_ms);
            } else {
                self.empty_since.remove(group);
            }
        }
    }

    async fn tick(&mut self) {
        let now = self.now();
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for group in due {
            let replies = match self.groups.get_mut(&group) {
                Some(g) => g.tick(now),
                None => continue,
            };
            if !replies.is_empty() || self.groups.get(&group).is_some_and(|g| g.dirty) {
                debug!(group, "group timers fired");
            }
            self.settle(&group, replies).await;
        }
    }

    /// Appends records for `group` to its partition of `__consumer_offsets`, waiting for the
    /// flush if the topic's policy asks for one.
    async fn append(&self, group: &str, records: Vec<Record>) -> Result<(), ErrorCode> {
        let topic = store::ensure_topic(&self.broker.topics, self.config.offsets_topic)
            .await
            .map_err(|e| {
                error!(cause = %e, "cannot create the offsets topic");
                ErrorCode::CoordinatorNotAvailable
            })?;
        let partition_count = topic.partitions().len() as i32;
        let index = partition_for(group, partition_count);
        let writer = Arc::clone(&topic);
        let appended = tokio::task::spawn_blocking(move || store::append(&writer, index, &records)).await;
        match appended {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                error!(group, cause = %e, "writing to the offsets topic failed");
                Err(ErrorCode::KafkaStorageError)
            }
            Err(e) => {
                error!(group, cause = %e, "writing to the offsets topic panicked");
                Err(ErrorCode::UnknownServerError)
            }
        }
    }

    async fn persist_group(&self, group: &str) -> Result<(), ErrorCode> {
        let Some(g) = self.groups.get(group) else { return Ok(()) };
        let protocol = g.protocol.clone().unwrap_or_default();
        let value = GroupValue {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation,
            protocol: g.protocol.clone(),
            leader: g.leader.clone(),
            state_timestamp: now_ms(),
            members: g
                .members
                .iter()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms as i32,
                    session_timeout_ms: m.session_timeout_ms as i32,
                    subscription: m.metadata(&protocol).cloned().unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        };
        self.append(
            group,
            vec![(
                Key::Group {
                    group: group.to_owned(),
                },
                Some(value.encode()),
            )],
        )
        .await
    }

    async fn commit(
        &mut self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        entries: Vec<CommitEntry>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        if group.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        match self.groups.get(group) {
            Some(g) => g.check_commit(member_id, instance_id, generation)?,
            // A group that does not exist takes commits only from standalone consumers.
            None if generation >= 0 || !member_id.is_empty() => return Err(ErrorCode::UnknownMemberId),
            None => {}
        }
        let mut errors = Vec::with_capacity(entries.len());
        let mut records = Vec::new();
        let mut accepted = Vec::new();
        for entry in entries {
            let exists = self
                .broker
                .topics
                .get(&entry.topic)
                .is_some_and(|t| t.partition(entry.partition).is_some());
            let error = if !exists {
                ErrorCode::UnknownTopicOrPartition
            } else if entry.value.metadata.len() > self.config.offset_metadata_max_bytes {
                ErrorCode::OffsetMetadataTooLarge
            } else {
                let key = Key::Offset {
                    group: group.to_owned(),
                    topic: entry.topic.clone(),
                    partition: entry.partition,
                };
                records.push((key, Some(entry.value.encode())));
                accepted.push(entry);
                ErrorCode::None
            };
            errors.push(error);
        }
        if !records.is_empty() {
            if let Err(code) = self.append(group, records).await {
                return Ok(errors
                    .into_iter()
                    .map(|e| if e == ErrorCode::None { code } else { e })
                    .collect());
            }
        }
        let offsets = self.offsets.entry(group.to_owned()).or_default();
        for entry in accepted {
            offsets.insert((entry.topic, entry.partition), entry.value);
        }
        if self.groups.get(group).is_none_or(|g| g.members.is_empty()) {
            self.empty_since.insert(group.to_owned(), now_ms());
        }
        Ok(errors)
    }

    fn committed(&self, group: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> Committed {
        let offsets = self.offsets.get(group);
        match topics {
            None => offsets
                .map(|o| o.iter().map(|((t, p), v)| (t.clone(), *p, Some(v.clone()))).collect())
                .unwrap_or_default(),
            Some(topics) => topics
                .into_iter()
                .flat_map(|(topic, partitions)| {
                    partitions.into_iter().map(move |p| {
                        let value = offsets.and_then(|o| o.get(&(topic.clone(), p))).cloned();
                        (topic.clone(), p, value)
                    })
                })
                .collect(),
        }
    }

    fn summary(&self, group: &str) -> GroupSummary {
        match self.groups.get(group) {
            Some(g) => GroupSummary {
                group_id: g.id.clone(),
                state: g.state,
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                protocol: g.protocol.clone().unwrap_or_default(),
                members: g.members.clone(),
            },
            None if self.offsets.contains_key(group) => GroupSummary {
                group_id: group.to_owned(),
                state: GroupState::Empty,
                protocol_type: "consumer".to_owned(),
                protocol: String::new(),
                members: Vec::new(),
            },
            None => GroupSummary {
                group_id: group.to_owned(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            },
        }
    }

    /// Tombstones for a group's metadata and all its offsets.
    fn tombstones(&self, group: &str) -> Vec<Record> {
        let mut records: Vec<Record> = self
            .offsets
            .get(group)
            .map(|o| {
                o.keys()
                    .map(|(topic, partition)| {
                        (
                            Key::Offset {
                                group: group.to_owned(),
                                topic: topic.clone(),
                                partition: *partition,
                            },
                            None,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push((
            Key::Group {
                group: group.to_owned(),
            },
            None,
        ));
        records
    }

    async fn delete_group(&mut self, group: &str) -> ErrorCode {
        match self.groups.get(group) {
            Some(g) if !g.members.is_empty() || g.state != GroupState::Empty => return ErrorCode::NonEmptyGroup,
            None if !self.offsets.contains_key(group) => return ErrorCode::GroupIdNotFound,
            _ => {}
        }
        if let Err(code) = self.append(group, self.tombstones(group)).await {
            return code;
        }
        self.groups.remove(group);
        self.offsets.remove(group);
        self.empty_since.remove(group);
        info!(group, "deleted group");
        ErrorCode::None
    }

    async fn delete_offsets(
        &mut self,
        group: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let summary = self.summary(group);
        if summary.state == GroupState::Dead {
            return Err(ErrorCode::GroupIdNotFound);
        }
        let subscribed = subscribed_topics(&summary);
        let mut errors = Vec::with_capacity(partitions.len());
        let mut records = Vec::new();
        for (topic, partition) in &partitions {
            if subscribed.iter().any(|t| t == topic) {
                errors.push(ErrorCode::GroupSubscribedToTopic);
            } else {
                errors.push(ErrorCode::None);
                records.push((
                    Key::Offset {
                        group: group.to_owned(),
                        topic: topic.clone(),
                        partition: *partition,
                    },
                    None,
                ));
            }
        }
        if !records.is_empty() {
            self.append(group, records).await?;
            if let Some(offsets) = self.offsets.get_mut(group) {
                for ((topic, partition), error) in partitions.iter().zip(&errors) {
                    if *error == ErrorCode::None {
                        offsets.remove(&(topic.clone(), *partition));
                    }
                }
            }
        }
        Ok(errors)
    }

    /// Expires the offsets of groups that have had no members for `offsets.retention.minutes`,
    /// and forgets such groups once nothing of them remains.
    async fn expire_offsets(&mut self) {
        let now = now_ms();
        let retention = self.config.offsets_retention_ms;
        let expired = expired_groups(&self.empty_since, &self.groups, now, retention);
        for group in expired {
            if self.append(&group, self.tombstones(&group)).await.is_ok() {
                info!(group, "expired the offsets of an empty group");
                self.offsets.remove(&group);
                self.groups.remove(&group);
                self.empty_since.remove(&group);
            }
        }
    }

    /// Replays `__consumer_offsets`: offsets and group metadata, tombstones deleting.
    async fn load(&mut self) {
        let Some(topic) = self.broker.topics.get(super::offsets_topic::TOPIC) else {
            return;
        };
        let records = match tokio::task::spawn_blocking(move || store::read_all(&topic)).await {
            Ok(records) => records,
            Err(e) => {
                error!(cause = %e, "loading the offsets topic panicked");
                return;
            }
        };
        let mut groups: HashMap<String, GroupValue> = HashMap::new();
        for (key, value) in records {
            match (key, value) {
                (
                    Key::Offset {
                        group,
                        topic,
                        partition,
                    },
                    Some(value),
                ) => match OffsetValue::decode(&value) {
                    Ok(offset) => {
                        self.offsets
                            .entry(group)
                            .or_default()
                            .insert((topic, partition), offset);
                    }
                    Err(e) => warn!(group, cause = %e, "skipping unreadable committed offset"),
                },
                (
                    Key::Offset {
                        group,
                        topic,
                        partition,
                    },
                    None,
                ) => {
                    if let Some(o) = self.offsets.get_mut(&group) {
                        o.remove(&(topic, partition));
                    }
                }
                (Key::Group { group }, Some(value)) => match GroupValue::decode(&value) {
                    Ok(v) => {
                        groups.insert(group, v);
                    }
                    Err(e) => warn!(group, cause = %e, "skipping unreadable group metadata"),
                },
                (Key::Group { group }, None) => {
                    groups.remove(&group);
                }
            }
        }
        self.offsets.retain(|_, o| !o.is_empty());
        let now = self.now();
        for (id, value) in groups {
            let group = restore(&id, value, self.config.timings, now);
            if group.members.is_empty() {
                self.empty_since.insert(id.clone(), now_ms());
            }
            self.groups.insert(id, group);
        }
        for id in self.offsets.keys() {
            self.empty_since.entry(id.clone()).or_insert_with(now_ms);
        }
        info!(
            groups = self.groups.len(),
            with_offsets = self.offsets.len(),
            "loaded consumer groups"
        );
    }
}

/// Groups whose offsets have outlived `offsets.retention.minutes`: without members for longer
/// than the retention (Kafka 2.1+, KIP-211), counted from when the group last became empty or
/// last committed.
fn expired_groups(
    empty_since: &HashMap<String, i64>,
    groups: &HashMap<String, Group>,
    now: i64,
    retention: i64,
) -> Vec<String> {
    let mut expired: Vec<String> = empty_since
        .iter()
        .filter(|(g, since)| {
            now.saturating_sub(**since) > retention && groups.get(*g).is_none_or(|x| x.members.is_empty())
        })
        .map(|(g, _)| g.clone())
        .collect();
    expired.sort();
    expired
}

/// Rebuilds a group from its stored metadata. Members get a fresh session: they keep their
/// assignment if they heartbeat (or, static members, rejoin) in time, and are removed otherwise.
fn restore(id: &str, value: GroupValue, timings: GroupTimings, now: u64) -> Group {
    let mut group = Group::new(id, timings);
    group.generation = value.generation;
    group.protocol_type = (!value.protocol_type.is_empty()).then_some(value.protocol_type);
    group.protocol = value.protocol.clone();
    group.leader = value.leader;
    let protocol = value.protocol.unwrap_or_default();
    group.members = value
        .members
        .into_iter()
        .map(|m| {
            let mut member = Member {
                id: m.member_id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms.max(0) as u64,
                rebalance_timeout_ms: m.rebalance_timeout_ms.max(0) as u64,
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                awaiting_join: None,
                awaiting_sync: None,
                session_deadline: 0,
            };
            member.touch(now);
            member
        })
        .collect();
    group.state = if group.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    group
}

/// Topics a consumer group's members subscribe to, from their `consumer` protocol metadata.
fn subscribed_topics(summary: &GroupSummary) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    if summary.protocol_type != "consumer" || summary.state != GroupState::Stable {
        return Vec::new();
    }
    let mut topics = Vec::new();
    for member in &summary.members {
        let Some(metadata) = member.metadata(&summary.protocol) else {
            continue;
        };
        let mut buf = metadata.clone();
        if buf.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([buf[0], buf[1]]);
        let _ = bytes::Buf::get_i16(&mut buf);
        if let Ok(subscription) = ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3)) {
            topics.extend(subscription.topics.into_iter().map(|t| t.to_string()));
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_expire_only_for_groups_empty_past_the_retention() {
        let timings = GroupTimings {
            initial_rebalance_delay_ms: 0,
        };
        let mut groups = HashMap::new();
        let mut active = Group::new("active", timings);
        active.members.push(Member {
            id: "m".into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/h".into(),
            session_timeout_ms: 1,
            rebalance_timeout_ms: 1,
            protocols: Vec::new(),
            assignment: bytes::Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            session_deadline: 0,
        });
        groups.insert("active".to_owned(), active);
        groups.insert("empty".to_owned(), Group::new("empty", timings));
        let empty_since = HashMap::from([
            ("active".to_owned(), 0),
            ("empty".to_owned(), 0),
            ("offsets-only".to_owned(), 0),
            ("recent".to_owned(), 950),
        ]);
        assert_eq!(
            expired_groups(&empty_since, &groups, 1000, 100),
            vec!["empty".to_owned(), "offsets-only".to_owned()]
        );
        assert!(expired_groups(&empty_since, &groups, 50, 100).is_empty());
    }
}

//! Group membership for a subscribed consumer (Java's `ConsumerCoordinator` without the
//! commits): the join/sync round trip runs as a task that `poll` awaits for as long as it may,
//! and a heartbeat task keeps the session alive and notices rebalances, fencing and stalled
//! polling.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity as LeavingMember;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::assignor::{self, RebalanceProtocol};
use super::config::ConsumerConfig;
use crate::cluster::Cluster;
use crate::error::ClientError;
use crate::offsets::MemberIdentity;
use crate::topic_partition::TopicPartition;

const PROTOCOL_TYPE: &str = "consumer";

/// The outcome of a join/sync round.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) identity: MemberIdentity,
    pub(crate) protocol: RebalanceProtocol,
    pub(crate) assignment: Vec<TopicPartition>,
    /// As leader: what the assignment was computed from, watched for changes.
    leader_of: Option<LeaderView>,
}

/// The leader's view of the subscribed topics: every topic any member subscribes to, and the
/// partition counts of those that exist.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LeaderView {
    topics: Vec<String>,
    counts: BTreeMap<String, i32>,
}

/// What the heartbeat task found out, read by `poll`.
#[derive(Debug, Default)]
struct Signals {
    /// The current generation, while stable; heartbeats are sent only then.
    identity: Option<MemberIdentity>,
    /// A rebalance is needed.
    rejoin: bool,
    /// The member was fenced or expired: its partitions are lost.
    lost: bool,
    /// The coordinator no longer knows the member id: join as a new member.
    reset_member_id: bool,
    /// An error `poll` must report (fenced static member).
    fatal: Option<ClientError>,
    /// When `poll` last ran, for `max.poll.interval.ms`.
    last_poll: Option<Instant>,
    /// As leader, what the current assignment was computed from.
    leader_of: Option<LeaderView>,
    /// The member id a join round under way got from the coordinator: a member that leaves
    /// before the round ends leaves with it, or the coordinator would wait out its session
    /// timeout before the group could rebalance.
    joining_member_id: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    signals: Mutex<Signals>,
    wake: Notify,
}

impl Shared {
    fn signals(&self) -> std::sync::MutexGuard<'_, Signals> {
        self.signals.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn rejoin(&self, lost: bool) {
        let mut signals = self.signals();
        signals.rejoin = true;
        signals.lost |= lost;
        if lost {
            signals.identity = None;
        }
        drop(signals);
        self.wake.notify_waiters();
    }
}

/// Settings of the membership, from the consumer config.
#[derive(Debug, Clone)]
struct Settings {
    group: String,
    instance: Option<String>,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    heartbeat_interval: Duration,
    max_poll_interval: Duration,
    retry_backoff: Duration,
    request_timeout: Duration,
    metadata_max_age: Duration,
    assignors: Vec<&'static str>,
}

/// A consumer's membership in its group.
#[derive(Debug)]
pub(crate) struct Membership {
    cluster: Cluster,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    member_id: String,
    identity: Option<MemberIdentity>,
    protocol: Option<RebalanceProtocol>,
    join: Option<JoinHandle<Result<Joined, ClientError>>>,
    heartbeat: Option<JoinHandle<()>>,
    stop: CancellationToken,
}

impl Membership {
    pub(crate) fn new(cluster: Cluster, group: &str, config: &ConsumerConfig) -> Self {
        let c = &config.consumer;
        let settings = Settings {
            group: group.to_owned(),
            instance: config.group_instance_id().map(str::to_owned),
            session_timeout_ms: c.session_timeout_ms,
            rebalance_timeout_ms: c.max_poll_interval_ms,
            heartbeat_interval: Duration::from_millis(c.heartbeat_interval_ms.max(1) as u64),
            max_poll_interval: Duration::from_millis(c.max_poll_interval_ms.max(1) as u64),
            retry_backoff: config.common.retry_backoff(),
            request_timeout: config.common.request_timeout(),
            metadata_max_age: Duration::from_millis(config.common.metadata_max_age_ms.max(0) as u64),
            assignors: config.assignors(),
        };
        Self {
            cluster,
            settings: Arc::new(settings),
            shared: Arc::default(),
            member_id: String::new(),
            identity: None,
            protocol: None,
            join: None,
            heartbeat: None,
            stop: CancellationToken::new(),
        }
    }

    /// The current generation, if the member is in a stable group.
    pub(crate) fn identity(&self) -> Option<&MemberIdentity> {
        self.identity.as_ref()
    }

    /// The rebalance protocol of the current generation.
    pub(crate) fn protocol(&self) -> Option<RebalanceProtocol> {
        self.protocol
    }

    /// Records that `poll` ran (for `max.poll.interval.ms`).
    pub(crate) fn polled(&self) {
        self.shared.signals().last_poll = Some(Instant::now());
    }

    /// Whether a join/sync round is under way.
    pub(crate) fn joining(&self) -> bool {
        self.join.is_some()
    }

    /// Whether a new round must start.
    pub(crate) fn needs_join(&self) -> bool {
        self.identity.is_none() || self.shared.signals().rejoin
    }

    /// Asks for a rebalance (after a cooperative revocation, or a subscription change).
    pub(crate) fn request_rejoin(&self) {
        self.shared.rejoin(false);
    }

    /// Whether the partitions were lost (fenced or expired) since the last call.
    pub(crate) fn take_lost(&mut self) -> bool {
        let mut signals = self.shared.signals();
        let lost = std::mem::take(&mut signals.lost);
        if lost {
            self.identity = None;
        }
        lost
    }

    /// An error the heartbeat task hit that ends membership.
    pub(crate) fn take_fatal(&self) -> Option<ClientError> {
        self.shared.signals().fatal.take()
    }

    /// Resolves when the heartbeat task asks for a rebalance.
    pub(crate) async fn rejoin_requested(&self) {
        loop {
            let notified = self.shared.wake.notified();
            if self.shared.signals().rejoin {
                return;
            }
            notified.await;
        }
    }

    /// Starts a join/sync round for `topics`, telling the group what the member owns now.
    pub(crate) fn start_join(&mut self, topics: Vec<String>, owned: Vec<TopicPartition>) {
        {
            let mut signals = self.shared.signals();
            signals.rejoin = false;
            signals.identity = None;
            if std::mem::take(&mut signals.reset_member_id) {
                self.member_id.clear();
            }
        }
        let generation = self.identity.take().map_or(-1, |i| i.generation);
        let round = JoinRound {
            cluster: self.cluster.clone(),
            settings: Arc::clone(&self.settings),
            shared: Arc::clone(&self.shared),
            member_id: self.member_id.clone(),
            topics,
            owned,
            generation,
        };
        debug!(group = %self.settings.group, "joining the group");
        self.join = Some(tokio::spawn(round.run()));
    }

    /// Waits for the join round until `deadline`; `None` if it is still under way.
    pub(crate) async fn finish_join(&mut self, deadline: Instant) -> Option<Result<Joined, ClientError>> {
        let join = self.join.as_mut()?;
        let outcome = match tokio::time::timeout_at(deadline, join).await {
            Err(_) => return None,
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Err(ClientError::Closed(if e.is_cancelled() {
                "group join"
            } else {
                "group join (it panicked)"
            })),
        };
        self.join = None;
        self.shared.signals().joining_member_id = None;
        match &outcome {
            Ok(joined) => {
                self.member_id = joined.identity.member_id.clone();
                self.identity = Some(joined.identity.clone());
                self.protocol = Some(joined.protocol);
                let mut signals = self.shared.signals();
                signals.identity = Some(joined.identity.clone());
                signals.leader_of = joined.leader_of.clone();
                drop(signals);
                self.ensure_heartbeats();
            }
            Err(e) => warn!(group = %self.settings.group, cause = %e, "joining the group failed"),
        }
        Some(outcome)
    }

    fn ensure_heartbeats(&mut self) {
        if self.heartbeat.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let task = Heartbeats {
            cluster: self.cluster.clone(),
            settings: Arc::clone(&self.settings),
            shared: Arc::clone(&self.shared),
            stop: self.stop.clone(),
        };
        self.heartbeat = Some(tokio::spawn(task.run()));
    }

    /// Leaves the group (a static member stays, as in Java, so that its restart does not
    /// rebalance) and stops heartbeating.
    pub(crate) async fn leave(&mut self) {
        self.stop.cancel();
        if let Some(join) = self.join.take() {
            join.abort();
        }
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.await;
        }
        let identity = self.identity.take();
        let joining = {
            let mut signals = self.shared.signals();
            signals.identity = None;
            signals.joining_member_id.take()
        };
        if self.member_id.is_empty()
            && let Some(id) = joining
        {
            // Left during a join round: the coordinator knows the member by this id already.
            self.member_id = id;
        }
        if self.settings.instance.is_some() || self.member_id.is_empty() {
            return;
        }
        let member_id = self.member_id.clone();
        if let Err(e) = leave_group(&self.cluster, &self.settings, &member_id).await {
            debug!(group = %self.settings.group, cause = %e, "leaving the group failed");
        } else {
            info!(group = %self.settings.group, member = %member_id, generation = identity.map_or(-1, |i| i.generation), "left the group");
        }
        self.member_id.clear();
        self.stop = CancellationToken::new();
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(join) = self.join.take() {
            join.abort();
        }
    }
}

async fn leave_group(cluster: &Cluster, settings: &Settings, member_id: &str) -> Result<(), ClientError> {
    let connection = cluster.coordinator(&settings.group).await?;
    let version = connection.version::<LeaveGroupRequest>(Some(5))?;
    let request = LeaveGroupRequest::default().with_group_id(GroupId(StrBytes::from_string(settings.group.clone())));
    let request = if version >= 3 {
        request.with_members(vec![
            LeavingMember::default()
                .with_member_id(StrBytes::from_string(member_id.to_owned()))
                .with_group_instance_id(settings.instance.clone().map(StrBytes::from_string)),
        ])
    } else {
        request.with_member_id(StrBytes::from_string(member_id.to_owned()))
    };
    let response = tokio::time::timeout(settings.request_timeout, connection.send_version(version, &request))
        .await
        .map_err(|_| ClientError::Timeout {
            what: "leaving the group".to_owned(),
            ms: settings.request_timeout.as_millis() as u64,
        })??;
    let code = response
        .members
        .first()
        .map(|m| m.error_code)
        .filter(|&c| c != 0)
        .unwrap_or(response.error_code);
    ClientError::from_code("LeaveGroup", code, Some(&settings.group)).map_or(Ok(()), Err)
}

/// One join/sync round, retried through coordinator moves and concurrent rebalances.
struct JoinRound {
    cluster: Cluster,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    member_id: String,
    topics: Vec<String>,
    owned: Vec<TopicPartition>,
    generation: i32,
}

/// Errors after which the round starts again (after a pause, except for a new member id).
fn join_retriable(error: ResponseError) -> bool {
    matches!(
        error,
        ResponseError::CoordinatorNotAvailable
            | ResponseError::NotCoordinator
            | ResponseError::CoordinatorLoadInProgress
            | ResponseError::RebalanceInProgress
            | ResponseError::UnknownMemberId
            | ResponseError::IllegalGeneration
            | ResponseError::MemberIdRequired
    )
}

impl JoinRound {
    async fn run(mut self) -> Result<Joined, ClientError> {
        loop {
            match self.attempt().await {
                Ok(joined) => return Ok(joined),
                Err(Retry::Now) => {}
                Err(Retry::After(cause)) => {
                    debug!(group = %self.settings.group, cause = %cause, "rejoining");
                    tokio::time::sleep(self.settings.retry_backoff).await;
                }
                Err(Retry::Never(e)) => return Err(e),
            }
        }
    }

    /// One protocol per configured assignor, most preferred first, each carrying this member's
    /// subscription.
    fn protocols(&self) -> Result<Vec<JoinGroupRequestProtocol>, ClientError> {
        let mut protocols = Vec::new();
        for name in &self.settings.assignors {
            let Some(assignor) = assignor::assignor(name) else {
                continue;
            };
            let metadata = assignor::encode_subscription(
                &self.topics,
                &self.owned,
                self.generation,
                assignor.subscription_user_data(self.generation),
                None,
            )?;
            protocols.push(
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str(assignor.name()))
                    .with_metadata(metadata),
            );
        }
        Ok(protocols)
    }

    async fn attempt(&mut self) -> Result<Joined, Retry> {
        let s = Arc::clone(&self.settings);
        let connection = self.cluster.coordinator(&s.group).await.map_err(|e| self.retry(e))?;
        let version = connection.version::<JoinGroupRequest>(Some(7)).map_err(Retry::Never)?;
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(s.group.clone())))
            .with_session_timeout_ms(s.session_timeout_ms)
            .with_rebalance_timeout_ms(s.rebalance_timeout_ms)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(if version >= 5 {
                s.instance.clone().map(StrBytes::from_string)
            } else {
                None
            })
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
            .with_protocols(self.protocols().map_err(Retry::Never)?);
        // The coordinator holds JoinGroup until every member has joined: up to the rebalance timeout.
        let wait = Duration::from_millis(s.rebalance_timeout_ms.max(0) as u64) + s.request_timeout;
        let joined: JoinGroupResponse = tokio::time::timeout(wait, connection.send_version(version, &request))
            .await
            .map_err(|_| Retry::After("JoinGroup timed out".to_owned()))?
            .map_err(|e| self.retry(e))?;
        if let Some(error) = ResponseError::try_from_code(joined.error_code) {
            return Err(match error {
                ResponseError::MemberIdRequired => {
                    self.member_id = joined.member_id.to_string();
                    self.shared.signals().joining_member_id = Some(self.member_id.clone());
                    Retry::Now
                }
                ResponseError::UnknownMemberId => {
                    self.member_id.clear();
                    Retry::Now
                }
                ResponseError::IllegalGeneration => {
                    self.generation = -1;
                    Retry::Now
                }
                error => self.retry(ClientError::Kafka {
                    api: "JoinGroup",
                    error,
                    message: Some(s.group.clone()),
                }),
            });
        }
        self.member_id = joined.member_id.to_string();
        self.shared.signals().joining_member_id = Some(self.member_id.clone());
        let generation = joined.generation_id;
        let protocol_name = joined.protocol_name.as_ref().map(|p| p.to_string()).unwrap_or_default();
        let assignor = assignor::assignor(&protocol_name).ok_or_else(|| {
            Retry::Never(ClientError::Protocol {
                what: "JoinGroup",
                reason: format!("the group chose assignor `{protocol_name}`, which this consumer does not offer"),
            })
        })?;
        let mut leader_of = None;
        let assignments = if joined.leader == joined.member_id {
            let (assignments, view) = self.assign(&*assignor, &joined).await?;
            leader_of = Some(view);
            assignments
        } else {
            Vec::new()
        };
        let version = connection.version::<SyncGroupRequest>(Some(5)).map_err(Retry::Never)?;
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(s.group.clone())))
            .with_generation_id(generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(if version >= 3 {
                s.instance.clone().map(StrBytes::from_string)
            } else {
                None
            })
            .with_protocol_type((version >= 5).then(|| StrBytes::from_static_str(PROTOCOL_TYPE)))
            .with_protocol_name((version >= 5).then(|| StrBytes::from_string(protocol_name.clone())))
            .with_assignments(assignments);
        let synced = tokio::time::timeout(wait, connection.send_version(version, &request))
            .await
            .map_err(|_| Retry::After("SyncGroup timed out".to_owned()))?
            .map_err(|e| self.retry(e))?;
        if let Some(error) = ResponseError::try_from_code(synced.error_code) {
            if error == ResponseError::UnknownMemberId {
                self.member_id.clear();
            }
            return Err(self.retry(ClientError::Kafka {
                api: "SyncGroup",
                error,
                message: Some(s.group.clone()),
            }));
        }
        let (assignment, _) = assignor::decode_assignment(&synced.assignment).map_err(Retry::Never)?;
        info!(
            group = %s.group,
            member = %self.member_id,
            generation,
            protocol = %protocol_name,
            partitions = assignment.len(),
            "joined the group"
        );
        Ok(Joined {
            identity: MemberIdentity {
                generation,
                member_id: self.member_id.clone(),
                group_instance_id: s.instance.clone(),
            },
            protocol: assignor.protocol(),
            assignment,
            leader_of,
        })
    }

    /// As leader: decodes every member's subscription, looks the topics up and runs the assignor.
    async fn assign(
        &self,
        assignor: &dyn assignor::Assignor,
        joined: &JoinGroupResponse,
    ) -> Result<(Vec<SyncGroupRequestAssignment>, LeaderView), Retry> {
        let mut members = Vec::new();
        for member in &joined.members {
            let subscription = assignor::decode_subscription(
                member.member_id.as_str(),
                member.group_instance_id.as_ref().map(|i| i.as_str()),
                &member.metadata,
            )
            .map_err(Retry::Never)?;
            members.push(subscription);
        }
        let mut topics: Vec<String> = members.iter().flat_map(|m| m.topics.iter().cloned()).collect();
        topics.sort();
        topics.dedup();
        let counts = partition_counts(&self.cluster, &topics)
            .await
            .map_err(|e| self.retry(e))?;
        let assigned = assignor.assign(&counts, &members);
        let assignments = members
            .iter()
            .map(|m| {
                let partitions = assigned.get(&m.member_id).cloned().unwrap_or_default();
                Ok(SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(m.member_id.clone()))
                    .with_assignment(assignor::encode_assignment(&partitions, None)?))
            })
            .collect::<Result<Vec<_>, ClientError>>()
            .map_err(Retry::Never)?;
        debug!(group = %self.settings.group, members = members.len(), topics = counts.len(), "computed the assignment");
        Ok((assignments, LeaderView { topics, counts }))
    }

    fn retry(&self, error: ClientError) -> Retry {
        match error.kafka() {
            Some(code) if join_retriable(code) => {
                if matches!(
                    code,
                    ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable
                ) {
                    self.cluster.forget_coordinator(&self.settings.group);
                }
                Retry::After(error.to_string())
            }
            _ if matches!(
                error,
                ClientError::Connection { .. } | ClientError::Timeout { .. } | ClientError::NoBrokers { .. }
            ) =>
            {
                self.cluster.forget_coordinator(&self.settings.group);
                Retry::After(error.to_string())
            }
            _ if error.is_retriable() => Retry::After(error.to_string()),
            _ => Retry::Never(error),
        }
    }
}

enum Retry {
    Now,
    After(String),
    Never(ClientError),
}

/// Partition counts of the topics any member subscribes to; unknown topics are left out.
async fn partition_counts(cluster: &Cluster, topics: &[String]) -> Result<BTreeMap<String, i32>, ClientError> {
    let mut counts = BTreeMap::new();
    for topic in topics {
        match cluster.topic(topic, false).await {
            Ok(info) => {
                counts.insert(topic.clone(), info.partitions.len() as i32);
            }
            Err(ClientError::UnknownTopic { .. }) => {}
            Err(e) if e.kafka() == Some(ResponseError::UnknownTopicOrPartition) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(counts)
}

/// The heartbeat task.
struct Heartbeats {
    cluster: Cluster,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Heartbeats {
    async fn run(self) {
        let mut next_metadata_check = Instant::now() + self.settings.metadata_max_age;
        loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(self.settings.heartbeat_interval) => {}
            }
            let (identity, last_poll) = {
                let signals = self.shared.signals();
                (signals.identity.clone(), signals.last_poll)
            };
            let Some(identity) = identity else { continue };
            if last_poll.is_some_and(|at| at.elapsed() > self.settings.max_poll_interval) {
                warn!(
                    group = %self.settings.group,
                    max_poll_interval_ms = self.settings.max_poll_interval.as_millis() as u64,
                    "poll was not called within max.poll.interval.ms; leaving the group"
                );
                let _ = leave_group(&self.cluster, &self.settings, &identity.member_id).await;
                self.shared.signals().reset_member_id = true;
                self.shared.rejoin(true);
                continue;
            }
            self.beat(&identity).await;
            if Instant::now() >= next_metadata_check {
                next_metadata_check = Instant::now() + self.settings.metadata_max_age;
                self.check_partition_counts().await;
            }
        }
    }

    async fn beat(&self, identity: &MemberIdentity) {
        let s = &self.settings;
        let result = async {
            let connection = self.cluster.coordinator(&s.group).await?;
            let version = connection.version::<HeartbeatRequest>(Some(4))?;
            let request = HeartbeatRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(s.group.clone())))
                .with_generation_id(identity.generation)
                .with_member_id(StrBytes::from_string(identity.member_id.clone()))
                .with_group_instance_id(if version >= 3 {
                    s.instance.clone().map(StrBytes::from_string)
                } else {
                    None
                });
            let response = tokio::time::timeout(s.request_timeout, connection.send_version(version, &request))
                .await
                .map_err(|_| ClientError::Timeout {
                    what: "heartbeat".to_owned(),
                    ms: s.request_timeout.as_millis() as u64,
                })??;
            Ok::<_, ClientError>(response.error_code)
        }
        .await;
        match result.map(ResponseError::try_from_code) {
            Ok(None) => {}
            Ok(Some(ResponseError::RebalanceInProgress)) => {
                debug!(group = %s.group, "the group is rebalancing");
                self.shared.rejoin(false);
            }
            Ok(Some(error @ (ResponseError::UnknownMemberId | ResponseError::IllegalGeneration))) => {
                warn!(group = %s.group, %error, "the member was fenced; its partitions are lost");
                if error == ResponseError::UnknownMemberId {
                    self.shared.signals().reset_member_id = true;
                }
                self.shared.rejoin(true);
            }
            Ok(Some(ResponseError::FencedInstanceId)) => {
                self.shared.signals().fatal = Some(ClientError::Kafka {
                    api: "Heartbeat",
                    error: ResponseError::FencedInstanceId,
                    message: s.instance.clone(),
                });
                self.shared.rejoin(true);
            }
            Ok(Some(error)) => {
                debug!(group = %s.group, %error, "heartbeat failed");
                if matches!(
                    error,
                    ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable
                ) {
                    self.cluster.forget_coordinator(&s.group);
                }
            }
            Err(e) => {
                debug!(group = %s.group, cause = %e, "heartbeat failed");
                self.cluster.forget_coordinator(&s.group);
            }
        }
    }

    /// As leader: a topic that appeared or grew partitions calls for a new assignment.
    async fn check_partition_counts(&self) {
        let Some(previous) = self.shared.signals().leader_of.clone() else {
            return;
        };
        let Ok(response) = self.cluster.refresh(Some(&previous.topics), false).await else {
            return;
        };
        let now: BTreeMap<String, i32> = response
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| t.name.as_ref().map(|n| (n.to_string(), t.partitions.len() as i32)))
            .collect();
        if now != previous.counts {
            info!(group = %self.settings.group, "subscribed topics changed partitions; rebalancing");
            self.shared.rejoin(false);
        }
    }
}

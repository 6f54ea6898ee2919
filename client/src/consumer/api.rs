//! The consumer handle.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use futures_util::Stream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::assignor::RebalanceProtocol;
use super::config::{ConsumerConfig, OffsetReset};
use super::fetcher::Fetcher;
use super::listener::{NoopListener, RebalanceContext, RebalanceListener};
use super::membership::{Joined, Membership};
use super::record::ConsumerRecord;
use super::state::{Subscription, SubscriptionState};
use crate::cluster::Cluster;
use crate::error::ClientError;
use crate::offsets::{self, ListedOffset, OffsetAndMetadata, OffsetSpec};
use crate::topic_partition::TopicPartition;

/// Which rebalance callback to run.
#[derive(Debug, Clone, Copy)]
enum Callback {
    Revoked,
    Assigned,
    Lost,
}

/// An asynchronous Kafka consumer.
///
/// Partitions come from [`Consumer::assign`] or, with `group.id`, from the group via
/// [`Consumer::subscribe`]. [`Consumer::poll`] (or [`Consumer::stream`]) returns records and
/// advances the consumer's position; commits store positions in the group.
pub struct Consumer {
    cluster: Cluster,
    config: ConsumerConfig,
    state: SubscriptionState,
    fetcher: Fetcher,
    membership: Option<Membership>,
    /// Only used through `&mut self` (`get_mut`, no locking): the mutex makes the consumer
    /// `Sync`, so that futures borrowing it can move between threads.
    listener: std::sync::Mutex<Box<dyn RebalanceListener>>,
    next_auto_commit: Option<Instant>,
    closed: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group", &self.config.group_id())
            .field("assignment", &self.state.assignment())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Connects with Kafka-named properties.
    pub async fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ClientError> {
        Self::new(ConsumerConfig::from_properties(properties)?).await
    }

    /// Connects to the cluster.
    pub async fn new(config: ConsumerConfig) -> Result<Self, ClientError> {
        config.validate()?;
        let cluster = Cluster::connect(config.common.clone()).await?;
        let membership = config
            .group_id()
            .map(|group| Membership::new(cluster.clone(), group, &config));
        Ok(Self {
            fetcher: Fetcher::new(cluster.clone(), &config),
            cluster,
            next_auto_commit: config.auto_commit().map(|every| Instant::now() + every),
            config,
            state: SubscriptionState::default(),
            membership,
            listener: std::sync::Mutex::new(Box::new(NoopListener)),
            closed: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The cluster view this consumer uses.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    fn check_open(&self) -> Result<(), ClientError> {
        if self.closed {
            Err(ClientError::Closed("consumer"))
        } else {
            Ok(())
        }
    }

    /// Joins the group and consumes the partitions it assigns of `topics`.
    pub fn subscribe<S: Into<String>>(&mut self, topics: impl IntoIterator<Item = S>) -> Result<(), ClientError> {
        self.subscribe_with_listener(topics, NoopListener)
    }

    /// As [`Consumer::subscribe`], telling `listener` about every assignment change.
    pub fn subscribe_with_listener<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
        listener: impl RebalanceListener + 'static,
    ) -> Result<(), ClientError> {
        self.check_open()?;
        let Some(membership) = &self.membership else {
            return Err(ClientError::IllegalState(
                "subscribe needs group.id; use assign to consume without a group".to_owned(),
            ));
        };
        if self.state.subscription == Subscription::Manual {
            return Err(ClientError::IllegalState(
                "subscribe and assign are mutually exclusive: unsubscribe first".to_owned(),
            ));
        }
        let mut topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        topics.sort();
        topics.dedup();
        if topics.is_empty() {
            return Err(ClientError::IllegalState(
                "subscribe needs at least one topic".to_owned(),
            ));
        }
        if let Subscription::Topics(current) = &self.state.subscription {
            if *current != topics {
                membership.request_rejoin();
            }
        }
        self.state.subscription = Subscription::Topics(topics);
        self.listener = std::sync::Mutex::new(Box::new(listener));
        Ok(())
    }

    /// Consumes exactly `partitions`, without group membership (commits still go to `group.id`
    /// if set).
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<(), ClientError> {
        self.check_open()?;
        if matches!(self.state.subscription, Subscription::Topics(_)) {
            return Err(ClientError::IllegalState(
                "subscribe and assign are mutually exclusive: unsubscribe first".to_owned(),
            ));
        }
        let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
        self.state.subscription = Subscription::Manual;
        self.state.set_assignment(partitions);
        Ok(())
    }

    /// Leaves the group (committing first with auto-commit) or drops the manual assignment.
    pub async fn unsubscribe(&mut self) -> Result<(), ClientError> {
        self.check_open()?;
        self.give_up_partitions().await;
        if let Some(membership) = &mut self.membership {
            membership.leave().await;
        }
        for tp in self.state.assignment() {
            self.fetcher.forget(&tp);
        }
        self.state.set_assignment([]);
        self.state.subscription = Subscription::None;
        Ok(())
    }

    /// The partitions currently assigned.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.state.assignment()
    }

    /// The subscribed topics (empty with a manual assignment).
    pub fn subscription(&self) -> Vec<String> {
        match &self.state.subscription {
            Subscription::Topics(topics) => topics.clone(),
            _ => Vec::new(),
        }
    }

    /// Returns the records available within `timeout` (at most `max.poll.records`), joining the
    /// group and running rebalance callbacks as needed. An empty result means none arrived in time.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ClientError> {
        self.check_open()?;
        if self.state.subscription == Subscription::None {
            return Err(ClientError::IllegalState(
                "the consumer is not subscribed to any topics or assigned any partitions".to_owned(),
            ));
        }
        let deadline = Instant::now() + timeout;
        let max = self.config.consumer.max_poll_records.max(1) as usize;
        loop {
            if !self.ensure_group(deadline).await? {
                return Ok(Vec::new());
            }
            self.maybe_auto_commit();
            self.update_positions().await?;
            let records = self.fetcher.collect(&mut self.state, max)?;
            // Fetch what comes next while the application works on these.
            self.fetcher.send_fetches(&self.state).await;
            if !records.is_empty() || Instant::now() >= deadline {
                return Ok(records);
            }
            let wait_until = if self.fetcher.is_fetching() {
                deadline
            } else {
                // Nothing could be fetched (no leader, everything paused): look again soon.
                deadline.min(Instant::now() + self.config.common.retry_backoff().max(Duration::from_millis(10)))
            };
            let Self {
                fetcher,
                membership,
                state,
                ..
            } = self;
            let subscribed = matches!(state.subscription, Subscription::Topics(_));
            let fetched = match membership {
                Some(membership) if subscribed => tokio::select! {
                    fetched = fetcher.next_fetched(wait_until) => fetched,
                    () = membership.rejoin_requested() => None,
                },
                _ => fetcher.next_fetched(wait_until).await,
            };
            if let Some(fetched) = fetched {
                self.fetcher.handle(fetched, &mut self.state)?;
            }
        }
    }

    /// The records as a stream, polling as needed. Dropping the stream rewinds each partition to
    /// its first record not yet yielded, so nothing is skipped (or auto-committed) unseen.
    pub fn stream(&mut self) -> impl Stream<Item = Result<ConsumerRecord, ClientError>> + '_ {
        let state = StreamState {
            consumer: self,
            buffered: VecDeque::new(),
        };
        futures_util::stream::unfold(state, |mut state| async move {
            loop {
                if let Some(record) = state.buffered.pop_front() {
                    return Some((Ok(record), state));
                }
                match state.consumer.poll(Duration::from_secs(1)).await {
                    Ok(records) => state.buffered.extend(records),
                    Err(ClientError::Closed(_)) => return None,
                    Err(e) => return Some((Err(e), state)),
                }
            }
        })
    }

    /// Joins or rejoins the group when needed; false if the join is still under way at
    /// `deadline`.
    async fn ensure_group(&mut self, deadline: Instant) -> Result<bool, ClientError> {
        let Subscription::Topics(topics) = &self.state.subscription else {
            return Ok(true);
        };
        let topics = topics.clone();
        let Some(membership) = &mut self.membership else {
            return Ok(true);
        };
        membership.polled();
        if let Some(fatal) = membership.take_fatal() {
            return Err(fatal);
        }
        if membership.take_lost() {
            let lost = self.state.assignment();
            if !lost.is_empty() {
                warn!(partitions = lost.len(), "lost the assigned partitions");
                self.invoke(Callback::Lost, &lost).await;
                self.drop_partitions(&lost);
            }
        }
        let membership = self.membership.as_mut().expect("checked above");
        if !membership.joining() && membership.needs_join() {
            let cooperative = membership.protocol() == Some(RebalanceProtocol::Cooperative);
            let owned = self.state.assignment();
            if !cooperative && !owned.is_empty() {
                // Eager: give everything up before joining.
                self.revoke(&owned).await;
            }
            let owned = self.state.assignment();
            self.membership
                .as_mut()
                .expect("checked above")
                .start_join(topics, owned);
        }
        let membership = self.membership.as_mut().expect("checked above");
        if !membership.joining() {
            return Ok(true);
        }
        match membership.finish_join(deadline).await {
            None => Ok(false),
            Some(Err(e)) => Err(e),
            Some(Ok(joined)) => {
                self.apply(joined).await;
                Ok(true)
            }
        }
    }

    /// Takes on a new assignment: all of it (eager), or the difference (cooperative), where
    /// partitions that moved away are revoked first and another round follows.
    async fn apply(&mut self, joined: Joined) {
        let assigned: BTreeSet<TopicPartition> = joined.assignment.into_iter().collect();
        match joined.protocol {
            RebalanceProtocol::Eager => {
                let assigned: Vec<TopicPartition> = assigned.into_iter().collect();
                self.state.set_assignment(assigned.clone());
                self.invoke(Callback::Assigned, &assigned).await;
            }
            RebalanceProtocol::Cooperative => {
                let owned: BTreeSet<TopicPartition> = self.state.assignment().into_iter().collect();
                let revoked: Vec<TopicPartition> = owned.difference(&assigned).cloned().collect();
                let added: Vec<TopicPartition> = assigned.difference(&owned).cloned().collect();
                if !revoked.is_empty() {
                    self.revoke(&revoked).await;
                    if let Some(membership) = &self.membership {
                        membership.request_rejoin();
                    }
                }
                self.state.add(added.clone());
                self.invoke(Callback::Assigned, &added).await;
            }
        }
    }

    /// Revokes partitions in an orderly way: auto-commit their positions, tell the listener,
    /// drop them.
    async fn revoke(&mut self, partitions: &[TopicPartition]) {
        if self.config.auto_commit().is_some() {
            let positions = self.positions_of(partitions);
            if let Err(e) = self.commit_offsets(positions).await {
                warn!(cause = %e, "committing before a rebalance failed");
            }
        }
        self.invoke(Callback::Revoked, partitions).await;
        self.drop_partitions(partitions);
    }

    /// On close and unsubscribe: commit (auto-commit) and revoke everything assigned.
    async fn give_up_partitions(&mut self) {
        let assigned = self.state.assignment();
        if matches!(self.state.subscription, Subscription::Topics(_)) && !assigned.is_empty() {
            self.revoke(&assigned).await;
        } else if self.config.auto_commit().is_some() {
            if let Err(e) = self.commit_sync().await {
                warn!(cause = %e, "final commit failed");
            }
        }
    }

    fn drop_partitions(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.fetcher.forget(tp);
        }
        self.state.remove(partitions);
    }

    async fn invoke(&mut self, callback: Callback, partitions: &[TopicPartition]) {
        let listener = self.listener.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut context = RebalanceContext::new(&mut self.state);
        match callback {
            Callback::Revoked => listener.on_partitions_revoked(&mut context, partitions),
            Callback::Assigned => listener.on_partitions_assigned(&mut context, partitions),
            Callback::Lost => listener.on_partitions_lost(&mut context, partitions),
        }
        let RebalanceContext { commits, seeks, .. } = context;
        for (tp, offset) in seeks {
            if let Err(e) = self.seek(&tp, offset) {
                warn!(partition = %tp, cause = %e, "seek from a rebalance listener ignored");
            }
        }
        if !commits.is_empty() {
            if let Err(e) = self.commit_offsets(commits).await {
                warn!(cause = %e, "commit from a rebalance listener failed");
            }
        }
    }

    fn positions_of(&self, partitions: &[TopicPartition]) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        partitions
            .iter()
            .filter_map(|tp| {
                let position = self.state.get(tp)?.position?;
                Some((tp.clone(), OffsetAndMetadata::new(position)))
            })
            .collect()
    }

    /// Starts a background commit of the positions when `auto.commit.interval.ms` has passed.
    fn maybe_auto_commit(&mut self) {
        let (Some(at), Some(every)) = (self.next_auto_commit, self.config.auto_commit()) else {
            return;
        };
        if Instant::now() < at {
            return;
        }
        self.next_auto_commit = Some(Instant::now() + every);
        if self.membership.as_ref().is_some_and(Membership::joining) {
            return;
        }
        drop(self.commit_async());
    }

    /// Finds positions for partitions without one: the committed offset, else
    /// `auto.offset.reset`; then performs pending resets.
    async fn update_positions(&mut self) -> Result<(), ClientError> {
        let missing = self.state.missing_positions();
        if !missing.is_empty() {
            let committed = match self.config.group_id() {
                Some(group) => offsets::fetch_committed(&self.cluster, group, Some(&missing)).await?,
                None => BTreeMap::new(),
            };
            let reset = self.config.offset_reset();
            for tp in missing {
                let Some(state) = self.state.get_mut(&tp) else { continue };
                match committed.get(&tp) {
                    Some(offset) => state.position = Some(offset.offset),
                    None if reset == OffsetReset::None => {
                        return Err(ClientError::NoOffset {
                            partition: tp.to_string(),
                        });
                    }
                    None => state.reset = Some(reset),
                }
            }
        }
        let resets = self.state.pending_resets();
        if resets.is_empty() {
            return Ok(());
        }
        let specs: Vec<(TopicPartition, OffsetSpec)> = resets
            .into_iter()
            .map(|(tp, reset)| {
                let spec = if reset == OffsetReset::Earliest {
                    OffsetSpec::Earliest
                } else {
                    OffsetSpec::Latest
                };
                (tp, spec)
            })
            .collect();
        let found = offsets::list_offsets(&self.cluster, self.config.isolation().code(), &specs).await?;
        for (tp, listed) in found {
            if let (Some(state), Some(listed)) = (self.state.get_mut(&tp), listed) {
                if state.reset.is_some() {
                    debug!(partition = %tp, offset = listed.offset, "position reset");
                    state.position = Some(listed.offset);
                    state.reset = None;
                }
            }
        }
        Ok(())
    }

    /// Commits the positions of every assigned partition and waits for the answer.
    pub async fn commit_sync(&mut self) -> Result<(), ClientError> {
        let positions = self.positions_of(&self.state.assignment());
        self.commit_offsets(positions).await
    }

    /// Commits `offsets` (the next offset to consume per partition) and waits for the answer.
    pub async fn commit_offsets(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), ClientError> {
        self.check_open()?;
        let group = self.group_for_commit()?;
        let member = self.membership.as_ref().and_then(|m| m.identity()).cloned();
        offsets::commit(&self.cluster, &group, member.as_ref(), &offsets).await
    }

    /// Starts committing the positions of every assigned partition in the background; await the
    /// handle for the outcome, or drop it (a failure is then logged).
    pub fn commit_async(&mut self) -> JoinHandle<Result<(), ClientError>> {
        let positions = self.positions_of(&self.state.assignment());
        let cluster = self.cluster.clone();
        let group = self.group_for_commit();
        let member = self.membership.as_ref().and_then(|m| m.identity()).cloned();
        tokio::spawn(async move {
            let result = offsets::commit(&cluster, &group?, member.as_ref(), &positions).await;
            if let Err(e) = &result {
                debug!(cause = %e, "asynchronous commit failed");
            }
            result
        })
    }

    fn group_for_commit(&self) -> Result<String, ClientError> {
        self.config
            .group_id()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::IllegalState("committing offsets needs group.id".to_owned()))
    }

    /// The group's committed offsets for `partitions` (absent where none is committed).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, ClientError> {
        let group = self.group_for_commit()?;
        offsets::fetch_committed(&self.cluster, &group, Some(partitions)).await
    }

    /// The offset of the next record `poll` returns from an assigned partition, looking it up
    /// (committed offset or reset) if not yet known.
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64, ClientError> {
        self.check_assigned(tp)?;
        if let Some(position) = self.state.get(tp).and_then(|s| s.position) {
            return Ok(position);
        }
        self.update_positions().await?;
        self.state
            .get(tp)
            .and_then(|s| s.position)
            .ok_or_else(|| ClientError::IllegalState(format!("no position for {tp}")))
    }

    fn check_assigned(&self, tp: &TopicPartition) -> Result<(), ClientError> {
        if self.state.is_assigned(tp) {
            Ok(())
        } else {
            Err(ClientError::IllegalState(format!(
                "{tp} is not assigned to this consumer"
            )))
        }
    }

    /// Moves the position of an assigned partition; the next poll returns records from `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), ClientError> {
        self.check_assigned(tp)?;
        if offset < 0 {
            return Err(ClientError::IllegalState(format!(
                "cannot seek {tp} to negative offset {offset}"
            )));
        }
        self.fetcher.forget(tp);
        if let Some(state) = self.state.get_mut(tp) {
            state.position = Some(offset);
            state.reset = None;
        }
        Ok(())
    }

    fn seek_reset(&mut self, partitions: &[TopicPartition], reset: OffsetReset) -> Result<(), ClientError> {
        for tp in partitions {
            self.check_assigned(tp)?;
        }
        for tp in partitions {
            self.fetcher.forget(tp);
            if let Some(state) = self.state.get_mut(tp) {
                state.position = None;
                state.reset = Some(reset);
            }
        }
        Ok(())
    }

    /// Moves partitions to their log start (evaluated on the next poll or `position`).
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        self.seek_reset(partitions, OffsetReset::Earliest)
    }

    /// Moves partitions to their log end (evaluated on the next poll or `position`).
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        self.seek_reset(partitions, OffsetReset::Latest)
    }

    /// For each partition, the first offset whose timestamp is at or after the given one
    /// (`None` if no record is that recent).
    pub async fn offsets_for_times(
        &self,
        timestamps: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Option<ListedOffset>>, ClientError> {
        let specs: Vec<(TopicPartition, OffsetSpec)> = timestamps
            .iter()
            .map(|(tp, ts)| (tp.clone(), OffsetSpec::Timestamp(*ts)))
            .collect();
        offsets::list_offsets(&self.cluster, self.config.isolation().code(), &specs).await
    }

    /// The log start offsets of `partitions`.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        self.list(partitions, OffsetSpec::Earliest).await
    }

    /// The end offsets of `partitions` (high watermark, or last stable offset with read_committed).
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        self.list(partitions, OffsetSpec::Latest).await
    }

    async fn list(
        &self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        let specs: Vec<(TopicPartition, OffsetSpec)> = partitions.iter().map(|tp| (tp.clone(), spec)).collect();
        let found = offsets::list_offsets(&self.cluster, self.config.isolation().code(), &specs).await?;
        Ok(found
            .into_iter()
            .filter_map(|(tp, listed)| listed.map(|l| (tp, l.offset)))
            .collect())
    }

    /// Stops returning records from `partitions` until resumed; they stay assigned.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        for tp in partitions {
            self.check_assigned(tp)?;
        }
        for tp in partitions {
            if let Some(state) = self.state.get_mut(tp) {
                state.paused = true;
            }
        }
        Ok(())
    }

    /// Resumes paused partitions.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        for tp in partitions {
            self.check_assigned(tp)?;
        }
        for tp in partitions {
            if let Some(state) = self.state.get_mut(tp) {
                state.paused = false;
            }
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.state
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// How far the position trails the partition's end (high watermark, or last stable offset
    /// with read_committed), as of the last fetch; `None` before the first fetch answer.
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let state = self.state.get(tp)?;
        let end = match self.config.isolation() {
            super::config::IsolationLevel::ReadCommitted => state.last_stable_offset,
            super::config::IsolationLevel::ReadUncommitted => state.high_watermark,
        };
        let position = state.position?;
        (end >= 0).then(|| (end - position).max(0))
    }

    /// The group generation this consumer belongs to, if it is a stable member.
    pub fn group_identity(&self) -> Option<crate::offsets::MemberIdentity> {
        self.membership.as_ref().and_then(|m| m.identity()).cloned()
    }

    /// Commits (with auto-commit), revokes the assignment, leaves the group. Later calls fail.
    pub async fn close(&mut self) -> Result<(), ClientError> {
        if self.closed {
            return Ok(());
        }
        self.give_up_partitions().await;
        if let Some(membership) = &mut self.membership {
            membership.leave().await;
        }
        self.closed = true;
        Ok(())
    }

    /// Moves a partition back to `offset` unless it was reassigned (stream rewind).
    fn rewind(&mut self, tp: &TopicPartition, offset: i64) {
        if self.state.is_assigned(tp) {
            self.fetcher.forget(tp);
            if let Some(state) = self.state.get_mut(tp) {
                state.position = Some(offset);
            }
        }
    }
}

/// The state of [`Consumer::stream`]: records polled but not yet yielded.
struct StreamState<'a> {
    consumer: &'a mut Consumer,
    buffered: VecDeque<ConsumerRecord>,
}

impl Drop for StreamState<'_> {
    fn drop(&mut self) {
        let mut seen = HashSet::new();
        for record in std::mem::take(&mut self.buffered) {
            let tp = TopicPartition::new(record.topic.to_string(), record.partition);
            if seen.insert(tp.clone()) {
                self.consumer.rewind(&tp, record.offset);
            }
        }
    }
}

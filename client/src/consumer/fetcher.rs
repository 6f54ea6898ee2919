//! Fetching (Java's `Fetcher`): at most one Fetch in flight per broker, for the assigned
//! partitions that have a position, are not paused and have nothing buffered; responses are
//! buffered per partition and handed out by `collect`. A response for a partition whose position
//! moved meanwhile (seek, reassignment) is dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::debug;

use super::config::{ConsumerConfig, OffsetReset};
use super::record::ConsumerRecord;
use super::records::{DecodeOptions, PartitionRecords};
use super::state::SubscriptionState;
use crate::cluster::Cluster;
use crate::error::ClientError;
use crate::topic_partition::TopicPartition;

/// A finished Fetch: which broker, what was asked, what came back.
#[derive(Debug)]
pub(crate) struct Fetched {
    broker: i32,
    requested: Vec<(TopicPartition, i64)>,
    result: Result<FetchResponse, ClientError>,
}

/// Fetch settings from the consumer config.
#[derive(Debug, Clone, Copy)]
struct FetchSettings {
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
    isolation: i8,
    /// How long a Fetch may take: the broker's wait plus the request timeout.
    timeout: Duration,
    backoff: Duration,
    reset: OffsetReset,
}

#[derive(Debug)]
pub(crate) struct Fetcher {
    cluster: Cluster,
    settings: FetchSettings,
    options: DecodeOptions,
    in_flight: JoinSet<Fetched>,
    in_flight_brokers: HashSet<i32>,
    in_flight_partitions: HashSet<TopicPartition>,
    /// Brokers not to fetch from again before the instant (after a failed Fetch).
    backoff_until: HashMap<i32, Instant>,
    buffered: VecDeque<PartitionRecords>,
}

impl Fetcher {
    pub(crate) fn new(cluster: Cluster, config: &ConsumerConfig) -> Self {
        let c = &config.consumer;
        Self {
            cluster,
            settings: FetchSettings {
                max_wait_ms: c.fetch_max_wait_ms,
                min_bytes: c.fetch_min_bytes,
                max_bytes: c.fetch_max_bytes,
                partition_max_bytes: c.max_partition_fetch_bytes,
                isolation: config.isolation().code(),
                timeout: config.common.request_timeout() + Duration::from_millis(c.fetch_max_wait_ms.max(0) as u64),
                backoff: config.common.retry_backoff(),
                reset: config.offset_reset(),
            },
            options: DecodeOptions {
                isolation: config.isolation(),
                check_crcs: c.check_crcs,
            },
            in_flight: JoinSet::new(),
            in_flight_brokers: HashSet::new(),
            in_flight_partitions: HashSet::new(),
            backoff_until: HashMap::new(),
            buffered: VecDeque::new(),
        }
    }

    /// Hands out up to `max` buffered records, advancing positions. Buffered records of
    /// partitions that were revoked, paused or seeked are dropped.
    pub(crate) fn collect(
        &mut self,
        state: &mut SubscriptionState,
        max: usize,
    ) -> Result<Vec<ConsumerRecord>, ClientError> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(front) = self.buffered.front_mut() else { break };
            let current = state
                .get(&front.tp)
                .is_some_and(|s| !s.paused && s.position == Some(front.next_offset));
            if !current {
                self.buffered.pop_front();
                continue;
            }
            let result = front.take(max - out.len(), &mut out);
            if let Some(s) = state.get_mut(&front.tp) {
                s.position = Some(front.next_offset);
            }
            if let Err(e) = result {
                // Leave the corrupt batch buffered: polling again fails again, as in Java,
                // until the application seeks past it.
                if out.is_empty() {
                    return Err(e);
                }
                break;
            }
            if front.is_drained() {
                self.buffered.pop_front();
            }
        }
        Ok(out)
    }

    /// Whether records are buffered for a partition.
    fn has_buffered(&self, tp: &TopicPartition) -> bool {
        self.buffered.iter().any(|b| b.tp == *tp)
    }

    /// Drops buffered records of a partition (after a seek or revocation).
    pub(crate) fn forget(&mut self, tp: &TopicPartition) {
        self.buffered.retain(|b| b.tp != *tp);
    }

    /// Starts a Fetch to every leader that has fetchable partitions and no Fetch in flight.
    pub(crate) async fn send_fetches(&mut self, state: &SubscriptionState) {
        let now = Instant::now();
        self.backoff_until.retain(|_, until| *until > now);
        let mut by_leader: HashMap<i32, Vec<(TopicPartition, i64)>> = HashMap::new();
        let candidates: Vec<(TopicPartition, i64)> = state
            .fetchable()
            .filter(|(tp, _)| !self.in_flight_partitions.contains(*tp) && !self.has_buffered(tp))
            .map(|(tp, position)| (tp.clone(), position))
            .collect();
        for (tp, position) in candidates {
            match self.cluster.leader(&tp.topic, tp.partition).await {
                Ok((leader, _)) => {
                    if !self.in_flight_brokers.contains(&leader) && !self.backoff_until.contains_key(&leader) {
                        by_leader.entry(leader).or_default().push((tp, position));
                    }
                }
                Err(e) => debug!(partition = %tp, cause = %e, "no leader to fetch from"),
            }
        }
        for (leader, partitions) in by_leader {
            self.start(leader, partitions);
        }
    }

    fn start(&mut self, leader: i32, partitions: Vec<(TopicPartition, i64)>) {
        let s = self.settings;
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (tp, offset) in &partitions {
            let partition = FetchPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(*offset)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(s.partition_max_bytes);
            match topics.iter_mut().find(|t| t.topic.0.as_str() == tp.topic) {
                Some(topic) => topic.partitions.push(partition),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(tp.topic.clone())))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(s.max_wait_ms)
            .with_min_bytes(s.min_bytes)
            .with_max_bytes(s.max_bytes)
            .with_isolation_level(s.isolation)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics);
        self.in_flight_brokers.insert(leader);
        self.in_flight_partitions
            .extend(partitions.iter().map(|(tp, _)| tp.clone()));
        let cluster = self.cluster.clone();
        self.in_flight.spawn(async move {
            let result = async {
                let connection = cluster.broker(leader).await?;
                let version = connection.version::<FetchRequest>(Some(12))?;
                tokio::time::timeout(s.timeout, connection.send_version(version, &request))
                    .await
                    .map_err(|_| ClientError::Timeout {
                        what: format!("fetching from broker {leader}"),
                        ms: s.timeout.as_millis() as u64,
                    })?
            }
            .await;
            Fetched {
                broker: leader,
                requested: partitions,
                result,
            }
        });
    }

    /// Whether a Fetch is in flight.
    pub(crate) fn is_fetching(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// The next finished Fetch, or `None` once `deadline` passes (at once when nothing is in
    /// flight).
    pub(crate) async fn next_fetched(&mut self, deadline: Instant) -> Option<Fetched> {
        if self.in_flight.is_empty() {
            tokio::time::sleep_until(deadline).await;
            return None;
        }
        match tokio::time::timeout_at(deadline, self.in_flight.join_next()).await {
            Ok(Some(Ok(fetched))) => Some(fetched),
            Ok(Some(Err(e))) => {
                // The task panicked or was cancelled: forget what was in flight so it is fetched again.
                debug!(cause = %e, "fetch task ended abnormally");
                self.in_flight_brokers.clear();
                self.in_flight_partitions.clear();
                None
            }
            Ok(None) | Err(_) => None,
        }
    }

    /// Buffers a finished Fetch's records and applies its per-partition outcomes to `state`.
    /// An out-of-range position with `auto.offset.reset=none` is an error.
    pub(crate) fn handle(&mut self, fetched: Fetched, state: &mut SubscriptionState) -> Result<(), ClientError> {
        self.in_flight_brokers.remove(&fetched.broker);
        for (tp, _) in &fetched.requested {
            self.in_flight_partitions.remove(tp);
        }
        let response = match fetched.result {
            Ok(response) => response,
            Err(e) => {
                debug!(broker = fetched.broker, cause = %e, "fetch failed");
                self.backoff_until
                    .insert(fetched.broker, Instant::now() + self.settings.backoff);
                for (tp, _) in &fetched.requested {
                    self.cluster.invalidate(&tp.topic);
                }
                return Ok(());
            }
        };
        if let Some(error) = ResponseError::try_from_code(response.error_code) {
            debug!(broker = fetched.broker, %error, "fetch refused");
            self.backoff_until
                .insert(fetched.broker, Instant::now() + self.settings.backoff);
            return Ok(());
        }
        let mut first_error = None;
        for topic in response.responses {
            let name = topic.topic.0.to_string();
            for data in topic.partitions {
                let tp = TopicPartition::new(name.clone(), data.partition_index);
                let Some(&(_, fetch_offset)) = fetched.requested.iter().find(|(t, _)| *t == tp) else {
                    continue;
                };
                let Some(partition) = state.get_mut(&tp) else { continue };
                if partition.position != Some(fetch_offset) || partition.paused {
                    continue;
                }
                match ResponseError::try_from_code(data.error_code) {
                    None => {
                        partition.high_watermark = data.high_watermark;
                        partition.last_stable_offset = data.last_stable_offset;
                        partition.log_start_offset = data.log_start_offset;
                        let set = data.records.unwrap_or_default();
                        if !set.is_empty() {
                            let aborted = data
                                .aborted_transactions
                                .unwrap_or_default()
                                .iter()
                                .map(|a| (a.first_offset, a.producer_id.0))
                                .collect();
                            self.buffered.push_back(PartitionRecords::new(
                                tp,
                                set,
                                fetch_offset,
                                aborted,
                                self.options,
                            ));
                        }
                    }
                    Some(ResponseError::OffsetOutOfRange) => match self.settings.reset {
                        OffsetReset::None => {
                            first_error.get_or_insert(ClientError::Kafka {
                                api: "Fetch",
                                error: ResponseError::OffsetOutOfRange,
                                message: Some(format!("{tp} at offset {fetch_offset}, and auto.offset.reset is none")),
                            });
                        }
                        reset => {
                            debug!(partition = %tp, offset = fetch_offset, "offset out of range, resetting");
                            partition.position = None;
                            partition.reset = Some(reset);
                        }
                    },
                    Some(error) if error.is_retriable() => {
                        debug!(partition = %tp, %error, "fetch will be retried");
                        self.cluster.invalidate(&tp.topic);
                    }
                    Some(error) => {
                        first_error.get_or_insert(ClientError::Kafka {
                            api: "Fetch",
                            error,
                            message: Some(tp.to_string()),
                        });
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

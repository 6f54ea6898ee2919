//! The background task that sends sealed batches (Kafka's `Sender`): groups them by partition
//! leader into Produce requests, sends them over the shared broker connections, and settles each
//! batch — acknowledged, retried after a backoff (keeping its sequence numbers, so the broker
//! deduplicates), or failed.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::accumulator::{Accumulator, Sealed};
use crate::cluster::Cluster;
use crate::error::ClientError;

/// Sender settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SenderSettings {
    pub(crate) acks: i16,
    pub(crate) request_timeout: Duration,
    pub(crate) retry_backoff: Duration,
    pub(crate) delivery_timeout: Duration,
    pub(crate) max_request_size: usize,
}

/// State shared by the producer handle and its sender task.
pub(crate) struct Shared {
    pub(crate) cluster: Cluster,
    pub(crate) accumulator: Mutex<Accumulator>,
    /// Wakes the sender: new sealed batches, completed requests, flush, close.
    pub(crate) wake: Notify,
    pub(crate) settings: SenderSettings,
    pub(crate) closing: CancellationToken,
    /// Set with `closing`, for the per-record check in `send` (cheaper than the token's lock).
    pub(crate) closed: AtomicBool,
}

impl Shared {
    pub(crate) fn accumulator(&self) -> std::sync::MutexGuard<'_, Accumulator> {
        self.accumulator.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs until the producer is closed and nothing is left to send.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let (batches, next) = shared.accumulator().drain(Instant::now());
        if batches.is_empty() {
            if shared.closing.is_cancelled() && shared.accumulator().is_empty() {
                return;
            }
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut wake => {}
                () = sleep => {}
                () = shared.closing.cancelled(), if !shared.closing.is_cancelled() => {}
            }
            continue;
        }
        send_all(&shared, batches).await;
    }
}

/// Groups batches by leader and starts one request per leader (split by `max.request.size`).
async fn send_all(shared: &Arc<Shared>, batches: Vec<Sealed>) {
    let mut by_leader: HashMap<i32, Vec<Sealed>> = HashMap::new();
    let mut topics_seen: Vec<Arc<str>> = Vec::new();
    for batch in batches {
        if let Err(error) = &batch.wire {
            let error = Arc::clone(error);
            settle(shared, batch, Err(error));
            continue;
        }
        if batch.created.elapsed() > shared.settings.delivery_timeout {
            let ms = shared.settings.delivery_timeout.as_millis() as u64;
            settle(
                shared,
                batch,
                Err(Arc::new(ClientError::Timeout {
                    what: "delivering a batch".to_owned(),
                    ms,
                })),
            );
            continue;
        }
        let info = shared.cluster.topic(&batch.tp.0, true).await;
        if let Ok(info) = &info {
            if !topics_seen.contains(&batch.tp.0) {
                // Metadata is refreshed every metadata.max.age.ms: partitions added to the topic
                // take records from now on, as with the Java producer.
                topics_seen.push(Arc::clone(&batch.tp.0));
                shared
                    .accumulator()
                    .add_topic(&batch.tp.0, info.partitions.len() as u32);
            }
        }
        match info {
            Ok(info) => match info
                .partitions
                .iter()
                .find(|p| p.partition == batch.tp.1)
                .map(|p| p.leader)
            {
                Some(leader) if leader >= 0 => by_leader.entry(leader).or_default().push(batch),
                _ => retry(shared, batch, "no leader"),
            },
            Err(e) if e.is_retriable() || matches!(e, ClientError::UnknownTopic { .. }) => {
                retry(shared, batch, &e.to_string())
            }
            Err(e) => settle(shared, batch, Err(Arc::new(e))),
        }
    }
    for (leader, batches) in by_leader {
        produce(shared, leader, batches).await;
    }
}

/// Splits one leader's batches into requests: at most one batch per partition in a request (the
/// response has one base offset per partition), within `max.request.size`, keeping each
/// partition's batches in order across requests.
fn split_requests(batches: Vec<Sealed>, max_size: usize) -> Vec<Vec<Sealed>> {
    let mut requests: Vec<(Vec<Sealed>, usize)> = Vec::new();
    for batch in batches {
        let len = batch.wire.as_ref().map_or(0, |w| w.len());
        // The first request after the last one already holding this partition, with room.
        let after = requests
            .iter()
            .rposition(|(r, _)| r.iter().any(|b| b.tp == batch.tp))
            .map_or(0, |i| i + 1);
        match requests
            .iter_mut()
            .skip(after)
            .find(|(r, size)| r.is_empty() || size + len <= max_size)
        {
            Some((request, size)) => {
                *size += len;
                request.push(batch);
            }
            None => requests.push((vec![batch], len)),
        }
    }
    requests.into_iter().map(|(r, _)| r).collect()
}

/// Writes one leader's batches as Produce requests, in order, and spawns a task per request that
/// settles its batches when the response comes. Writing here, not in the spawned tasks, is what
/// keeps each partition's batches in sequence on the wire.
async fn produce(shared: &Arc<Shared>, leader: i32, batches: Vec<Sealed>) {
    let connection = match shared.cluster.broker(leader).await {
        Ok(connection) => connection,
        Err(e) => {
            for batch in batches {
                retry(shared, batch, &e.to_string());
            }
            return;
        }
    };
    let version = match connection.version::<ProduceRequest>(Some(10)) {
        Ok(version) => version,
        Err(e) => {
            let e = Arc::new(e);
            for batch in batches {
                settle(shared, batch, Err(Arc::clone(&e)));
            }
            return;
        }
    };
    for batches in split_requests(batches, shared.settings.max_request_size) {
        let request = produce_request(shared.settings, &batches);
        if shared.settings.acks == 0 {
            let sent = connection.send_produce_without_response(version, &request).await;
            for batch in batches {
                match &sent {
                    Ok(()) => settle(shared, batch, Ok((-1, -1))),
                    Err(e) => retry(shared, batch, &e.to_string()),
                }
            }
            continue;
        }
        match connection.start_produce(version, &request).await {
            Ok(pending) => {
                let shared = Arc::clone(shared);
                tokio::spawn(async move {
                    let response = tokio::time::timeout(shared.settings.request_timeout, pending.response()).await;
                    let response = match response {
                        Ok(Ok(response)) => response,
                        Ok(Err(e)) => {
                            debug!(broker = leader, cause = %e, "produce request failed");
                            return retry_all(&shared, batches, &e.to_string());
                        }
                        Err(_) => return retry_all(&shared, batches, "request timed out"),
                    };
                    settle_response(&shared, batches, &response);
                });
            }
            Err(e) => retry_all(shared, batches, &e.to_string()),
        }
    }
}

fn retry_all(shared: &Arc<Shared>, batches: Vec<Sealed>, why: &str) {
    for batch in batches {
        retry(shared, batch, why);
    }
}

fn produce_request(settings: SenderSettings, batches: &[Sealed]) -> ProduceRequest {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for batch in batches {
        let data = PartitionProduceData::default()
            .with_index(batch.tp.1)
            .with_records(batch.wire.as_ref().ok().cloned());
        match topics.iter_mut().find(|t| t.name.0.as_str() == &*batch.tp.0) {
            Some(topic) => topic.partition_data.push(data),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(batch.tp.0.to_string())))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    ProduceRequest::default()
        .with_acks(settings.acks)
        .with_timeout_ms(settings.request_timeout.as_millis().min(i32::MAX as u128) as i32)
        .with_topic_data(topics)
}

/// Settles each batch by its partition's result in the response.
fn settle_response(shared: &Arc<Shared>, batches: Vec<Sealed>, response: &ProduceResponse) {
    for batch in batches {
        let result = response
            .responses
            .iter()
            .filter(|t| t.name.0.as_str() == &*batch.tp.0)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == batch.tp.1);
        let Some(result) = result else {
            retry(shared, batch, "partition missing from the response");
            continue;
        };
        match ResponseError::try_from_code(result.error_code) {
            None => settle(shared, batch, Ok((result.base_offset, result.log_append_time_ms))),
            Some(error) if retriable(error) => {
                if matches!(
                    error,
                    ResponseError::NotLeaderOrFollower
                        | ResponseError::UnknownTopicOrPartition
                        | ResponseError::LeaderNotAvailable
                ) {
                    shared.cluster.invalidate(&batch.tp.0);
                }
                retry(shared, batch, &error.to_string());
            }
            Some(error) => {
                let message = result.error_message.as_ref().map(|m| m.to_string());
                settle(
                    shared,
                    batch,
                    Err(Arc::new(ClientError::Kafka {
                        api: "Produce",
                        error,
                        message,
                    })),
                );
            }
        }
    }
}

/// Errors after which the same batch (same sequence numbers) may be sent again. An
/// out-of-order sequence means an earlier batch of the partition is being retried.
fn retriable(error: ResponseError) -> bool {
    error.is_retriable() || matches!(error, ResponseError::OutOfOrderSequenceNumber)
}

/// Most attempts for a batch whose sequence stays out of order (its predecessor failed for good).
const MAX_ATTEMPTS: u32 = 100;

fn retry(shared: &Arc<Shared>, batch: Sealed, why: &str) {
    if batch.created.elapsed() > shared.settings.delivery_timeout || batch.attempts >= MAX_ATTEMPTS {
        warn!(topic = %batch.tp.0, partition = batch.tp.1, attempts = batch.attempts, cause = why, "giving up on a batch");
        let ms = shared.settings.delivery_timeout.as_millis() as u64;
        settle(
            shared,
            batch,
            Err(Arc::new(ClientError::Timeout {
                what: format!("delivering a batch ({why})"),
                ms,
            })),
        );
        return;
    }
    debug!(topic = %batch.tp.0, partition = batch.tp.1, attempt = batch.attempts + 1, cause = why, "retrying a batch");
    let at = Instant::now() + shared.settings.retry_backoff;
    shared.accumulator().retry(batch, at);
    shared.wake.notify_one();
}

fn settle(shared: &Arc<Shared>, batch: Sealed, result: super::outcome::BatchResult) {
    batch.outcome.complete(result);
    shared.accumulator().done(&batch.tp, &batch.outcome);
    shared.wake.notify_one();
}

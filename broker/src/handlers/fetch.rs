//! Fetch: returns stored batches as they are, whole, up to the high watermark (the last stable
//! offset for read_committed), within per-partition and total byte limits; parks until
//! `min_bytes` arrive or `max_wait_ms` passes. Every requested partition is answered.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use tokio::time::Instant;
use uuid::Uuid;

use super::log_error_code;
use crate::broker::Broker;
use crate::error_code::ErrorCode;
use crate::log::FileSlice;
use crate::partition::Partition;
use crate::server::{Answer, Marker, RequestContext, new_marker};

/// FETCH_SESSION_ID_NOT_FOUND: Rill grants no fetch sessions, so any session id is unknown.
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
/// Longest a fetch may park, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);
const READ_COMMITTED: i8 = 1;

struct Target {
    topic: usize,
    partition: Option<Arc<Partition>>,
    index: i32,
    offset: i64,
    max_bytes: usize,
}

/// A fetch response whose records are still in segment files.
#[derive(Debug)]
pub(crate) struct FetchReply {
    /// The response, each non-empty partition's records replaced by `marker`.
    pub(crate) response: FetchResponse,
    pub(crate) marker: Marker,
    /// The records, in the order their markers appear in the response.
    pub(crate) slices: Vec<FileSlice>,
}

pub(crate) async fn handle(ctx: &RequestContext, request: FetchRequest) -> Answer<FetchReply> {
    if request.session_id != 0 {
        return Answer::Now(FetchReply {
            response: FetchResponse::default().with_error_code(FETCH_SESSION_ID_NOT_FOUND),
            marker: new_marker(),
            slices: Vec::new(),
        });
    }
    let broker = Arc::clone(&ctx.broker);
    Answer::Later(Box::pin(fetch(broker, request)))
}

async fn fetch(broker: Arc<Broker>, request: FetchRequest) -> FetchReply {
    let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let mut names: Vec<(TopicName, Uuid)> = Vec::with_capacity(request.topics.len());
    let mut targets = Vec::new();
    for (t, topic) in request.topics.into_iter().enumerate() {
        let found = broker.topics.get(&topic.topic.0);
        names.push((topic.topic, found.as_ref().map_or(topic.topic_id, |f| f.id())));
        for p in topic.partitions {
            targets.push(Target {
                topic: t,
                partition: found.as_ref().and_then(|f| f.partition(p.partition)),
                index: p.partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            });
        }
    }
    let targets = Arc::new(targets);
    let read_committed = request.isolation_level == READ_COMMITTED;
    let max_bytes = request.max_bytes.max(0) as usize;
    let min_bytes = request.min_bytes.max(0) as u64;
    let marker = new_marker();
    loop {
        // Register for wake-ups before reading, so that data arriving in between is not missed.
        let mut changes: Vec<_> = targets
            .iter()
            .filter_map(|t| t.partition.as_ref())
            .map(|p| Box::pin(p.changed()))
            .collect();
        for change in &mut changes {
            change.as_mut().enable();
        }
        let job = Arc::clone(&targets);
        let planned = tokio::task::spawn_blocking(move || plan_all(&job, max_bytes, read_committed)).await;
        let (partitions, slices, failed) = match planned {
            Ok(planned) => planned,
            Err(e) => {
                tracing::error!(cause = %e, "fetch task panicked");
                let response = FetchResponse::default().with_error_code(ErrorCode::UnknownServerError.code());
                return FetchReply {
                    response,
                    marker,
                    slices: Vec::new(),
                };
            }
        };
        let bytes: u64 = slices.iter().map(|(_, s)| s.len).sum();
        if bytes >= min_bytes || failed || Instant::now() >= deadline || changes.is_empty() {
            return assemble(&names, &targets, partitions, slices, marker);
        }
        tokio::select! {
            biased;
            () = broker.shutdown.cancelled() => return assemble(&names, &targets, partitions, slices, marker),
            () = tokio::time::sleep_until(deadline) => {}
            _ = select_all(changes) => {}
        }
    }
}

/// Plans every target in order (blocking: reads batch headers); returns per-target data, the
/// planned file ranges (by target index), and whether any partition errored.
fn plan_all(
    targets: &[Target],
    max_bytes: usize,
    read_committed: bool,
) -> (Vec<PartitionData>, Vec<(usize, FileSlice)>, bool) {
    let mut total = 0usize;
    let mut failed = false;
    let mut out = Vec::with_capacity(targets.len());
    let mut slices = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let data = PartitionData::default()
            .with_partition_index(target.index)
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
            .with_preferred_read_replica(BrokerId(-1))
            .with_aborted_transactions(read_committed.then(Vec::new))
            .with_records(Some(Bytes::new()));
        let Some(partition) = target.partition.as_ref().filter(|p| !p.is_deleted()) else {
            failed = true;
            out.push(data.with_error_code(ErrorCode::UnknownTopicOrPartition.code()));
            continue;
        };
        let data = data
            .with_high_watermark(partition.high_watermark())
            .with_last_stable_offset(partition.last_stable_offset())
            .with_log_start_offset(partition.log_start_offset());
        let budget = target.max_bytes.min(max_bytes.saturating_sub(total));
        let min_one = total == 0;
        if budget == 0 && !min_one {
            out.push(data);
            continue;
        }
        match partition.plan_read(target.offset, budget, min_one) {
            Ok(Some(slice)) => {
                total += slice.len as usize;
                slices.push((i, slice));
                out.push(data);
            }
            Ok(None) => out.push(data),
            Err(e) => {
                failed = true;
                out.push(data.with_error_code(log_error_code(&e).code()));
            }
        }
    }
    (out, slices, failed)
}

fn assemble(
    names: &[(TopicName, Uuid)],
    targets: &[Target],
    mut partitions: Vec<PartitionData>,
    slices: Vec<(usize, FileSlice)>,
    marker: Marker,
) -> FetchReply {
    for (i, _) in &slices {
        partitions[*i].records = Some(Bytes::copy_from_slice(&marker));
    }
    let mut responses: Vec<FetchableTopicResponse> = names
        .iter()
        .map(|(name, id)| {
            FetchableTopicResponse::default()
                .with_topic(name.clone())
                .with_topic_id(*id)
        })
        .collect();
    for (target, data) in targets.iter().zip(partitions) {
        responses[target.topic].partitions.push(data);
    }
    // Topics are encoded in request order and targets were built in that order, so markers
    // appear in `slices` order.
    FetchReply {
        response: FetchResponse::default().with_responses(responses),
        marker,
        slices: slices.into_iter().map(|(_, s)| s).collect(),
    }
}

//! Produce: validates each batch (framing, CRC-32C, record walk), appends it with offsets assigned
//! in place, and answers once the data is as durable as the topic's flush policy asks. acks=0
//! gets no answer at all; if it fails, the connection is closed so the client notices.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use rill_client::protocol::batch::{self, BatchError, BatchHeader};
use rill_client::protocol::compression::record_area;

use super::{log_error_code, str_bytes};
use crate::clock::now_ms;
use crate::error_code::ErrorCode;
use crate::partition::Partition;
use crate::server::{Answer, RequestContext};

/// A partition's part of the request, checked and ready to append.
struct Job {
    topic: usize,
    slot: usize,
    partition: Arc<Partition>,
    records: Bytes,
    compacted: bool,
}

/// Why a partition's batches were refused before reaching the log.
struct Refusal {
    code: ErrorCode,
    message: String,
    batch_index: Option<i32>,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
        batch_index: None,
    }
}

/// Splits a record set into validated batches.
fn validate_batches(
    records: &Bytes,
    compacted: bool,
    max_decompressed: usize,
) -> Result<Vec<(Bytes, BatchHeader)>, Refusal> {
    let mut iter = batch::batches(records);
    let mut out = Vec::new();
    for (index, span) in iter.by_ref().enumerate() {
        let index = index as i32;
        let at = |code: ErrorCode, message: String| Refusal {
            code,
            message,
            batch_index: Some(index),
        };
        let span = span.map_err(|e| at(batch_error_code(&e), e.to_string()))?;
        let wire = records.slice(span.range);
        let valid = batch::validate(&wire).map_err(|e| at(batch_error_code(&e), e.to_string()))?;
        let header = valid.header;
        if header.is_control() {
            return Err(at(
                ErrorCode::InvalidRecord,
                "clients may not write control batches".to_owned(),
            ));
        }
        if header.delete_horizon_ms().is_some() {
            return Err(at(
                ErrorCode::InvalidRecord,
                "the delete-horizon attribute is set only by the log cleaner".to_owned(),
            ));
        }
        if header.is_transactional() {
            return Err(at(
                ErrorCode::InvalidTxnState,
                "transactional batches are not supported yet".to_owned(),
            ));
        }
        if header.has_producer_id() && (header.base_sequence < 0 || header.producer_epoch < 0) {
            return Err(at(
                ErrorCode::InvalidRecord,
                "a batch with a producer id needs a sequence and epoch".to_owned(),
            ));
        }
        if compacted {
            let null_key = match valid.has_null_key {
                Some(null_key) => null_key,
                None => {
                    let area = record_area(&wire, &header, max_decompressed)
                        .map_err(|e| at(ErrorCode::CorruptMessage, e.to_string()))?;
                    let mut null_key = false;
                    for record in batch::records(&area) {
                        null_key |= record
                            .map_err(|e| at(ErrorCode::CorruptMessage, e.to_string()))?
                            .key
                            .is_none();
                    }
                    null_key
                }
            };
            if null_key {
                return Err(at(
                    ErrorCode::InvalidRecord,
                    "compacted topic cannot accept a record without a key".to_owned(),
                ));
            }
        }
        out.push((wire, header));
    }
    if iter.rest() != records.len() {
        return Err(refuse(
            ErrorCode::CorruptMessage,
            format!(
                "{} trailing bytes after the last whole batch",
                records.len() - iter.rest()
            ),
        ));
    }
    if out.is_empty() {
        return Err(refuse(ErrorCode::InvalidRecord, "the request holds no record batch"));
    }
    Ok(out)
}

fn batch_error_code(error: &BatchError) -> ErrorCode {
    match error {
        BatchError::CrcMismatch { .. } | BatchError::Truncated { .. } | BatchError::LengthTooSmall { .. } => {
            ErrorCode::CorruptMessage
        }
        BatchError::UnsupportedMagic { .. } => ErrorCode::InvalidRecord,
        _ => ErrorCode::InvalidRecord,
    }
}

fn partition_response(index: i32, code: ErrorCode) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
}

fn set_refusal(response: &mut PartitionProduceResponse, refusal: &Refusal) {
    response.error_code = refusal.code.code();
    response.error_message = Some(str_bytes(refusal.message.clone()));
    if let Some(batch_index) = refusal.batch_index {
        response.record_errors = vec![
            BatchIndexAndErrorMessage::default()
                .with_batch_index(batch_index)
                .with_batch_index_error_message(Some(str_bytes(refusal.message.clone()))),
        ];
    }
}

pub(crate) async fn handle(ctx: &RequestContext, request: ProduceRequest) -> Answer<ProduceResponse> {
    let broker = &ctx.broker;
    let acks = request.acks;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut jobs = Vec::new();
    let mut first_error: Option<String> = None;
    for (t, topic_data) in request.topic_data.into_iter().enumerate() {
        let name = topic_data.name.0.to_string();
        let topic = broker.topics.get(&name);
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for (slot, data) in topic_data.partition_data.into_iter().enumerate() {
            let mut response = partition_response(data.index, ErrorCode::None);
            let refusal = if !matches!(acks, -1..=1) {
                Some(refuse(
                    ErrorCode::InvalidRequiredAcks,
                    format!("acks={acks} is not -1, 0 or 1"),
                ))
            } else if request.transactional_id.is_some() {
                Some(refuse(
                    ErrorCode::TransactionalIdAuthorizationFailed,
                    "transactions are not supported yet",
                ))
            } else {
                match topic
                    .as_ref()
                    .and_then(|t| Some((t.partition(data.index)?, t.config())))
                {
                    None => Some(refuse(
                        ErrorCode::UnknownTopicOrPartition,
                        format!("{name}-{} does not exist", data.index),
                    )),
                    Some((partition, config)) => {
                        if acks == -1 && config.min_insync_replicas > 1 {
                            Some(refuse(
                                ErrorCode::NotEnoughReplicas,
                                format!(
                                    "min.insync.replicas={} but this single broker is the only replica",
                                    config.min_insync_replicas
                                ),
                            ))
                        } else {
                            jobs.push(Job {
                                topic: t,
                                slot,
                                partition,
                                records: data.records.unwrap_or_default(),
                                compacted: config.cleanup_policy.compact,
                            });
                            None
                        }
                    }
                }
            };
            if let Some(refusal) = refusal {
                first_error.get_or_insert_with(|| refusal.message.clone());
                set_refusal(&mut response, &refusal);
            }
            partitions.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_partition_responses(partitions),
        );
    }

    let max_decompressed = broker.config.max_decompressed_batch_bytes as usize;
    let outcomes = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        jobs.into_iter()
            .map(|job| {
                let result = validate_batches(&job.records, job.compacted, max_decompressed)
                    .map(|batches| job.partition.append(&batches, now));
                (job.topic, job.slot, job.partition, result)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::error!(cause = %e, "produce task panicked");
            return Answer::Close("internal error".to_owned());
        }
    };

    let mut flush_waits = Vec::new();
    for (t, slot, partition, result) in outcomes {
        let response = &mut responses[t].partition_responses[slot];
        response.log_start_offset = partition.log_start_offset();
        match result {
            Err(refusal) => {
                first_error.get_or_insert_with(|| refusal.message.clone());
                set_refusal(response, &refusal);
            }
            Ok(append) => match append.outcome {
                Ok(appended) => {
                    response.base_offset = appended.base_offset;
                    response.log_append_time_ms = appended.log_append_time;
                    if let Some(offset) = append.flush_to {
                        flush_waits.push((t, slot, partition, offset));
                    }
                }
                Err(e) => {
                    let code = log_error_code(&e);
                    if code == ErrorCode::KafkaStorageError {
                        tracing::error!(topic = %partition.topic(), partition = partition.index(), cause = %e, "append failed");
                    }
                    first_error.get_or_insert_with(|| e.to_string());
                    response.error_code = code.code();
                    response.error_message = Some(str_bytes(e.to_string()));
                }
            },
        }
    }

    let response = ProduceResponse::default().with_responses(responses);
    if acks == 0 {
        return match first_error {
            Some(reason) => Answer::Close(reason),
            None => Answer::Never,
        };
    }
    if flush_waits.is_empty() {
        return Answer::Now(response);
    }
    Answer::Later(Box::pin(async move {
        let mut response = response;
        for (t, slot, partition, offset) in flush_waits {
            if !partition.wait_flushed(offset).await {
                let r = &mut response.responses[t].partition_responses[slot];
                r.error_code = ErrorCode::KafkaStorageError.code();
                r.error_message = Some(str_bytes("the append could not be made durable"));
                r.base_offset = -1;
            }
        }
        response
    }))
}

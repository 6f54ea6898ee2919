//! InitProducerId for idempotent producers: a fresh producer id with epoch 0, as Kafka gives
//! every non-transactional producer (including one that asks to bump its epoch).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::{error, warn};

use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: InitProducerIdRequest) -> Answer<InitProducerIdResponse> {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.as_ref().is_some_and(|id| id.0.is_empty()) {
        return Answer::Now(response.with_error_code(ErrorCode::InvalidRequest.code()));
    }
    if let Some(id) = &request.transactional_id {
        warn!(transactional_id = %id.0, "transactional producers are not supported yet");
        return Answer::Now(response.with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code()));
    }
    let broker = std::sync::Arc::clone(&ctx.broker);
    match tokio::task::spawn_blocking(move || broker.producer_ids.next()).await {
        Ok(Ok(id)) => Answer::Now(response.with_producer_id(ProducerId(id)).with_producer_epoch(0)),
        Ok(Err(e)) => {
            error!(cause = %e, "allocating a producer id failed");
            Answer::Now(response.with_error_code(ErrorCode::KafkaStorageError.code()))
        }
        Err(e) => {
            error!(cause = %e, "allocating a producer id panicked");
            Answer::Now(response.with_error_code(ErrorCode::UnknownServerError.code()))
        }
    }
}

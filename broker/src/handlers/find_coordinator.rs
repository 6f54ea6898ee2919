//! FindCoordinator (v0-6, with the batched keys of v4+). On a single node this broker
//! coordinates every consumer group. Transactions have no coordinator yet, so transactional
//! keys get COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

const GROUP: i8 = 0;

/// The coordinator of `key`, or the error that says why there is none.
fn locate(ctx: &RequestContext, key_type: i8) -> Result<(BrokerId, StrBytes, i32), (ErrorCode, String)> {
    match key_type {
        GROUP => Ok((
            BrokerId(ctx.broker.node_id()),
            str_bytes(ctx.broker.advertised.host.clone()),
            ctx.broker.advertised.port,
        )),
        1 => Err((
            ErrorCode::CoordinatorNotAvailable,
            "transactions are not supported yet".to_owned(),
        )),
        other => Err((
            ErrorCode::InvalidRequest,
            format!("coordinator key type {other} is not supported"),
        )),
    }
}

pub(crate) async fn handle(ctx: &RequestContext, request: FindCoordinatorRequest) -> Answer<FindCoordinatorResponse> {
    if ctx.version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let coordinator = Coordinator::default().with_key(key);
                match locate(ctx, request.key_type) {
                    Ok((node_id, host, port)) => coordinator.with_node_id(node_id).with_host(host).with_port(port),
                    Err((code, message)) => coordinator
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(code.code())
                        .with_error_message(Some(str_bytes(message))),
                }
            })
            .collect();
        return Answer::Now(FindCoordinatorResponse::default().with_coordinators(coordinators));
    }
    let response = FindCoordinatorResponse::default();
    Answer::Now(match locate(ctx, request.key_type) {
        Ok((node_id, host, port)) => response.with_node_id(node_id).with_host(host).with_port(port),
        Err((code, message)) => {
            let response = response
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(code.code());
            if ctx.version >= 1 {
                response.with_error_message(Some(str_bytes(message)))
            } else {
                response
            }
        }
    })
}

//! DescribeCluster: this single broker, which is also the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::server::{Answer, RequestContext};

/// KIP-919 endpoint type "brokers".
const ENDPOINT_BROKERS: i8 = 1;

pub(crate) async fn handle(ctx: &RequestContext, request: DescribeClusterRequest) -> Answer<DescribeClusterResponse> {
    let broker = &ctx.broker;
    if request.endpoint_type != ENDPOINT_BROKERS && ctx.version >= 1 {
        return Answer::Now(
            DescribeClusterResponse::default()
                .with_error_code(crate::error_code::ErrorCode::UnsupportedVersion.code())
                .with_error_message(Some(str_bytes("only the brokers endpoint type is served")))
                .with_endpoint_type(request.endpoint_type),
        );
    }
    Answer::Now(
        DescribeClusterResponse::default()
            .with_endpoint_type(ENDPOINT_BROKERS)
            .with_cluster_id(str_bytes(broker.cluster_id.clone()))
            .with_controller_id(BrokerId(broker.node_id()))
            .with_brokers(vec![
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(broker.node_id()))
                    .with_host(str_bytes(broker.advertised.host.clone()))
                    .with_port(broker.advertised.port),
            ])
            .with_cluster_authorized_operations(i32::MIN),
    )
}

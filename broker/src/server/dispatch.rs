//! Decodes one request frame, routes it to its handler, and encodes the response. The only
//! routing table is the `match` below; each API's logic lives in `crate::handlers`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use rill_client::protocol::frame::{FrameError, HeaderPrefix, encode_response};
use tracing::{Instrument, debug_span};

use super::DispatchError;
use super::connection::Reply;
use super::response::{Chunk, splice};
use super::versions;
use crate::broker::Broker;
use crate::handlers;
use crate::handlers::fetch::FetchReply;

/// A boxed response future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a handler knows about the request it serves.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub(crate) broker: Arc<Broker>,
    pub(crate) version: i16,
    pub(crate) client_id: Option<String>,
    #[allow(dead_code)]
    pub(crate) peer: SocketAddr,
}

/// How a handler answers.
pub(crate) enum Answer<R> {
    /// At once.
    Now(R),
    /// Later (waiting for durability or data).
    Later(BoxFuture<R>),
    /// Not at all (acks=0).
    Never,
    /// By closing the connection.
    Close(String),
}

fn encode<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, response: &R) -> Result<Bytes, FrameError> {
    encode_response(correlation_id, version, R::header_version(version), response)
}

fn into_reply<R: Send + 'static>(
    answer: Answer<R>,
    correlation_id: i32,
    version: i16,
    encode: fn(i32, i16, R) -> Result<Vec<Chunk>, FrameError>,
) -> Result<Reply, DispatchError> {
    Ok(match answer {
        Answer::Now(response) => Reply::Ready(encode(correlation_id, version, response)?),
        Answer::Later(future) => Reply::Pending(Box::pin(async move { encode(correlation_id, version, future.await) })),
        Answer::Never => Reply::Nothing,
        Answer::Close(reason) => return Err(DispatchError::AcksZeroFailure { reason }),
    })
}

fn encode_message<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: R,
) -> Result<Vec<Chunk>, FrameError> {
    Ok(vec![Chunk::Memory(encode(correlation_id, version, &response)?)])
}

fn encode_fetch(correlation_id: i32, version: i16, reply: FetchReply) -> Result<Vec<Chunk>, FrameError> {
    let encoded = encode(correlation_id, version, &reply.response)?;
    // Fetch v12+ is a flexible version: records carry a compact (varint) length.
    splice(encoded, &reply.marker, version >= 12, reply.slices)
}

/// The API's name, for logs and errors.
fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::OffsetDelete => "OffsetDelete",
        _ => "an API this broker does not serve",
    }
}

/// Handles one request frame.
pub(crate) async fn dispatch(broker: &Arc<Broker>, frame: Bytes, peer: SocketAddr) -> Result<Reply, DispatchError> {
    let prefix = HeaderPrefix::peek(&frame).ok_or(DispatchError::Short { len: frame.len() })?;
    let HeaderPrefix {
        api_key,
        api_version: version,
        correlation_id,
    } = prefix;
    let key = ApiKey::try_from(api_key).map_err(|()| DispatchError::UnknownApiKey { key: api_key })?;
    let api = api_name(key);
    let (min, max) = versions::supported(key).ok_or(DispatchError::UnsupportedApi { key: api_key, api })?;
    if !(min..=max).contains(&version) {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer in v0 with UNSUPPORTED_VERSION and our range, so the client retries.
            return Ok(Reply::Ready(encode_message(
                correlation_id,
                0,
                handlers::api_versions::unsupported_version(),
            )?));
        }
        return Err(DispatchError::UnsupportedVersion { api, version, min, max });
    }
    let mut body = frame;
    let header =
        RequestHeader::decode(&mut body, key.request_header_version(version)).map_err(|e| DispatchError::Decode {
            api,
            version,
            source: e.into(),
        })?;
    let ctx = RequestContext {
        broker: Arc::clone(broker),
        version,
        client_id: header.client_id.as_ref().map(|s| s.to_string()),
        peer,
    };
    let span = debug_span!(
        "request",
        api,
        version,
        correlation_id,
        client_id = ctx.client_id.as_deref().unwrap_or("")
    );

    macro_rules! route {
        ($request:ty, $handler:path) => {
            route!($request, $handler, encode_message)
        };
        ($request:ty, $handler:path, $encode:expr) => {{
            let request = <$request>::decode(&mut body, version).map_err(|e| DispatchError::Decode {
                api,
                version,
                source: e.into(),
            })?;
            let answer = $handler(&ctx, request).instrument(span).await;
            into_reply(answer, correlation_id, version, $encode)
        }};
    }

    match key {
        ApiKey::ApiVersions => route!(ApiVersionsRequest, handlers::api_versions::handle),
        ApiKey::Metadata => route!(MetadataRequest, handlers::metadata::handle),
        ApiKey::Produce => route!(ProduceRequest, handlers::produce::handle),
        ApiKey::Fetch => route!(FetchRequest, handlers::fetch::handle, encode_fetch),
        ApiKey::ListOffsets => route!(ListOffsetsRequest, handlers::list_offsets::handle),
        ApiKey::CreateTopics => route!(CreateTopicsRequest, handlers::create_topics::handle),
        ApiKey::DeleteTopics => route!(DeleteTopicsRequest, handlers::delete_topics::handle),
        ApiKey::CreatePartitions => route!(CreatePartitionsRequest, handlers::create_partitions::handle),
        ApiKey::DeleteRecords => route!(DeleteRecordsRequest, handlers::delete_records::handle),
        ApiKey::DescribeConfigs => route!(DescribeConfigsRequest, handlers::describe_configs::handle),
        ApiKey::AlterConfigs => route!(AlterConfigsRequest, handlers::alter_configs::handle),
        ApiKey::IncrementalAlterConfigs => {
            route!(
                IncrementalAlterConfigsRequest,
                handlers::incremental_alter_configs::handle
            )
        }
        ApiKey::DescribeCluster => route!(DescribeClusterRequest, handlers::describe_cluster::handle),
        ApiKey::InitProducerId => route!(InitProducerIdRequest, handlers::init_producer_id::handle),
        ApiKey::FindCoordinator => route!(FindCoordinatorRequest, handlers::find_coordinator::handle),
        ApiKey::JoinGroup => route!(JoinGroupRequest, handlers::join_group::handle),
        ApiKey::SyncGroup => route!(SyncGroupRequest, handlers::sync_group::handle),
        ApiKey::Heartbeat => route!(HeartbeatRequest, handlers::heartbeat::handle),
        ApiKey::LeaveGroup => route!(LeaveGroupRequest, handlers::leave_group::handle),
        ApiKey::OffsetCommit => route!(OffsetCommitRequest, handlers::offset_commit::handle),
        ApiKey::OffsetFetch => route!(OffsetFetchRequest, handlers::offset_fetch::handle),
        ApiKey::ListGroups => route!(ListGroupsRequest, handlers::list_groups::handle),
        ApiKey::DescribeGroups => route!(DescribeGroupsRequest, handlers::describe_groups::handle),
        ApiKey::DeleteGroups => route!(DeleteGroupsRequest, handlers::delete_groups::handle),
        ApiKey::OffsetDelete => route!(OffsetDeleteRequest, handlers::offset_delete::handle),
        _ => Err(DispatchError::UnsupportedApi { key: api_key, api }),
    }
}

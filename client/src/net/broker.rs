//! One connection to a broker shared by many callers: requests are written in order, responses
//! matched to them by order and correlation id (the protocol answers in request order), so any
//! number of requests can be in flight.

use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::versions::ApiVersions;
use crate::connection::ConnectionError;
use crate::error::ClientError;
use crate::protocol::frame::{FrameError, FrameReader, HeaderPrefix, encode_produce, encode_request};

/// Largest response accepted.
const MAX_RESPONSE: usize = 1 << 30;
/// Requests queued for writing per connection.
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<Bytes, ConnectionError>>;

struct Outgoing {
    /// The frame, in chunks written with one vectored write.
    frame: Vec<Bytes>,
    correlation_id: i32,
    reply: Option<Reply>,
}

/// A multiplexed connection to one broker. Cloning shares it.
#[derive(Clone)]
pub struct BrokerConnection {
    addr: Arc<str>,
    tx: mpsc::Sender<Outgoing>,
    versions: Arc<ApiVersions>,
    client_id: StrBytes,
    correlation: Arc<AtomicI32>,
}

impl std::fmt::Debug for BrokerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConnection")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl BrokerConnection {
    /// Connects to `addr` and negotiates API versions (ApiVersions v3, falling back to v0 for
    /// older brokers).
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<Self, ClientError> {
        let connection_error = |source| ClientError::Connection {
            broker: addr.to_owned(),
            source,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout {
                what: format!("connecting to {addr}"),
                ms: timeout.as_millis() as u64,
            })?
            .map_err(|e| connection_error(e.into()))?;
        stream.set_nodelay(true).map_err(|e| connection_error(e.into()))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(stream, rx, addr.to_owned()));
        let mut connection = Self {
            addr: Arc::from(addr),
            tx,
            versions: Arc::new(ApiVersions::default()),
            client_id: StrBytes::from_string(client_id.to_owned()),
            correlation: Arc::new(AtomicI32::new(0)),
        };
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("rill"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut response: ApiVersionsResponse = connection.send_version(3, &request).await?;
        if response.error_code == 35 {
            // KIP-511: the broker does not know v3; it answered in v0 with what it does know.
            response = connection.send_version(0, &request).await?;
        }
        if let Some(error) = ClientError::from_code("ApiVersions", response.error_code, None) {
            return Err(error);
        }
        connection.versions = Arc::new(ApiVersions::from_response(&response));
        Ok(connection)
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The broker's API versions.
    pub fn versions(&self) -> &ApiVersions {
        &self.versions
    }

    /// Whether the connection has failed or closed.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The version this connection uses for `R` (at most `cap`).
    pub fn version<R: Request>(&self, cap: Option<i16>) -> Result<i16, ClientError> {
        self.versions.pick::<R>(cap).ok_or(ClientError::Unsupported {
            api: api_name(R::KEY),
            min: R::VERSIONS.min,
            max: cap.unwrap_or(R::VERSIONS.max),
        })
    }

    /// Sends `request` at the highest mutually supported version and awaits the response.
    pub async fn send<R: Request>(&self, request: &R) -> Result<(i16, R::Response), ClientError> {
        let version = self.version::<R>(None)?;
        Ok((version, self.send_version(version, request).await?))
    }

    /// Sends `request` at `version` and awaits the response.
    pub async fn send_version<R: Request>(&self, version: i16, request: &R) -> Result<R::Response, ClientError> {
        self.start(version, request).await?.response().await
    }

    /// Queues `request` at `version` for writing and returns without waiting for the answer:
    /// requests started one after another are written in that order, which is what keeps a
    /// producer's batches in sequence while several are in flight.
    pub async fn start<R: Request>(&self, version: i16, request: &R) -> Result<Pending<R>, ClientError> {
        self.start_with(version, |header| Ok(vec![encode_request(header, request)?]))
            .await
    }

    /// [`BrokerConnection::start`] for a Produce request, whose record batches are written from
    /// the request's own buffers rather than copied into the frame.
    pub async fn start_produce(
        &self,
        version: i16,
        request: &ProduceRequest,
    ) -> Result<Pending<ProduceRequest>, ClientError> {
        self.start_with(version, |header| encode_produce(header, request)).await
    }

    /// Sends a Produce request with acks=0, which gets no response.
    pub async fn send_produce_without_response(
        &self,
        version: i16,
        request: &ProduceRequest,
    ) -> Result<(), ClientError> {
        self.enqueue::<ProduceRequest>(version, None, |header| encode_produce(header, request))
            .await
            .map(drop)
    }

    async fn start_with<R: Request>(
        &self,
        version: i16,
        encode: impl FnOnce(&RequestHeader) -> Result<Vec<Bytes>, FrameError>,
    ) -> Result<Pending<R>, ClientError> {
        let (reply, rx) = oneshot::channel();
        let correlation_id = self.enqueue::<R>(version, Some(reply), encode).await?;
        Ok(Pending {
            connection: self.clone(),
            rx,
            version,
            correlation_id,
            request: std::marker::PhantomData,
        })
    }

    async fn enqueue<R: Request>(
        &self,
        version: i16,
        reply: Option<Reply>,
        encode: impl FnOnce(&RequestHeader) -> Result<Vec<Bytes>, FrameError>,
    ) -> Result<i32, ClientError> {
        let correlation_id = self.correlation.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let frame = encode(&header).map_err(|e| self.error(e.into()))?;
        self.tx
            .send(Outgoing {
                frame,
                correlation_id,
                reply,
            })
            .await
            .map_err(|_| self.error(ConnectionError::Closed))?;
        Ok(correlation_id)
    }

    fn decode<R: Request>(
        &self,
        mut frame: Bytes,
        version: i16,
        correlation_id: i32,
    ) -> Result<R::Response, ClientError> {
        let header_version = <R::Response as HeaderVersion>::header_version(version);
        let header = ResponseHeader::decode(&mut frame, header_version).map_err(|e| {
            self.error(ConnectionError::Decode {
                api: "response header",
                source: e.into(),
            })
        })?;
        if header.correlation_id != correlation_id {
            return Err(self.error(ConnectionError::CorrelationMismatch {
                want: correlation_id,
                got: header.correlation_id,
            }));
        }
        R::Response::decode(&mut frame, version).map_err(|e| {
            self.error(ConnectionError::Decode {
                api: api_name(R::KEY),
                source: e.into(),
            })
        })
    }

    fn error(&self, source: ConnectionError) -> ClientError {
        ClientError::Connection {
            broker: self.addr.to_string(),
            source,
        }
    }
}

/// A request written (or queued to be) whose response has not been read yet.
#[derive(Debug)]
pub struct Pending<R> {
    connection: BrokerConnection,
    rx: oneshot::Receiver<Result<Bytes, ConnectionError>>,
    version: i16,
    correlation_id: i32,
    request: std::marker::PhantomData<fn() -> R>,
}

impl<R: Request> Pending<R> {
    /// Awaits and decodes the response.
    pub async fn response(self) -> Result<R::Response, ClientError> {
        let connection = self.connection;
        let frame = self
            .rx
            .await
            .map_err(|_| connection.error(ConnectionError::Closed))?
            .map_err(|e| connection.error(e))?;
        connection.decode::<R>(frame, self.version, self.correlation_id)
    }
}

/// The API's name, for errors.
pub(crate) fn api_name(key: i16) -> &'static str {
    match ApiKey::try_from(key) {
        Ok(ApiKey::Produce) => "Produce",
        Ok(ApiKey::Fetch) => "Fetch",
        Ok(ApiKey::ListOffsets) => "ListOffsets",
        Ok(ApiKey::Metadata) => "Metadata",
        Ok(ApiKey::OffsetCommit) => "OffsetCommit",
        Ok(ApiKey::OffsetFetch) => "OffsetFetch",
        Ok(ApiKey::FindCoordinator) => "FindCoordinator",
        Ok(ApiKey::JoinGroup) => "JoinGroup",
        Ok(ApiKey::Heartbeat) => "Heartbeat",
        Ok(ApiKey::LeaveGroup) => "LeaveGroup",
        Ok(ApiKey::SyncGroup) => "SyncGroup",
        Ok(ApiKey::DescribeGroups) => "DescribeGroups",
        Ok(ApiKey::ListGroups) => "ListGroups",
        Ok(ApiKey::ApiVersions) => "ApiVersions",
        Ok(ApiKey::CreateTopics) => "CreateTopics",
        Ok(ApiKey::DeleteTopics) => "DeleteTopics",
        Ok(ApiKey::DeleteRecords) => "DeleteRecords",
        Ok(ApiKey::InitProducerId) => "InitProducerId",
        Ok(ApiKey::DescribeConfigs) => "DescribeConfigs",
        Ok(ApiKey::AlterConfigs) => "AlterConfigs",
        Ok(ApiKey::CreatePartitions) => "CreatePartitions",
        Ok(ApiKey::DeleteGroups) => "DeleteGroups",
        Ok(ApiKey::IncrementalAlterConfigs) => "IncrementalAlterConfigs",
        Ok(ApiKey::OffsetDelete) => "OffsetDelete",
        Ok(ApiKey::DescribeCluster) => "DescribeCluster",
        _ => "a Kafka API",
    }
}

/// The connection's I/O: a writer that registers each request's reply slot before writing it,
/// and a reader that hands each response to the oldest slot. Any failure fails every pending
/// request and closes the connection.
async fn run(stream: TcpStream, mut rx: mpsc::Receiver<Outgoing>, addr: String) {
    let (mut read, mut write) = stream.into_split();
    let (inflight_tx, mut inflight_rx) = mpsc::unbounded_channel::<(i32, Reply)>();
    let writer = async move {
        while let Some(out) = rx.recv().await {
            if let Some(reply) = out.reply {
                if inflight_tx.send((out.correlation_id, reply)).is_err() {
                    return;
                }
            }
            if let Err(e) = write_chunks(&mut write, &out.frame).await {
                debug!(broker = %addr, cause = %e, "write failed");
                return;
            }
        }
    };
    let reader = async move {
        let mut frames = FrameReader::new(MAX_RESPONSE);
        let ended = loop {
            let frame = match frames.next(&mut read).await {
                Ok(Some(frame)) => frame,
                Ok(None) => break ConnectionError::Closed,
                Err(e) => break ConnectionError::Frame(e),
            };
            let Some((correlation_id, reply)) = inflight_rx.recv().await else {
                return;
            };
            let got = HeaderPrefix::peek_response(&frame);
            if got != Some(correlation_id) {
                let _ = reply.send(Err(ConnectionError::CorrelationMismatch {
                    want: correlation_id,
                    got: got.unwrap_or(-1),
                }));
                break ConnectionError::Closed;
            }
            let _ = reply.send(Ok(frame));
        };
        debug!(cause = %ended, "connection closed");
        inflight_rx.close();
        while let Some((_, reply)) = inflight_rx.recv().await {
            let _ = reply.send(Err(ConnectionError::Closed));
        }
    };
    // Either side ending ends the connection: the other is dropped with it.
    tokio::select! {
        () = writer => {},
        () = reader => {},
    }
}

/// Writes every chunk, as few system calls as the socket allows.
async fn write_chunks<W: AsyncWrite + Unpin>(write: &mut W, chunks: &[Bytes]) -> std::io::Result<()> {
    /// Slices per call (Linux takes up to 1024).
    const MAX_SLICES: usize = 64;
    let (mut index, mut offset) = (0, 0);
    while index < chunks.len() {
        let mut slices = Vec::with_capacity((chunks.len() - index).min(MAX_SLICES));
        slices.push(IoSlice::new(&chunks[index][offset..]));
        slices.extend(chunks[index + 1..].iter().take(MAX_SLICES - 1).map(|c| IoSlice::new(c)));
        let mut written = write.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while index < chunks.len() && written >= chunks[index].len() - offset {
            written -= chunks[index].len() - offset;
            index += 1;
            offset = 0;
        }
        offset += written;
    }
    Ok(())
}

//! One TCP connection that sends typed requests and awaits their responses in order.

use bytes::Bytes;
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::protocol::frame::{FrameError, FrameReader, encode_request};

/// Largest response a [`Connection`] accepts.
const MAX_RESPONSE: usize = 512 * 1024 * 1024;

/// A request on a [`Connection`] failed.
#[derive(Debug, Error)]
pub enum ConnectionError {
    /// Connecting, reading or writing failed.
    #[error("i/o on the connection failed")]
    Io(#[from] std::io::Error),
    /// A frame was malformed or could not be encoded.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The server closed the connection before answering.
    #[error("the server closed the connection")]
    Closed,
    /// The response carried another request's correlation id.
    #[error("response correlation id {got} does not match request {want}")]
    CorrelationMismatch {
        /// The id sent.
        want: i32,
        /// The id received.
        got: i32,
    },
    /// The response body could not be decoded.
    #[error("decoding the {api} response failed")]
    Decode {
        /// API whose response failed.
        api: &'static str,
        /// The codec's reason.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A single connection to a Kafka-protocol server.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    reader: FrameReader,
    next_correlation_id: i32,
    client_id: StrBytes,
}

impl Connection {
    /// Connects to `addr`, identifying as `client_id`.
    pub async fn connect(addr: impl ToSocketAddrs, client_id: &str) -> Result<Self, ConnectionError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            reader: FrameReader::new(MAX_RESPONSE),
            next_correlation_id: 1,
            client_id: StrBytes::from_string(client_id.to_owned()),
        })
    }

    /// Sends `request` at `version` and waits for its response.
    pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response, ConnectionError> {
        let correlation_id = self.send_only(version, request).await?;
        self.receive::<R>(version, correlation_id).await
    }

    /// Sends `request` without waiting; returns its correlation id for [`Connection::receive`].
    pub async fn send_only<R: Request>(&mut self, version: i16, request: &R) -> Result<i32, ConnectionError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let frame = encode_request(&header, request)?;
        self.stream.write_all(&frame).await?;
        Ok(correlation_id)
    }

    /// Waits for the response to the request sent with `correlation_id`.
    pub async fn receive<R: Request>(
        &mut self,
        version: i16,
        correlation_id: i32,
    ) -> Result<R::Response, ConnectionError> {
        let mut frame = self.read_frame().await?;
        let header_version = <R::Response as HeaderVersion>::header_version(version);
        let header = ResponseHeader::decode(&mut frame, header_version).map_err(|e| ConnectionError::Decode {
            api: "response header",
            source: e.into(),
        })?;
        if header.correlation_id != correlation_id {
            return Err(ConnectionError::CorrelationMismatch {
                want: correlation_id,
                got: header.correlation_id,
            });
        }
        R::Response::decode(&mut frame, version).map_err(|e| ConnectionError::Decode {
            api: std::any::type_name::<R>(),
            source: e.into(),
        })
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, ConnectionError> {
        Ok(self.stream.local_addr()?)
    }

    /// Writes raw bytes, for tests that speak malformed protocol on purpose.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Reads one raw response frame (size prefix removed).
    pub async fn read_frame(&mut self) -> Result<Bytes, ConnectionError> {
        self.reader.next(&mut self.stream).await?.ok_or(ConnectionError::Closed)
    }
}

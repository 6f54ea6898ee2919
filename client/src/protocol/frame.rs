//! Length-prefixed framing: every request and response is an `i32` size followed by that many bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ProduceRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion, Request};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the size prefix.
pub const SIZE_PREFIX: usize = 4;

/// A frame could not be read or written.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The size prefix exceeds the configured limit (`socket.request.max.bytes` on a broker).
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size announced by the prefix.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The size prefix is negative or too small to hold a header.
    #[error("frame size {size} is invalid")]
    InvalidSize {
        /// Size announced by the prefix.
        size: i32,
    },
    /// The peer closed the connection inside a frame.
    #[error("connection closed after {have} of {need} frame bytes")]
    UnexpectedEof {
        /// Bytes the frame needs.
        need: usize,
        /// Bytes received.
        have: usize,
    },
    /// Reading from the socket failed.
    #[error("reading a frame failed")]
    Io(#[from] std::io::Error),
    /// A message could not be encoded.
    #[error("encoding {what} failed")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The codec's reason.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Reads frames from a stream through one reusable buffer, so that many small requests cost few
/// system calls and a large one is read straight into its own allocation.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max_size: usize,
}

const READ_CHUNK: usize = 64 * 1024;

impl FrameReader {
    /// A reader that refuses frames over `max_size` bytes (size prefix excluded).
    pub fn new(max_size: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(READ_CHUNK),
            max_size,
        }
    }

    /// Reads the next frame's body. `Ok(None)` means the peer closed the connection between frames.
    pub async fn next<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> Result<Option<Bytes>, FrameError> {
        while self.buf.len() < SIZE_PREFIX {
            if !self.fill(io, SIZE_PREFIX).await? {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(FrameError::UnexpectedEof {
                    need: SIZE_PREFIX,
                    have: self.buf.len(),
                });
            }
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if size < 0 {
            return Err(FrameError::InvalidSize { size });
        }
        let size = size as usize;
        if size > self.max_size {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        let need = SIZE_PREFIX + size;
        while self.buf.len() < need {
            if !self.fill(io, need).await? {
                return Err(FrameError::UnexpectedEof {
                    need: size,
                    have: self.buf.len() - SIZE_PREFIX,
                });
            }
        }
        self.buf.advance(SIZE_PREFIX);
        Ok(Some(self.buf.split_to(size).freeze()))
    }

    /// Reads more bytes; returns false at end of stream.
    async fn fill<R: AsyncRead + Unpin>(&mut self, io: &mut R, need: usize) -> Result<bool, FrameError> {
        let want = need.saturating_sub(self.buf.len()).max(READ_CHUNK);
        self.buf.reserve(want);
        Ok(io.read_buf(&mut self.buf).await? > 0)
    }
}

/// The fields every request header starts with, read without decoding the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPrefix {
    /// API key.
    pub api_key: i16,
    /// API version.
    pub api_version: i16,
    /// Correlation id, echoed in the response.
    pub correlation_id: i32,
}

impl HeaderPrefix {
    /// The correlation id at the start of a response frame; `None` if the frame is shorter.
    pub fn peek_response(frame: &[u8]) -> Option<i32> {
        let b = frame.get(..4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads the first 8 bytes of a request frame; `None` if the frame is shorter.
    pub fn peek(frame: &[u8]) -> Option<Self> {
        let b = frame.get(..8)?;
        Some(Self {
            api_key: i16::from_be_bytes([b[0], b[1]]),
            api_version: i16::from_be_bytes([b[2], b[3]]),
            correlation_id: i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// Encodes a response frame: size prefix, response header (version chosen from the API and its
/// version), body.
pub fn encode_response<M: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    header_version: i16,
    body: &M,
) -> Result<Bytes, FrameError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .map_err(anyhow_err("response header"))?
        + body.compute_size(version).map_err(anyhow_err("response body"))?;
    let mut out = BytesMut::with_capacity(SIZE_PREFIX + size);
    out.put_i32(size as i32);
    header
        .encode(&mut out, header_version)
        .map_err(anyhow_err("response header"))?;
    body.encode(&mut out, version).map_err(anyhow_err("response body"))?;
    Ok(out.freeze())
}

/// Encodes a request frame for `R` at `version`.
pub fn encode_request<R: Request>(header: &RequestHeader, request: &R) -> Result<Bytes, FrameError> {
    let header_version = R::header_version(header.request_api_version);
    let version = header.request_api_version;
    let size = header
        .compute_size(header_version)
        .map_err(anyhow_err("request header"))?
        + request.compute_size(version).map_err(anyhow_err("request body"))?;
    let mut out = BytesMut::with_capacity(SIZE_PREFIX + size);
    out.put_i32(size as i32);
    header
        .encode(&mut out, header_version)
        .map_err(anyhow_err("request header"))?;
    request.encode(&mut out, version).map_err(anyhow_err("request body"))?;
    Ok(out.freeze())
}

/// Encodes a Produce request (versions 3 to 12, which name topics) as the crate's encoder would,
/// but as a list of chunks in which each partition's record batches are the caller's own
/// [`Bytes`], not copied: written with vectored writes, a producer's batches go from its buffers
/// to the socket.
pub fn encode_produce(header: &RequestHeader, request: &ProduceRequest) -> Result<Vec<Bytes>, FrameError> {
    let version = header.request_api_version;
    if !(3..=12).contains(&version) {
        return Err(FrameError::Encode {
            what: "Produce request",
            source: format!("version {version} is not encoded in chunks").into(),
        });
    }
    let flexible = version >= 9;
    let header_version = ProduceRequest::header_version(version);
    let size = header
        .compute_size(header_version)
        .map_err(anyhow_err("request header"))?
        + request.compute_size(version).map_err(anyhow_err("request body"))?;
    let mut chunks = Vec::new();
    let mut head = BytesMut::with_capacity(256);
    head.put_i32(size as i32);
    header
        .encode(&mut head, header_version)
        .map_err(anyhow_err("request header"))?;
    let put_len = |out: &mut BytesMut, len: Option<usize>, wide: bool| match (flexible, len) {
        (true, None) => put_uvarint(out, 0),
        (true, Some(n)) => put_uvarint(out, n as u32 + 1),
        (false, None) if wide => out.put_i32(-1),
        (false, None) => out.put_i16(-1),
        (false, Some(n)) if wide => out.put_i32(n as i32),
        (false, Some(n)) => out.put_i16(n as i16),
    };
    let put_count = |out: &mut BytesMut, n: usize| {
        if flexible {
            put_uvarint(out, n as u32 + 1);
        } else {
            out.put_i32(n as i32);
        }
    };
    let transactional_id = request.transactional_id.as_ref().map(|id| id.0.as_bytes());
    put_len(&mut head, transactional_id.map(<[u8]>::len), false);
    head.put_slice(transactional_id.unwrap_or_default());
    head.put_i16(request.acks);
    head.put_i32(request.timeout_ms);
    put_count(&mut head, request.topic_data.len());
    for topic in &request.topic_data {
        let name = topic.name.0.as_bytes();
        put_len(&mut head, Some(name.len()), false);
        head.put_slice(name);
        put_count(&mut head, topic.partition_data.len());
        for partition in &topic.partition_data {
            head.put_i32(partition.index);
            let records = partition.records.as_ref();
            put_len(&mut head, records.map(Bytes::len), true);
            if let Some(records) = records.filter(|r| !r.is_empty()) {
                chunks.push(head.split().freeze());
                chunks.push(records.clone());
            }
            if flexible {
                put_uvarint(&mut head, 0);
            }
        }
        if flexible {
            put_uvarint(&mut head, 0);
        }
    }
    if flexible {
        put_uvarint(&mut head, 0);
    }
    chunks.push(head.freeze());
    Ok(chunks)
}

fn put_uvarint(out: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Wraps the codec's error (an `anyhow::Error`) with what was being encoded.
fn anyhow_err<E: Into<Box<dyn std::error::Error + Send + Sync>>>(what: &'static str) -> impl FnOnce(E) -> FrameError {
    move |e| FrameError::Encode { what, source: e.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_chunks_are_the_codec_encoding_with_batches_shared() {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_protocol::messages::{TopicName, TransactionalId};
        use kafka_protocol::protocol::StrBytes;

        let batch = Bytes::from(vec![7u8; 300]);
        let long_name = "t".repeat(200);
        let topic = |name: &str, partitions: Vec<PartitionProduceData>| {
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(name.to_owned())))
                .with_partition_data(partitions)
        };
        let partition = |index: i32, records: Option<Bytes>| {
            PartitionProduceData::default().with_index(index).with_records(records)
        };
        for transactional_id in [None, Some("tx-1")] {
            let request = ProduceRequest::default()
                .with_transactional_id(transactional_id.map(|t| TransactionalId(StrBytes::from_static_str(t))))
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![
                    topic(
                        "orders",
                        vec![
                            partition(0, Some(batch.clone())),
                            partition(2, Some(Bytes::new())),
                            partition(5, None),
                        ],
                    ),
                    topic(&long_name, vec![partition(1, Some(batch.slice(10..)))]),
                ]);
            for version in 3..=12 {
                let header = RequestHeader::default()
                    .with_request_api_key(0)
                    .with_request_api_version(version)
                    .with_correlation_id(42)
                    .with_client_id(Some(StrBytes::from_static_str("rill")));
                let whole = encode_request(&header, &request).expect("codec");
                let chunks = encode_produce(&header, &request).expect("chunks");
                assert_eq!(
                    chunks.concat(),
                    whole.to_vec(),
                    "version {version}, {transactional_id:?}"
                );
                // The batches are the caller's buffers, not copies.
                assert!(chunks.iter().any(|c| c.as_ptr() == batch.as_ptr() && c.len() == 300));
                assert!(chunks.iter().any(|c| c.as_ptr() == batch[10..].as_ptr()));
            }
        }
        let header = RequestHeader::default().with_request_api_version(13);
        assert!(encode_produce(&header, &ProduceRequest::default()).is_err());
    }

    #[tokio::test]
    async fn reads_pipelined_frames_and_detects_eof() {
        let mut wire = Vec::new();
        for body in [&b"abcdefgh"[..], b"0123456789"] {
            wire.extend_from_slice(&(body.len() as i32).to_be_bytes());
            wire.extend_from_slice(body);
        }
        let mut io = &wire[..];
        let mut reader = FrameReader::new(100);
        assert_eq!(
            reader.next(&mut io).await.expect("ok").as_deref(),
            Some(&b"abcdefgh"[..])
        );
        assert_eq!(
            reader.next(&mut io).await.expect("ok").as_deref(),
            Some(&b"0123456789"[..])
        );
        assert!(reader.next(&mut io).await.expect("ok").is_none());
    }

    #[tokio::test]
    async fn oversized_negative_and_truncated_frames_are_errors() {
        let mut reader = FrameReader::new(100);
        let mut io = &101i32.to_be_bytes()[..];
        assert!(matches!(
            reader.next(&mut io).await,
            Err(FrameError::TooLarge { size: 101, max: 100 })
        ));
        let mut reader = FrameReader::new(100);
        let mut io = &(-5i32).to_be_bytes()[..];
        assert!(matches!(
            reader.next(&mut io).await,
            Err(FrameError::InvalidSize { size: -5 })
        ));
        let mut reader = FrameReader::new(100);
        let wire = [0, 0, 0, 10, 1, 2];
        let mut io = &wire[..];
        assert!(matches!(
            reader.next(&mut io).await,
            Err(FrameError::UnexpectedEof { need: 10, have: 2 })
        ));
    }
}

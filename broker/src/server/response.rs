//! Responses as a list of chunks: encoded bytes, and ranges of segment files that the writer
//! sends with `sendfile(2)`, so fetched records go from the page cache to the socket without
//! passing through the broker's memory.
//!
//! The codec encodes a whole message into one buffer. For Fetch, each partition's records are
//! given to it as a short random marker; the encoded bytes are then cut at each marker, whose
//! length prefix is rewritten for the real records, and the frame size fixed up.

use bytes::{BufMut, Bytes, BytesMut};
use rill_client::protocol::frame::{FrameError, SIZE_PREFIX};

use crate::log::FileSlice;

/// Part of a response.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Bytes to write.
    Memory(Bytes),
    /// A file range to send.
    File(FileSlice),
}

/// Stand-in for a partition's records while the codec encodes a response.
pub(crate) type Marker = [u8; 16];

/// A fresh marker; random, so it cannot occur in the rest of the response by accident.
pub(crate) fn new_marker() -> Marker {
    *uuid::Uuid::new_v4().as_bytes()
}

/// Cuts `encoded` (a whole frame, size prefix included) at each occurrence of `marker`, which
/// stands for the next of `slices`, in order. `compact` says whether the records field is
/// length-prefixed by an unsigned varint of `len + 1` (flexible versions) or by an `i32`.
pub(crate) fn splice(
    encoded: Bytes,
    marker: &Marker,
    compact: bool,
    slices: Vec<FileSlice>,
) -> Result<Vec<Chunk>, FrameError> {
    if slices.is_empty() {
        return Ok(vec![Chunk::Memory(encoded)]);
    }
    let marker_prefix = if compact { 1 } else { 4 };
    let mut chunks = Vec::with_capacity(slices.len() * 3 + 1);
    let mut cursor = 0;
    let mut size_delta: i64 = 0;
    for slice in slices {
        let found = find(&encoded[cursor..], marker).ok_or_else(|| FrameError::Encode {
            what: "fetch response records",
            source: "record placeholder missing from the encoded response".into(),
        })?;
        let marker_at = cursor + found;
        let prefix_at = marker_at
            .checked_sub(marker_prefix)
            .filter(|at| *at >= cursor)
            .ok_or_else(|| FrameError::Encode {
                what: "fetch response records",
                source: "record placeholder without its length prefix".into(),
            })?;
        let mut prefix = BytesMut::with_capacity(5);
        if compact {
            put_unsigned_varint(&mut prefix, slice.len + 1);
        } else {
            prefix.put_i32(i32::try_from(slice.len).map_err(|_| FrameError::Encode {
                what: "fetch response records",
                source: "records longer than 2 GiB".into(),
            })?);
        }
        size_delta += prefix.len() as i64 + slice.len as i64 - (marker_prefix + marker.len()) as i64;
        chunks.push(Chunk::Memory(encoded.slice(cursor..prefix_at)));
        chunks.push(Chunk::Memory(prefix.freeze()));
        chunks.push(Chunk::File(slice));
        cursor = marker_at + marker.len();
    }
    chunks.push(Chunk::Memory(encoded.slice(cursor..)));
    // Fix the frame's size prefix, at the start of the first chunk.
    let new_size = i64::from(i32::from_be_bytes([encoded[0], encoded[1], encoded[2], encoded[3]])) + size_delta;
    let new_size = i32::try_from(new_size).map_err(|_| FrameError::Encode {
        what: "fetch response",
        source: "response larger than 2 GiB".into(),
    })?;
    match chunks.first_mut() {
        Some(Chunk::Memory(first)) if first.len() >= SIZE_PREFIX => {
            let mut fixed = BytesMut::from(&first[..]);
            fixed[..SIZE_PREFIX].copy_from_slice(&new_size.to_be_bytes());
            *first = fixed.freeze();
            Ok(chunks)
        }
        _ => Err(FrameError::Encode {
            what: "fetch response",
            source: "records placeholder inside the frame header".into(),
        }),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn put_unsigned_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::*;

    fn slice(content: &[u8]) -> (FileSlice, tempfile::NamedTempFile) {
        let mut file = tempfile::NamedTempFile::new().expect("temp");
        file.write_all(b"xx").expect("write");
        file.write_all(content).expect("write");
        let slice = FileSlice {
            file: Arc::new(file.reopen().expect("reopen")),
            path: file.path().to_owned(),
            position: 2,
            len: content.len() as u64,
        };
        (slice, file)
    }

    fn flatten(chunks: &[Chunk]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in chunks {
            match chunk {
                Chunk::Memory(b) => out.extend_from_slice(b),
                Chunk::File(f) => out.extend_from_slice(&f.read().expect("read")),
            }
        }
        out
    }

    #[test]
    fn splicing_equals_encoding_the_real_records() {
        use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
        use kafka_protocol::messages::{FetchResponse, TopicName};
        let records = [vec![7u8; 300], vec![9u8; 5]];
        let marker = new_marker();
        for version in [4, 11, 12] {
            let response = |data: [Bytes; 2]| {
                FetchResponse::default().with_responses(vec![
                    FetchableTopicResponse::default()
                        .with_topic(TopicName("t".into()))
                        .with_partitions(
                            data.into_iter()
                                .enumerate()
                                .map(|(i, d)| {
                                    PartitionData::default()
                                        .with_partition_index(i as i32)
                                        .with_records(Some(d))
                                })
                                .collect(),
                        ),
                ])
            };
            let real = rill_client::protocol::frame::encode_response(
                1,
                version,
                if version >= 12 { 1 } else { 0 },
                &response([Bytes::from(records[0].clone()), Bytes::from(records[1].clone())]),
            )
            .expect("encode");
            let marked = rill_client::protocol::frame::encode_response(
                1,
                version,
                if version >= 12 { 1 } else { 0 },
                &response([Bytes::copy_from_slice(&marker), Bytes::copy_from_slice(&marker)]),
            )
            .expect("encode");
            let (a, _fa) = slice(&records[0]);
            let (b, _fb) = slice(&records[1]);
            let chunks = splice(marked, &marker, version >= 12, vec![a, b]).expect("splice");
            assert_eq!(flatten(&chunks), real.to_vec(), "v{version}");
        }
    }
}

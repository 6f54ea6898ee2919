//! Encodes RecordBatch v2 batches: new ones from records, and rebuilt ones that keep the header of
//! a stored batch (what a log cleaner writes).

use super::batch::{
    BatchHeader, Compression, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2, NO_PRODUCER_ID, NO_SEQUENCE, RecordView,
};
use super::compression::{CompressionError, compress};
use super::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// One record to encode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// Key, or `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in order; duplicate keys are allowed.
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: i64,
}

/// Producer identity stamped on a batch by an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    /// Producer id from InitProducerId.
    pub producer_id: i64,
    /// Producer epoch from InitProducerId.
    pub producer_epoch: i16,
    /// Sequence of the first record.
    pub base_sequence: i32,
}

impl ProducerStamp {
    /// No producer id: a plain, non-idempotent batch.
    pub const NONE: Self = Self {
        producer_id: NO_PRODUCER_ID,
        producer_epoch: -1,
        base_sequence: NO_SEQUENCE,
    };
}

/// Builds an uncompressed batch with base offset 0 holding `records` (at least one).
pub fn build_batch(records: &[NewRecord], stamp: ProducerStamp) -> Vec<u8> {
    encode(records, stamp)
}

/// Builds a batch whose records are compressed with `codec`.
pub fn build_compressed_batch(
    records: &[NewRecord],
    stamp: ProducerStamp,
    codec: Compression,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = encode(records, stamp);
    if codec == Compression::None {
        return Ok(out);
    }
    let packed = compress(codec, &out[HEADER_LEN..])?;
    out.truncate(HEADER_LEN);
    out.extend_from_slice(&packed);
    out[21..23].copy_from_slice(&codec_bits(codec).to_be_bytes());
    finish(&mut out);
    Ok(out)
}

fn codec_bits(codec: Compression) -> i16 {
    match codec {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

/// Builds a batch that replaces a stored one: every header field comes from `template` (base
/// offset, leader epoch, attributes and so the codec, last offset delta, timestamps, producer id,
/// epoch and base sequence) except the codec bits, record count, length and CRC. `records` is the
/// uncompressed record area, `count` records encoded with [`put_record`], compressed here with
/// `codec` (normally the template's own). Keeping the header is what lets a compacted batch hold on to its offsets and
/// to the sequence numbers idempotent producers are checked against.
pub fn rebuild_batch(
    template: &BatchHeader,
    codec: Compression,
    records: &[u8],
    count: i32,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::with_capacity(HEADER_LEN + records.len());
    out.extend_from_slice(&template.base_offset.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // batch length, patched below
    out.extend_from_slice(&template.partition_leader_epoch.to_be_bytes());
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
    let attributes = (template.attributes & !0x07) | codec_bits(codec);
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&template.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&template.base_timestamp.to_be_bytes());
    out.extend_from_slice(&template.max_timestamp.to_be_bytes());
    out.extend_from_slice(&template.producer_id.to_be_bytes());
    out.extend_from_slice(&template.producer_epoch.to_be_bytes());
    out.extend_from_slice(&template.base_sequence.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    if codec == Compression::None {
        out.extend_from_slice(records);
    } else {
        out.extend_from_slice(&compress(codec, records)?);
    }
    finish(&mut out);
    Ok(out)
}

/// Appends one record to a record area: `record`'s fields with its offset delta, but with
/// `timestamp_delta` (a rebuilt batch whose base timestamp moved re-bases every record).
pub fn put_record(out: &mut Vec<u8>, record: &RecordView<'_>, timestamp_delta: i64) {
    let mut body = Vec::with_capacity(32 + record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len));
    body.push(record.attributes as u8);
    put_varlong(&mut body, timestamp_delta);
    put_varint(&mut body, record.offset_delta);
    put_opt_bytes(&mut body, record.key);
    put_opt_bytes(&mut body, record.value);
    put_varint(&mut body, record.header_count);
    body.extend_from_slice(record.raw_headers);
    put_varint(out, body.len() as i32);
    out.extend_from_slice(&body);
}

/// Sets the length and CRC fields of a batch whose other bytes are final.
fn finish(out: &mut [u8]) {
    let length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn encode(records: &[NewRecord], stamp: ProducerStamp) -> Vec<u8> {
    let base_timestamp = records.first().map_or(0, |r| r.timestamp);
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(base_timestamp);
    let mut area = batch_buffer(records.len() * 32);
    for (delta, record) in records.iter().enumerate() {
        let headers: Vec<HeaderRef<'_>> = record
            .headers
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        put_new_record(
            &mut area,
            delta as i32,
            record.timestamp - base_timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
        );
    }
    match seal_batch(
        area,
        records.len() as i32,
        base_timestamp,
        max_timestamp,
        stamp,
        Compression::None,
    ) {
        Ok(batch) => batch,
        Err(_) => unreachable!("an uncompressed batch needs no codec"),
    }
}

/// A record header as the producer takes it: a key and a value (`None` for null).
pub type HeaderRef<'a> = (&'a [u8], Option<&'a [u8]>);

fn opt_bytes_len(bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

/// Appends one record (length prefix included) to a batch's record area, without an
/// intermediate buffer: the producer's hot path.
pub fn put_new_record(
    out: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[HeaderRef<'_>],
) {
    let headers_len: usize = headers
        .iter()
        .map(|(k, v)| opt_bytes_len(Some(k)) + opt_bytes_len(*v))
        .sum();
    let body = 1
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + opt_bytes_len(key)
        + opt_bytes_len(value)
        + varint_len(headers.len() as i32)
        + headers_len;
    out.reserve(body + 5);
    put_varint(out, body as i32);
    out.push(0);
    put_varlong(out, timestamp_delta);
    put_varint(out, offset_delta);
    put_opt_bytes(out, key);
    put_opt_bytes(out, value);
    put_varint(out, headers.len() as i32);
    for (k, v) in headers {
        put_opt_bytes(out, Some(k));
        put_opt_bytes(out, *v);
    }
}

/// Encoded size of a record, length prefix included (to reserve buffer memory before encoding).
pub fn new_record_len(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[HeaderRef<'_>]) -> usize {
    let headers_len: usize = headers
        .iter()
        .map(|(k, v)| opt_bytes_len(Some(k)) + opt_bytes_len(*v))
        .sum();
    // Deltas are at most 10 and 5 bytes; the length prefix at most 5.
    1 + 10 + 5 + opt_bytes_len(key) + opt_bytes_len(value) + varint_len(headers.len() as i32) + headers_len + 5
}

/// A buffer to encode a batch's records into (with [`put_new_record`]): `HEADER_LEN` bytes kept
/// for the header that [`seal_batch`] writes, and room for `capacity` bytes of records.
pub fn batch_buffer(capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER_LEN + capacity);
    buf.resize(HEADER_LEN, 0);
    buf
}

/// Seals a batch from a [`batch_buffer`] holding `count` encoded records: writes the header,
/// with base offset 0 (what a producer sends), in place, compressing the records first with
/// `codec`.
pub fn seal_batch(
    mut buf: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    stamp: ProducerStamp,
    codec: Compression,
) -> Result<Vec<u8>, CompressionError> {
    if codec != Compression::None {
        let packed = compress(codec, &buf[HEADER_LEN..])?;
        buf.truncate(HEADER_LEN);
        buf.extend_from_slice(&packed);
    }
    let mut header = [0u8; HEADER_LEN];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        header[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&0i64.to_be_bytes());
    put(&0i32.to_be_bytes());
    put(&(-1i32).to_be_bytes());
    put(&[MAGIC_V2 as u8]);
    put(&0u32.to_be_bytes());
    put(&codec_bits(codec).to_be_bytes());
    put(&(count - 1).to_be_bytes());
    put(&base_timestamp.to_be_bytes());
    put(&max_timestamp.to_be_bytes());
    put(&stamp.producer_id.to_be_bytes());
    put(&stamp.producer_epoch.to_be_bytes());
    put(&stamp.base_sequence.to_be_bytes());
    put(&count.to_be_bytes());
    buf[..HEADER_LEN].copy_from_slice(&header);
    finish(&mut buf);
    Ok(buf)
}

fn put_opt_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

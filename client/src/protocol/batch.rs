//! RecordBatch v2 (magic 2), the only on-wire and on-disk record format Rill accepts.
//!
//! ```text
//!  0 base_offset i64          12 partition_leader_epoch i32   16 magic i8       17 crc u32
//! 21 attributes i16           23 last_offset_delta i32        27 base_timestamp i64
//! 35 max_timestamp i64        43 producer_id i64              51 producer_epoch i16
//! 53 base_sequence i32        57 records_count i32            61 records ...
//! ```
//!
//! `batch_length` (bytes 8..12) counts everything after itself. The CRC-32C covers bytes 21..end,
//! so the base offset and the leader epoch can be rewritten in place without recomputing it.

use std::ops::Range;

use thiserror::Error;

use super::varint::{VarintError, read_varint, read_varlong};

/// Size of the fixed batch header, up to and including `records_count`.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batch_length` counts: the base offset and the length field itself.
pub const LOG_OVERHEAD: usize = 12;
/// The only magic value Rill stores.
pub const MAGIC_V2: i8 = 2;
/// Producer id of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// Sequence of a batch written without idempotence.
pub const NO_SEQUENCE: i32 = -1;

const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const MAX_TIMESTAMP_OFFSET: usize = 35;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
/// Attributes bit 6 (KIP-534): the base timestamp holds the batch's delete horizon, the time after
/// which the log cleaner may drop its tombstones. Record timestamp deltas stay relative to the base
/// timestamp, so every record's timestamp still reads as `base_timestamp + timestamp_delta`.
pub const DELETE_HORIZON_BIT: i16 = 0x40;

/// Compression codec of a batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Records stored as is.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy, in the xerial framing Java clients use.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

/// Which clock a batch's timestamps come from (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker when it appended the batch.
    LogAppendTime,
}

/// A batch or record set is malformed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than a batch header or than the batch's own length field claims.
    #[error("record batch truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The length field is below the header size.
    #[error("record batch length {length} is below the minimum {min}")]
    LengthTooSmall {
        /// `batch_length` as read.
        length: i32,
        /// Smallest legal value.
        min: usize,
    },
    /// The batch is not magic 2.
    #[error("record batch magic {magic} is not supported (only magic 2)")]
    UnsupportedMagic {
        /// Magic byte as read.
        magic: i8,
    },
    /// The stored CRC does not match the bytes.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC-32C of bytes 21..end.
        computed: u32,
    },
    /// `last_offset_delta + 1 != records_count` (for a stored batch: `records_count` above
    /// `last_offset_delta + 1`), or the batch is empty.
    #[error("record batch has records_count {records_count} but last_offset_delta {last_offset_delta}")]
    CountMismatch {
        /// `records_count` as read.
        records_count: i32,
        /// `last_offset_delta` as read.
        last_offset_delta: i32,
    },
    /// Compression bits name no known codec.
    #[error("record batch uses unknown compression codec {codec}")]
    UnknownCompression {
        /// The three compression bits.
        codec: i16,
    },
    /// A record inside an uncompressed batch is malformed.
    #[error("record {index} of the batch is malformed: {reason}")]
    BadRecord {
        /// Index of the record in the batch.
        index: i32,
        /// What is wrong with it.
        reason: RecordError,
    },
    /// Bytes were left after the last record.
    #[error("record batch has {extra} bytes after its last record")]
    TrailingBytes {
        /// Bytes left over.
        extra: usize,
    },
}

/// A single record is malformed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    /// A varint field could not be read.
    #[error(transparent)]
    Varint(#[from] VarintError),
    /// A length prefix points past the end of the record.
    #[error("{field} length {length} overruns the record")]
    Overrun {
        /// Field whose length was bad.
        field: &'static str,
        /// The length as read.
        length: i64,
    },
    /// The record's offset delta is not its index in the batch.
    #[error("offset delta {found}, expected {expected}")]
    OffsetDelta {
        /// Offset delta as read.
        found: i32,
        /// The record's index.
        expected: i32,
    },
    /// In a stored (possibly compacted) batch, an offset delta that does not increase or that
    /// passes the batch's `last_offset_delta`.
    #[error("offset delta {found} does not follow {previous} within last offset delta {last}")]
    OffsetDeltaOrder {
        /// Offset delta as read.
        found: i32,
        /// The previous record's delta (-1 for the first record).
        previous: i32,
        /// The batch's `last_offset_delta`.
        last: i32,
    },
    /// The record's fields do not fill its declared length.
    #[error("record declares {declared} bytes but its fields take {used}")]
    LengthMismatch {
        /// Length prefix of the record.
        declared: usize,
        /// Bytes its fields used.
        used: usize,
    },
}

/// The fixed header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// Leader epoch of the partition when the batch was appended.
    pub partition_leader_epoch: i32,
    /// Format version; always 2 for a parsed header.
    pub magic: i8,
    /// CRC-32C of bytes 21..end.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Parses the fixed header at the start of `buf`. Checks only that 61 bytes are present, that
    /// the length field is at least the header size and that the magic is 2.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        let batch_length = be_i32(buf, 8);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::LengthTooSmall {
                length: batch_length,
                min: HEADER_LEN - LOG_OVERHEAD,
            });
        }
        let magic = buf[16] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic { magic });
        }
        Ok(Self {
            base_offset: be_i64(buf, 0),
            batch_length,
            partition_leader_epoch: be_i32(buf, 12),
            magic,
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Total bytes of the batch on the wire, header included.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Offset after the last record.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Compression codec.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        match self.attributes & COMPRESSION_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            codec => Err(BatchError::UnknownCompression { codec }),
        }
    }

    /// Which clock the timestamps come from.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// Whether the batch is a transaction marker.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// The delete horizon a log cleaner stamped on this batch (KIP-534), if any.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_BIT != 0).then_some(self.base_timestamp)
    }

    /// Whether a producer id is set (idempotent or transactional producer).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence of the last record; sequences wrap from `i32::MAX` to 0.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

/// What [`validate`] learnt about a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidBatch {
    /// The parsed header.
    pub header: BatchHeader,
    /// Whether any record has a null key; known only for uncompressed batches (`None` otherwise).
    pub has_null_key: Option<bool>,
}

/// Validates one complete batch, which must fill `batch` exactly: header, magic, length, CRC-32C,
/// record count, and for uncompressed batches every record's framing. Records must be numbered
/// 0..n, as a producer sends them.
pub fn validate(batch: &[u8]) -> Result<ValidBatch, BatchError> {
    validate_with(batch, Numbering::Dense)
}

/// Validates a batch read back from a log, which compaction may have thinned: as [`validate`], but
/// records may skip offset deltas (strictly increasing, none past `last_offset_delta`), so
/// `records_count` may be below `last_offset_delta + 1`. Offsets of the surviving records never
/// change, which is why a compacted batch keeps its base offset and last offset delta.
pub fn validate_stored(batch: &[u8]) -> Result<ValidBatch, BatchError> {
    validate_with(batch, Numbering::Sparse)
}

/// How the records of a batch must be numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numbering {
    /// Offset delta = index (a producer's batch).
    Dense,
    /// Increasing offset deltas within `last_offset_delta` (a compacted batch).
    Sparse,
}

fn validate_with(batch: &[u8], numbering: Numbering) -> Result<ValidBatch, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if header.total_size() != batch.len() {
        return Err(BatchError::Truncated {
            need: header.total_size(),
            have: batch.len(),
        });
    }
    let computed = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    let count_ok = match numbering {
        Numbering::Dense => header.last_offset_delta.checked_add(1) == Some(header.records_count),
        Numbering::Sparse => {
            header.last_offset_delta >= 0 && i64::from(header.records_count) <= i64::from(header.last_offset_delta) + 1
        }
    };
    if header.records_count <= 0 || !count_ok {
        return Err(BatchError::CountMismatch {
            records_count: header.records_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    let has_null_key = match header.compression()? {
        Compression::None => Some(walk_records(
            &batch[HEADER_LEN..],
            header.records_count,
            header.last_offset_delta,
            numbering,
        )?),
        _ => None,
    };
    Ok(ValidBatch { header, has_null_key })
}

/// A record header: its key and its value (`None` for a null value).
pub type Header<'a> = (&'a [u8], Option<&'a [u8]>);

/// A borrowed view of one record of an uncompressed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Record attributes (unused by Kafka so far).
    pub attributes: i8,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset minus the batch's base offset.
    pub offset_delta: i32,
    /// Key, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value, or `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Number of headers.
    pub header_count: i32,
    /// The encoded headers, to walk with [`RecordView::headers`].
    pub raw_headers: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// The record's headers as (key, value) pairs, in wire order; duplicate keys are kept.
    pub fn headers(&self) -> Result<Vec<Header<'a>>, RecordError> {
        let mut pos = 0;
        let mut out = Vec::with_capacity((self.header_count as usize).min(self.raw_headers.len()));
        for _ in 0..self.header_count {
            let key = read_bytes(self.raw_headers, &mut pos, "header key")?.ok_or(RecordError::Overrun {
                field: "header key",
                length: -1,
            })?;
            let value = read_bytes(self.raw_headers, &mut pos, "header value")?;
            out.push((key, value));
        }
        Ok(out)
    }
}

fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize, field: &'static str) -> Result<Option<&'a [u8]>, RecordError> {
    let len = read_varint(buf, pos)?;
    if len < 0 {
        return Ok(None);
    }
    let end = pos.checked_add(len as usize).filter(|&end| end <= buf.len());
    let Some(end) = end else {
        return Err(RecordError::Overrun {
            field,
            length: i64::from(len),
        });
    };
    let bytes = &buf[*pos..end];
    *pos = end;
    Ok(Some(bytes))
}

/// Parses one record starting at `*pos` in `buf`, advancing `pos` past it.
pub fn read_record<'a>(buf: &'a [u8], pos: &mut usize) -> Result<RecordView<'a>, RecordError> {
    let length = read_varint(buf, pos)?;
    let start = *pos;
    let end = usize::try_from(length)
        .ok()
        .and_then(|len| start.checked_add(len))
        .filter(|&end| end <= buf.len())
        .ok_or(RecordError::Overrun {
            field: "record",
            length: i64::from(length),
        })?;
    let body = &buf[..end];
    let mut p = start;
    let attributes = *body.get(p).ok_or(RecordError::Overrun {
        field: "attributes",
        length: 1,
    })? as i8;
    p += 1;
    let timestamp_delta = read_varlong(body, &mut p)?;
    let offset_delta = read_varint(body, &mut p)?;
    let key = read_bytes(body, &mut p, "key")?;
    let value = read_bytes(body, &mut p, "value")?;
    let header_count = read_varint(body, &mut p)?;
    if header_count < 0 {
        return Err(RecordError::Overrun {
            field: "header count",
            length: i64::from(header_count),
        });
    }
    let headers_start = p;
    for _ in 0..header_count {
        if read_bytes(body, &mut p, "header key")?.is_none() {
            return Err(RecordError::Overrun {
                field: "header key",
                length: -1,
            });
        }
        read_bytes(body, &mut p, "header value")?;
    }
    if p != end {
        return Err(RecordError::LengthMismatch {
            declared: end - start,
            used: p - start,
        });
    }
    *pos = end;
    Ok(RecordView {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        header_count,
        raw_headers: &body[headers_start..end],
    })
}

/// Walks `count` records filling `records` exactly; returns whether any key is null.
fn walk_records(records: &[u8], count: i32, last_offset_delta: i32, numbering: Numbering) -> Result<bool, BatchError> {
    let mut pos = 0;
    let mut null_key = false;
    let mut previous = -1;
    for index in 0..count {
        let record = read_record(records, &mut pos).map_err(|reason| BatchError::BadRecord { index, reason })?;
        let found = record.offset_delta;
        let reason = match numbering {
            Numbering::Dense if found != index => Some(RecordError::OffsetDelta { found, expected: index }),
            Numbering::Sparse if found <= previous || found > last_offset_delta => {
                Some(RecordError::OffsetDeltaOrder {
                    found,
                    previous,
                    last: last_offset_delta,
                })
            }
            _ => None,
        };
        if let Some(reason) = reason {
            return Err(BatchError::BadRecord { index, reason });
        }
        previous = found;
        null_key |= record.key.is_none();
    }
    if pos != records.len() {
        return Err(BatchError::TrailingBytes {
            extra: records.len() - pos,
        });
    }
    Ok(null_key)
}

/// Iterates the records of an uncompressed batch's record area (bytes after the header).
pub fn records(area: &[u8]) -> impl Iterator<Item = Result<RecordView<'_>, RecordError>> {
    let mut pos = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= area.len() {
            return None;
        }
        let next = read_record(area, &mut pos);
        failed = next.is_err();
        Some(next)
    })
}

/// Writes `offset` into the base-offset field of the batch at the start of `batch`.
pub fn set_base_offset(batch: &mut [u8], offset: i64) {
    batch[..8].copy_from_slice(&offset.to_be_bytes());
}

/// Writes `epoch` into the partition-leader-epoch field of the batch at the start of `batch`.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// Sets a LogAppendTime timestamp: the timestamp-type bit, `max_timestamp`, and the CRC over them.
pub fn set_log_append_time(batch: &mut [u8], timestamp: i64) {
    let attributes = be_i16(batch, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// One entry of [`batches`]: where a batch lies in the record set, and its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSpan {
    /// Byte range of the whole batch in the record set.
    pub range: Range<usize>,
    /// Its header.
    pub header: BatchHeader,
}

/// Iterates the complete batches of a record set (concatenated batches). Stops at the end, or with
/// an error at a malformed header. A trailing partial batch, as a fetch may return, ends the
/// iteration silently; [`BatchIter::rest`] tells where it starts.
pub fn batches(set: &[u8]) -> BatchIter<'_> {
    BatchIter {
        set,
        pos: 0,
        failed: false,
    }
}

/// Iterator returned by [`batches`].
#[derive(Debug)]
pub struct BatchIter<'a> {
    set: &'a [u8],
    pos: usize,
    failed: bool,
}

impl BatchIter<'_> {
    /// Byte position after the last complete batch yielded so far.
    pub fn rest(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Result<BatchSpan, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = &self.set[self.pos..];
        if rest.len() < HEADER_LEN {
            return None;
        }
        match BatchHeader::parse(rest) {
            Ok(header) if header.total_size() > rest.len() => None,
            Ok(header) => {
                let range = self.pos..self.pos + header.total_size();
                self.pos = range.end;
                Some(Ok(BatchSpan { range, header }))
            }
            Err(err) => {
                self.failed = true;
                Some(Err(err))
            }
        }
    }
}

#[cfg(test)]
#[path = "batch_test.rs"]
mod tests;

//! Records of `__consumer_offsets`, in Kafka's own key and value schemas, so that tools that
//! read the topic (and Kafka's formatters) understand them:
//!
//! ```text
//! key v0/v1 OffsetCommitKey:      group STRING, topic STRING, partition INT32
//! key v2    GroupMetadataKey:     group STRING
//! value v3  OffsetCommitValue:    offset INT64, leader_epoch INT32, metadata STRING, commit_timestamp INT64
//! value v3  GroupMetadataValue:   protocol_type STRING, generation INT32, protocol NULLABLE_STRING,
//!                                 leader NULLABLE_STRING, current_state_timestamp INT64,
//!                                 members [member_id STRING, group_instance_id NULLABLE_STRING,
//!                                          client_id STRING, client_host STRING,
//!                                          rebalance_timeout INT32, session_timeout INT32,
//!                                          subscription BYTES, assignment BYTES]
//! ```
//!
//! A null value (tombstone) deletes the key when the topic is compacted.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

/// The internal topic's name.
pub(crate) const TOPIC: &str = "__consumer_offsets";

/// A malformed `__consumer_offsets` record.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum RecordError {
    #[error("record truncated")]
    Truncated,
    #[error("unknown key version {0}")]
    UnknownKeyVersion(i16),
    #[error("unknown value version {0}")]
    UnknownValueVersion(i16),
    #[error("string is not UTF-8")]
    NotUtf8,
}

/// The partition of `__consumer_offsets` a group lives in: Kafka's
/// `Utils.abs(groupId.hashCode) % partitions`, with Java's `String.hashCode`.
pub(crate) fn partition_for(group: &str, partitions: i32) -> i32 {
    let hash = java_hash(group);
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1)
}

/// Java's `String.hashCode`: over UTF-16 code units, `h = 31 * h + c`, wrapping.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// A key of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetValue {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: String,
    pub(crate) commit_timestamp: i64,
}

/// A member as stored in group metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    pub(crate) subscription: Bytes,
    pub(crate) assignment: Bytes,
}

/// Group metadata as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupValue {
    pub(crate) protocol_type: String,
    pub(crate) generation: i32,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) state_timestamp: i64,
    pub(crate) members: Vec<StoredMember>,
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

fn put_opt_str(out: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.put_i16(-1),
    }
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_i32(b.len() as i32);
    out.put_slice(b);
}

impl Key {
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            Self::Offset {
                group,
                topic,
                partition,
            } => {
                out.put_i16(1);
                put_str(&mut out, group);
                put_str(&mut out, topic);
                out.put_i32(*partition);
            }
            Self::Group { group } => {
                out.put_i16(2);
                put_str(&mut out, group);
            }
        }
        out.freeze()
    }

    pub(crate) fn decode(mut buf: &[u8]) -> Result<Self, RecordError> {
        match get_i16(&mut buf)? {
            0 | 1 => Ok(Self::Offset {
                group: get_str(&mut buf)?,
                topic: get_str(&mut buf)?,
                partition: get_i32(&mut buf)?,
            }),
            2 => Ok(Self::Group {
                group: get_str(&mut buf)?,
            }),
            other => Err(RecordError::UnknownKeyVersion(other)),
        }
    }
}

impl OffsetValue {
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(3);
        out.put_i64(self.offset);
        out.put_i32(self.leader_epoch);
        put_str(&mut out, &self.metadata);
        out.put_i64(self.commit_timestamp);
        out.freeze()
    }

    pub(crate) fn decode(mut buf: &[u8]) -> Result<Self, RecordError> {
        let version = get_i16(&mut buf)?;
        let offset = get_i64(&mut buf)?;
        let leader_epoch = if version >= 3 { get_i32(&mut buf)? } else { -1 };
        let metadata = get_str(&mut buf)?;
        let commit_timestamp = get_i64(&mut buf)?;
        match version {
            0..=3 => Ok(Self {
                offset,
                leader_epoch,
                metadata,
                commit_timestamp,
            }),
            other => Err(RecordError::UnknownValueVersion(other)),
        }
    }
}

impl GroupValue {
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(3);
        put_str(&mut out, &self.protocol_type);
        out.put_i32(self.generation);
        put_opt_str(&mut out, self.protocol.as_deref());
        put_opt_str(&mut out, self.leader.as_deref());
        out.put_i64(self.state_timestamp);
        out.put_i32(self.members.len() as i32);
        for m in &self.members {
            put_str(&mut out, &m.member_id);
            put_opt_str(&mut out, m.instance_id.as_deref());
            put_str(&mut out, &m.client_id);
            put_str(&mut out, &m.client_host);
            out.put_i32(m.rebalance_timeout_ms);
            out.put_i32(m.session_timeout_ms);
            put_bytes(&mut out, &m.subscription);
            put_bytes(&mut out, &m.assignment);
        }
        out.freeze()
    }

    pub(crate) fn decode(mut buf: &[u8]) -> Result<Self, RecordError> {
        let version = get_i16(&mut buf)?;
        if !(0..=3).contains(&version) {
            return Err(RecordError::UnknownValueVersion(version));
        }
        let protocol_type = get_str(&mut buf)?;
        let generation = get_i32(&mut buf)?;
        let protocol = get_opt_str(&mut buf)?;
        let leader = get_opt_str(&mut buf)?;
        let state_timestamp = if version >= 2 { get_i64(&mut buf)? } else { -1 };
        let count = get_i32(&mut buf)?.max(0) as usize;
        let mut members = Vec::with_capacity(count.min(buf.len()));
        for _ in 0..count {
            let member_id = get_str(&mut buf)?;
            let instance_id = if version >= 3 { get_opt_str(&mut buf)? } else { None };
            let client_id = get_str(&mut buf)?;
            let client_host = get_str(&mut buf)?;
            let rebalance_timeout_ms = if version >= 1 { get_i32(&mut buf)? } else { 0 };
            let session_timeout_ms = get_i32(&mut buf)?;
            let subscription = get_bytes(&mut buf)?;
            let assignment = get_bytes(&mut buf)?;
            members.push(StoredMember {
                member_id,
                instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms: if version >= 1 {
                    rebalance_timeout_ms
                } else {
                    session_timeout_ms
                },
                session_timeout_ms,
                subscription,
                assignment,
            });
        }
        Ok(Self {
            protocol_type,
            generation,
            protocol,
            leader,
            state_timestamp,
            members,
        })
    }
}

fn need(buf: &[u8], n: usize) -> Result<(), RecordError> {
    if buf.len() < n {
        Err(RecordError::Truncated)
    } else {
        Ok(())
    }
}
fn get_i16(buf: &mut &[u8]) -> Result<i16, RecordError> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}
fn get_i32(buf: &mut &[u8]) -> Result<i32, RecordError> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}
fn get_i64(buf: &mut &[u8]) -> Result<i64, RecordError> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}
fn get_opt_str(buf: &mut &[u8]) -> Result<Option<String>, RecordError> {
    let len = get_i16(buf)?;
    if len < 0 {
        return Ok(None);
    }
    need(buf, len as usize)?;
    let s = std::str::from_utf8(&buf[..len as usize])
        .map_err(|_| RecordError::NotUtf8)?
        .to_owned();
    buf.advance(len as usize);
    Ok(Some(s))
}
fn get_str(buf: &mut &[u8]) -> Result<String, RecordError> {
    Ok(get_opt_str(buf)?.unwrap_or_default())
}
fn get_bytes(buf: &mut &[u8]) -> Result<Bytes, RecordError> {
    let len = get_i32(buf)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    need(buf, len as usize)?;
    let b = Bytes::copy_from_slice(&buf[..len as usize]);
    buf.advance(len as usize);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_match_kafka() {
        // Values from Java's String.hashCode, computed independently.
        assert_eq!(java_hash("my-group"), -1_906_497_762);
        assert_eq!(java_hash("console-consumer-12345"), 158_455_506);
        assert_eq!(java_hash("é"), 233, "UTF-16 code units, not bytes");
        assert_eq!(partition_for("my-group", 50), 12);
        assert_eq!(partition_for("console-consumer-12345", 50), 6);
        assert_eq!(partition_for("", 50), 0);
    }

    #[test]
    fn keys_and_values_round_trip_and_golden_bytes() {
        let key = Key::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        assert_eq!(&key.encode()[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(Key::decode(&key.encode()), Ok(key));
        let key = Key::Group { group: "g".into() };
        assert_eq!(Key::decode(&key.encode()), Ok(key));
        let value = OffsetValue {
            offset: 42,
            leader_epoch: -1,
            metadata: "m".into(),
            commit_timestamp: 7,
        };
        assert_eq!(OffsetValue::decode(&value.encode()), Ok(value));
        let group = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp: 9,
            members: vec![StoredMember {
                member_id: "m1".into(),
                instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(GroupValue::decode(&group.encode()), Ok(group));
    }

    #[test]
    fn malformed_records_are_errors() {
        assert_eq!(Key::decode(&[0]), Err(RecordError::Truncated));
        assert_eq!(Key::decode(&[0, 9]), Err(RecordError::UnknownKeyVersion(9)));
        assert!(GroupValue::decode(&[0, 3, 0, 8, b'c']).is_err());
    }
}

//! Rill's client library for the Apache Kafka wire protocol.
//!
//! It knows nothing about the broker: everything here works against Rill or any Kafka-compatible
//! cluster. Message structs come from the `kafka-protocol` crate; this crate adds what the crate
//! leaves out.
//!
//! # Layout
//! - [`protocol::frame`]: length-prefixed framing with a size limit, and request/response headers.
//! - [`protocol::batch`]: RecordBatch v2 (magic 2) headers: parse, validate (CRC-32C and record walk),
//!   rewrite the base offset in place, iterate the batches of a record set.
//! - [`protocol::varint`]: zig-zag varints as used inside records.
//! - [`Connection`]: one TCP connection that sends typed requests and awaits their responses.

pub mod admin;
mod cluster;
pub mod config;
mod connection;
pub mod consumer;
mod error;
mod kafka_uuid;
pub mod net;
mod offsets;
pub mod producer;
pub mod protocol;
mod retry;
mod topic_partition;

pub use cluster::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
pub use connection::{Connection, ConnectionError};
pub use error::ClientError;
pub use kafka_protocol::error::ResponseError;
pub use kafka_uuid::kafka_uuid;
pub use offsets::{ListedOffset, MemberIdentity, OffsetAndMetadata, OffsetSpec};
pub use topic_partition::TopicPartition;

//! Rill's Kafka-compatible broker.
//!
//! # Layout
//! - [`config`]: broker and topic settings under Kafka's names, layered and validated.
//! - [`log`]: segmented, indexed, recoverable partition logs (synchronous).
//! - `partition`: the async boundary around one log: high watermark, group-commit flusher.
//! - `topics`: creating, deleting, growing and configuring topics, persisted in the data dir.
//! - [`server`]: the TCP server, one task per connection, requests dispatched to `handlers`
//!   (one file per Kafka API), responses sent in request order.
//! - `background`: retention, log compaction, `flush.ms` and checkpoint loops.
//! - [`testing`]: an in-process broker on an ephemeral port for tests.

mod background;
mod broker;
mod clock;
pub mod config;
mod error_code;
mod group;
mod handlers;
pub mod log;
mod partition;
mod producer_ids;
pub mod server;
pub mod testing;
mod topics;

pub use error_code::ErrorCode;
pub use server::{BrokerError, Server, run};
pub use topics::TopicError;

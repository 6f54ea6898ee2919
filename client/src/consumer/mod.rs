//! The consumer: manual assignment or group subscription, records as a `Stream`, commits,
//! seeks, pause and resume.
//!
//! # Layout
//! - `api`: [`Consumer`], the handle.
//! - `config`: [`ConsumerConfig`] under Kafka's property names.
//! - `state`: assigned partitions and positions.
//! - `fetcher` and `records`: fetching, and decoding one partition's fetched records.
//! - `membership`: joining the group, heartbeats.
//! - [`assignor`]: the range, round-robin and cooperative-sticky assignors and the consumer
//!   protocol's subscription and assignment encoding.
//! - `listener`: [`RebalanceListener`].

mod api;
pub mod assignor;
mod config;
mod fetcher;
mod listener;
mod membership;
mod record;
mod records;
mod state;

pub use api::Consumer;
pub use config::{ConsumerConfig, IsolationLevel, OffsetReset};
pub use listener::{NoopListener, RebalanceContext, RebalanceListener};
pub use record::{ConsumerRecord, TimestampType};

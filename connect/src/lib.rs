//! Rill Connect: connectors that move data between Rill topics and the outside world, shaped
//! like Kafka Connect's: a [`runtime::Worker`] runs connectors split into tasks, keeps their
//! configs, target states and statuses in compacted topics and restarts failed tasks with
//! backoff; [`rest`] serves Kafka Connect's REST API; source offsets live in a compacted topic
//! ([`OffsetStore`]) and are stored only for acknowledged records, sinks commit their group's
//! offsets only after their writes are durable.
//!
//! Connectors: the file source and sink ([`file`](mod@file)), the database source and sink over SQLite
//! and PostgreSQL ([`db`]); Kafka's transforms and predicates ([`transform`]); converters;
//! `errors.tolerance` with a dead-letter topic for sources and sinks.

mod converter;
pub mod db;
mod error;
pub mod file;
mod offsets;
pub mod record;
pub mod rest;
pub mod runtime;
mod topic_store;
pub mod transform;

pub use converter::Converter;
pub use error::ConnectError;
pub use offsets::OffsetStore;

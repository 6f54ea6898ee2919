//! Rill Connect: connectors that move data between Rill topics and the outside world, shaped
//! like Kafka Connect's (connectors split into tasks, source offsets in a compacted topic, a
//! REST API on port 8083).
//!
//! This crate is being built up. What is here: [`OffsetStore`] (source offsets in a compacted
//! topic) and the file source ([`file`]): files matched by globs are tailed across rename
//! rotation, copytruncate and recreated files, one record per line or multi-line event, and
//! positions are stored once the broker acknowledged the lines; after a crash the task reads
//! back what it wrote since, so every line is written once. `rill connect standalone` runs it.

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

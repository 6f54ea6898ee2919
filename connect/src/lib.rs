//! Rill Connect: connectors that move data between Rill topics and the outside world, shaped
//! like Kafka Connect's (connectors split into tasks, source offsets in a compacted topic, a
//! REST API on port 8083).
//!
//! This crate is being built up; what is here now is the core of the file source: [`file`]
//! tails files matched by globs, across rename rotation, copytruncate and recreated files,
//! reading each line exactly once given checkpoints of acknowledged positions.

mod error;
pub mod file;
mod offsets;

pub use error::ConnectError;
pub use offsets::OffsetStore;

//! Log storage: segmented, indexed, recoverable partition logs (Kafka's `storage/.../log`).
//!
//! # Layout
//! - [`segment`]: one `.log` file with its `.index` and `.timeindex`; append, find, recover.
//! - [`index`]: the sparse offset and time indexes.
//! - [`partition_log`]: a partition's segments, log start and end offsets, flush and read plans,
//!   time lookups, retention.
//! - [`loader`]: opening a log after a clean or an unclean shutdown.
//! - [`cleaner`]: log compaction of `cleanup.policy=compact` topics, planned in [`clean_plan`],
//!   with an [`offset_map`], per-batch decisions in [`batch_filter`], segments read by
//!   [`batch_scanner`], progress in [`cleaner_checkpoint`], and crash-safe [`swap`]s.
//! - [`producer_state`]: idempotent-producer sequence checks.
//! - [`checkpoint`]: atomic small files and Kafka's offset checkpoint format.
//! - [`file_names`]: `<20-digit offset>.log` and friends.
//!
//! Everything here is synchronous. The partition (in `crate::partition`) holds a log under a
//! mutex and moves reads and fsyncs outside it through [`FileSlice`] and [`FlushPlan`].

mod batch_filter;
mod batch_scanner;
pub(crate) mod checkpoint;
mod clean_plan;
mod cleaner;
mod cleaner_checkpoint;
mod error;
pub(crate) mod file_names;
mod index;
mod loader;
mod offset_map;
mod partition_log;
mod producer_state;
mod segment;
mod swap;
#[cfg(test)]
mod test_support;

pub(crate) use cleaner::{CleanerParams, clean_log};
pub use error::LogError;
pub(crate) use error::io_err;
pub(crate) use loader::LoadParams;
pub(crate) use partition_log::{Appended, FileSlice, PartitionLog};
pub use producer_state::ProducerError;

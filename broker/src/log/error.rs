use std::path::PathBuf;

use rill_client::protocol::batch::BatchError;
use rill_client::protocol::compression::{CompressionError, RecordAreaError};
use thiserror::Error;

/// A log operation failed. I/O errors say what was being done to which file.
#[derive(Debug, Error)]
pub enum LogError {
    /// A file operation failed.
    #[error("{op} {path} failed")]
    Io {
        /// What was being done (e.g. "appending to", "fsyncing").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The requested offset is outside the log.
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// Offset requested.
        offset: i64,
        /// First offset in the log.
        log_start: i64,
        /// Offset after the last record.
        log_end: i64,
    },
    /// A stored batch is unreadable where it should not be (after recovery).
    #[error("corrupt batch in {path} at position {position}")]
    Corrupt {
        /// Segment file.
        path: PathBuf,
        /// Byte position.
        position: u64,
        /// What is wrong.
        #[source]
        source: BatchError,
    },
    /// The records of a stored batch cannot be read (decompression failed or exceeded
    /// `rill.max.decompressed.batch.bytes`).
    #[error("cannot read the records of the batch in {path} at position {position}")]
    Records {
        /// Segment file.
        path: PathBuf,
        /// Byte position of the batch.
        position: u64,
        /// Why.
        #[source]
        source: RecordAreaError,
    },
    /// Recompressing a batch rewritten by the log cleaner failed.
    #[error("recompressing a cleaned batch for {path} failed")]
    Recompress {
        /// The cleaned segment being written.
        path: PathBuf,
        /// The codec's error.
        #[source]
        source: CompressionError,
    },
    /// Not even the first dirty segment's keys fit the cleaner's offset map.
    #[error(
        "the keys of segment {segment} in {dir} do not fit log.cleaner.dedupe.buffer.size ({budget} bytes); \
         raise it to compact this partition"
    )]
    OffsetMapFull {
        /// Partition directory.
        dir: PathBuf,
        /// Base offset of the segment that did not fit.
        segment: i64,
        /// The configured budget.
        budget: usize,
    },
    /// A batch larger than `max.message.bytes`.
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge {
        /// Batch size.
        size: usize,
        /// The limit.
        max: i32,
    },
    /// A batch of a producer whose state does not allow it.
    #[error(transparent)]
    Producer(#[from] super::producer_state::ProducerError),
    /// The partition stopped accepting writes after a failure it could not undo.
    #[error("partition log {dir} is offline after an unrecoverable write failure")]
    Offline {
        /// Partition directory.
        dir: PathBuf,
    },
    /// An append was asked to write no batches.
    #[error("no batches to append")]
    NothingToAppend,
}

/// Shorthand for building [`LogError::Io`] in `map_err`.
pub(crate) fn io_err<'a>(op: &'static str, path: &'a std::path::Path) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |source| LogError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

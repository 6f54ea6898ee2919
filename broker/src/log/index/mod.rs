//! Sparse indexes of a segment, in Kafka's file formats, kept in memory and appended to disk.
//!
//! Entries are buffered and written when the segment is flushed, rolled or closed; an index that
//! lags its log after a crash is rebuilt by recovery, so index writes never cost an fsync on the
//! produce path.

mod file;
mod offset;
mod time;

pub(crate) use offset::OffsetIndex;
pub(crate) use time::TimeIndex;

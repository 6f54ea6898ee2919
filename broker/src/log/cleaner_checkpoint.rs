//! The log cleaner's progress in one partition, kept in `<partition dir>/cleaner-offset-checkpoint`.
//!
//! Kafka keeps one `cleaner-offset-checkpoint` per data directory (`topic partition offset`
//! lines). Rill keeps one file per partition instead: the cleaner of one partition never has to
//! read or rewrite the others' entries, and the file goes away with the partition's directory.
//! It holds two numbers:
//!
//! - the first dirty offset: everything below it was compacted by an earlier round, so the
//!   offset map of the next round only needs the records from there on, and the dirty ratio
//!   compares the bytes above it with the bytes below;
//! - the earliest delete horizon of a tombstone still in the log, so that a round runs when that
//!   horizon passes even if the log has too little new data to reach `min.cleanable.dirty.ratio`.
//!
//! Losing the file is harmless: the next round treats the whole log as dirty. It is written after
//! every round, atomically (temporary file, fsync, rename).

use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::checkpoint::write_atomic;
use super::error::{LogError, io_err};
use super::file_names::CLEANER_CHECKPOINT_FILE;

/// What the cleaner remembers about a partition between rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CleanerCheckpoint {
    /// Offset from which records have not been compacted yet.
    pub(crate) first_dirty_offset: i64,
    /// Earliest delete horizon (ms) of a tombstone kept by the last round, if any.
    pub(crate) next_delete_horizon_ms: Option<i64>,
}

impl CleanerCheckpoint {
    /// Reads the checkpoint of the partition in `dir`; missing or unreadable means "nothing cleaned
    /// yet" (with a warning for the unreadable case).
    pub(crate) fn read(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(CLEANER_CHECKPOINT_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            warn!(checkpoint = %path.display(), cause = %e, "ignoring unreadable cleaner checkpoint");
            Self::default()
        }))
    }

    /// Writes the checkpoint of the partition in `dir`.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), LogError> {
        let path = dir.join(CLEANER_CHECKPOINT_FILE);
        let json = serde_json::to_vec(self).map_err(|e| LogError::Io {
            op: "encoding cleaner checkpoint",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_a_missing_or_garbled_file() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(
            CleanerCheckpoint::read(dir.path()).expect("read"),
            CleanerCheckpoint::default()
        );
        let checkpoint = CleanerCheckpoint {
            first_dirty_offset: 42,
            next_delete_horizon_ms: Some(1_000),
        };
        checkpoint.write(dir.path()).expect("write");
        assert_eq!(CleanerCheckpoint::read(dir.path()).expect("read"), checkpoint);
        std::fs::write(dir.path().join(CLEANER_CHECKPOINT_FILE), b"{not json").expect("garble");
        assert_eq!(
            CleanerCheckpoint::read(dir.path()).expect("read"),
            CleanerCheckpoint::default()
        );
    }
}

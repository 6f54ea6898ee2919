//! Time index: 12-byte entries (timestamp: i64, offset relative to the segment base: u32). Each
//! entry says: no record before this offset has a timestamp above this one.

use std::path::PathBuf;

use super::file::EntryFile;
use crate::log::error::LogError;

/// Bytes per entry.
pub(crate) const ENTRY_SIZE: usize = 12;

/// The time index of one segment.
#[derive(Debug)]
pub(crate) struct TimeIndex {
    base_offset: i64,
    file: EntryFile<ENTRY_SIZE>,
}

impl TimeIndex {
    pub(crate) fn create(path: PathBuf, base_offset: i64) -> Self {
        Self {
            base_offset,
            file: EntryFile::create(path),
        }
    }

    /// Loads an index; `None` if entries are not increasing or name offsets outside
    /// `[base, next_offset)`.
    pub(crate) fn open(path: PathBuf, base_offset: i64, next_offset: i64) -> Result<Option<Self>, LogError> {
        let index = Self {
            base_offset,
            file: EntryFile::open(path)?,
        };
        let mut previous: Option<(i64, i64)> = None;
        for i in 0..index.file.entries().len() {
            let (ts, offset) = index.entry(i);
            if offset < base_offset
                || offset >= next_offset.max(base_offset + 1)
                || previous.is_some_and(|(t, o)| ts < t || offset < o)
            {
                return Ok(None);
            }
            previous = Some((ts, offset));
        }
        Ok(Some(index))
    }

    fn entry(&self, i: usize) -> (i64, i64) {
        let e = &self.file.entries()[i];
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&e[..8]);
        let rel = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
        (i64::from_be_bytes(ts), self.base_offset + i64::from(rel))
    }

    /// The last entry, if any, as (timestamp, offset).
    pub(crate) fn last(&self) -> Option<(i64, i64)> {
        let len = self.file.entries().len();
        (len > 0).then(|| self.entry(len - 1))
    }

    /// Appends `(timestamp, offset)` if the timestamp grew since the last entry.
    pub(crate) fn maybe_append(&mut self, timestamp: i64, offset: i64) {
        if self.last().is_some_and(|(ts, o)| timestamp <= ts || offset <= o) {
            return;
        }
        let mut entry = [0u8; ENTRY_SIZE];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        self.file.push(entry);
    }

    /// An offset from which to scan for the first record with a timestamp at or above `timestamp`:
    /// the offset of the last entry whose timestamp is below it (every record up to that offset is
    /// older), or the segment base.
    pub(crate) fn scan_start(&self, timestamp: i64) -> i64 {
        let idx = self.file.entries().partition_point(|e| {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[..8]);
            i64::from_be_bytes(ts) < timestamp
        });
        if idx == 0 {
            self.base_offset
        } else {
            self.entry(idx - 1).1
        }
    }

    pub(crate) fn clear(&mut self) {
        self.file.clear();
    }

    pub(crate) fn write_out(&mut self, sync: bool) -> Result<(), LogError> {
        self.file.write_out(sync)
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_start_and_monotonic_appends() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("00000000000000000000.timeindex");
        let mut index = TimeIndex::create(path.clone(), 0);
        index.maybe_append(100, 5);
        index.maybe_append(90, 9); // timestamp went back: ignored
        index.maybe_append(200, 12);
        assert_eq!(index.last(), Some((200, 12)));
        assert_eq!(index.scan_start(50), 0);
        assert_eq!(index.scan_start(150), 5);
        assert_eq!(index.scan_start(201), 12);
        index.write_out(true).expect("write");
        let reopened = TimeIndex::open(path.clone(), 0, 13).expect("open").expect("valid");
        assert_eq!(reopened.last(), Some((200, 12)));
        assert!(TimeIndex::open(path, 0, 12).expect("open").is_none());
    }
}

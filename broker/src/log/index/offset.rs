//! Offset index: 8-byte entries (offset relative to the segment base: u32, file position: u32),
//! one per `index.interval.bytes` of log, each naming the position of a batch's first byte.

use std::path::PathBuf;

use super::file::EntryFile;
use crate::log::error::LogError;

/// Bytes per entry.
pub(crate) const ENTRY_SIZE: usize = 8;

/// The offset index of one segment.
#[derive(Debug)]
pub(crate) struct OffsetIndex {
    base_offset: i64,
    file: EntryFile<ENTRY_SIZE>,
    max_entries: usize,
}

impl OffsetIndex {
    pub(crate) fn create(path: PathBuf, base_offset: i64, max_bytes: i32) -> Self {
        Self {
            base_offset,
            file: EntryFile::create(path),
            max_entries: max_entries(max_bytes),
        }
    }

    /// Loads an index and checks it against its segment: entries strictly increasing, offsets at
    /// or above the base, positions below `log_size`. `None` if it fails the check.
    pub(crate) fn open(
        path: PathBuf,
        base_offset: i64,
        max_bytes: i32,
        log_size: u64,
    ) -> Result<Option<Self>, LogError> {
        let index = Self {
            base_offset,
            file: EntryFile::open(path)?,
            max_entries: max_entries(max_bytes),
        };
        let mut previous: Option<(u32, u32)> = None;
        for i in 0..index.len() {
            let (rel, pos) = index.entry(i);
            if u64::from(pos) >= log_size.max(1) || previous.is_some_and(|(r, p)| rel <= r || pos <= p) {
                return Ok(None);
            }
            previous = Some((rel, pos));
        }
        Ok(Some(index))
    }

    fn entry(&self, i: usize) -> (u32, u32) {
        let e = &self.file.entries()[i];
        (
            u32::from_be_bytes([e[0], e[1], e[2], e[3]]),
            u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.file.entries().len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.max_entries
    }

    /// Records that the batch starting at `offset` begins at byte `position`.
    pub(crate) fn append(&mut self, offset: i64, position: u32) {
        let rel = (offset - self.base_offset) as u32;
        let mut entry = [0u8; ENTRY_SIZE];
        entry[..4].copy_from_slice(&rel.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(entry);
    }

    /// The last entry at or below `offset`, as (absolute offset, position); the segment start if none.
    pub(crate) fn lookup(&self, offset: i64) -> (i64, u32) {
        let target = offset - self.base_offset;
        if target < 0 {
            return (self.base_offset, 0);
        }
        let idx = self
            .file
            .entries()
            .partition_point(|e| i64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]])) <= target);
        if idx == 0 {
            return (self.base_offset, 0);
        }
        let (rel, pos) = self.entry(idx - 1);
        (self.base_offset + i64::from(rel), pos)
    }

    /// The position of the last indexed batch starting at or before byte `position`.
    pub(crate) fn floor_position(&self, position: u64) -> Option<u32> {
        let idx = self
            .file
            .entries()
            .partition_point(|e| u64::from(u32::from_be_bytes([e[4], e[5], e[6], e[7]])) <= position);
        (idx > 0).then(|| self.entry(idx - 1).1)
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

fn max_entries(max_bytes: i32) -> usize {
    (max_bytes.max(ENTRY_SIZE as i32) as usize) / ENTRY_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_floor_entry_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("00000000000000000100.index");
        let mut index = OffsetIndex::create(path.clone(), 100, 1 << 20);
        index.append(100, 0);
        index.append(110, 4096);
        index.append(130, 9000);
        assert_eq!(index.lookup(99), (100, 0));
        assert_eq!(index.lookup(109), (100, 0));
        assert_eq!(index.lookup(110), (110, 4096));
        assert_eq!(index.lookup(500), (130, 9000));
        index.write_out(true).expect("write");
        let reopened = OffsetIndex::open(path.clone(), 100, 1 << 20, 10_000)
            .expect("open")
            .expect("valid");
        assert_eq!(reopened.lookup(120), (110, 4096));
        // An index pointing past the log is rejected so that recovery rebuilds it.
        assert!(OffsetIndex::open(path, 100, 1 << 20, 5000).expect("open").is_none());
    }

    #[test]
    fn a_cleared_index_rewrites_its_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("00000000000000000000.index");
        let mut index = OffsetIndex::create(path.clone(), 0, 1 << 20);
        for i in 0..10 {
            index.append(i * 10, (i * 100) as u32);
        }
        index.write_out(false).expect("write");
        index.clear();
        index.append(0, 0);
        index.append(45, 450);
        index.write_out(false).expect("write");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 2 * 8);
        let reopened = OffsetIndex::open(path, 0, 1 << 20, 10_000)
            .expect("open")
            .expect("valid");
        assert_eq!(reopened.lookup(1000), (45, 450));
        assert_eq!(reopened.floor_position(449), Some(0));
        assert_eq!(reopened.floor_position(450), Some(450));
    }
}

//! The cleaner's offset map: for every key in the dirty part of a log, the offset of its latest
//! record (Kafka's `OffsetMap`).
//!
//! Kafka stores a 16-byte hash of each key to fit a fixed buffer, accepting that two keys with the
//! same hash lose a record. Rill stores the keys themselves, so compaction never drops a record by
//! mistake, and bounds the map by an approximate byte budget (`log.cleaner.dedupe.buffer.size`):
//! when the budget is reached the cleaner stops at a segment boundary and cleans up to there.

use std::collections::HashMap;

/// Approximate bytes a map entry costs besides its key: the boxed slice's pointer and length, the
/// offset, and the hash table's control byte and spare capacity.
const ENTRY_OVERHEAD: usize = 48;

/// Key → offset of the latest record with that key.
#[derive(Debug, Default)]
pub(crate) struct OffsetMap {
    latest: HashMap<Box<[u8]>, i64>,
    bytes: usize,
}

impl OffsetMap {
    /// Records that `key` was written at `offset`; offsets must be given in increasing order.
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) {
        match self.latest.get_mut(key) {
            Some(latest) => *latest = offset,
            None => {
                self.bytes += key.len() + ENTRY_OVERHEAD;
                self.latest.insert(key.into(), offset);
            }
        }
    }

    /// The offset of the latest record with `key`, if the key was seen.
    pub(crate) fn latest(&self, key: &[u8]) -> Option<i64> {
        self.latest.get(key).copied()
    }

    /// Approximate memory used, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.latest.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_and_counts_each_key_once() {
        let mut map = OffsetMap::default();
        map.put(b"a", 1);
        map.put(b"b", 2);
        map.put(b"a", 7);
        assert_eq!(
            (map.latest(b"a"), map.latest(b"b"), map.latest(b"c")),
            (Some(7), Some(2), None)
        );
        assert_eq!(map.len(), 2);
        assert_eq!(map.bytes(), 2 * (1 + ENTRY_OVERHEAD));
    }
}

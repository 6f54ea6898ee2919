//! Replacing segments with their cleaned copy, so that a crash at any point leaves a readable log
//! holding every key's latest record (Kafka's `.cleaned` / `.swap` protocol).
//!
//! 1. The cleaner writes `<B>.log.cleaned` (B: base offset of the first replaced segment) outside
//!    the partition lock and fsyncs it. A crash now leaves a `.cleaned` file, deleted at start-up:
//!    the old segments are intact.
//! 2. It renames the file to `<B>.log.swap` and fsyncs the directory: from here on the cleaned copy
//!    is complete and durable, and start-up finishes the swap.
//! 3. Under the partition lock, [`PartitionLog::commit_swap`] deletes the old segments' files
//!    (segment B first), renames `<B>.log.swap` to `<B>.log`, and only then changes the in-memory
//!    segment map; the new indexes are written last (start-up rebuilds missing ones). Readers that
//!    planned a read before the swap keep reading the unlinked old files.
//!
//! Finishing a swap at start-up ([`finish_interrupted_cleaning`]) deletes the old segments whose
//! base offsets lie in `[B, end of the swap's data)` and renames the swap. Old segments past the
//! swap's data, if they were not yet deleted, only held records the cleaner was removing; they
//! stay, uncompacted, and the next round cleans them again. The log is consistent either way.

use std::path::Path;
use std::sync::Arc;

use tracing::warn;

use super::checkpoint::sync_dir;
use super::clean_plan::SegmentRef;
use super::error::{LogError, io_err};
use super::file_names::{
    CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, SWAP_SUFFIX, TIME_INDEX_SUFFIX, offset_file, parse_offset_file,
};
use super::partition_log::PartitionLog;
use super::segment::Segment;

impl PartitionLog {
    /// Replaces the segments `old` with `cleaned` (whose file is the `.swap` of step 2). Returns
    /// `false`, deleting the swap file, if the log changed meanwhile: a replaced segment was
    /// deleted by retention or the log went offline.
    pub(crate) fn commit_swap(&mut self, old: &[SegmentRef], mut cleaned: Segment) -> Result<bool, LogError> {
        let base = cleaned.base_offset();
        let unchanged = old.first().is_some_and(|first| first.base_offset == base)
            && old.iter().all(|r| {
                self.segments
                    .get(&r.base_offset)
                    .is_some_and(|s| Arc::ptr_eq(s.file(), &r.file))
            });
        let active = self.segments.keys().next_back().copied();
        if self.offline || !unchanged || old.iter().any(|r| Some(r.base_offset) == active) {
            remove_if_present(cleaned.path())?;
            return Ok(false);
        }
        // Segment B first: while `<B>.log` exists, no old segment has been deleted.
        for r in old {
            self.segments[&r.base_offset].delete()?;
        }
        cleaned.rename_log(offset_file(&self.dir, base, LOG_SUFFIX))?;
        sync_dir(&self.dir)?;
        for r in old {
            self.segments.remove(&r.base_offset);
        }
        self.segments.insert(base, cleaned);
        if let Some(segment) = self.segments.get_mut(&base) {
            segment.flush(true)?;
        }
        // Snapshot producer state at the log end, so that the two snapshots kept both lie past
        // every cleaned segment and loading never replays a batch compaction removed.
        self.write_producer_snapshot(self.next_offset)?;
        Ok(true)
    }
}

/// Start-up, before the segments are listed: deletes `.cleaned` files and finishes every swap.
pub(crate) fn finish_interrupted_cleaning(dir: &Path, max_batch: usize) -> Result<(), LogError> {
    let mut swaps = Vec::new();
    let mut changed = false;
    for entry in std::fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let name = entry.file_name();
        match name.to_str().and_then(parse_offset_file) {
            Some((_, CLEANED_SUFFIX)) => {
                warn!(file = %entry.path().display(), "deleting a cleaned segment left by an interrupted compaction");
                remove_if_present(&entry.path())?;
                changed = true;
            }
            Some((base, SWAP_SUFFIX)) => swaps.push(base),
            _ => {}
        }
    }
    swaps.sort_unstable();
    for base in &swaps {
        finish_swap(dir, *base, max_batch)?;
    }
    if changed || !swaps.is_empty() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn finish_swap(dir: &Path, base: i64, max_batch: usize) -> Result<(), LogError> {
    let swap = offset_file(dir, base, SWAP_SUFFIX);
    let (end, complete) = swap_extent(&swap, base, max_batch)?;
    let old_base_present = offset_file(dir, base, LOG_SUFFIX).exists();
    if !complete && old_base_present {
        // The swap was fsynced before it got its name, so this is a disk fault; the old
        // segments are all still there, so they win.
        warn!(swap = %swap.display(), "discarding an unreadable cleaned segment; the old segments are intact");
        return remove_if_present(&swap);
    }
    let mut doomed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let name = entry.file_name();
        if let Some((offset, LOG_SUFFIX | INDEX_SUFFIX | TIME_INDEX_SUFFIX)) = name.to_str().and_then(parse_offset_file)
        {
            if offset >= base && offset < end.max(base + 1) {
                doomed.push(entry.path());
            }
        }
    }
    // `<B>.log` goes first, as in `commit_swap`.
    doomed.sort_by_key(|p| p != &offset_file(dir, base, LOG_SUFFIX));
    for path in doomed {
        remove_if_present(&path)?;
    }
    let log = offset_file(dir, base, LOG_SUFFIX);
    std::fs::rename(&swap, &log).map_err(io_err("renaming swapped segment", &log))?;
    warn!(segment = %log.display(), "finished a compaction interrupted by a crash");
    Ok(())
}

/// The offset after the last whole, valid batch of a swap file, and whether the whole file is
/// valid (a bad tail is cut off).
fn swap_extent(path: &Path, base: i64, max_batch: usize) -> Result<(i64, bool), LogError> {
    let file = std::fs::File::open(path).map_err(io_err("opening", path))?;
    let size = file.metadata().map_err(io_err("reading size of", path))?.len();
    let mut scanner = super::batch_scanner::BatchScanner::new(&file, path, size, max_batch);
    let mut end = base;
    let mut valid_bytes = 0;
    loop {
        match scanner.next_batch() {
            Ok(Some(batch)) => {
                end = batch.header.next_offset();
                valid_bytes = batch.position + batch.bytes.len() as u64;
            }
            Ok(None) => return Ok((end, true)),
            Err(LogError::Corrupt { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    drop(file);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err("opening", path))?;
    file.set_len(valid_bytes).map_err(io_err("truncating", path))?;
    file.sync_all().map_err(io_err("fsyncing", path))?;
    Ok((end, false))
}

fn remove_if_present(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("deleting", path)(e)),
    }
}

#[cfg(test)]
#[path = "swap_test.rs"]
mod tests;

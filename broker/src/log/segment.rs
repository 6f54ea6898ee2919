//! One segment: a `.log` file of batches exactly as received (base offsets rewritten), with its
//! offset and time indexes. Synchronous; the partition serialises access.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rill_client::protocol::batch::{self, BatchError, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

use super::error::{LogError, io_err};
use super::file_names::{CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, offset_file};
use super::index::{OffsetIndex, TimeIndex};

/// Positions are 32-bit in the index format, so a segment never grows past this.
pub(crate) const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

/// Index settings of a segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexConfig {
    /// Bytes of log between index entries.
    pub(crate) interval_bytes: u64,
    /// Largest offset-index file.
    pub(crate) max_index_bytes: i32,
}

/// A segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: i64,
    path: PathBuf,
    file: Arc<File>,
    size: u64,
    index: OffsetIndex,
    time_index: TimeIndex,
    index_config: IndexConfig,
    bytes_since_index: u64,
    next_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch, against which `segment.ms` is measured (as in Kafka).
    rolling_timestamp: Option<i64>,
    created_ms: i64,
}

/// What recovery found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Valid batches kept.
    pub(crate) batches: usize,
    /// Bytes cut from the end (a torn or corrupt tail).
    pub(crate) truncated_bytes: u64,
    /// Why the tail was cut, if it was.
    pub(crate) reason: Option<String>,
}

fn open_log_file(path: &Path, create: bool) -> Result<File, LogError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(io_err(
            if create { "creating segment" } else { "opening segment" },
            path,
        ))
}

impl Segment {
    /// A segment over `file` of `size` bytes whose indexes and summary are still empty.
    fn blank(
        dir: &Path,
        base_offset: i64,
        path: PathBuf,
        file: File,
        size: u64,
        index_config: IndexConfig,
        created_ms: i64,
    ) -> Self {
        Self {
            base_offset,
            index: OffsetIndex::create(
                offset_file(dir, base_offset, INDEX_SUFFIX),
                base_offset,
                index_config.max_index_bytes,
            ),
            time_index: TimeIndex::create(offset_file(dir, base_offset, TIME_INDEX_SUFFIX), base_offset),
            path,
            file: Arc::new(file),
            size,
            index_config,
            bytes_since_index: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            rolling_timestamp: None,
            created_ms,
        }
    }

    /// Creates an empty segment starting at `base_offset`.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        index_config: IndexConfig,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        let path = offset_file(dir, base_offset, LOG_SUFFIX);
        let file = open_log_file(&path, true)?;
        file.set_len(0).map_err(io_err("truncating new segment", &path))?;
        Ok(Self::blank(dir, base_offset, path, file, 0, index_config, now_ms))
    }

    /// Creates `<base>.log.cleaned`, the file the log cleaner writes a compacted copy of segments
    /// starting at `base_offset` to. The indexes are kept in memory under the final `.index` and
    /// `.timeindex` names and written only by [`Segment::flush`] after the copy has replaced the
    /// old segments: until then those names belong to the old segment at the same base offset.
    pub(crate) fn create_cleaned(
        dir: &Path,
        base_offset: i64,
        index_config: IndexConfig,
        created_ms: i64,
    ) -> Result<Self, LogError> {
        let path = offset_file(dir, base_offset, CLEANED_SUFFIX);
        let file = open_log_file(&path, true)?;
        file.set_len(0).map_err(io_err("truncating cleaned segment", &path))?;
        Ok(Self::blank(dir, base_offset, path, file, 0, index_config, created_ms))
    }

    /// Renames the log file; the open handle, and readers holding it, are unaffected.
    pub(crate) fn rename_log(&mut self, to: PathBuf) -> Result<(), LogError> {
        std::fs::rename(&self.path, &to).map_err(io_err("renaming segment", &to))?;
        self.path = to;
        Ok(())
    }

    /// Fsyncs the log file (data and size), leaving the indexes in memory.
    pub(crate) fn sync_log(&self) -> Result<(), LogError> {
        self.file.sync_all().map_err(io_err("fsyncing", &self.path))
    }

    /// Sets the time retention measures a segment without timestamps by, in memory and as the
    /// file's modification time (which [`Segment::open`] reads back). A cleaned segment takes
    /// the age of the segments it replaced, so that compaction does not extend retention.
    pub(crate) fn set_created_ms(&mut self, ms: i64) -> Result<(), LogError> {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        self.file
            .set_modified(when)
            .map_err(io_err("setting modification time of", &self.path))?;
        self.created_ms = ms;
        Ok(())
    }

    /// Opens a segment written before a clean shutdown: trusts its indexes if they pass a sanity
    /// check and scans only the bytes after the last index entry. Returns `None` for the indexes
    /// part when they failed the check, in which case the caller runs [`Segment::recover`].
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        index_config: IndexConfig,
        now_ms: i64,
    ) -> Result<(Self, bool), LogError> {
        let path = offset_file(dir, base_offset, LOG_SUFFIX);
        let file = open_log_file(&path, false)?;
        let metadata = file.metadata().map_err(io_err("reading size of", &path))?;
        let size = metadata.len();
        let modified_ms = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(now_ms, |d| d.as_millis() as i64);
        let index_path = offset_file(dir, base_offset, INDEX_SUFFIX);
        let time_path = offset_file(dir, base_offset, TIME_INDEX_SUFFIX);
        // A non-empty segment without an index file (a crash between a compaction's swap and
        // its index write) is rebuilt rather than scanned from byte 0 on every read.
        let index_missing = size > 0 && !index_path.exists();
        let index = OffsetIndex::open(index_path, base_offset, index_config.max_index_bytes, size)?;
        let mut segment = Self::blank(dir, base_offset, path, file, size, index_config, modified_ms);
        segment.seek_to_end()?;
        let Some(index) = index.filter(|_| !index_missing) else {
            return Ok((segment, false));
        };
        segment.index = index;
        // Scan the tail after the last index entry for the next offset and newest timestamp.
        let mut pos = u64::from(segment.index.lookup(i64::MAX).1);
        while pos < size {
            let Some(header) = segment.header_at(pos)? else {
                return Ok((segment, false));
            };
            if pos + header.total_size() as u64 > size {
                return Ok((segment, false));
            }
            segment.observe(&header);
            pos += header.total_size() as u64;
        }
        segment.bytes_since_index = size.saturating_sub(u64::from(segment.index.lookup(i64::MAX).1));
        match TimeIndex::open(time_path, base_offset, segment.next_offset)? {
            Some(time_index) => {
                if let Some((ts, offset)) = time_index.last() {
                    if ts > segment.max_timestamp {
                        segment.max_timestamp = ts;
                        segment.offset_of_max_timestamp = offset;
                    }
                }
                segment.time_index = time_index;
            }
            None => return Ok((segment, false)),
        }
        if size > 0 {
            segment.rolling_timestamp = segment.header_at(0)?.map(|h| h.max_timestamp);
        }
        Ok((segment, true))
    }

    fn observe(&mut self, header: &BatchHeader) {
        self.next_offset = header.next_offset();
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.last_offset();
        }
    }

    fn seek_to_end(&mut self) -> Result<(), LogError> {
        (&*self.file)
            .seek(SeekFrom::Start(self.size))
            .map_err(io_err("seeking in", &self.path))?;
        Ok(())
    }

    /// Rebuilds the indexes by reading every batch, validating each (CRC-32C and framing) and
    /// cutting the file at the first one that is torn or corrupt.
    pub(crate) fn recover(&mut self, max_batch_bytes: usize) -> Result<Recovered, LogError> {
        self.index.clear();
        self.time_index.clear();
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.bytes_since_index = 0;
        self.rolling_timestamp = None;
        let file_size = self
            .file
            .metadata()
            .map_err(io_err("reading size of", &self.path))?
            .len();
        let file = Arc::clone(&self.file);
        let mut reader = BufReader::with_capacity(1 << 20, &*file);
        reader
            .seek(SeekFrom::Start(0))
            .map_err(io_err("seeking in", &self.path))?;
        let mut pos = 0u64;
        let mut batches = 0;
        let mut buf = Vec::new();
        let reason = loop {
            if pos == file_size {
                break None;
            }
            let mut prefix = [0u8; LOG_OVERHEAD];
            if file_size - pos < HEADER_LEN as u64 {
                break Some(format!(
                    "{} bytes left at position {pos}, less than a batch header",
                    file_size - pos
                ));
            }
            reader.read_exact(&mut prefix).map_err(io_err("reading", &self.path))?;
            let length = i32::from_be_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
            let total = LOG_OVERHEAD as i64 + i64::from(length);
            if length < (HEADER_LEN - LOG_OVERHEAD) as i32
                || total as u64 > file_size - pos
                || total as usize > max_batch_bytes
            {
                break Some(format!(
                    "batch at position {pos} claims {total} bytes; {} remain",
                    file_size - pos
                ));
            }
            buf.clear();
            buf.extend_from_slice(&prefix);
            buf.resize(total as usize, 0);
            reader
                .read_exact(&mut buf[LOG_OVERHEAD..])
                .map_err(io_err("reading", &self.path))?;
            // Stored batches may have been thinned by compaction: offset deltas with gaps.
            let header = match batch::validate_stored(&buf) {
                Ok(valid) => valid.header,
                Err(err) => break Some(format!("batch at position {pos} is invalid: {err}")),
            };
            if header.base_offset < self.next_offset {
                break Some(format!(
                    "batch at position {pos} has offset {} below {}",
                    header.base_offset, self.next_offset
                ));
            }
            self.index_batch(&header, pos);
            self.observe(&header);
            if self.rolling_timestamp.is_none() {
                self.rolling_timestamp = Some(header.max_timestamp);
            }
            pos += total as u64;
            batches += 1;
        };
        drop(reader);
        let truncated_bytes = file_size - pos;
        if truncated_bytes > 0 {
            self.file
                .set_len(pos)
                .map_err(io_err("truncating torn tail of", &self.path))?;
        }
        self.size = pos;
        self.seek_to_end()?;
        Ok(Recovered {
            batches,
            truncated_bytes,
            reason,
        })
    }

    fn index_batch(&mut self, header: &BatchHeader, position: u64) {
        if self.bytes_since_index >= self.index_config.interval_bytes || position == 0 {
            self.index.append(header.base_offset, position as u32);
            let (ts, offset) = if header.max_timestamp > self.max_timestamp {
                (header.max_timestamp, header.last_offset())
            } else {
                (self.max_timestamp, self.offset_of_max_timestamp)
            };
            if ts >= 0 {
                self.time_index.maybe_append(ts, offset);
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += header.total_size() as u64;
    }

    /// Whether a batch of `batch_size` bytes ending at `last_offset` with `max_timestamp` must go
    /// to a new segment.
    pub(crate) fn should_roll(
        &self,
        batch_size: usize,
        last_offset: i64,
        max_timestamp: i64,
        segment_bytes: i32,
        segment_ms: i64,
        now_ms: i64,
    ) -> bool {
        if self.size == 0 {
            return false;
        }
        let waited = match self.rolling_timestamp {
            Some(ts) if ts >= 0 => max_timestamp.saturating_sub(ts),
            _ => now_ms.saturating_sub(self.created_ms),
        };
        self.size + batch_size as u64 > segment_bytes as u64
            || self.size + batch_size as u64 > MAX_SEGMENT_BYTES
            || waited > segment_ms
            || self.index.is_full()
            || last_offset - self.base_offset > i64::from(u32::MAX)
    }

    /// Appends one batch: `prefix` (its first bytes, with the base offset and leader epoch
    /// rewritten) then `rest` (everything after the prefix). On failure the file is cut back to its previous size, so a
    /// failed append leaves no trace; if even that fails the error says so and the caller must
    /// take the partition offline.
    pub(crate) fn append(&mut self, header: &BatchHeader, prefix: &[u8], rest: &[u8]) -> Result<(), AppendFailure> {
        let position = self.size;
        let mut slices = [IoSlice::new(prefix), IoSlice::new(rest)];
        if let Err(source) = write_all_vectored(&self.file, &mut slices) {
            let error = LogError::Io {
                op: "appending to",
                path: self.path.clone(),
                source,
            };
            let undone = self
                .file
                .set_len(position)
                .and_then(|()| (&*self.file).seek(SeekFrom::Start(position)).map(drop));
            return Err(AppendFailure {
                error,
                undone: undone.is_ok(),
            });
        }
        self.size += (prefix.len() + rest.len()) as u64;
        self.index_batch(header, position);
        self.observe(header);
        if self.rolling_timestamp.is_none() {
            self.rolling_timestamp = Some(header.max_timestamp);
        }
        Ok(())
    }

    /// Reads the header of the batch at `position`; `None` at or near the end of the file.
    pub(crate) fn header_at(&self, position: u64) -> Result<Option<BatchHeader>, LogError> {
        if position + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        self.file
            .read_exact_at(&mut buf, position)
            .map_err(io_err("reading", &self.path))?;
        BatchHeader::parse(&buf).map(Some).map_err(|source| LogError::Corrupt {
            path: self.path.clone(),
            position,
            source,
        })
    }

    /// The batch containing `offset`, or the first one after it: (position, header). `None` if
    /// the segment holds nothing at or after `offset`.
    pub(crate) fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let (_, pos) = self.index.lookup(offset);
        let mut pos = u64::from(pos);
        while let Some(header) = self.header_at(pos)? {
            if header.last_offset() >= offset {
                return Ok(Some((pos, header)));
            }
            pos += header.total_size() as u64;
        }
        Ok(None)
    }

    /// The last batch boundary at or before byte `limit`, walking from the batch at `start` (or
    /// from a later indexed batch): every batch in `[start, result)` is complete.
    pub(crate) fn last_boundary_at_or_before(&self, start: u64, limit: u64) -> Result<u64, LogError> {
        let indexed = self.index.floor_position(limit).map_or(0, u64::from);
        let mut pos = start.max(indexed);
        while let Some(header) = self.header_at(pos)? {
            let next = pos + header.total_size() as u64;
            if next > limit {
                break;
            }
            pos = next;
        }
        Ok(pos)
    }

    /// Iterates batch headers from `position` to the end of the segment.
    pub(crate) fn headers_from(
        &self,
        position: u64,
    ) -> impl Iterator<Item = Result<(u64, BatchHeader), LogError>> + '_ {
        let mut pos = position;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.header_at(pos) {
                Ok(Some(header)) => {
                    let at = pos;
                    pos += header.total_size() as u64;
                    Some(Ok((at, header)))
                }
                Ok(None) => None,
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }

    /// Reads `len` bytes at `position`.
    pub(crate) fn read_at(file: &File, path: &Path, position: u64, len: usize) -> Result<Bytes, LogError> {
        let mut buf = BytesMut::zeroed(len);
        file.read_exact_at(&mut buf, position)
            .map_err(io_err("reading", path))?;
        Ok(buf.freeze())
    }

    /// Reads one whole batch at `position`.
    pub(crate) fn read_batch(&self, position: u64, header: &BatchHeader) -> Result<Bytes, LogError> {
        Self::read_at(&self.file, &self.path, position, header.total_size())
    }

    /// Writes buffered index entries; with `sync`, fsyncs log and indexes.
    pub(crate) fn flush(&mut self, sync: bool) -> Result<(), LogError> {
        if sync {
            self.file.sync_data().map_err(io_err("fsyncing", &self.path))?;
        }
        self.index.write_out(sync)?;
        self.time_index.write_out(sync)
    }

    /// Removes the segment's files. Readers holding the file keep reading it until they finish.
    pub(crate) fn delete(&self) -> Result<(), LogError> {
        for path in [self.path.as_path(), self.index.path(), self.time_index.path()] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("deleting", path)(e)),
            }
        }
        Ok(())
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub(crate) fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
    /// Entries in the offset index.
    pub(crate) fn index_entries(&self) -> usize {
        self.index.len()
    }
    pub(crate) fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }
    /// Creation (or, for an opened segment, last modification) time, for retention of segments
    /// without timestamps.
    pub(crate) fn created_ms(&self) -> i64 {
        self.created_ms
    }
}

/// An append that failed; `undone` says whether the file was restored to its previous size.
#[derive(Debug)]
pub(crate) struct AppendFailure {
    pub(crate) error: LogError,
    pub(crate) undone: bool,
}

fn write_all_vectored(file: &File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match (&*file).write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Turns a batch error found while reading a stored segment into a [`LogError`].
pub(crate) fn corrupt(path: &Path, position: u64) -> impl FnOnce(BatchError) -> LogError + '_ {
    move |source| LogError::Corrupt {
        path: path.to_owned(),
        position,
        source,
    }
}

#[cfg(test)]
#[path = "segment_test.rs"]
mod tests;

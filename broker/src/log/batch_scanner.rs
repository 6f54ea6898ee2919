//! Reads the batches of a segment file one by one, outside the partition lock, for the log
//! cleaner. Reads are positional (`pread`), so they neither move nor depend on the file cursor
//! that appends use, and they keep working on a file that retention has already unlinked.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rill_client::protocol::batch::{self, BatchError, BatchHeader, HEADER_LEN, ValidBatch};

use super::error::{LogError, io_err};

/// One batch read by a [`BatchScanner`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScannedBatch<'b> {
    /// Byte position in the segment.
    pub(crate) position: u64,
    /// The validated header.
    pub(crate) header: BatchHeader,
    /// The whole batch.
    pub(crate) bytes: &'b [u8],
}

/// A cursor over the batches in `[0, end)` of a segment file.
#[derive(Debug)]
pub(crate) struct BatchScanner<'a> {
    file: &'a File,
    path: PathBuf,
    position: u64,
    end: u64,
    max_batch: usize,
    buf: Vec<u8>,
}

impl<'a> BatchScanner<'a> {
    /// Scans `file` (known as `path`) up to byte `end`, refusing batches over `max_batch` bytes so
    /// that a corrupt length field cannot make it allocate gigabytes.
    pub(crate) fn new(file: &'a File, path: &Path, end: u64, max_batch: usize) -> Self {
        Self {
            file,
            path: path.to_owned(),
            position: 0,
            end,
            max_batch,
            buf: Vec::new(),
        }
    }

    /// The next batch: its position, its validated header and its bytes (CRC checked, records
    /// walked if uncompressed). `None` at the end. A batch that is cut short or corrupt is an
    /// error: the cleaner only reads segments that recovery or appends have already validated.
    pub(crate) fn next_batch(&mut self) -> Result<Option<ScannedBatch<'_>>, LogError> {
        if self.position >= self.end {
            return Ok(None);
        }
        let position = self.position;
        let corrupt = |source| LogError::Corrupt {
            path: self.path.clone(),
            position,
            source,
        };
        let left = self.end - position;
        if left < HEADER_LEN as u64 {
            return Err(corrupt(BatchError::Truncated {
                need: HEADER_LEN,
                have: left as usize,
            }));
        }
        let mut head = [0u8; HEADER_LEN];
        self.file
            .read_exact_at(&mut head, position)
            .map_err(io_err("reading", &self.path))?;
        let header = BatchHeader::parse(&head).map_err(corrupt)?;
        let size = header.total_size();
        if size as u64 > left || size > self.max_batch {
            return Err(corrupt(BatchError::Truncated {
                need: size,
                have: (left as usize).min(self.max_batch),
            }));
        }
        self.buf.clear();
        self.buf.resize(size, 0);
        self.file
            .read_exact_at(&mut self.buf, position)
            .map_err(io_err("reading", &self.path))?;
        let ValidBatch { header, .. } = batch::validate_stored(&self.buf).map_err(corrupt)?;
        self.position += size as u64;
        Ok(Some(ScannedBatch {
            position,
            header,
            bytes: &self.buf,
        }))
    }
}

//! An append-only file of fixed-size entries with an in-memory copy.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::log::error::{LogError, io_err};

/// Fixed-size entries: all in memory, the unwritten tail buffered.
#[derive(Debug)]
pub(crate) struct EntryFile<const N: usize> {
    path: PathBuf,
    entries: Vec<[u8; N]>,
    /// Entries `[..written]` are in the file.
    written: usize,
}

impl<const N: usize> EntryFile<N> {
    /// An empty index; the file is created (truncated) on the first write.
    pub(crate) fn create(path: PathBuf) -> Self {
        Self {
            path,
            entries: Vec::new(),
            written: 0,
        }
    }

    /// Loads an existing file. Trailing bytes that do not form a whole entry are dropped.
    pub(crate) fn open(path: PathBuf) -> Result<Self, LogError> {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("reading index", &path)(e)),
        };
        let entries: Vec<[u8; N]> = bytes
            .chunks_exact(N)
            .map(|chunk| {
                let mut entry = [0u8; N];
                entry.copy_from_slice(chunk);
                entry
            })
            .collect();
        let written = if bytes.len() % N == 0 { entries.len() } else { 0 };
        Ok(Self { path, entries, written })
    }

    pub(crate) fn entries(&self) -> &[[u8; N]] {
        &self.entries
    }

    pub(crate) fn push(&mut self, entry: [u8; N]) {
        self.entries.push(entry);
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.written = 0;
    }

    /// Writes unwritten entries; with `sync`, fsyncs the file too.
    pub(crate) fn write_out(&mut self, sync: bool) -> Result<(), LogError> {
        let file_len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let expected = (self.written * N) as u64;
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&self.path)
            .map_err(io_err("opening index", &self.path))?;
        if file_len != expected {
            // The file is longer (after a truncation) or shorter (never written): rewrite it whole.
            file.set_len(0).map_err(io_err("truncating index", &self.path))?;
            self.written = 0;
        }
        if self.written < self.entries.len() {
            let mut buf = Vec::with_capacity((self.entries.len() - self.written) * N);
            for entry in &self.entries[self.written..] {
                buf.extend_from_slice(entry);
            }
            write_at_end(&mut file, &buf).map_err(io_err("writing index", &self.path))?;
            self.written = self.entries.len();
        }
        if sync {
            file.sync_data().map_err(io_err("fsyncing index", &self.path))?;
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

fn write_at_end(file: &mut File, buf: &[u8]) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::End(0))?;
    file.write_all(buf)
}

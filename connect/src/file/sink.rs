//! The file sink: records' values appended to files as lines, either all to one file (`file`, as
//! Kafka's FileStreamSink) or to one file per topic partition in a `directory`. Files roll over
//! by size (`file.roll.bytes`) or age (`file.roll.ms`); [`FileSink::flush`] writes and syncs
//! everything before the task commits its offsets, so a committed record is on disk.
//!
//! In a directory, the file being written for a partition is `<topic>-<partition>.open`; a rolled
//! file is renamed `<topic>-<partition>-<first offset, 20 digits>.log` (`<file>.<first offset>`
//! with `file`), so complete files are the `.log` ones. Lines of records redelivered after a crash
//! (written but not committed) come again: the sink is at least once, as Kafka Connect's.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::ConnectError;
use crate::record::{ConnectRecord, RecordFailure};

/// Where a file sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileTarget {
    /// One file for every record.
    File(PathBuf),
    /// A file per topic partition in this directory.
    Directory(PathBuf),
}

/// A file sink's settings.
#[derive(Debug, Clone)]
pub struct FileSinkConfig {
    /// Where to write.
    pub target: FileTarget,
    /// Roll a file over once it has this many bytes (`None`: never).
    pub roll_bytes: Option<u64>,
    /// Roll a file over once it is this old (`None`: never).
    pub roll_age: Option<Duration>,
    /// How often files are flushed and offsets committed.
    pub flush_interval: Duration,
}

fn config_error(key: &str, reason: impl Into<String>) -> ConnectError {
    ConnectError::Config {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

impl FileSinkConfig {
    /// From a connector's config: `file` or `directory`, `file.roll.bytes`, `file.roll.ms`,
    /// `offset.flush.interval.ms`.
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<Self, ConnectError> {
        let get = |key: &str| config.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let target = match (get("file"), get("directory")) {
            (Some(file), None) => FileTarget::File(file.into()),
            (None, Some(dir)) => FileTarget::Directory(dir.into()),
            (Some(_), Some(_)) => return Err(config_error("directory", "give either file or directory, not both")),
            (None, None) => return Err(config_error("file", "missing (or give a directory)")),
        };
        let number = |key: &str| -> Result<u64, ConnectError> {
            get(key)
                .map(|v| v.parse().map_err(|_| config_error(key, format!("{v} is not a number"))))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let roll_bytes = Some(number("file.roll.bytes")?).filter(|n| *n > 0);
        let roll_age = Some(number("file.roll.ms")?)
            .filter(|n| *n > 0)
            .map(Duration::from_millis);
        let flush_interval = Duration::from_millis(match get("offset.flush.interval.ms") {
            Some(_) => number("offset.flush.interval.ms")?,
            None => 1_000,
        });
        Ok(Self {
            target,
            roll_bytes,
            roll_age,
            flush_interval,
        })
    }
}

/// One file being written.
#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    writer: BufWriter<File>,
    bytes: u64,
    opened: Instant,
    /// The offset of its first record (names it when rolled).
    first_offset: Option<i64>,
}

/// Writes records to files.
#[derive(Debug)]
pub struct FileSink {
    config: FileSinkConfig,
    /// Open files by topic partition (one entry, under `None`, with `file`).
    open: BTreeMap<Option<(String, i32)>, OpenFile>,
    /// Lines written.
    lines: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConnectError + '_ {
    ConnectError::io(path)
}

impl FileSink {
    /// A sink writing as `config` says (a directory is created if missing).
    pub fn open(config: FileSinkConfig) -> Result<Self, ConnectError> {
        if let FileTarget::Directory(dir) = &config.target {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        Ok(Self {
            config,
            open: BTreeMap::new(),
            lines: 0,
        })
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    fn path_of(&self, slot: &Option<(String, i32)>) -> PathBuf {
        match (&self.config.target, slot) {
            (FileTarget::File(file), _) => file.clone(),
            (FileTarget::Directory(dir), Some((topic, partition))) => dir.join(format!("{topic}-{partition}.open")),
            (FileTarget::Directory(dir), None) => dir.join("records.open"),
        }
    }

    fn rolled_path(&self, file: &OpenFile) -> PathBuf {
        let first = file.first_offset.unwrap_or_default();
        match &self.config.target {
            FileTarget::File(path) => {
                let mut name = path.as_os_str().to_owned();
                name.push(format!(".{first}"));
                name.into()
            }
            FileTarget::Directory(_) => {
                let stem = file
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                file.path.with_file_name(format!("{stem}-{first:020}.log"))
            }
        }
    }

    /// Appends the records' values as lines (tombstones write nothing). A value that is a
    /// string is written as is, others as JSON; line breaks inside a value are kept.
    pub fn put(&mut self, records: &[ConnectRecord]) -> Result<Vec<RecordFailure>, ConnectError> {
        for record in records {
            let Some(value) = &record.value else { continue };
            let slot = match self.config.target {
                FileTarget::File(_) => None,
                FileTarget::Directory(_) => {
                    let origin = record.origin.as_ref();
                    Some((
                        record.topic.clone(),
                        origin.map_or(record.partition.unwrap_or(0), |o| o.partition),
                    ))
                }
            };
            if !self.open.contains_key(&slot) {
                let path = self.path_of(&slot);
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io(&path))?;
                let bytes = file.metadata().map_err(io(&path))?.len();
                self.open.insert(
                    slot.clone(),
                    OpenFile {
                        path,
                        writer: BufWriter::with_capacity(256 << 10, file),
                        bytes,
                        opened: Instant::now(),
                        first_offset: None,
                    },
                );
            }
            let Some(file) = self.open.get_mut(&slot) else { continue };
            if file.first_offset.is_none() {
                file.first_offset = record.origin.as_ref().map(|o| o.offset);
            }
            let written = match value {
                Value::String(s) => {
                    file.writer.write_all(s.as_bytes()).map_err(io(&file.path))?;
                    s.len()
                }
                other => {
                    let text = other.to_string();
                    file.writer.write_all(text.as_bytes()).map_err(io(&file.path))?;
                    text.len()
                }
            };
            file.writer.write_all(b"\n").map_err(io(&file.path))?;
            file.bytes += written as u64 + 1;
            self.lines += 1;
            if self.config.roll_bytes.is_some_and(|limit| file.bytes >= limit) {
                self.roll(&slot)?;
            }
        }
        Ok(Vec::new())
    }

    /// Closes the file of `slot` and renames it to its rolled name.
    fn roll(&mut self, slot: &Option<(String, i32)>) -> Result<(), ConnectError> {
        let Some(mut file) = self.open.remove(slot) else {
            return Ok(());
        };
        file.writer.flush().map_err(io(&file.path))?;
        file.writer.get_ref().sync_all().map_err(io(&file.path))?;
        let rolled = self.rolled_path(&file);
        std::fs::rename(&file.path, &rolled).map_err(io(&rolled))?;
        tracing::info!(file = %rolled.display(), bytes = file.bytes, "rolled a file");
        Ok(())
    }

    /// Writes everything out and syncs it to disk (before offsets are committed); rolls files
    /// that have grown too old.
    pub fn flush(&mut self) -> Result<(), ConnectError> {
        let mut old = Vec::new();
        for (slot, file) in &mut self.open {
            file.writer.flush().map_err(io(&file.path))?;
            file.writer.get_ref().sync_data().map_err(io(&file.path))?;
            if self.config.roll_age.is_some_and(|age| file.opened.elapsed() >= age) {
                old.push(slot.clone());
            }
        }
        for slot in old {
            self.roll(&slot)?;
        }
        Ok(())
    }
}

//! Topic records and offset checkpoints on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;
use uuid::Uuid;

use crate::log::checkpoint::{Offsets, read_offsets, write_atomic, write_offsets};
use crate::log::{LogError, io_err};

const META_DIR: &str = "__rill";
const TOPICS_DIR: &str = "topics";
const RECOVERY_POINTS: &str = "recovery-point-offset-checkpoint";
const LOG_STARTS: &str = "log-start-offset-checkpoint";

/// What is stored about a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TopicRecord {
    /// Topic id (Kafka 2.8+).
    pub(crate) id: Uuid,
    /// Partition count.
    pub(crate) partitions: i32,
    /// Topic-level configuration overrides.
    pub(crate) configs: BTreeMap<String, String>,
}

fn topics_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(META_DIR).join(TOPICS_DIR)
}

fn record_path(data_dir: &Path, name: &str) -> PathBuf {
    topics_dir(data_dir).join(format!("{name}.json"))
}

/// Reads every topic record. An unreadable record is reported and skipped, never guessed at.
pub(crate) fn read_all(data_dir: &Path) -> Result<BTreeMap<String, TopicRecord>, LogError> {
    let dir = topics_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    let mut records = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
        let entry = entry.map_err(io_err("listing", &dir))?;
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(io_err("reading", &path))?;
        match serde_json::from_slice::<TopicRecord>(&bytes) {
            Ok(record) => {
                records.insert(name.to_owned(), record);
            }
            Err(e) => warn!(file = %path.display(), cause = %e, "skipping unreadable topic record"),
        }
    }
    Ok(records)
}

/// Writes (creates or replaces) a topic record durably.
pub(crate) fn write(data_dir: &Path, name: &str, record: &TopicRecord) -> Result<(), LogError> {
    let dir = topics_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    let path = record_path(data_dir, name);
    let json = serde_json::to_vec_pretty(record).map_err(|e| LogError::Io {
        op: "encoding",
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(&path, &json)
}

/// Removes a topic record durably.
pub(crate) fn remove(data_dir: &Path, name: &str) -> Result<(), LogError> {
    let path = record_path(data_dir, name);
    std::fs::remove_file(&path).map_err(io_err("removing", &path))?;
    crate::log::checkpoint::sync_dir(&topics_dir(data_dir))
}

/// The per-partition offsets the data directory remembers between runs.
#[derive(Debug, Default)]
pub(crate) struct Checkpoints {
    pub(crate) recovery_points: Offsets,
    pub(crate) log_starts: Offsets,
}

impl Checkpoints {
    pub(crate) fn read(data_dir: &Path) -> Result<Self, LogError> {
        let read = |name: &str| -> Result<Offsets, LogError> {
            let path = data_dir.join(name);
            Ok(read_offsets(&path)?.unwrap_or_else(|reason| {
                warn!(file = %path.display(), %reason, "ignoring malformed checkpoint; logs will be recovered");
                Offsets::new()
            }))
        };
        Ok(Self {
            recovery_points: read(RECOVERY_POINTS)?,
            log_starts: read(LOG_STARTS)?,
        })
    }

    pub(crate) fn write(&self, data_dir: &Path) -> Result<(), LogError> {
        write_offsets(&data_dir.join(RECOVERY_POINTS), &self.recovery_points)?;
        write_offsets(&data_dir.join(LOG_STARTS), &self.log_starts)
    }
}

//! The file source task: tails files into a topic, one record per line (headers `file.path` and
//! `file.offset`), and stores in the offsets topic only positions whose lines the broker
//! acknowledged.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use rill_client::producer::{DeliveryFuture, Producer, ProducerRecord};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::tailer::{Checkpoint, FileKey, ReadFrom, Tailer, TailerConfig};
use crate::error::{ConnectError, client};
use crate::offsets::OffsetStore;

/// A file source connector's settings.
#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    /// The connector's name (its offsets are stored under it).
    pub name: String,
    /// The topic lines go to.
    pub topic: String,
    /// What to tail.
    pub tailer: TailerConfig,
    /// How often the globs are looked at again for new, rotated and truncated files.
    pub scan_interval: Duration,
    /// How often acknowledged positions are stored (`offset.flush.interval.ms`).
    pub offset_flush_interval: Duration,
    /// Bytes read from the files per round.
    pub batch_bytes: usize,
}

fn config_error(key: &str, reason: impl Into<String>) -> ConnectError {
    ConnectError::Config {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

fn millis(config: &BTreeMap<String, String>, key: &str, default: u64) -> Result<Duration, ConnectError> {
    match config.get(key) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => v
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| config_error(key, format!("{v} is not a number of milliseconds"))),
    }
}

impl FileSourceConfig {
    /// From a connector's configuration (Kafka Connect's flat string map): `name`, `topic`,
    /// `file.include` and `file.exclude` (comma-separated globs), `read.from`
    /// (`beginning`|`end`), `max.line.bytes`, `scan.interval.ms`, `offset.flush.interval.ms`.
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<Self, ConnectError> {
        let get = |key: &str| config.get(key).map(String::as_str).filter(|v| !v.is_empty());
        let name = get("name").ok_or_else(|| config_error("name", "missing"))?;
        let topic = get("topic").ok_or_else(|| config_error("topic", "missing"))?;
        let globs = |key: &str| -> Vec<String> {
            get(key)
                .map(|v| {
                    v.split(',')
                        .map(|g| g.trim().to_owned())
                        .filter(|g| !g.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut tailer = TailerConfig::new(globs("file.include"));
        tailer.exclude = globs("file.exclude");
        tailer.read_from = match get("read.from") {
            None | Some("beginning") => ReadFrom::Beginning,
            Some("end") => ReadFrom::End,
            Some(other) => return Err(config_error("read.from", format!("{other}: not beginning or end"))),
        };
        if let Some(v) = get("max.line.bytes") {
            tailer.max_line_bytes = v
                .parse()
                .map_err(|_| config_error("max.line.bytes", format!("{v} is not a number")))?;
        }
        if tailer.include.is_empty() {
            return Err(config_error("file.include", "no glob given"));
        }
        Ok(Self {
            name: name.to_owned(),
            topic: topic.to_owned(),
            tailer,
            scan_interval: millis(config, "scan.interval.ms", 1_000)?,
            offset_flush_interval: millis(config, "offset.flush.interval.ms", 1_000)?,
            batch_bytes: 1 << 20,
        })
    }
}

/// What a file source task did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSourceStats {
    /// Lines written to the topic.
    pub lines: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Times positions were stored.
    pub offset_commits: u64,
}

/// A line's delivery, and the position it acknowledges.
type Pending = VecDeque<(u32, u64, DeliveryFuture)>;

/// Runs a file source task until `stop`: lines go to the topic through `producer`, acknowledged
/// positions to `offsets`. On a stop, everything sent is awaited and its positions stored.
pub async fn run_file_source(
    config: &FileSourceConfig,
    producer: &Producer,
    offsets: &OffsetStore,
    stop: CancellationToken,
) -> Result<FileSourceStats, ConnectError> {
    let mut saved: HashMap<FileKey, Checkpoint> = offsets
        .load(&config.name)
        .await?
        .into_values()
        .filter_map(|v| serde_json::from_value::<Checkpoint>(v).ok())
        .map(|c| (c.key, c))
        .collect();
    tracing::info!(connector = %config.name, files = saved.len(), "file source starting");
    let mut tailer = Tailer::new(config.tailer.clone(), saved.values().cloned().collect())?;
    let mut pending: HashMap<FileKey, Pending> = HashMap::new();
    let mut stats = FileSourceStats::default();
    let mut next_scan = Instant::now();
    let mut next_flush = Instant::now() + config.offset_flush_interval;
    let mut idle = tokio::time::interval(Duration::from_millis(50));
    while !stop.is_cancelled() {
        if Instant::now() >= next_scan {
            tailer.scan()?;
            next_scan = Instant::now() + config.scan_interval;
        }
        let lines = tailer.read(config.batch_bytes)?;
        if lines.is_empty() {
            tokio::select! {
                () = stop.cancelled() => {}
                _ = idle.tick() => {}
            }
        }
        for line in lines {
            stats.lines += 1;
            stats.bytes += line.text.len() as u64;
            let record = ProducerRecord::new(config.topic.as_str())
                .value(line.text)
                .header("file.path", line.path.to_string_lossy().into_owned())
                .header("file.offset", line.offset.to_string());
            let delivery = producer.send(record).await.map_err(client)?;
            pending
                .entry(line.key)
                .or_default()
                .push_back((line.generation, line.end, delivery));
        }
        if Instant::now() >= next_flush {
            store_positions(config, &tailer, &mut pending, &mut saved, offsets, false).await?;
            stats.offset_commits += 1;
            next_flush = Instant::now() + config.offset_flush_interval;
        }
    }
    producer.flush().await;
    store_positions(config, &tailer, &mut pending, &mut saved, offsets, true).await?;
    stats.offset_commits += 1;
    tracing::info!(connector = %config.name, lines = stats.lines, "file source stopped");
    Ok(stats)
}

/// Stores the positions of the files whose lines were acknowledged (all sent lines with `wait`).
async fn store_positions(
    config: &FileSourceConfig,
    tailer: &Tailer,
    pending: &mut HashMap<FileKey, Pending>,
    saved: &mut HashMap<FileKey, Checkpoint>,
    offsets: &OffsetStore,
    wait: bool,
) -> Result<(), ConnectError> {
    let failed = |reason: String| ConnectError::Produce {
        topic: config.topic.clone(),
        reason,
    };
    let mut acked: HashMap<FileKey, Checkpoint> = HashMap::new();
    for (key, queue) in pending.iter_mut() {
        while let Some((generation, end, delivery)) = queue.pop_front() {
            let outcome = match delivery.try_result() {
                Some(outcome) => outcome,
                None if wait => delivery.await,
                None => {
                    queue.push_front((generation, end, delivery));
                    break;
                }
            };
            outcome.map_err(|e| failed(e.to_string()))?;
            if let Some(checkpoint) = tailer.checkpoint(*key, generation, end) {
                acked.insert(*key, checkpoint);
            }
        }
    }
    pending.retain(|_, queue| !queue.is_empty());
    // Files with nothing waiting are where the tailer is (a copy that took over, a file started
    // over or at its end).
    for checkpoint in tailer.checkpoints() {
        if !pending.contains_key(&checkpoint.key) && !acked.contains_key(&checkpoint.key) {
            acked.insert(checkpoint.key, checkpoint);
        }
    }
    let mut changed: Vec<(Value, Option<Value>)> = Vec::new();
    for checkpoint in acked.into_values() {
        if saved.get(&checkpoint.key) == Some(&checkpoint) {
            continue;
        }
        let partition = serde_json::json!({ "dev": checkpoint.key.dev, "ino": checkpoint.key.ino });
        changed.push((partition, serde_json::to_value(&checkpoint).ok()));
        saved.insert(checkpoint.key, checkpoint);
    }
    if !changed.is_empty() {
        offsets.save(&config.name, &changed).await?;
    }
    Ok(())
}

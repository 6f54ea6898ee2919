//! The file source task: tails files into a topic, one record per line, and stores in the
//! offsets topic only positions whose lines the broker acknowledged.
//!
//! Each record's headers say where its line came from: `file.path`, `file.offset` (where the line
//! starts), `file.end`, `file.key` (`<device>:<inode>`), `file.head` (the fingerprint of the
//! file's first bytes then, `<len>:<crc>`) and `connect.connector`. With the output topic's
//! offsets stored alongside the files' positions, a task that restarts after a crash reads the
//! records written since the last stored positions and goes on after them: lines written but not
//! yet checkpointed are not written again.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rill_client::producer::{DeliveryFuture, Producer, ProducerRecord};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fingerprint::Fingerprint;
use super::tailer::{Checkpoint, FileKey, ReadFrom, Tailer, TailerConfig};
use crate::converter::Converter;
use crate::error::{ConnectError, client};
use crate::offsets::OffsetStore;
use crate::record::ConnectRecord;
use crate::runtime::{Errant, ErrorReporter, Stage};
use crate::transform::TransformChain;

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
    /// Multi-line events: lines matching the pattern start one (`multiline.start.pattern`),
    /// which is complete when the next starts or after the timeout (`multiline.timeout.ms`).
    pub multiline: Option<(regex::bytes::Regex, Duration)>,
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
        let multiline = match get("multiline.start.pattern") {
            Some(pattern) => Some((
                regex::bytes::Regex::new(pattern)
                    .map_err(|e| config_error("multiline.start.pattern", e.to_string()))?,
                millis(config, "multiline.timeout.ms", 1_000)?,
            )),
            None => None,
        };
        Ok(Self {
            name: name.to_owned(),
            topic: topic.to_owned(),
            tailer,
            scan_interval: millis(config, "scan.interval.ms", 1_000)?,
            offset_flush_interval: millis(config, "offset.flush.interval.ms", 1_000)?,
            batch_bytes: 1 << 20,
            multiline,
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
    /// Records read back at the start (written after the last stored positions).
    pub replayed: u64,
}

/// Where the task's output stands: the next offset per partition of its topic.
type Outputs = BTreeMap<i32, i64>;

/// The offsets-topic partition of an output partition's position.
fn output_partition(partition: i32) -> Value {
    serde_json::json!({ "output_partition": partition })
}

fn header<'a>(record: &'a rill_client::consumer::ConsumerRecord, name: &str) -> Option<&'a str> {
    record
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// The checkpoint a record of this connector stands for: its file at the line's end.
fn replayed_checkpoint(record: &rill_client::consumer::ConsumerRecord) -> Option<Checkpoint> {
    let (dev, ino) = header(record, "file.key")?.split_once(':')?;
    let (len, crc) = header(record, "file.head")?.split_once(':')?;
    Some(Checkpoint {
        key: FileKey {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
        },
        fingerprint: Fingerprint {
            len: len.parse().ok()?,
            crc: crc.parse().ok()?,
        },
        position: header(record, "file.end")?.parse().ok()?,
        path: header(record, "file.path")?.into(),
    })
}

/// Reads what the connector wrote after `outputs` (to the topic's end): each file's position
/// becomes that of its latest line there. (With a topic of several partitions, "latest" is per
/// partition as read, and a position may go back: lines come again rather than go missing.)
/// Returns the records read.
async fn replay(
    config: &FileSourceConfig,
    bootstrap: &str,
    outputs: &mut Outputs,
    checkpoints: &mut HashMap<FileKey, Checkpoint>,
) -> Result<u64, ConnectError> {
    let mut reader = rill_client::consumer::Consumer::from_properties([("bootstrap.servers", bootstrap)])
        .await
        .map_err(client)?;
    let partitions: Vec<rill_client::TopicPartition> = outputs
        .keys()
        .map(|p| rill_client::TopicPartition::new(&config.topic, *p))
        .collect();
    reader.assign(partitions.clone()).map_err(client)?;
    for tp in &partitions {
        reader.seek(tp, outputs[&tp.partition]).map_err(client)?;
    }
    let ends = reader.end_offsets(&partitions).await.map_err(client)?;
    let mut replayed = 0;
    for tp in &partitions {
        let end = ends.get(tp).copied().unwrap_or(0);
        while outputs[&tp.partition] < end {
            for record in reader.poll(Duration::from_millis(200)).await.map_err(client)? {
                if let Some(next) = outputs.get_mut(&record.partition) {
                    *next = (*next).max(record.offset + 1);
                }
                if header(&record, "connect.connector") != Some(config.name.as_str()) {
                    continue;
                }
                let Some(checkpoint) = replayed_checkpoint(&record) else {
                    continue;
                };
                replayed += 1;
                // The latest record of a file is where it stands, even at a lower position than
                // an earlier one: the file was truncated in between.
                checkpoints.insert(checkpoint.key, checkpoint);
            }
            let position = reader.position(tp).await.map_err(client)?;
            if let Some(next) = outputs.get_mut(&tp.partition) {
                *next = (*next).max(position);
            }
        }
    }
    reader.close().await.map_err(client)?;
    Ok(replayed)
}

/// Where the task starts: the stored positions, moved past what was written after them (or, on
/// the first start, the topic's current end stored as where the output starts).
async fn starting_point(
    config: &FileSourceConfig,
    offsets: &OffsetStore,
    stats: &mut FileSourceStats,
) -> Result<(HashMap<FileKey, Checkpoint>, Outputs), ConnectError> {
    let mut checkpoints = HashMap::new();
    let mut outputs = Outputs::new();
    for (partition, offset) in offsets.load(&config.name).await? {
        let partition: Value = serde_json::from_str(&partition).unwrap_or(Value::Null);
        if let Some(p) = partition.get("output_partition").and_then(Value::as_i64) {
            let next = offset.get("next").and_then(Value::as_i64).unwrap_or(0);
            outputs.insert(i32::try_from(p).unwrap_or(0), next);
        } else if let Ok(checkpoint) = serde_json::from_value::<Checkpoint>(offset) {
            checkpoints.insert(checkpoint.key, checkpoint);
        }
    }
    if outputs.is_empty() {
        let admin = rill_client::admin::Admin::from_properties([("bootstrap.servers", offsets.bootstrap())])
            .await
            .map_err(client)?;
        let described = admin
            .describe_topics(Some(std::slice::from_ref(&config.topic)))
            .await
            .map_err(client)?;
        let partitions: Vec<rill_client::TopicPartition> = described
            .iter()
            .flat_map(|t| (0..t.partitions.len()).map(|p| rill_client::TopicPartition::new(&config.topic, p as i32)))
            .collect();
        let reader = rill_client::consumer::Consumer::from_properties([("bootstrap.servers", offsets.bootstrap())])
            .await
            .map_err(client)?;
        for (tp, end) in reader.end_offsets(&partitions).await.map_err(client)? {
            outputs.insert(tp.partition, end);
        }
        let start: Vec<(Value, Option<Value>)> = outputs
            .iter()
            .map(|(p, next)| (output_partition(*p), Some(serde_json::json!({ "next": next }))))
            .collect();
        offsets.save(&config.name, &start).await?;
    } else {
        stats.replayed = replay(config, offsets.bootstrap(), &mut outputs, &mut checkpoints).await?;
        if stats.replayed > 0 {
            tracing::info!(connector = %config.name, records = stats.replayed, "went past lines written before a crash");
        }
    }
    Ok((checkpoints, outputs))
}

/// A line's delivery, and the position it acknowledges.
type Pending = VecDeque<(u32, u64, Option<DeliveryFuture>)>;

/// A file's headers, the same for each of its lines while it keeps its path and fingerprint.
#[derive(Debug)]
struct FileHeaders {
    path: Arc<Path>,
    fingerprint: Fingerprint,
    path_text: Bytes,
    key: Bytes,
    head: Bytes,
}

/// Builds each line's record: the topic and the per-file headers are made once, not per line.
#[derive(Debug)]
pub(crate) struct LineHeaders {
    topic: Arc<str>,
    connector: Bytes,
    files: HashMap<FileKey, FileHeaders>,
}

impl LineHeaders {
    pub(crate) fn new(config: &FileSourceConfig) -> Self {
        Self {
            topic: config.topic.as_str().into(),
            connector: Bytes::from(config.name.clone()),
            files: HashMap::new(),
        }
    }

    /// The record of `line`, without its value yet.
    fn record(&mut self, line: &super::tailer::Line) -> ProducerRecord {
        let file = match self.files.entry(line.key) {
            std::collections::hash_map::Entry::Occupied(mut entry) => {
                let file = entry.get();
                if !Arc::ptr_eq(&file.path, &line.path) || file.fingerprint != line.fingerprint {
                    entry.insert(FileHeaders::of(line));
                }
                entry.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(FileHeaders::of(line)),
        };
        let number = |n: u64| Some(Bytes::from(n.to_string()));
        ProducerRecord {
            topic: Arc::clone(&self.topic),
            headers: vec![
                ("file.path".to_owned(), Some(file.path_text.clone())),
                ("file.offset".to_owned(), number(line.offset)),
                ("file.end".to_owned(), number(line.end)),
                ("file.key".to_owned(), Some(file.key.clone())),
                ("file.head".to_owned(), Some(file.head.clone())),
                ("connect.connector".to_owned(), Some(self.connector.clone())),
            ],
            ..ProducerRecord::default()
        }
    }
}

impl FileHeaders {
    fn of(line: &super::tailer::Line) -> Self {
        Self {
            path: Arc::clone(&line.path),
            fingerprint: line.fingerprint,
            path_text: Bytes::from(line.path.to_string_lossy().into_owned()),
            key: Bytes::from(format!("{}:{}", line.key.dev, line.key.ino)),
            head: Bytes::from(format!("{}:{}", line.fingerprint.len, line.fingerprint.crc)),
        }
    }
}

/// What happens to lines between the file and the topic: the connector's transforms, value
/// converter and error policy (none of it by default).
#[derive(Debug)]
pub(crate) struct Processing<'a> {
    /// The records' topic and the headers that stay the same for a file (built once).
    pub(crate) headers: LineHeaders,
    pub(crate) transforms: &'a TransformChain,
    pub(crate) key_converter: Converter,
    pub(crate) value_converter: Converter,
    pub(crate) errors: &'a ErrorReporter,
}

/// What the task sent and stored.
struct Positions {
    /// Each file's lines sent and not acknowledged yet, oldest first.
    pending: HashMap<FileKey, Pending>,
    /// The positions stored last.
    saved: HashMap<FileKey, Checkpoint>,
    /// The output topic's next offsets stored last.
    outputs: Outputs,
}

/// Runs a file source task until `stop`: lines go to the topic through `producer`, acknowledged
/// positions to `offsets`. On a stop, everything sent is awaited and its positions stored.
pub async fn run_file_source(
    config: &FileSourceConfig,
    producer: &Producer,
    offsets: &OffsetStore,
    stop: CancellationToken,
) -> Result<FileSourceStats, ConnectError> {
    let none = TransformChain::default();
    let errors = ErrorReporter::failing(&config.name);
    let mut processing = Processing {
        headers: LineHeaders::new(config),
        transforms: &none,
        key_converter: Converter::String,
        value_converter: Converter::String,
        errors: &errors,
    };
    run_file_source_with(config, producer, offsets, stop, &mut processing).await
}

/// [`run_file_source`] with transforms and an error policy. Lines a transform drops, or that
/// fail and are skipped, count as done for the file's position. (After a crash the task finds
/// where it was from the records in its topic: lines a transform sent to another topic, or
/// whose `file.*` headers it removed, may be read again then.)
pub(crate) async fn run_file_source_with(
    config: &FileSourceConfig,
    producer: &Producer,
    offsets: &OffsetStore,
    stop: CancellationToken,
    processing: &mut Processing<'_>,
) -> Result<FileSourceStats, ConnectError> {
    let mut stats = FileSourceStats::default();
    let (saved, outputs) = starting_point(config, offsets, &mut stats).await?;
    tracing::info!(connector = %config.name, files = saved.len(), "file source starting");
    let mut tailer = Tailer::new(config.tailer.clone(), saved.values().cloned().collect())?;
    let mut positions = Positions {
        pending: HashMap::new(),
        saved,
        outputs,
    };
    let mut multiline = config
        .multiline
        .as_ref()
        .map(|(start, timeout)| super::multiline::Multiline::new(start.clone(), *timeout));
    let events = super::watch::FileEvents::watch(tailer.roots());
    let mut next_scan = Instant::now();
    let mut last_scan = Instant::now();
    let mut next_flush = Instant::now() + config.offset_flush_interval;
    // Appends are found by events, or at least this often (a file system without events, a
    // multi-line event's timeout).
    let mut idle = tokio::time::interval(Duration::from_millis(100));
    while !stop.is_cancelled() {
        let soon = tailer.has_undecided() && Instant::now() >= last_scan + Duration::from_millis(100);
        if events.take_rescan() || soon || Instant::now() >= next_scan {
            tailer.scan()?;
            last_scan = Instant::now();
            next_scan = last_scan + config.scan_interval;
        }
        if tailer.take_changed() {
            // The scan found a file truncated or a copy taking over: stored before any of the
            // truncated file's new lines are sent, and once the lines sent before are
            // acknowledged (a copy is stored at the position its original was read to: after a
            // crash, lines of it that never reached the topic would not be read again).
            let held = |key: &FileKey| multiline.as_ref().is_some_and(|m| m.is_open(key));
            store_positions(config, &tailer, &mut positions, offsets, held, true).await?;
            stats.offset_commits += 1;
        }
        let lines = tailer.read(config.batch_bytes)?;
        if lines.is_empty() {
            tokio::select! {
                () = stop.cancelled() => {}
                () = events.changed() => {}
                _ = idle.tick() => {}
            }
        }
        let now = std::time::Instant::now();
        let mut ready = Vec::with_capacity(lines.len());
        match &mut multiline {
            Some(events) => {
                ready.extend(lines.into_iter().filter_map(|line| events.push(line, now)));
                ready.extend(events.flush(now, false));
            }
            None => ready = lines,
        }
        for line in ready {
            send(config, producer, processing, line, &mut positions.pending, &mut stats).await?;
        }
        let changed = tailer.take_changed();
        if changed {
            // A file was truncated or a copy took over: find the copies now, so that their
            // positions are stored before the truncated file's new lines are read.
            tailer.scan()?;
            last_scan = Instant::now();
        }
        if Instant::now() >= next_flush || changed {
            // (After a truncation or a takeover, once what was sent is acknowledged: see above.)
            let held = |key: &FileKey| multiline.as_ref().is_some_and(|m| m.is_open(key));
            store_positions(config, &tailer, &mut positions, offsets, held, changed).await?;
            stats.offset_commits += 1;
            next_flush = Instant::now() + config.offset_flush_interval;
        }
    }
    // Events still open are complete now.
    let last = multiline
        .map(|mut m| m.flush(std::time::Instant::now(), true))
        .unwrap_or_default();
    for event in last {
        send(config, producer, processing, event, &mut positions.pending, &mut stats).await?;
    }
    producer.flush().await;
    store_positions(config, &tailer, &mut positions, offsets, |_| false, true).await?;
    stats.offset_commits += 1;
    tracing::info!(connector = %config.name, lines = stats.lines, "file source stopped");
    Ok(stats)
}

/// Sends a line (or event) to the topic, and remembers its delivery.
async fn send(
    config: &FileSourceConfig,
    producer: &Producer,
    processing: &mut Processing<'_>,
    line: super::tailer::Line,
    pending: &mut HashMap<FileKey, Pending>,
    stats: &mut FileSourceStats,
) -> Result<(), ConnectError> {
    stats.lines += 1;
    stats.bytes += line.text.len() as u64;
    let record = processing.headers.record(&line);
    let delivery = if processing.transforms.is_empty() {
        Some(producer.send(record.value(line.text)).await.map_err(client)?)
    } else {
        let text = String::from_utf8_lossy(&line.text).into_owned();
        let connect = ConnectRecord {
            topic: config.topic.clone(),
            value: Some(Value::String(text)),
            headers: record.headers,
            ..ConnectRecord::default()
        };
        let original = connect.clone();
        match processing.transforms.apply(connect) {
            Ok(Some(out)) => {
                let record = ProducerRecord {
                    topic: out.topic.as_str().into(),
                    partition: out.partition,
                    key: processing.key_converter.encode(out.key.as_ref()),
                    value: processing.value_converter.encode(out.value.as_ref()),
                    headers: out.headers,
                    timestamp: out.timestamp,
                };
                Some(producer.send(record).await.map_err(client)?)
            }
            Ok(None) => None,
            Err(e) => {
                let errant = Errant {
                    key: None,
                    value: processing.value_converter.encode(original.value.as_ref()),
                    headers: original.headers,
                    origin: None,
                    topic: Some(original.topic),
                };
                processing
                    .errors
                    .report(Stage::Transformation, errant, &e.to_string())
                    .await?;
                None
            }
        }
    };
    let queue = pending.entry(line.key).or_default();
    // Lines in one batch are acknowledged together: only the batch's last is kept.
    if let (Some(new), Some((generation, end, Some(last)))) = (&delivery, queue.back_mut()) {
        if *generation == line.generation && last.same_batch(new) {
            *end = line.end;
            *last = delivery.expect("checked above: a delivery");
            return Ok(());
        }
    }
    queue.push_back((line.generation, line.end, delivery));
    Ok(())
}

/// Stores the positions of the files whose lines were acknowledged (all sent lines with `wait`).
async fn store_positions(
    config: &FileSourceConfig,
    tailer: &Tailer,
    positions: &mut Positions,
    offsets: &OffsetStore,
    held: impl Fn(&FileKey) -> bool,
    wait: bool,
) -> Result<(), ConnectError> {
    let Positions {
        pending,
        saved,
        outputs,
    } = positions;
    let mut produced = Outputs::new();
    let failed = |reason: String| ConnectError::Produce {
        topic: config.topic.clone(),
        reason,
    };
    let mut acked: HashMap<FileKey, Checkpoint> = HashMap::new();
    for (key, queue) in pending.iter_mut() {
        // The newest acknowledged line of the file (its checkpoint is made once: it reads the
        // file's fingerprint).
        let mut last = None;
        while let Some((generation, end, delivery)) = queue.pop_front() {
            let Some(delivery) = delivery else {
                // Dropped by a transform, or skipped: done.
                last = Some((generation, end));
                continue;
            };
            let outcome = match delivery.try_result() {
                Some(outcome) => outcome,
                None if wait => delivery.await,
                None => {
                    queue.push_front((generation, end, Some(delivery)));
                    break;
                }
            };
            let meta = outcome.map_err(|e| failed(e.to_string()))?;
            let next = produced.entry(meta.partition).or_insert(0);
            *next = (*next).max(meta.offset + 1);
            last = Some((generation, end));
        }
        if let Some(checkpoint) = last.and_then(|(generation, end)| tailer.checkpoint(*key, generation, end)) {
            acked.insert(*key, checkpoint);
        }
    }
    pending.retain(|_, queue| !queue.is_empty());
    // Files with nothing waiting are where the tailer is (a copy that took over, a file started
    // over or at its end).
    // (Not those with lines held for a multi-line event: those lines are not sent yet.)
    for checkpoint in tailer.checkpoints() {
        if !pending.contains_key(&checkpoint.key) && !acked.contains_key(&checkpoint.key) && !held(&checkpoint.key) {
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
    // The output's position last: a crash between leaves the files' positions ahead of it,
    // and replaying from an older output position only confirms them.
    for (partition, next) in produced {
        if outputs.get(&partition).is_none_or(|stored| *stored < next) {
            outputs.insert(partition, next);
            changed.push((output_partition(partition), Some(serde_json::json!({ "next": next }))));
        }
    }
    if !changed.is_empty() {
        offsets.save(&config.name, &changed).await?;
    }
    Ok(())
}

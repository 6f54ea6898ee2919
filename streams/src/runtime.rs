//! Running a topology against a Kafka-compatible cluster ([`KafkaStreams`]).
//!
//! An application (`application.id`) is a consumer group. Each instance subscribes to every
//! topic the topology reads with the range assignor, which gives one member the same partition
//! of every topic with the same partition count; a task is a sub-topology's partition, and an
//! instance runs the tasks whose partitions it owns. Internal topics are created at start:
//! repartition topics with the partition count of the sub-topology that writes them, changelogs
//! (compacted; window changelogs compacted and deleted after the window retention plus a day)
//! with that of the sub-topology whose stores they log.
//!
//! Processing is at least once: a record's offset is committed only once everything processing
//! it produced was acknowledged by the cluster. Output is not awaited record by record: each
//! poll's offsets wait, with its deliveries, until they are all done; every `commit.interval.ms`
//! the instance waits for all of them and commits, and for partitions being revoked it commits
//! what is acknowledged by then (a new owner re-processes the rest). A task that moves restores
//! its stores from their changelogs before it processes a record.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill_client::admin::{Admin, NewTopic};
use rill_client::consumer::{Consumer, ConsumerRecord, RebalanceContext, RebalanceListener};
use rill_client::producer::{DeliveryFuture, Producer, ProducerRecord};
use rill_client::{ClientError, OffsetAndMetadata, TopicPartition};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::error::StreamsError;
use crate::processor::RawRecord;
use crate::state::changelog_suffix;
use crate::state::{KvStore, StateDir};
use crate::topology::{SubtopologyLayout, Task, TopicName, Topology, lock};

/// A day, added to window changelogs' retention (Kafka's
/// `windowstore.changelog.additional.retention.ms`).
const CHANGELOG_ADDITIONAL_RETENTION_MS: i64 = 86_400_000;

/// How an application runs.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// The application's id: its consumer group and the prefix of its internal topics.
    pub application_id: String,
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// How often processed offsets are committed (`commit.interval.ms`, 30 s by default).
    pub commit_interval: Duration,
    /// Skip (and count) records that cannot be deserialized instead of stopping.
    pub skip_bad_records: bool,
    /// How long a task waits for a partition with no buffered records that may have more on
    /// the broker, before it processes its other partitions anyway (`max.task.idle.ms`).
    pub max_task_idle: Duration,
    /// Where stores keep their content on disk (`state.dir`): `<state_dir>/<application.id>`.
    /// With it, a restarted instance reads only the changelog records after its last commit;
    /// without it, stores live in memory and are restored from their whole changelog.
    pub state_dir: Option<std::path::PathBuf>,
    /// Extra client properties (Kafka names): unprefixed for every client, or prefixed as in
    /// Kafka Streams for one of them: `consumer.session.timeout.ms`, `producer.linger.ms`,
    /// `admin.request.timeout.ms`.
    pub client_properties: Vec<(String, String)>,
    /// The record caches' budget for the whole instance (`statestore.cache.max.bytes`, 10 MiB
    /// by default), shared by its tasks: updates of a key between commits collapse into one
    /// changelog record and one downstream change. 0 forwards every update.
    pub cache_max_bytes: usize,
}

impl StreamsConfig {
    /// An application `application_id` on the cluster at `bootstrap_servers`.
    pub fn new(application_id: &str, bootstrap_servers: &str) -> Self {
        Self {
            application_id: application_id.to_owned(),
            bootstrap_servers: bootstrap_servers.to_owned(),
            commit_interval: Duration::from_secs(30),
            skip_bad_records: false,
            max_task_idle: Duration::from_millis(500),
            state_dir: None,
            client_properties: Vec::new(),
            cache_max_bytes: 10 << 20,
        }
    }

    /// Sets `statestore.cache.max.bytes`.
    pub fn cache_max_bytes(mut self, bytes: usize) -> Self {
        self.cache_max_bytes = bytes;
        self
    }

    /// Sets `commit.interval.ms`.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// Keeps stores on disk under `dir` (`state.dir`).
    pub fn state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Adds a client property.
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.client_properties.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The properties of the `role` client ("consumer", "producer" or "admin").
    fn properties<'a>(&'a self, role: &str, own: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut props = vec![("bootstrap.servers", self.bootstrap_servers.as_str())];
        props.extend_from_slice(own);
        for (key, value) in &self.client_properties {
            let key = match key.split_once('.') {
                Some((prefix, rest)) if prefix == role => rest,
                Some((prefix, _)) if ["consumer", "producer", "admin"].contains(&prefix) => continue,
                _ => key.as_str(),
            };
            props.push((key, value.as_str()));
        }
        props
    }
}

/// What a running instance has done, for monitoring and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamsStats {
    /// Records processed.
    pub processed: u64,
    /// Changelog records applied while restoring stores.
    pub restored: u64,
    /// The tasks running now: (sub-topology, partition).
    pub tasks: BTreeSet<(usize, i32)>,
    /// Commits made.
    pub commits: u64,
}

/// A running instance of a Streams application.
pub struct KafkaStreams {
    stop: CancellationToken,
    run: JoinHandle<Result<(), StreamsError>>,
    stats: Arc<Mutex<StreamsStats>>,
}

impl fmt::Debug for KafkaStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaStreams")
            .field("stats", &*lock(&self.stats))
            .finish_non_exhaustive()
    }
}

fn client(e: ClientError) -> StreamsError {
    StreamsError::Client(Box::new(e))
}

/// Partitions assigned and revoked since the main loop last looked, and how far processing got.
#[derive(Default)]
struct Progress {
    assigned: Vec<TopicPartition>,
    revoked: Vec<TopicPartition>,
    /// The partitions this instance owns.
    owned: BTreeSet<TopicPartition>,
    /// Polls whose output is not all acknowledged yet, oldest first.
    pending: VecDeque<Inflight>,
    /// Polls processed since the record caches were last flushed: their offsets are not
    /// acknowledged before the flush's output is, since part of their effect is in the caches.
    unflushed: Option<Inflight>,
    /// Offsets whose output is acknowledged, not committed yet.
    acked: BTreeMap<TopicPartition, i64>,
    /// The first failed delivery.
    failed: Option<String>,
    /// The offset after the last acknowledged record of each changelog partition.
    changelog_next: ChangelogOffsets,
}

/// Where a partition's records go: its topic and partition, its task and the task's queue.
type Route = (Arc<str>, i32, (usize, i32), usize);

/// A task's polled records, per input partition (its partitions all have the task's number).
struct TaskBuffer {
    queues: Vec<PartitionQueue>,
    /// Since when the task waits for a partition with nothing buffered.
    idle_since: Option<Instant>,
}

/// One input partition's records waiting for its task.
struct PartitionQueue {
    tp: TopicPartition,
    records: VecDeque<ConsumerRecord>,
    /// The offset after the last record processed, until the poll's progress takes it.
    processed: Option<i64>,
}

impl TaskBuffer {
    /// The queue of `topic`'s partition, made on its first record.
    fn queue(&mut self, topic: &str, partition: i32) -> usize {
        if let Some(i) = self.queues.iter().position(|q| q.tp.topic == topic) {
            return i;
        }
        self.queues.push(PartitionQueue {
            tp: TopicPartition::new(topic, partition),
            records: VecDeque::new(),
            processed: None,
        });
        self.queues.len() - 1
    }

    /// The queue whose record the task should process next: the buffered one with the lowest
    /// timestamp across the task's partitions, as Kafka Streams picks them. While a partition of
    /// the task has nothing buffered but may have more on the broker (its lag is not known to
    /// be 0), the task waits, for at most `max_idle`, so that a record of that partition is not
    /// overtaken by later ones (which would make it late for windows and joins).
    fn next(&mut self, consumer: &Consumer, max_idle: Duration) -> Option<usize> {
        if let [only] = &self.queues[..] {
            return (!only.records.is_empty()).then_some(0);
        }
        let waiting = self
            .queues
            .iter()
            .any(|q| q.records.is_empty() && consumer.lag(&q.tp) != Some(0));
        if waiting {
            let since = *self.idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() < max_idle {
                return None;
            }
        } else {
            self.idle_since = None;
        }
        self.queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.records.front().map(|r| (i, r.timestamp)))
            .min_by_key(|&(_, ts)| ts)
            .map(|(i, _)| i)
    }
}

/// Partitions that came and went.
struct Changes {
    assigned: Vec<TopicPartition>,
    revoked: Vec<TopicPartition>,
}

/// One poll's processed offsets and the deliveries of what processing them produced.
#[derive(Default)]
struct Inflight {
    offsets: BTreeMap<TopicPartition, i64>,
    deliveries: VecDeque<DeliveryFuture>,
}

impl Inflight {
    /// Takes in the deliveries whose outcome is known, oldest first, without waiting.
    fn settle(&mut self, changelog_next: &mut ChangelogOffsets, failed: &mut Option<String>) {
        while let Some(result) = self.deliveries.front().and_then(DeliveryFuture::try_result) {
            match result {
                Ok(meta) => note_changelog(changelog_next, &meta),
                Err(e) => {
                    failed.get_or_insert_with(|| e.to_string());
                }
            }
            self.deliveries.pop_front();
        }
    }
}

impl Progress {
    /// Moves the polls whose output is all acknowledged (checked without waiting) to `acked`.
    fn settle_done(&mut self) {
        if let Some(held) = &mut self.unflushed {
            held.settle(&mut self.changelog_next, &mut self.failed);
        }
        while let Some(front) = self.pending.front_mut() {
            front.settle(&mut self.changelog_next, &mut self.failed);
            if !front.deliveries.is_empty() {
                return;
            }
            let done = self.pending.pop_front().expect("front exists");
            self.ack(done.offsets);
        }
    }

    /// Partitions that went: their tasks close without flushing their caches, so what they
    /// processed since the last flush is processed again by the partitions' next owner.
    fn forget(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.owned.remove(tp);
            if let Some(held) = &mut self.unflushed {
                held.offsets.remove(tp);
            }
        }
    }

    fn ack(&mut self, offsets: BTreeMap<TopicPartition, i64>) {
        for (tp, offset) in offsets {
            if self.owned.contains(&tp) {
                self.acked.insert(tp, offset);
            }
        }
    }
}

/// Adds a delivery to wait for; one per batch is enough (a batch completes as a whole), so a
/// later record of the batch of one of the last few replaces that one.
fn track(deliveries: &mut VecDeque<DeliveryFuture>, delivery: DeliveryFuture) {
    match deliveries.iter_mut().rev().take(4).find(|d| d.same_batch(&delivery)) {
        Some(earlier) => *earlier = delivery,
        None => deliveries.push_back(delivery),
    }
}

/// A task's output record as the producer takes it.
fn producer_record(out: crate::processor::Output) -> ProducerRecord {
    ProducerRecord {
        topic: out.topic,
        partition: out.partition,
        key: out.key,
        value: out.value,
        headers: out.headers,
        timestamp: Some(out.timestamp),
    }
}

/// The offset after the last acknowledged record, per changelog partition.
type ChangelogOffsets = HashMap<(Arc<str>, i32), i64>;

/// Remembers how far a changelog partition is written.
fn note_changelog(next: &mut ChangelogOffsets, meta: &rill_client::producer::RecordMetadata) {
    if meta.topic.ends_with("-changelog") && meta.offset >= 0 {
        let entry = next.entry((Arc::clone(&meta.topic), meta.partition)).or_insert(0);
        *entry = (*entry).max(meta.offset + 1);
    }
}

struct Listener(Arc<Mutex<Progress>>);

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        // Commit what is acknowledged of the partitions that go; their new owner processes the
        // rest again.
        let mut progress = lock(&self.0);
        progress.settle_done();
        let offsets = partitions
            .iter()
            .filter_map(|tp| {
                progress
                    .acked
                    .remove(tp)
                    .map(|o| (tp.clone(), OffsetAndMetadata::new(o)))
            })
            .collect();
        context.commit(offsets);
        progress.forget(partitions);
        progress.revoked.extend(partitions.iter().cloned());
    }

    fn on_partitions_assigned(&mut self, _context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        let mut progress = lock(&self.0);
        progress.owned.extend(partitions.iter().cloned());
        progress.assigned.extend(partitions.iter().cloned());
    }

    fn on_partitions_lost(&mut self, _context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        let mut progress = lock(&self.0);
        progress.forget(partitions);
        for tp in partitions {
            progress.acked.remove(tp);
        }
        progress.revoked.extend(partitions.iter().cloned());
    }
}

impl KafkaStreams {
    /// Creates the internal topics, joins the application's group and starts processing in the
    /// background.
    pub async fn start(topology: Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        let layout = topology.layout();
        prepare_topics(&topology, &layout, &config).await?;
        let stop = CancellationToken::new();
        let stats = Arc::new(Mutex::new(StreamsStats::default()));
        let mut instance = Instance::new(topology, layout, config, Arc::clone(&stats)).await?;
        let run = tokio::spawn({
            let stop = stop.clone();
            async move { instance.run(stop).await }
        });
        Ok(Self { stop, run, stats })
    }

    /// What the instance has done so far.
    pub fn stats(&self) -> StreamsStats {
        lock(&self.stats).clone()
    }

    /// Whether the instance stopped (after `close`, or after an error that `close` returns).
    pub fn is_finished(&self) -> bool {
        self.run.is_finished()
    }

    /// Processes what was polled, commits, leaves the group and stops; returns the error that
    /// stopped it earlier, if any.
    pub async fn close(self) -> Result<(), StreamsError> {
        self.stop.cancel();
        self.run
            .await
            .map_err(|e| StreamsError::Usage(format!("the instance's task failed: {e}")))?
    }

    /// Stops at once, without committing or leaving the group, as if the process died: its
    /// tasks move to other instances when its session times out.
    pub fn kill(self) {
        self.run.abort();
    }
}

/// Checks the source topics and creates the internal ones.
async fn prepare_topics(
    topology: &Topology,
    layout: &[SubtopologyLayout],
    config: &StreamsConfig,
) -> Result<(), StreamsError> {
    let app = &config.application_id;
    let admin = Admin::from_properties(config.properties("admin", &[]))
        .await
        .map_err(client)?;
    let mut counts: Vec<Option<i32>> = vec![None; layout.len()];
    let mut topic_counts: HashMap<TopicName, i32> = HashMap::new();
    for sub in layout {
        for topic in &sub.sources {
            if let TopicName::User(name) = topic {
                let described = admin
                    .describe_topics(Some(std::slice::from_ref(name)))
                    .await
                    .map_err(|e| match e {
                        ClientError::UnknownTopic { .. } => {
                            StreamsError::Topology(format!("source topic {name} does not exist"))
                        }
                        e => client(e),
                    })?;
                let count = described.first().map_or(0, |t| t.partitions.len() as i32);
                topic_counts.insert(topic.clone(), count);
            }
        }
    }
    // A sub-topology has as many tasks as its widest input; a repartition topic as many
    // partitions as the sub-topology that writes it. Resolve until nothing changes.
    loop {
        let mut changed = false;
        for (i, sub) in layout.iter().enumerate() {
            if counts[i].is_some() {
                continue;
            }
            let known: Option<Vec<i32>> = sub.sources.iter().map(|t| topic_counts.get(t).copied()).collect();
            if let Some(known) = known {
                // Joined inputs (a sub-topology with stores and several topics) must be
                // co-partitioned: a task joins partition p of each.
                if !sub.stores.is_empty() && known.iter().any(|&c| c != known[0]) {
                    let listed: Vec<String> = sub
                        .sources
                        .iter()
                        .zip(&known)
                        .map(|(t, c)| format!("{} ({c})", t.resolve(app)))
                        .collect();
                    return Err(StreamsError::Topology(format!(
                        "the topics joined in sub-topology {i} are not co-partitioned: {}; give them the same partition count",
                        listed.join(", ")
                    )));
                }
                let count = known.into_iter().max().unwrap_or(1).max(1);
                counts[i] = Some(count);
                for sink in &sub.internal_sinks {
                    topic_counts.insert(sink.clone(), count);
                }
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let counts: Vec<i32> = counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.ok_or_else(|| StreamsError::Topology(format!("sub-topology {i} reads a topic nothing writes"))))
        .collect::<Result<_, _>>()?;
    let mut new_topics = Vec::new();
    for (i, sub) in layout.iter().enumerate() {
        for sink in &sub.internal_sinks {
            new_topics.push(NewTopic::new(sink.resolve(app)).partitions(topic_counts[sink]));
        }
        for store in sub.stores.iter().filter(|s| s.logged) {
            let name = TopicName::Internal(changelog_suffix(&store.name)).resolve(app);
            let topic = NewTopic::new(name).partitions(counts[i]);
            new_topics.push(match store.retention_ms {
                Some(retention) => topic.config("cleanup.policy", "compact,delete").config(
                    "retention.ms",
                    (retention + CHANGELOG_ADDITIONAL_RETENTION_MS).to_string(),
                ),
                None => topic.config("cleanup.policy", "compact"),
            });
        }
    }
    if !new_topics.is_empty() {
        let outcomes = admin.create_topics(&new_topics, false).await.map_err(client)?;
        for (topic, outcome) in outcomes {
            match outcome {
                Ok(()) => info!(topic, "created an internal topic"),
                Err(e) if e.kafka() == Some(rill_client::ResponseError::TopicAlreadyExists) => {}
                Err(e) => {
                    return Err(StreamsError::Topology(format!(
                        "cannot create internal topic {topic}: {e}"
                    )));
                }
            }
        }
    }
    debug!(subtopologies = ?counts, sources = ?topology.source_topics(app), "topics ready");
    Ok(())
}

/// One instance's state: its clients and tasks.
struct Instance {
    topology: Topology,
    layout: Vec<SubtopologyLayout>,
    config: StreamsConfig,
    consumer: Consumer,
    producer: Producer,
    progress: Arc<Mutex<Progress>>,
    /// The sub-topology reading each topic.
    subtopology_of: HashMap<String, usize>,
    tasks: BTreeMap<(usize, i32), Task>,
    /// Stores on disk, with a state directory.
    state: Option<StateDir>,
    /// Global tables' stores, shared by every task, and the consumer that keeps them current
    /// (all partitions of their topics, by topic).
    globals: BTreeMap<String, Arc<Mutex<KvStore>>>,
    global_reader: Option<GlobalReader>,
    /// Records polled for each task, not processed yet.
    buffers: BTreeMap<(usize, i32), TaskBuffer>,
    stats: Arc<Mutex<StreamsStats>>,
}

impl Instance {
    async fn new(
        topology: Topology,
        layout: Vec<SubtopologyLayout>,
        config: StreamsConfig,
        stats: Arc<Mutex<StreamsStats>>,
    ) -> Result<Self, StreamsError> {
        let app = config.application_id.clone();
        let mut subtopology_of = HashMap::new();
        for (i, sub) in layout.iter().enumerate() {
            for topic in &sub.sources {
                subtopology_of.insert(topic.resolve(&app), i);
            }
        }
        let state = match &config.state_dir {
            Some(dir) => Some(StateDir::open(&dir.join(&app))?),
            None => None,
        };
        let globals = topology.global_stores();
        let global_reader = global_reader(&topology, &config, &globals).await?;
        let client_id = format!("{app}-streams");
        let mut consumer = Consumer::from_properties(config.properties(
            "consumer",
            &[
                ("group.id", app.as_str()),
                ("client.id", client_id.as_str()),
                ("enable.auto.commit", "false"),
                ("auto.offset.reset", "earliest"),
                ("partition.assignment.strategy", "range"),
                ("max.poll.records", "10000"),
            ],
        ))
        .await
        .map_err(client)?;
        let producer = Producer::from_properties(config.properties(
            "producer",
            &[("client.id", client_id.as_str()), ("acks", "all"), ("linger.ms", "5")],
        ))
        .await
        .map_err(client)?;
        let progress = Arc::new(Mutex::new(Progress::default()));
        let topics: Vec<String> = subtopology_of.keys().cloned().collect();
        consumer
            .subscribe_with_listener(topics, Listener(Arc::clone(&progress)))
            .map_err(client)?;
        Ok(Self {
            topology,
            layout,
            config,
            consumer,
            producer,
            progress,
            subtopology_of,
            tasks: BTreeMap::new(),
            state,
            globals,
            global_reader,
            buffers: BTreeMap::new(),
            stats,
        })
    }

    async fn run(&mut self, stop: CancellationToken) -> Result<(), StreamsError> {
        let result = self.process_until(&stop).await;
        let closed = self.shut_down(result.is_ok()).await;
        result.and(closed)
    }

    async fn process_until(&mut self, stop: &CancellationToken) -> Result<(), StreamsError> {
        let mut last_commit = Instant::now();
        while !stop.is_cancelled() {
            if let Some((reader, stores)) = &mut self.global_reader {
                for r in reader.poll(Duration::ZERO).await.map_err(client)? {
                    if let (Some(store), Some(key)) = (stores.get(&*r.topic), r.key) {
                        lock(store).restore(key, r.value);
                    }
                }
            }
            let records = self.consumer.poll(Duration::from_millis(100)).await.map_err(client)?;
            self.apply_changes().await?;
            // Records come in runs of one partition: look its queue up once per run.
            let mut route: Option<Route> = None;
            for r in records {
                let (task, queue) = match &route {
                    Some((topic, partition, task, queue)) if **topic == *r.topic && *partition == r.partition => {
                        (*task, *queue)
                    }
                    _ => {
                        let Some(&sub) = self.subtopology_of.get(&*r.topic) else {
                            continue;
                        };
                        let Some(buffer) = self.buffers.get_mut(&(sub, r.partition)) else {
                            return Err(StreamsError::Usage(format!(
                                "no task for {}-{} (sub-topology {sub})",
                                r.topic, r.partition
                            )));
                        };
                        let queue = buffer.queue(&r.topic, r.partition);
                        route = Some((Arc::clone(&r.topic), r.partition, (sub, r.partition), queue));
                        ((sub, r.partition), queue)
                    }
                };
                if let Some(buffer) = self.buffers.get_mut(&task) {
                    buffer.queues[queue].records.push_back(r);
                }
            }
            let mut deliveries = VecDeque::new();
            let mut count = 0u64;
            for (key, buffer) in &mut self.buffers {
                let Some(task) = self.tasks.get_mut(key) else {
                    continue;
                };
                while let Some(queue) = buffer.next(&self.consumer, self.config.max_task_idle) {
                    let queue = &mut buffer.queues[queue];
                    let Some(r) = queue.records.pop_front() else {
                        break;
                    };
                    let offset = r.offset;
                    queue.processed = Some(offset + 1);
                    task.process(RawRecord {
                        topic: r.topic,
                        partition: r.partition,
                        offset,
                        key: r.key,
                        value: r.value,
                        timestamp: r.timestamp,
                        headers: r.headers,
                    })?;
                    for out in std::mem::take(&mut task.ctx.output) {
                        track(
                            &mut deliveries,
                            self.producer.send(producer_record(out)).await.map_err(client)?,
                        );
                    }
                    count += 1;
                }
            }
            if count > 0 {
                lock(&self.stats).processed += count;
                let offsets = self
                    .buffers
                    .values_mut()
                    .flat_map(|b| b.queues.iter_mut())
                    .filter_map(|q| q.processed.take().map(|offset| (q.tp.clone(), offset)))
                    .collect();
                let mut progress = lock(&self.progress);
                let inflight = Inflight { offsets, deliveries };
                if self.config.cache_max_bytes > 0 {
                    let held = progress.unflushed.get_or_insert_with(Inflight::default);
                    held.offsets.extend(inflight.offsets);
                    held.deliveries.extend(inflight.deliveries);
                } else {
                    progress.pending.push_back(inflight);
                }
                progress.settle_done();
                if let Some(failed) = &progress.failed {
                    return Err(StreamsError::Usage(format!("writing a record failed: {failed}")));
                }
            }
            if last_commit.elapsed() >= self.config.commit_interval {
                self.commit().await?;
                last_commit = Instant::now();
            }
        }
        Ok(())
    }

    /// Waits until everything produced so far is acknowledged, then commits what was processed.
    /// Writes every task's store changes to disk with the changelog offsets they correspond to
    /// (nothing without a state directory).
    fn checkpoint(&self, changelogs: &ChangelogOffsets) -> Result<(), StreamsError> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let app = &self.config.application_id;
        let mut guards = Vec::new();
        for (&(sub, partition), task) in &self.tasks {
            for spec in self.layout[sub].stores.iter().filter(|s| s.logged) {
                let topic = TopicName::Internal(changelog_suffix(&spec.name)).resolve(app);
                let (Some(store), Some(&offset)) = (
                    task.stores.get(&spec.name),
                    changelogs.get(&(Arc::from(topic), partition)),
                ) else {
                    continue;
                };
                guards.push((lock(store), partition, offset));
            }
        }
        let mut stores: Vec<(&mut KvStore, i32, i64)> = guards.iter_mut().map(|(g, p, o)| (&mut **g, *p, *o)).collect();
        state.checkpoint(&mut stores)
    }

    async fn commit(&mut self) -> Result<(), StreamsError> {
        // What the caches held back goes out with the polls processed since the last flush.
        let mut flushed = VecDeque::new();
        for task in self.tasks.values_mut() {
            task.flush()?;
            for out in std::mem::take(&mut task.ctx.output) {
                track(
                    &mut flushed,
                    self.producer.send(producer_record(out)).await.map_err(client)?,
                );
            }
        }
        let pending = {
            let mut progress = lock(&self.progress);
            let mut held = progress.unflushed.take().unwrap_or_default();
            held.deliveries.extend(flushed);
            progress.pending.push_back(held);
            std::mem::take(&mut progress.pending)
        };
        let mut done = Vec::with_capacity(pending.len());
        let mut written = Vec::new();
        for inflight in pending {
            for delivery in inflight.deliveries {
                written.push(
                    delivery
                        .await
                        .map_err(|e| StreamsError::Usage(format!("writing a record failed: {e}")))?,
                );
            }
            done.push(inflight.offsets);
        }
        let (acked, changelogs) = {
            let mut progress = lock(&self.progress);
            for offsets in done {
                progress.ack(offsets);
            }
            for meta in &written {
                note_changelog(&mut progress.changelog_next, meta);
            }
            (std::mem::take(&mut progress.acked), progress.changelog_next.clone())
        };
        self.checkpoint(&changelogs)?;
        if acked.is_empty() {
            return Ok(());
        }
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = acked
            .into_iter()
            .map(|(tp, offset)| (tp, OffsetAndMetadata::new(offset)))
            .collect();
        self.consumer.commit_offsets(offsets).await.map_err(client)?;
        lock(&self.stats).commits += 1;
        Ok(())
    }

    /// Closes tasks whose partitions went away and opens (restoring their stores) those that
    /// came.
    async fn apply_changes(&mut self) -> Result<(), StreamsError> {
        let changes = {
            let mut progress = lock(&self.progress);
            Changes {
                assigned: std::mem::take(&mut progress.assigned),
                revoked: std::mem::take(&mut progress.revoked),
            }
        };
        for tp in &changes.revoked {
            if let Some(&sub) = self.subtopology_of.get(&tp.topic) {
                self.buffers.remove(&(sub, tp.partition));
                if self.tasks.remove(&(sub, tp.partition)).is_some() {
                    info!(subtopology = sub, partition = tp.partition, "closed a task");
                }
            }
        }
        for tp in &changes.assigned {
            let Some(&sub) = self.subtopology_of.get(&tp.topic) else {
                continue;
            };
            if self.tasks.contains_key(&(sub, tp.partition)) {
                continue;
            }
            let mut task =
                self.topology
                    .task_of(&self.config.application_id, Some(sub), tp.partition, &self.globals)?;
            task.ctx.skip_bad_records = self.config.skip_bad_records;
            let mut stores: Vec<RestoringStore> = Vec::new();
            for spec in self.layout[sub].stores.iter().filter(|s| s.logged) {
                let Some(store) = task.stores.get(&spec.name) else {
                    continue;
                };
                // With a state directory: the store as of its last checkpoint, and where its
                // changelog continues.
                let from = match &self.state {
                    Some(state) => state.load(&mut lock(store), tp.partition)?,
                    None => None,
                };
                stores.push((spec.name.clone(), Arc::clone(store), from));
            }
            let (restored, ends) = restore(&self.config, self.state.as_ref(), &stores, tp.partition).await?;
            lock(&self.stats).restored += restored;
            if let Some(state) = &self.state {
                let mut guards: Vec<_> = stores
                    .iter()
                    .zip(&ends)
                    .map(|((_, store, _), end)| (lock(store), *end))
                    .collect();
                let mut checkpoint: Vec<(&mut KvStore, i32, i64)> = guards
                    .iter_mut()
                    .map(|(g, end)| (&mut **g, tp.partition, *end))
                    .collect();
                state.checkpoint(&mut checkpoint)?;
            }
            info!(subtopology = sub, partition = tp.partition, "started a task");
            self.tasks.insert((sub, tp.partition), task);
            let sources: BTreeSet<String> = self.layout[sub]
                .sources
                .iter()
                .map(|t| t.resolve(&self.config.application_id))
                .collect();
            let queues = self
                .consumer
                .assignment()
                .into_iter()
                .filter(|a| a.partition == tp.partition && sources.contains(&a.topic))
                .map(|tp| PartitionQueue {
                    tp,
                    records: VecDeque::new(),
                    processed: None,
                })
                .collect();
            self.buffers.insert(
                (sub, tp.partition),
                TaskBuffer {
                    queues,
                    idle_since: None,
                },
            );
        }
        // The instance's cache budget, shared by its tasks.
        let per_task = self.config.cache_max_bytes / self.tasks.len().max(1);
        for task in self.tasks.values_mut() {
            task.ctx.cache_max_bytes = per_task;
        }
        let mut stats = lock(&self.stats);
        stats.tasks = self.tasks.keys().copied().collect();
        Ok(())
    }

    async fn shut_down(&mut self, clean: bool) -> Result<(), StreamsError> {
        if clean {
            self.producer.flush().await;
            self.commit().await?;
        }
        self.consumer.close().await.map_err(client)?;
        self.producer.close().await.map_err(client)?;
        Ok(())
    }
}

/// A store to restore: its name, the store, and the changelog offset of its checkpoint.
type RestoringStore = (String, Arc<Mutex<KvStore>>, Option<i64>);

/// Reads each store's changelog partition from its start to its end into the store; returns the
/// records applied.
async fn restore(
    config: &StreamsConfig,
    state: Option<&StateDir>,
    stores: &[RestoringStore],
    partition: i32,
) -> Result<(u64, Vec<i64>), StreamsError> {
    let app = &config.application_id;
    let mut total = 0;
    let mut ends = Vec::with_capacity(stores.len());
    for (name, store, checkpoint) in stores {
        let topic = TopicName::Internal(changelog_suffix(name)).resolve(app);
        let tp = TopicPartition::new(&topic, partition);
        let mut reader = Consumer::from_properties(config.properties("consumer", &[("auto.offset.reset", "earliest")]))
            .await
            .map_err(client)?;
        reader.assign([tp.clone()]).map_err(client)?;
        let start = reader
            .beginning_offsets(std::slice::from_ref(&tp))
            .await
            .map_err(client)?;
        let end = reader.end_offsets(std::slice::from_ref(&tp)).await.map_err(client)?;
        let (mut from, to) = (start.get(&tp).copied().unwrap_or(0), end.get(&tp).copied().unwrap_or(0));
        ends.push(to);
        if let Some(checkpoint) = checkpoint {
            from = from.max(*checkpoint);
            reader.seek(&tp, from).map_err(client)?;
        }
        if to <= from {
            reader.close().await.map_err(client)?;
            continue;
        }
        info!(store = %name, changelog = %tp, records = to - from, "restoring a store");
        let started = Instant::now();
        let mut applied = 0u64;
        let mut position = from;
        let mut next_report = Instant::now() + Duration::from_secs(5);
        while position < to {
            for r in reader.poll(Duration::from_millis(200)).await.map_err(client)? {
                if r.offset >= to {
                    continue;
                }
                if let Some(key) = r.key {
                    lock(store).restore(key, r.value);
                }
                applied += 1;
            }
            // The position, not the last offset: compaction leaves gaps.
            position = reader.position(&tp).await.map_err(client)?;
            // A store on disk may be larger than memory: write out what was restored so far.
            if let Some(state) = state {
                let mut store = lock(store);
                if StateDir::should_checkpoint(&store) {
                    state.checkpoint(&mut [(&mut *store, partition, position)])?;
                }
            }
            if Instant::now() >= next_report {
                info!(store = %name, changelog = %tp, done = position - from, of = to - from, "restoring");
                next_report = Instant::now() + Duration::from_secs(5);
            }
        }
        reader.close().await.map_err(client)?;
        info!(store = %name, changelog = %tp, records = applied, ms = started.elapsed().as_millis() as u64, "restored a store");
        total += applied;
    }
    Ok((total, ends))
}

/// The consumer of the global tables' topics, and their stores by topic.
type GlobalReader = (Consumer, HashMap<String, Arc<Mutex<KvStore>>>);

/// A consumer of every partition of the global tables' topics, after it has read them to their
/// current end into the global stores (before the instance processes anything).
async fn global_reader(
    topology: &Topology,
    config: &StreamsConfig,
    globals: &BTreeMap<String, Arc<Mutex<KvStore>>>,
) -> Result<Option<GlobalReader>, StreamsError> {
    let tables = topology.global_tables();
    if tables.is_empty() {
        return Ok(None);
    }
    let admin = Admin::from_properties(config.properties("admin", &[]))
        .await
        .map_err(client)?;
    let mut partitions = Vec::new();
    let mut stores = HashMap::new();
    for (topic, store) in tables {
        let described = admin
            .describe_topics(Some(std::slice::from_ref(&topic)))
            .await
            .map_err(|e| StreamsError::Topology(format!("global table topic {topic}: {e}")))?;
        for p in described.iter().flat_map(|t| t.partitions.iter()) {
            partitions.push(TopicPartition::new(&topic, p.partition));
        }
        if let Some(s) = globals.get(&store) {
            stores.insert(topic, Arc::clone(s));
        }
    }
    let mut reader = Consumer::from_properties(config.properties("consumer", &[("auto.offset.reset", "earliest")]))
        .await
        .map_err(client)?;
    reader.assign(partitions.clone()).map_err(client)?;
    let ends = reader.end_offsets(&partitions).await.map_err(client)?;
    let started = Instant::now();
    let mut loaded = 0u64;
    loop {
        let mut behind = false;
        for tp in &partitions {
            if reader.position(tp).await.map_err(client)? < ends.get(tp).copied().unwrap_or(0) {
                behind = true;
            }
        }
        if !behind {
            break;
        }
        for r in reader.poll(Duration::from_millis(200)).await.map_err(client)? {
            if let (Some(store), Some(key)) = (stores.get(&*r.topic), r.key) {
                lock(store).restore(key, r.value);
                loaded += 1;
            }
        }
    }
    info!(
        records = loaded,
        ms = started.elapsed().as_millis() as u64,
        "global tables loaded"
    );
    Ok(Some((reader, stores)))
}

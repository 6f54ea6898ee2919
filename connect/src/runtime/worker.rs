//! The worker: runs connectors' tasks, keeps connector configs and target states in a
//! compacted topic (`connect-configs`) and statuses in another (`connect-status`), so both
//! survive a restart, and restarts failed tasks with backoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use rill_client::OffsetAndMetadata;
use rill_client::TopicPartition;
use rill_client::admin::Admin;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plugin::PluginType;
use super::spec::{Config, Spec};
use super::status::{State, Status, TargetState};
use super::task::{self, TaskContext};
use crate::error::{ConnectError, client};
use crate::offsets::OffsetStore;
use crate::topic_store::TopicStore;

/// A worker's settings (Kafka Connect's worker keys).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// `offset.storage.topic` (`connect-offsets`).
    pub offsets_topic: String,
    /// `config.storage.topic` (`connect-configs`).
    pub configs_topic: String,
    /// `status.storage.topic` (`connect-status`).
    pub status_topic: String,
    /// How the worker is named in statuses (its REST address).
    pub worker_id: String,
}

impl WorkerConfig {
    /// From a worker's flat config, with Kafka Connect's defaults.
    pub fn from_config(config: &Config) -> Self {
        let get = |key: &str, default: &str| config.get(key).cloned().unwrap_or_else(|| default.to_owned());
        Self {
            bootstrap: get("bootstrap.servers", "127.0.0.1:9092"),
            offsets_topic: get("offset.storage.topic", "connect-offsets"),
            configs_topic: get("config.storage.topic", "connect-configs"),
            status_topic: get("status.storage.topic", "connect-status"),
            worker_id: get("listeners", "http://127.0.0.1:8083")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
        }
    }
}

/// What a worker call can fail with; the REST API maps each to its status code.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// No connector by that name (404).
    #[error("Connector {0} not found")]
    NotFound(String),
    /// No such task (404).
    #[error("Task {connector}-{task} not found")]
    TaskNotFound {
        /// The connector.
        connector: String,
        /// The task.
        task: usize,
    },
    /// A connector by that name exists (409).
    #[error("Connector {0} already exists")]
    Exists(String),
    /// The request is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    /// Offsets can be changed only when the connector is stopped (400).
    #[error("Connector {0} must be in the STOPPED state before its offsets can be modified (PUT /connectors/{0}/stop)")]
    NotStopped(String),
    /// The worker failed doing it (500).
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// `GET /connectors/{name}`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorInfo {
    /// The name.
    pub name: String,
    /// The config.
    pub config: Config,
    /// Its tasks.
    pub tasks: Vec<TaskId>,
    /// `source` or `sink` (absent for a config that names no plugin).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PluginType>,
}

/// A task's id.
#[derive(Debug, Clone, Serialize)]
pub struct TaskId {
    /// The connector.
    pub connector: String,
    /// The task's number.
    pub task: usize,
}

/// A task's status, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct TaskState {
    /// The task's number.
    pub id: usize,
    /// Its state and trace.
    #[serde(flatten)]
    pub status: Status,
}

/// `GET /connectors/{name}/status`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorState {
    /// The name.
    pub name: String,
    /// The connector's own state.
    pub connector: Status,
    /// Its tasks'.
    pub tasks: Vec<TaskState>,
    /// `source` or `sink`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PluginType>,
}

/// A task being run (or paused: then it has no run).
#[derive(Debug)]
struct TaskSlot {
    status: Arc<Mutex<Status>>,
    run: Option<(CancellationToken, JoinHandle<()>)>,
}

#[derive(Debug)]
struct Entry {
    config: Config,
    /// `None` when the config does not parse (the connector is FAILED).
    spec: Option<Arc<Spec>>,
    target: TargetState,
    status: Status,
    tasks: Vec<TaskSlot>,
}

/// Sends a status to store (`None` deletes it) to the status writer.
type StatusSender = mpsc::UnboundedSender<(String, Option<Status>)>;

#[derive(Debug)]
struct Inner {
    config: WorkerConfig,
    offsets: Arc<OffsetStore>,
    configs: TopicStore,
    statuses: Mutex<Option<StatusSender>>,
    connectors: tokio::sync::Mutex<BTreeMap<String, Entry>>,
    status_writer: Mutex<Option<JoinHandle<()>>>,
}

/// A Connect worker; cheap to clone (a handle).
#[derive(Debug, Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn task_key(name: &str, task: usize) -> String {
    format!("status-task-{name}-{task}")
}

impl Worker {
    /// Starts a worker: opens its topics and starts the connectors stored there.
    pub async fn start(config: WorkerConfig) -> Result<Self, ConnectError> {
        let offsets = Arc::new(OffsetStore::open(&config.bootstrap, &config.offsets_topic).await?);
        let configs = TopicStore::open(&config.bootstrap, &config.configs_topic).await?;
        let statuses = TopicStore::open(&config.bootstrap, &config.status_topic).await?;
        let mut stored_configs: BTreeMap<String, Config> = BTreeMap::new();
        let mut targets: HashMap<String, TargetState> = HashMap::new();
        for (key, value) in configs.read_all().await? {
            let key = String::from_utf8_lossy(&key).into_owned();
            let value: Option<Value> = value.and_then(|v| serde_json::from_slice(&v).ok());
            if let Some(name) = key.strip_prefix("connector-") {
                match value.and_then(|v| serde_json::from_value::<Config>(v["properties"].clone()).ok()) {
                    Some(config) => stored_configs.insert(name.to_owned(), config),
                    None => stored_configs.remove(name),
                };
            } else if let Some(name) = key.strip_prefix("target-state-") {
                match value.and_then(|v| serde_json::from_value::<TargetState>(v["state"].clone()).ok()) {
                    Some(state) => targets.insert(name.to_owned(), state),
                    None => targets.remove(name),
                };
            }
        }
        let mut stored_statuses: HashMap<String, Status> = HashMap::new();
        for (key, value) in statuses.read_all().await? {
            let key = String::from_utf8_lossy(&key).into_owned();
            match value.and_then(|v| serde_json::from_slice::<Status>(&v).ok()) {
                Some(status) => stored_statuses.insert(key, status),
                None => stored_statuses.remove(&key),
            };
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, Option<Status>)>();
        let writer = tokio::spawn(async move {
            while let Some((key, status)) = rx.recv().await {
                let value = status.and_then(|s| serde_json::to_vec(&s).ok());
                match statuses.put(key.into_bytes(), value).await {
                    Ok(delivery) => {
                        if let Err(e) = statuses.confirm(vec![delivery]).await {
                            tracing::warn!(error = %e, "a status was not stored");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "a status was not stored"),
                }
            }
            let _ = statuses.close().await;
        });
        let worker = Self {
            inner: Arc::new(Inner {
                config,
                offsets,
                configs,
                statuses: Mutex::new(Some(tx)),
                connectors: tokio::sync::Mutex::new(BTreeMap::new()),
                status_writer: Mutex::new(Some(writer)),
            }),
        };
        let mut connectors = worker.inner.connectors.lock().await;
        for (name, config) in stored_configs {
            let target = targets.get(&name).copied().unwrap_or(TargetState::Started);
            let mut entry = worker.entry(config, target);
            // A task that had failed is shown failed until its restart.
            let failed: Vec<Option<Status>> = (0..entry.spec.as_ref().map_or(0, |s| s.tasks()))
                .map(|i| {
                    stored_statuses
                        .get(&task_key(&name, i))
                        .filter(|s| s.state == State::Failed)
                        .cloned()
                })
                .collect();
            worker.start_tasks(&mut entry, &failed);
            tracing::info!(connector = %name, state = ?target, "restored a connector");
            connectors.insert(name, entry);
        }
        drop(connectors);
        Ok(worker)
    }

    /// The worker's id (`host:port`).
    pub fn id(&self) -> &str {
        &self.inner.config.worker_id
    }

    /// The cluster's `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.inner.config.bootstrap
    }

    fn entry(&self, config: Config, target: TargetState) -> Entry {
        let (spec, status) = match Spec::parse(&config) {
            Ok(spec) => (Some(Arc::new(spec)), Status::new(target.shown(), self.id())),
            Err(e) => {
                let mut status = Status::new(State::Failed, self.id());
                status.trace = e.to_string();
                (None, status)
            }
        };
        Entry {
            config,
            spec,
            target,
            status,
            tasks: Vec::new(),
        }
    }

    fn publish(&self, key: String, status: Option<Status>) {
        if let Some(tx) = lock(&self.inner.statuses).as_ref() {
            let _ = tx.send((key, status));
        }
    }

    /// Starts (or, paused, just lists) the tasks of a connector with none.
    fn start_tasks(&self, entry: &mut Entry, failed: &[Option<Status>]) {
        let Some(spec) = entry.spec.clone() else {
            self.publish(
                format!(
                    "status-connector-{}",
                    entry.config.get("name").cloned().unwrap_or_default()
                ),
                Some(entry.status.clone()),
            );
            return;
        };
        entry.status = Status::new(entry.target.shown(), self.id());
        self.publish(format!("status-connector-{}", spec.name), Some(entry.status.clone()));
        entry.tasks.clear();
        if entry.target == TargetState::Stopped {
            return;
        }
        for task in 0..spec.tasks() {
            let initial = match entry.target {
                TargetState::Paused => Status::new(State::Paused, self.id()),
                _ => failed
                    .get(task)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| Status::new(State::Unassigned, self.id())),
            };
            let status = Arc::new(Mutex::new(initial.clone()));
            self.publish(task_key(&spec.name, task), Some(initial.clone()));
            let run = (entry.target == TargetState::Started).then(|| {
                let stop = CancellationToken::new();
                let ctx = TaskContext {
                    spec: Arc::clone(&spec),
                    task,
                    bootstrap: self.inner.config.bootstrap.clone(),
                    offsets: Arc::clone(&self.inner.offsets),
                    stop: stop.clone(),
                };
                let delay_first = initial.state == State::Failed;
                let handle = tokio::spawn(supervise(self.clone(), ctx, Arc::clone(&status), delay_first));
                (stop, handle)
            });
            entry.tasks.push(TaskSlot { status, run });
        }
    }

    /// Stops a connector's tasks and waits for them to finish their work.
    async fn stop_tasks(&self, entry: &mut Entry) {
        let mut handles = Vec::new();
        for slot in &mut entry.tasks {
            if let Some((stop, handle)) = slot.run.take() {
                stop.cancel();
                handles.push(handle);
            }
        }
        for handle in handles {
            let _ = handle.await;
        }
    }

    fn set_status(&self, name: &str, task: usize, slot: &Mutex<Status>, state: State, trace: String) {
        let status = Status {
            state,
            trace,
            worker_id: self.id().to_owned(),
        };
        *lock(slot) = status.clone();
        self.publish(task_key(name, task), Some(status));
    }

    async fn store_config(
        &self,
        name: &str,
        config: Option<&Config>,
        target: Option<TargetState>,
    ) -> Result<(), ConnectError> {
        let store = &self.inner.configs;
        let config = config.map(|c| json!({ "properties": c }).to_string().into_bytes());
        let target = target.map(|t| json!({ "state": t }).to_string().into_bytes());
        let deliveries = vec![
            store.put(format!("connector-{name}").into_bytes(), config).await?,
            store.put(format!("target-state-{name}").into_bytes(), target).await?,
        ];
        store.confirm(deliveries).await
    }

    /// The connectors' names.
    pub async fn connectors(&self) -> Vec<String> {
        self.inner.connectors.lock().await.keys().cloned().collect()
    }

    /// Creates and starts a connector (`initial` is its target state).
    pub async fn create(
        &self,
        name: &str,
        mut config: Config,
        initial: TargetState,
    ) -> Result<ConnectorInfo, WorkerError> {
        check_name(name, &mut config)?;
        let mut connectors = self.inner.connectors.lock().await;
        if connectors.contains_key(name) {
            return Err(WorkerError::Exists(name.to_owned()));
        }
        Spec::parse(&config)
            .map_err(|e| WorkerError::BadRequest(format!("Connector configuration is invalid: {e}")))?;
        self.store_config(name, Some(&config), Some(initial)).await?;
        let mut entry = self.entry(config, initial);
        self.start_tasks(&mut entry, &[]);
        let info = info_of(name, &entry);
        connectors.insert(name.to_owned(), entry);
        tracing::info!(connector = name, "created a connector");
        Ok(info)
    }

    /// Creates the connector or replaces its config (restarting its tasks); `true` when created.
    pub async fn put_config(&self, name: &str, mut config: Config) -> Result<(bool, ConnectorInfo), WorkerError> {
        check_name(name, &mut config)?;
        Spec::parse(&config)
            .map_err(|e| WorkerError::BadRequest(format!("Connector configuration is invalid: {e}")))?;
        let mut connectors = self.inner.connectors.lock().await;
        let created = !connectors.contains_key(name);
        let target = connectors.get(name).map_or(TargetState::Started, |e| e.target);
        self.store_config(name, Some(&config), Some(target)).await?;
        if let Some(mut old) = connectors.remove(name) {
            self.stop_tasks(&mut old).await;
        }
        let mut entry = self.entry(config, target);
        self.start_tasks(&mut entry, &[]);
        let info = info_of(name, &entry);
        connectors.insert(name.to_owned(), entry);
        Ok((created, info))
    }

    /// Changes some keys of a connector's config (`null` removes one), as `PATCH .../config`.
    pub async fn patch_config(
        &self,
        name: &str,
        patch: serde_json::Map<String, Value>,
    ) -> Result<ConnectorInfo, WorkerError> {
        let mut config = self.config(name).await?;
        for (key, value) in patch {
            match value {
                Value::Null => {
                    config.remove(&key);
                }
                Value::String(s) => {
                    config.insert(key, s);
                }
                other => {
                    config.insert(key, other.to_string());
                }
            }
        }
        self.put_config(name, config).await.map(|(_, info)| info)
    }

    /// A connector's config.
    pub async fn config(&self, name: &str) -> Result<Config, WorkerError> {
        let connectors = self.inner.connectors.lock().await;
        connectors
            .get(name)
            .map(|e| e.config.clone())
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))
    }

    /// A connector's config and tasks.
    pub async fn info(&self, name: &str) -> Result<ConnectorInfo, WorkerError> {
        let connectors = self.inner.connectors.lock().await;
        connectors
            .get(name)
            .map(|e| info_of(name, e))
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))
    }

    /// A connector's tasks and their configs.
    pub async fn tasks(&self, name: &str) -> Result<Vec<(TaskId, Config)>, WorkerError> {
        let connectors = self.inner.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        let configs = entry.spec.as_ref().map(|s| s.task_configs.clone()).unwrap_or_default();
        Ok(configs
            .into_iter()
            .take(entry.tasks.len())
            .enumerate()
            .map(|(task, config)| {
                (
                    TaskId {
                        connector: name.to_owned(),
                        task,
                    },
                    config,
                )
            })
            .collect())
    }

    /// A connector's and its tasks' states.
    pub async fn status(&self, name: &str) -> Result<ConnectorState, WorkerError> {
        let connectors = self.inner.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        Ok(status_of(name, entry))
    }

    /// One task's state.
    pub async fn task_status(&self, name: &str, task: usize) -> Result<TaskState, WorkerError> {
        let connectors = self.inner.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        let slot = entry.tasks.get(task).ok_or_else(|| WorkerError::TaskNotFound {
            connector: name.to_owned(),
            task,
        })?;
        Ok(TaskState {
            id: task,
            status: lock(&slot.status).clone(),
        })
    }

    /// Sets a connector's target state (pause, resume, stop), stopping or starting its tasks.
    pub async fn set_target(&self, name: &str, target: TargetState) -> Result<(), WorkerError> {
        let mut connectors = self.inner.connectors.lock().await;
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        if entry.target == target {
            return Ok(());
        }
        self.store_config(name, Some(&entry.config), Some(target)).await?;
        self.stop_tasks(entry).await;
        entry.target = target;
        self.start_tasks(entry, &[]);
        tracing::info!(connector = name, state = ?target, "connector target state changed");
        Ok(())
    }

    /// Restarts the connector and, with `include_tasks`, its tasks (with `only_failed`, only
    /// failed ones). Returns the status after.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<ConnectorState, WorkerError> {
        let mut connectors = self.inner.connectors.lock().await;
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        let connector_failed = entry.status.state == State::Failed;
        if !only_failed || connector_failed {
            // The connector itself holds no running work here: restarting it re-reads its config.
            let config = entry.config.clone();
            let fresh = self.entry(config, entry.target);
            entry.spec = fresh.spec;
            entry.status = fresh.status;
        }
        if include_tasks && entry.target == TargetState::Started {
            let restart: Vec<usize> = (0..entry.tasks.len())
                .filter(|i| !only_failed || lock(&entry.tasks[*i].status).state == State::Failed)
                .collect();
            for task in restart {
                self.restart_slot(name, entry, task).await;
            }
        }
        Ok(status_of(name, entry))
    }

    /// Restarts one task.
    pub async fn restart_task(&self, name: &str, task: usize) -> Result<(), WorkerError> {
        let mut connectors = self.inner.connectors.lock().await;
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        if task >= entry.tasks.len() {
            return Err(WorkerError::TaskNotFound {
                connector: name.to_owned(),
                task,
            });
        }
        if entry.target == TargetState::Started {
            self.restart_slot(name, entry, task).await;
        }
        Ok(())
    }

    async fn restart_slot(&self, name: &str, entry: &mut Entry, task: usize) {
        let Some(spec) = entry.spec.clone() else { return };
        let slot = &mut entry.tasks[task];
        if let Some((stop, handle)) = slot.run.take() {
            stop.cancel();
            let _ = handle.await;
        }
        self.set_status(name, task, &slot.status, State::Restarting, String::new());
        let stop = CancellationToken::new();
        let ctx = TaskContext {
            spec,
            task,
            bootstrap: self.inner.config.bootstrap.clone(),
            offsets: Arc::clone(&self.inner.offsets),
            stop: stop.clone(),
        };
        let handle = tokio::spawn(supervise(self.clone(), ctx, Arc::clone(&slot.status), false));
        slot.run = Some((stop, handle));
    }

    /// Deletes a connector: stops its tasks and forgets its config and status.
    pub async fn delete(&self, name: &str) -> Result<(), WorkerError> {
        let mut connectors = self.inner.connectors.lock().await;
        let mut entry = connectors
            .remove(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        self.stop_tasks(&mut entry).await;
        self.store_config(name, None, None).await?;
        self.publish(format!("status-connector-{name}"), None);
        for task in 0..entry.tasks.len() {
            self.publish(task_key(name, task), None);
        }
        tracing::info!(connector = name, "deleted a connector");
        Ok(())
    }

    /// The connector's offsets as Kafka Connect shows them: a source's stored source offsets, a
    /// sink's consumer group offsets (`{"kafka_topic","kafka_partition"}` → `{"kafka_offset"}`).
    pub async fn offsets(&self, name: &str) -> Result<Vec<Value>, WorkerError> {
        let kind = self.kind(name).await?;
        let mut out = Vec::new();
        match kind {
            PluginType::Source => {
                let stored: BTreeMap<String, Value> = self.inner.offsets.load(name).await?.into_iter().collect();
                for (partition, offset) in stored {
                    let partition: Value = serde_json::from_str(&partition).unwrap_or(Value::Null);
                    out.push(json!({ "partition": partition, "offset": offset }));
                }
            }
            PluginType::Sink => {
                let admin = self.admin().await?;
                let offsets = admin
                    .list_group_offsets(&format!("connect-{name}"))
                    .await
                    .map_err(client)?;
                for (tp, offset) in offsets {
                    out.push(json!({
                        "partition": { "kafka_topic": tp.topic, "kafka_partition": tp.partition },
                        "offset": { "kafka_offset": offset.offset },
                    }));
                }
            }
        }
        Ok(out)
    }

    /// The cluster's id, if it can be asked.
    pub async fn cluster_id(&self) -> Option<String> {
        let admin = self.admin().await.ok()?;
        admin.describe_cluster().await.ok().map(|c| c.cluster_id)
    }

    async fn admin(&self) -> Result<Admin, ConnectError> {
        Admin::from_properties([("bootstrap.servers", self.bootstrap())])
            .await
            .map_err(client)
    }

    /// The plugin type of a stopped connector (offsets may change only then).
    async fn stopped_kind(&self, name: &str) -> Result<PluginType, WorkerError> {
        let connectors = self.inner.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        if entry.target != TargetState::Stopped {
            return Err(WorkerError::NotStopped(name.to_owned()));
        }
        entry
            .spec
            .as_ref()
            .map(|s| s.plugin.kind())
            .ok_or_else(|| WorkerError::BadRequest(format!("Connector {name} has an invalid configuration")))
    }

    async fn kind(&self, name: &str) -> Result<PluginType, WorkerError> {
        let connectors = self.inner.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| WorkerError::NotFound(name.to_owned()))?;
        entry
            .spec
            .as_ref()
            .map(|s| s.plugin.kind())
            .ok_or_else(|| WorkerError::BadRequest(format!("Connector {name} has an invalid configuration")))
    }

    /// Changes a stopped connector's offsets (`{"partition": .., "offset": .. | null}` each).
    pub async fn alter_offsets(&self, name: &str, offsets: &[Value]) -> Result<(), WorkerError> {
        let kind = self.stopped_kind(name).await?;
        let bad = |what: &str| WorkerError::BadRequest(format!("Invalid offsets: {what}"));
        match kind {
            PluginType::Source => {
                let mut changes = Vec::new();
                for entry in offsets {
                    let partition = entry
                        .get("partition")
                        .filter(|p| p.is_object())
                        .ok_or_else(|| bad("each needs a partition object"))?;
                    let offset = entry.get("offset").filter(|o| !o.is_null()).cloned();
                    changes.push((partition.clone(), offset));
                }
                self.inner.offsets.save(name, &changes).await?;
            }
            PluginType::Sink => {
                let admin = self.admin().await?;
                let group = format!("connect-{name}");
                let mut set = BTreeMap::new();
                let mut reset = Vec::new();
                for entry in offsets {
                    let partition = entry.get("partition").ok_or_else(|| bad("each needs a partition"))?;
                    let topic = partition
                        .get("kafka_topic")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("kafka_topic missing"))?;
                    let number = partition
                        .get("kafka_partition")
                        .and_then(Value::as_i64)
                        .and_then(|p| i32::try_from(p).ok())
                        .ok_or_else(|| bad("kafka_partition missing"))?;
                    let tp = TopicPartition::new(topic, number);
                    match entry.get("offset").filter(|o| !o.is_null()) {
                        Some(offset) => {
                            let offset = offset
                                .get("kafka_offset")
                                .and_then(Value::as_i64)
                                .ok_or_else(|| bad("kafka_offset missing"))?;
                            set.insert(
                                tp,
                                OffsetAndMetadata {
                                    offset,
                                    leader_epoch: None,
                                    metadata: String::new(),
                                },
                            );
                        }
                        None => reset.push(tp),
                    }
                }
                if !set.is_empty() {
                    admin.alter_group_offsets(&group, &set).await.map_err(client)?;
                }
                if !reset.is_empty() {
                    admin.delete_group_offsets(&group, &reset).await.map_err(client)?;
                }
            }
        }
        Ok(())
    }

    /// Forgets a stopped connector's offsets.
    pub async fn reset_offsets(&self, name: &str) -> Result<(), WorkerError> {
        match self.stopped_kind(name).await? {
            PluginType::Source => {
                let stored = self.inner.offsets.load(name).await?;
                let changes: Vec<(Value, Option<Value>)> = stored
                    .keys()
                    .map(|p| (serde_json::from_str(p).unwrap_or(Value::Null), None))
                    .collect();
                self.inner.offsets.save(name, &changes).await?;
            }
            PluginType::Sink => {
                let admin = self.admin().await?;
                for (_, outcome) in admin
                    .delete_groups(&[format!("connect-{name}")])
                    .await
                    .map_err(client)?
                {
                    match outcome {
                        Ok(()) => {}
                        Err(e) if e.kafka() == Some(rill_client::ResponseError::GroupIdNotFound) => {}
                        Err(e) => return Err(WorkerError::Connect(client(e))),
                    }
                }
            }
        }
        Ok(())
    }

    /// Stops every task (each finishes its work: flushes, stores offsets) and closes the worker.
    pub async fn shutdown(&self) {
        let mut connectors = self.inner.connectors.lock().await;
        for entry in connectors.values_mut() {
            self.stop_tasks(entry).await;
        }
        drop(connectors);
        // The status writer ends, having stored every status, once its sender is gone.
        lock(&self.inner.statuses).take();
        let writer = lock(&self.inner.status_writer).take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        let _ = self.inner.configs.close().await;
        let _ = self.inner.offsets.close().await;
    }
}

fn check_name(name: &str, config: &mut Config) -> Result<(), WorkerError> {
    if name.trim().is_empty() {
        return Err(WorkerError::BadRequest("Connector name is empty".to_owned()));
    }
    match config.get("name") {
        Some(n) if n != name => Err(WorkerError::BadRequest(format!(
            "Connector name configuration ({n}) doesn't match connector name in the URL ({name})"
        ))),
        Some(_) => Ok(()),
        None => {
            config.insert("name".to_owned(), name.to_owned());
            Ok(())
        }
    }
}

fn info_of(name: &str, entry: &Entry) -> ConnectorInfo {
    ConnectorInfo {
        name: name.to_owned(),
        config: entry.config.clone(),
        tasks: (0..entry.tasks.len())
            .map(|task| TaskId {
                connector: name.to_owned(),
                task,
            })
            .collect(),
        kind: entry.spec.as_ref().map(|s| s.plugin.kind()),
    }
}

fn status_of(name: &str, entry: &Entry) -> ConnectorState {
    ConnectorState {
        name: name.to_owned(),
        connector: entry.status.clone(),
        tasks: entry
            .tasks
            .iter()
            .enumerate()
            .map(|(id, slot)| TaskState {
                id,
                status: lock(&slot.status).clone(),
            })
            .collect(),
        kind: entry.spec.as_ref().map(|s| s.plugin.kind()),
    }
}

/// Runs a task until it is stopped, restarting it after each failure with a backoff that
/// doubles up to the connector's maximum (and starts over after a run that lasted that long).
async fn supervise(worker: Worker, ctx: TaskContext, status: Arc<Mutex<Status>>, delay_first: bool) {
    let name = ctx.spec.name.clone();
    let mut backoff = ctx.spec.backoff;
    let mut wait_first = delay_first;
    loop {
        if wait_first {
            tokio::select! {
                biased;
                () = ctx.stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(ctx.spec.backoff_max);
            worker.set_status(&name, ctx.task, &status, State::Restarting, String::new());
        }
        wait_first = true;
        worker.set_status(&name, ctx.task, &status, State::Running, String::new());
        let started = Instant::now();
        let outcome = task::run(&ctx).await;
        if ctx.stop.is_cancelled() {
            if let Err(e) = outcome {
                tracing::warn!(connector = %name, task = ctx.task, error = %e, "task failed while stopping");
            }
            return;
        }
        let trace = match outcome {
            Ok(()) => "the task ended by itself".to_owned(),
            Err(e) => error_chain(&e),
        };
        tracing::error!(connector = %name, task = ctx.task, error = %trace, retry_in = ?backoff, "task failed");
        worker.set_status(&name, ctx.task, &status, State::Failed, trace);
        if started.elapsed() >= ctx.spec.backoff_max {
            backoff = ctx.spec.backoff;
        }
    }
}

/// An error with its sources, one per line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str("\nCaused by: ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

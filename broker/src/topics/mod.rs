//! The topics this broker hosts: creation, deletion, partition growth, configuration, and their
//! persistence in the data directory.
//!
//! ```text
//! <log.dirs>/meta.properties                     cluster.id, node.id (Kafka's format)
//! <log.dirs>/__rill/topics/<topic>.json          topic id, partition count, config overrides
//! <log.dirs>/<topic>-<partition>/                the partition's log
//! <log.dirs>/<topic>-<partition>/cleaner-offset-checkpoint   the log cleaner's progress (compacted topics)
//! <log.dirs>/recovery-point-offset-checkpoint    fsynced offset per partition
//! <log.dirs>/log-start-offset-checkpoint         log start offset per partition
//! <log.dirs>/.rill_cleanshutdown                 present only after a clean shutdown
//! ```
//!
//! A topic's record is written before its partition directories are created and deleted before
//! they are removed, so a directory without a record is a leftover and is deleted at start.

mod error;
pub(crate) mod name;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use error::TopicError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use uuid::Uuid;

pub(crate) use self::store::TopicRecord;
use crate::clock::now_ms;
use crate::config::{BrokerConfig, TopicConfig};
use crate::log::file_names::{DELETE_DIR_SUFFIX, partition_dir_name};
use crate::log::{LoadParams, PartitionLog};
use crate::partition::Partition;

/// A topic and its partitions.
#[derive(Debug)]
pub(crate) struct Topic {
    name: Arc<str>,
    id: Uuid,
    partitions: RwLock<Arc<Vec<Arc<Partition>>>>,
    overrides: RwLock<BTreeMap<String, String>>,
    config: RwLock<Arc<TopicConfig>>,
}

impl Topic {
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    pub(crate) fn id(&self) -> Uuid {
        self.id
    }

    pub(crate) fn partitions(&self) -> Arc<Vec<Arc<Partition>>> {
        Arc::clone(&self.partitions.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions().get(i).cloned())
    }

    pub(crate) fn config(&self) -> Arc<TopicConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The topic-level overrides (keys set on this topic).
    pub(crate) fn overrides(&self) -> BTreeMap<String, String> {
        self.overrides.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn is_internal(&self) -> bool {
        name::is_internal(&self.name)
    }

    fn record(&self) -> TopicRecord {
        TopicRecord {
            id: self.id,
            partitions: self.partitions().len() as i32,
            configs: self.overrides(),
        }
    }
}

/// A topic to create.
#[derive(Debug, Clone)]
pub(crate) struct NewTopic {
    pub(crate) name: String,
    /// -1 for `num.partitions`.
    pub(crate) partitions: i32,
    /// -1 for `default.replication.factor`.
    pub(crate) replication_factor: i16,
    /// Manual assignment: partition → broker ids.
    pub(crate) assignments: Vec<(i32, Vec<i32>)>,
    pub(crate) configs: BTreeMap<String, String>,
}

/// The outcome of a (possibly validate-only) creation.
#[derive(Debug)]
pub(crate) struct Created {
    /// The new topic; `None` when only validating.
    pub(crate) topic: Option<Arc<Topic>>,
    /// Its partition count.
    pub(crate) partitions: i32,
    /// Its effective configuration.
    pub(crate) config: Arc<TopicConfig>,
}

/// All topics on this broker.
#[derive(Debug)]
pub(crate) struct Topics {
    data_dir: PathBuf,
    broker: Arc<BrokerConfig>,
    map: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises creation, deletion and alteration.
    admin: tokio::sync::Mutex<()>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// Largest partition count a topic may have.
const MAX_PARTITIONS: i32 = 100_000;

impl Topics {
    /// Opens every topic in the data directory. `clean` says whether the last shutdown was.
    pub(crate) fn load(
        broker: Arc<BrokerConfig>,
        clean: bool,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Result<Self, TopicError> {
        let data_dir = broker.data_dir();
        let records = store::read_all(&data_dir)?;
        let checkpoints = store::Checkpoints::read(&data_dir)?;
        let mut map = HashMap::new();
        let mut recovered = 0;
        for (name, record) in records {
            let config = match TopicConfig::resolve(&broker, &record.configs) {
                Ok(config) => Arc::new(config),
                Err(e) => {
                    warn!(topic = %name, cause = %e, "stored topic config is invalid; using broker defaults");
                    Arc::new(TopicConfig::from_broker(&broker))
                }
            };
            let topic_name: Arc<str> = Arc::from(name.as_str());
            let mut partitions = Vec::new();
            for index in 0..record.partitions {
                let dir = data_dir.join(partition_dir_name(&name, index));
                let key = (name.clone(), index);
                let log = if dir.exists() {
                    let params = LoadParams {
                        clean,
                        recovery_point: checkpoints.recovery_points.get(&key).copied(),
                        log_start_offset: checkpoints.log_starts.get(&key).copied(),
                        max_decompressed: broker.max_decompressed_batch_bytes as usize,
                        now_ms: now_ms(),
                    };
                    let (log, report) = PartitionLog::load(dir, Arc::clone(&config), params)?;
                    recovered += report.recovered_segments;
                    log
                } else {
                    PartitionLog::create(
                        dir,
                        Arc::clone(&config),
                        broker.max_decompressed_batch_bytes as usize,
                        now_ms(),
                    )?
                };
                partitions.push(Partition::new(Arc::clone(&topic_name), index, log));
            }
            let topic = Arc::new(Topic {
                name: topic_name,
                id: record.id,
                partitions: RwLock::new(Arc::new(partitions)),
                overrides: RwLock::new(record.configs),
                config: RwLock::new(config),
            });
            map.insert(name, topic);
        }
        remove_leftover_dirs(&data_dir, &map)?;
        info!(
            topics = map.len(),
            clean,
            recovered_segments = recovered,
            "loaded topics"
        );
        let topics = Self {
            data_dir,
            broker,
            map: RwLock::new(map),
            admin: tokio::sync::Mutex::new(()),
            shutdown,
            tasks,
        };
        for topic in topics.list() {
            for partition in topic.partitions().iter() {
                topics.start_flusher(partition);
            }
        }
        Ok(topics)
    }

    fn start_flusher(&self, partition: &Arc<Partition>) {
        self.tasks
            .spawn(Arc::clone(partition).run_flusher(self.shutdown.clone()));
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// All topics, sorted by name.
    pub(crate) fn list(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    /// Every partition of every topic.
    pub(crate) fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.list()
            .iter()
            .flat_map(|t| t.partitions().iter().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Checks a creation request without creating anything.
    fn check_new(&self, spec: &NewTopic) -> Result<(i32, Arc<TopicConfig>), TopicError> {
        name::validate(&spec.name)?;
        if self.get(&spec.name).is_some() {
            return Err(TopicError::AlreadyExists {
                topic: spec.name.clone(),
            });
        }
        let node_id = self.broker.node_id;
        let partitions = if !spec.assignments.is_empty() {
            if spec.partitions != -1 || spec.replication_factor != -1 {
                return Err(TopicError::InvalidReplicaAssignment { node_id });
            }
            let mut indexes: Vec<i32> = spec.assignments.iter().map(|(p, _)| *p).collect();
            indexes.sort_unstable();
            let contiguous = indexes.iter().enumerate().all(|(i, p)| *p == i as i32);
            let only_us = spec
                .assignments
                .iter()
                .all(|(_, brokers)| brokers.as_slice() == [node_id]);
            if !contiguous || !only_us {
                return Err(TopicError::InvalidReplicaAssignment { node_id });
            }
            indexes.len() as i32
        } else {
            let factor = if spec.replication_factor == -1 {
                self.broker.default_replication_factor
            } else {
                spec.replication_factor
            };
            if factor != 1 {
                return Err(TopicError::InvalidReplicationFactor { factor });
            }
            if spec.partitions == -1 {
                self.broker.num_partitions
            } else {
                spec.partitions
            }
        };
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(TopicError::InvalidPartitions {
                topic: spec.name.clone(),
                count: partitions,
                reason: format!("must be between 1 and {MAX_PARTITIONS}"),
            });
        }
        let config = Arc::new(TopicConfig::resolve(&self.broker, &spec.configs)?);
        Ok((partitions, config))
    }

    /// Creates a topic, or only validates the request.
    pub(crate) async fn create(&self, spec: NewTopic, validate_only: bool) -> Result<Created, TopicError> {
        let _admin = self.admin.lock().await;
        let (partitions, config) = self.check_new(&spec)?;
        if validate_only {
            return Ok(Created {
                topic: None,
                partitions,
                config,
            });
        }
        let name = spec.name.clone();
        let record = TopicRecord {
            id: Uuid::new_v4(),
            partitions,
            configs: spec.configs,
        };
        let logs = self
            .write_and_create_logs(&name, record.clone(), 0..partitions, Arc::clone(&config))
            .await?;
        let topic_name: Arc<str> = Arc::from(name.as_str());
        let members: Vec<_> = logs
            .into_iter()
            .enumerate()
            .map(|(i, log)| Partition::new(Arc::clone(&topic_name), i as i32, log))
            .collect();
        for partition in &members {
            self.start_flusher(partition);
        }
        let topic = Arc::new(Topic {
            name: topic_name,
            id: record.id,
            partitions: RwLock::new(Arc::new(members)),
            overrides: RwLock::new(record.configs),
            config: RwLock::new(Arc::clone(&config)),
        });
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), Arc::clone(&topic));
        info!(topic = %name, partitions, "created topic");
        Ok(Created {
            topic: Some(topic),
            partitions,
            config,
        })
    }

    /// Deletes a topic: it disappears at once, its files in the background.
    pub(crate) async fn delete(&self, name: &str) -> Result<Uuid, TopicError> {
        if !self.broker.delete_topic_enable {
            return Err(TopicError::DeletionDisabled);
        }
        let _admin = self.admin.lock().await;
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown { topic: name.to_owned() })?;
        let data_dir = self.data_dir.clone();
        let owned = name.to_owned();
        tokio::task::spawn_blocking(move || store::remove(&data_dir, &owned))
            .await
            .map_err(join_error)??;
        self.map.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        let partitions = topic.partitions();
        for partition in partitions.iter() {
            partition.mark_deleted();
        }
        let data_dir = self.data_dir.clone();
        let topic_name = name.to_owned();
        self.tasks.spawn_blocking(move || {
            for partition in partitions.iter() {
                partition.lock().delete_all().ok();
                let dir = data_dir.join(partition_dir_name(&topic_name, partition.index()));
                let doomed = data_dir.join(format!(
                    "{}.{}{DELETE_DIR_SUFFIX}",
                    partition_dir_name(&topic_name, partition.index()),
                    Uuid::new_v4().simple()
                ));
                if std::fs::rename(&dir, &doomed).is_ok() {
                    if let Err(e) = std::fs::remove_dir_all(&doomed) {
                        warn!(dir = %doomed.display(), cause = %e, "could not remove deleted partition directory");
                    }
                }
            }
        });
        info!(topic = %name, "deleted topic");
        Ok(topic.id)
    }

    /// Grows a topic to `total` partitions.
    pub(crate) async fn add_partitions(&self, name: &str, total: i32, validate_only: bool) -> Result<(), TopicError> {
        let _admin = self.admin.lock().await;
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown { topic: name.to_owned() })?;
        let current = topic.partitions().len() as i32;
        if total <= current || total > MAX_PARTITIONS {
            return Err(TopicError::InvalidPartitions {
                topic: name.to_owned(),
                count: total,
                reason: if total <= current {
                    format!("topic currently has {current} partitions, the new count must be larger")
                } else {
                    format!("must be at most {MAX_PARTITIONS}")
                },
            });
        }
        if validate_only {
            return Ok(());
        }
        let mut record = topic.record();
        record.partitions = total;
        let logs = self
            .write_and_create_logs(name, record, current..total, topic.config())
            .await?;
        let mut partitions: Vec<_> = topic.partitions().iter().cloned().collect();
        for (i, log) in logs.into_iter().enumerate() {
            let partition = Partition::new(Arc::clone(&topic.name), current + i as i32, log);
            self.start_flusher(&partition);
            partitions.push(partition);
        }
        *topic.partitions.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(partitions);
        info!(topic = %name, from = current, to = total, "added partitions");
        Ok(())
    }

    /// Replaces a topic's configuration overrides (after validating them).
    pub(crate) async fn set_overrides(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _admin = self.admin.lock().await;
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown { topic: name.to_owned() })?;
        let config = Arc::new(TopicConfig::resolve(&self.broker, &overrides)?);
        if validate_only {
            return Ok(());
        }
        let mut record = topic.record();
        record.configs = overrides.clone();
        let data_dir = self.data_dir.clone();
        let owned = name.to_owned();
        let applied = Arc::clone(&topic);
        tokio::task::spawn_blocking(move || -> Result<(), TopicError> {
            store::write(&data_dir, &owned, &record)?;
            *applied.overrides.write().unwrap_or_else(|p| p.into_inner()) = overrides;
            *applied.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&config);
            for partition in applied.partitions().iter() {
                partition.set_config(Arc::clone(&config));
            }
            Ok(())
        })
        .await
        .map_err(join_error)??;
        info!(topic = %name, "altered topic config");
        Ok(())
    }

    /// Persists a topic's record, then creates the logs of partitions `indexes` (on the blocking
    /// pool): a crash in between leaves directories that the next start completes.
    async fn write_and_create_logs(
        &self,
        name: &str,
        record: TopicRecord,
        indexes: std::ops::Range<i32>,
        config: Arc<TopicConfig>,
    ) -> Result<Vec<PartitionLog>, TopicError> {
        let data_dir = self.data_dir.clone();
        let name = name.to_owned();
        let max_decompressed = self.broker.max_decompressed_batch_bytes as usize;
        tokio::task::spawn_blocking(move || -> Result<Vec<PartitionLog>, TopicError> {
            store::write(&data_dir, &name, &record)?;
            indexes
                .map(|index| {
                    let dir = data_dir.join(partition_dir_name(&name, index));
                    Ok(PartitionLog::create(
                        dir,
                        Arc::clone(&config),
                        max_decompressed,
                        now_ms(),
                    )?)
                })
                .collect()
        })
        .await
        .map_err(join_error)?
    }

    /// Writes the recovery-point and log-start checkpoints (blocking).
    pub(crate) fn write_checkpoints(&self) -> Result<(), TopicError> {
        let mut checkpoints = store::Checkpoints::default();
        for partition in self.all_partitions() {
            if partition.is_deleted() {
                continue;
            }
            let key = (partition.topic().to_string(), partition.index());
            let log = partition.lock();
            checkpoints.recovery_points.insert(key.clone(), log.flushed_offset());
            checkpoints.log_starts.insert(key, log.log_start_offset());
        }
        checkpoints.write(&self.data_dir)?;
        Ok(())
    }

    /// Flushes and closes every log and writes the checkpoints: what a clean shutdown leaves.
    pub(crate) fn close_all(&self) -> Result<(), TopicError> {
        let now = now_ms();
        for partition in self.all_partitions() {
            if !partition.is_deleted() {
                partition.lock().close(now)?;
            }
        }
        self.write_checkpoints()
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

fn join_error(e: tokio::task::JoinError) -> TopicError {
    TopicError::Log(crate::log::LogError::Io {
        op: "running blocking task for",
        path: PathBuf::from("topic"),
        source: std::io::Error::other(e),
    })
}

/// Deletes partition directories that belong to no topic and directories left scheduled for
/// deletion by a previous run.
fn remove_leftover_dirs(data_dir: &Path, topics: &HashMap<String, Arc<Topic>>) -> Result<(), TopicError> {
    for entry in std::fs::read_dir(data_dir).map_err(crate::log::io_err("listing", data_dir))? {
        let entry = entry.map_err(crate::log::io_err("listing", data_dir))?;
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let leftover = if name.ends_with(DELETE_DIR_SUFFIX) {
            true
        } else if let Some((topic, partition)) = crate::log::file_names::parse_partition_dir(&name) {
            topics
                .get(topic)
                .is_none_or(|t| partition as usize >= t.partitions().len())
        } else {
            false
        };
        if leftover {
            warn!(dir = %entry.path().display(), "removing partition directory that belongs to no topic");
            std::fs::remove_dir_all(entry.path()).map_err(crate::log::io_err("removing", &entry.path()))?;
        }
    }
    Ok(())
}

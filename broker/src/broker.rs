//! The broker's shared state: configuration, identity, topics, producer ids, and the tasks it
//! owns. One `Arc<Broker>` is handed to every connection.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::group::coordinator::{self, CoordinatorConfig};
use crate::group::group::GroupTimings;
use crate::group::{Coordinator, CoordinatorHandle};
use crate::log::checkpoint::{sync_dir, write_atomic};
use crate::log::file_names::CLEAN_SHUTDOWN_FILE;
use crate::log::io_err;
use crate::producer_ids::ProducerIds;
use crate::server::BrokerError;
use crate::topics::Topics;

/// Address clients are told to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Advertised {
    pub(crate) host: String,
    pub(crate) port: i32,
}

/// Shared broker state.
#[derive(Debug)]
pub(crate) struct Broker {
    pub(crate) config: Arc<BrokerConfig>,
    pub(crate) cluster_id: String,
    pub(crate) advertised: Advertised,
    pub(crate) topics: Topics,
    pub(crate) producer_ids: ProducerIds,
    /// The group coordinator's handle, and its receiving end until the server starts it.
    pub(crate) groups: CoordinatorHandle,
    coordinator: std::sync::Mutex<Option<Coordinator>>,
    /// Cancelled when the broker shuts down; every task it owns watches it.
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
}

impl Broker {
    /// Opens the data directory (blocking): identity, topics and their logs, recovering them if
    /// the previous run did not shut down cleanly.
    pub(crate) fn open(
        config: BrokerConfig,
        advertised: Advertised,
        shutdown: CancellationToken,
    ) -> Result<Self, BrokerError> {
        let config = Arc::new(config);
        let data_dir = config.data_dir();
        std::fs::create_dir_all(&data_dir).map_err(io_err("creating data directory", &data_dir))?;
        let cluster_id = read_or_create_meta(&data_dir, config.node_id)?;
        let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        let tasks = TaskTracker::new();
        let topics = Topics::load(Arc::clone(&config), clean, shutdown.clone(), tasks.clone())?;
        if clean {
            // From here on a crash is unclean again.
            std::fs::remove_file(&marker).map_err(io_err("removing", &marker))?;
            sync_dir(&data_dir)?;
        }
        let producer_ids = ProducerIds::open(&data_dir.join("__rill").join("producer-ids"))?;
        let defaults = BrokerConfig::default();
        for key in BrokerConfig::KEYS {
            if let Some(value) = config
                .get(key.name)
                .filter(|v| defaults.get(key.name).as_ref() != Some(v))
            {
                info!(key = key.name, value, "configured");
            }
        }
        info!(cluster_id, node_id = config.node_id, data_dir = %data_dir.display(), clean, "opened data directory");
        let (groups, coordinator) = coordinator::channel();
        Ok(Self {
            config,
            cluster_id,
            advertised,
            topics,
            producer_ids,
            groups,
            coordinator: std::sync::Mutex::new(Some(coordinator)),
            shutdown,
            tasks,
        })
    }

    /// Starts the group coordinator (once).
    pub(crate) fn start_coordinator(self: &std::sync::Arc<Self>) {
        let Some(rx) = self.coordinator.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let c = &self.config;
        let config = CoordinatorConfig {
            timings: GroupTimings {
                initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms.max(0) as u64,
            },
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            max_group_size: c.group_max_size.max(1) as usize,
            offsets_topic: coordinator::OffsetsTopicConfig {
                partitions: c.offsets_topic_num_partitions,
                segment_bytes: c.offsets_topic_segment_bytes,
            },
            offsets_retention_ms: i64::from(c.offsets_retention_minutes) * 60_000,
            offsets_retention_check_ms: c.offsets_retention_check_interval_ms.max(1) as u64,
            offset_metadata_max_bytes: c.offset_metadata_max_bytes.max(0) as usize,
        };
        self.tasks
            .spawn(coordinator::run(std::sync::Arc::clone(self), config, rx));
    }

    pub(crate) fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// Flushes every log and leaves the clean-shutdown marker (blocking).
    pub(crate) fn close(&self) -> Result<(), BrokerError> {
        self.topics.close_all()?;
        let marker = self.topics.data_dir().join(CLEAN_SHUTDOWN_FILE);
        write_atomic(&marker, b"")?;
        info!("closed all logs cleanly");
        Ok(())
    }
}

/// Reads `meta.properties` (Kafka's format), creating it with a new cluster id on first start.
fn read_or_create_meta(data_dir: &Path, node_id: i32) -> Result<String, BrokerError> {
    let path = data_dir.join("meta.properties");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let get = |key: &str| {
                text.lines()
                    .filter_map(|l| l.split_once('='))
                    .find(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_owned())
            };
            let cluster_id = get("cluster.id").ok_or_else(|| BrokerError::Meta {
                path: path.clone(),
                reason: "no cluster.id".to_owned(),
            })?;
            if let Some(stored) = get("node.id") {
                if stored != node_id.to_string() {
                    return Err(BrokerError::Meta {
                        path,
                        reason: format!("data directory belongs to node.id {stored}, but node.id is {node_id}"),
                    });
                }
            }
            Ok(cluster_id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cluster_id = rill_client::kafka_uuid(&Uuid::new_v4());
            let text = format!("#Written by rill\nnode.id={node_id}\nversion=1\ncluster.id={cluster_id}\n");
            write_atomic(&path, text.as_bytes())?;
            Ok(cluster_id)
        }
        Err(e) => Err(io_err("reading", &path)(e).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_is_kafka_shaped_and_node_id_is_checked() {
        let dir = tempfile::tempdir().expect("dir");
        let id = read_or_create_meta(dir.path(), 1).expect("create");
        assert_eq!(id.len(), 22);
        assert_eq!(read_or_create_meta(dir.path(), 1).expect("read"), id);
        let err = read_or_create_meta(dir.path(), 2).expect_err("mismatch");
        assert!(err.to_string().contains("node.id"), "{err}");
    }
}

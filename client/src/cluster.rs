//! What a client knows of the cluster: brokers, partition leaders, and one shared connection per
//! broker, refreshed from Metadata when asked to or when it is older than `metadata.max.age.ms`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{FindCoordinatorRequest, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::config::CommonConfig;
use crate::error::ClientError;
use crate::net::BrokerConnection;

/// A partition's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader broker id, -1 if none.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
}

/// A topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub id: uuid::Uuid,
    /// Whether it is internal (`__consumer_offsets`).
    pub internal: bool,
    /// Partitions by index.
    pub partitions: Vec<PartitionInfo>,
}

/// A broker's identity and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if any.
    pub rack: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    brokers: HashMap<i32, BrokerInfo>,
    connections: HashMap<String, BrokerConnection>,
    topics: HashMap<String, (Arc<TopicInfo>, Instant)>,
    controller: Option<i32>,
    cluster_id: Option<String>,
    /// Coordinator address by group.
    coordinators: HashMap<String, String>,
}

/// The cluster as one client sees it. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Cluster {
    config: Arc<CommonConfig>,
    state: Arc<Mutex<State>>,
}

impl Cluster {
    /// Connects to the first reachable bootstrap server and learns the brokers.
    pub async fn connect(config: CommonConfig) -> Result<Self, ClientError> {
        let cluster = Self {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(State::default())),
        };
        cluster.refresh(Some(&[]), false).await?;
        Ok(cluster)
    }

    /// The configuration.
    pub fn config(&self) -> &CommonConfig {
        &self.config
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.socket_connection_setup_timeout_ms.max(1) as u64)
    }

    /// A connection to `addr`, reused while it is open.
    async fn connection_to(&self, addr: &str) -> Result<BrokerConnection, ClientError> {
        if let Some(connection) = self.state().connections.get(addr).filter(|c| !c.is_closed()).cloned() {
            return Ok(connection);
        }
        let connection = BrokerConnection::connect(addr, &self.config.client_id, self.timeout()).await?;
        self.state().connections.insert(addr.to_owned(), connection.clone());
        Ok(connection)
    }

    /// A connection to broker `id`.
    pub async fn broker(&self, id: i32) -> Result<BrokerConnection, ClientError> {
        let info = self.state().brokers.get(&id).cloned();
        let info = match info {
            Some(info) => info,
            None => {
                self.refresh(Some(&[]), false).await?;
                self.state()
                    .brokers
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| ClientError::NoBrokers {
                        servers: format!("broker {id} is not in the cluster metadata"),
                    })?
            }
        };
        self.connection_to(&format!("{}:{}", info.host, info.port)).await
    }

    /// A connection to any reachable broker (a known one, else a bootstrap server).
    pub async fn any(&self) -> Result<BrokerConnection, ClientError> {
        let known: Vec<String> = {
            let state = self.state();
            let open: Vec<String> = state
                .connections
                .iter()
                .filter(|(_, c)| !c.is_closed())
                .map(|(a, _)| a.clone())
                .collect();
            open.into_iter()
                .chain(state.brokers.values().map(|b| format!("{}:{}", b.host, b.port)))
                .collect()
        };
        let bootstrap = self
            .config
            .bootstrap_servers
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        for addr in known.into_iter().chain(bootstrap) {
            match self.connection_to(&addr).await {
                Ok(connection) => return Ok(connection),
                Err(e) => debug!(broker = %addr, cause = %e, "broker unreachable"),
            }
        }
        Err(ClientError::NoBrokers {
            servers: self.config.bootstrap_servers.clone(),
        })
    }

    /// A connection to the controller (where topic administration goes).
    pub async fn controller(&self) -> Result<BrokerConnection, ClientError> {
        let id = self.state().controller;
        match id {
            Some(id) if id >= 0 => self.broker(id).await,
            _ => self.any().await,
        }
    }

    /// Refreshes metadata for `topics` (`None`: all topics; `Some(&[])`: brokers only) and
    /// returns the raw response.
    pub async fn refresh(
        &self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<MetadataResponse, ClientError> {
        let connection = self.any().await?;
        let request = MetadataRequest::default()
            .with_topics(topics.map(|t| {
                t.iter()
                    .map(|name| {
                        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(allow_auto_create);
        let version = connection.version::<MetadataRequest>(Some(12))?;
        let request = if version < 4 {
            request.with_allow_auto_topic_creation(true)
        } else {
            request
        };
        let response = connection.send_version(version, &request).await?;
        let now = Instant::now();
        let mut state = self.state();
        state.brokers = response
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id.0,
                    BrokerInfo {
                        id: b.node_id.0,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                    },
                )
            })
            .collect();
        state.controller = Some(response.controller_id.0);
        state.cluster_id = response.cluster_id.as_ref().map(|c| c.to_string());
        for topic in &response.topics {
            let Some(name) = topic.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if topic.error_code != 0 {
                state.topics.remove(&name);
                continue;
            }
            let mut partitions: Vec<PartitionInfo> = topic
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            let info = TopicInfo {
                name: name.clone(),
                id: topic.topic_id,
                internal: topic.is_internal,
                partitions,
            };
            state.topics.insert(name, (Arc::new(info), now));
        }
        Ok(response)
    }

    /// A topic's metadata from the cache, refreshed when missing or stale. With
    /// `allow_auto_create`, asking for an unknown topic may create it (if the broker allows).
    pub async fn topic(&self, name: &str, allow_auto_create: bool) -> Result<Arc<TopicInfo>, ClientError> {
        let max_age = Duration::from_millis(self.config.metadata_max_age_ms.max(0) as u64);
        if let Some((info, at)) = self.state().topics.get(name).cloned() {
            if at.elapsed() < max_age {
                return Ok(info);
            }
        }
        let response = self.refresh(Some(&[name.to_owned()]), allow_auto_create).await?;
        if let Some(topic) = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        {
            if topic.error_code == ResponseError::UnknownTopicOrPartition.code() {
                return Err(ClientError::UnknownTopic { topic: name.to_owned() });
            }
            if let Some(error) = ClientError::from_code("Metadata", topic.error_code, Some(name)) {
                return Err(error);
            }
        }
        self.state()
            .topics
            .get(name)
            .map(|(info, _)| Arc::clone(info))
            .ok_or_else(|| ClientError::UnknownTopic { topic: name.to_owned() })
    }

    /// Forgets a topic's metadata, so that the next lookup refreshes it.
    pub fn invalidate(&self, topic: &str) {
        self.state().topics.remove(topic);
    }

    /// The leader of a partition and a connection to it.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<(i32, BrokerConnection), ClientError> {
        let info = self.topic(topic, false).await?;
        let leader = info
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .ok_or_else(|| ClientError::Kafka {
                api: "Metadata",
                error: ResponseError::UnknownTopicOrPartition,
                message: Some(format!("{topic}-{partition}")),
            })?;
        if leader < 0 {
            self.invalidate(topic);
            return Err(ClientError::Kafka {
                api: "Metadata",
                error: ResponseError::LeaderNotAvailable,
                message: Some(format!("{topic}-{partition} has no leader")),
            });
        }
        Ok((leader, self.broker(leader).await?))
    }

    /// The coordinator of a consumer group (remembered until [`Cluster::forget_coordinator`]).
    pub async fn coordinator(&self, group: &str) -> Result<BrokerConnection, ClientError> {
        let known = self.state().coordinators.get(group).cloned();
        if let Some(addr) = known {
            return self.connection_to(&addr).await;
        }
        let connection = self.any().await?;
        let version = connection.version::<FindCoordinatorRequest>(None)?;
        let request = if version >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![StrBytes::from_string(group.to_owned())])
        } else {
            FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.to_owned()))
        };
        let response = connection.send_version(version, &request).await?;
        let (code, node, host, port) = match response.coordinators.first() {
            Some(c) if version >= 4 => (c.error_code, c.node_id.0, c.host.to_string(), c.port),
            _ => (
                response.error_code,
                response.node_id.0,
                response.host.to_string(),
                response.port,
            ),
        };
        if let Some(error) = ClientError::from_code("FindCoordinator", code, None) {
            return Err(error);
        }
        debug!(group, coordinator = node, "found the group coordinator");
        let addr = format!("{host}:{port}");
        self.state().coordinators.insert(group.to_owned(), addr.clone());
        self.connection_to(&addr).await
    }

    /// Forgets a group's coordinator after it answered NOT_COORDINATOR or became unreachable.
    pub fn forget_coordinator(&self, group: &str) {
        self.state().coordinators.remove(group);
    }

    /// Known brokers, by id.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        let mut brokers: Vec<BrokerInfo> = self.state().brokers.values().cloned().collect();
        brokers.sort_by_key(|b| b.id);
        brokers
    }

    /// The controller id and cluster id from the last metadata.
    pub fn controller_and_cluster_id(&self) -> (Option<i32>, Option<String>) {
        let state = self.state();
        (state.controller, state.cluster_id.clone())
    }
}

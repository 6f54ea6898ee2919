//! Topics: create, delete, list, describe, add partitions.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Admin;
use super::client::{Outcomes, item_error};
use crate::cluster::TopicInfo;
use crate::error::ClientError;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partition count; `None` takes the broker's `num.partitions`.
    pub partitions: Option<i32>,
    /// Replication factor; `None` takes the broker's `default.replication.factor`.
    pub replication_factor: Option<i16>,
    /// Topic configs (`cleanup.policy`, `retention.ms`, ...).
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with the broker's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            partitions: None,
            replication_factor: None,
            configs: BTreeMap::new(),
        }
    }

    /// Sets the partition count.
    pub fn partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// Sets the replication factor.
    pub fn replication_factor(mut self, factor: i16) -> Self {
        self.replication_factor = Some(factor);
        self
    }

    /// Sets a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// A topic in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    /// Name.
    pub name: String,
    /// Topic id.
    pub id: uuid::Uuid,
    /// Whether it is internal (`__consumer_offsets`).
    pub internal: bool,
}

/// A topic's partitions and their placement.
pub type TopicDescription = TopicInfo;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

impl Admin {
    /// Creates topics; each gets its own outcome (TOPIC_ALREADY_EXISTS, INVALID_CONFIG, ...).
    pub async fn create_topics(&self, topics: &[NewTopic], validate_only: bool) -> Result<Outcomes, ClientError> {
        let connection = self.cluster.controller().await?;
        let version = connection.version::<CreateTopicsRequest>(Some(7))?;
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_validate_only(validate_only)
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(topic_name(&t.name))
                            .with_num_partitions(t.partitions.unwrap_or(-1))
                            .with_replication_factor(t.replication_factor.unwrap_or(-1))
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(StrBytes::from_string(k.clone()))
                                            .with_value(Some(StrBytes::from_string(v.clone())))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let response = connection.send_version(version, &request).await?;
        let mut outcomes = Outcomes::new();
        for result in &response.topics {
            let name = result.name.0.to_string();
            self.cluster.invalidate(&name);
            let outcome = item_error(
                "CreateTopics",
                result.error_code,
                result.error_message.as_ref().map(|m| m.as_str()),
                &name,
            );
            outcomes.insert(name, outcome);
        }
        Ok(outcomes)
    }

    /// Deletes topics by name.
    pub async fn delete_topics(&self, names: &[String]) -> Result<Outcomes, ClientError> {
        let connection = self.cluster.controller().await?;
        let version = connection.version::<DeleteTopicsRequest>(Some(6))?;
        let request = DeleteTopicsRequest::default().with_timeout_ms(self.timeout_ms());
        let request = if version >= 6 {
            request.with_topics(
                names
                    .iter()
                    .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                    .collect(),
            )
        } else {
            request.with_topic_names(names.iter().map(|n| topic_name(n)).collect())
        };
        let response = connection.send_version(version, &request).await?;
        let mut outcomes = Outcomes::new();
        for result in &response.responses {
            let name = result.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            self.cluster.invalidate(&name);
            let outcome = item_error(
                "DeleteTopics",
                result.error_code,
                result.error_message.as_ref().map(|m| m.as_str()),
                &name,
            );
            outcomes.insert(name, outcome);
        }
        Ok(outcomes)
    }

    /// Every topic, sorted by name; internal ones only if asked for.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<TopicListing>, ClientError> {
        let response = self.cluster.refresh(None, false).await?;
        let mut topics: Vec<TopicListing> = response
            .topics
            .iter()
            .filter(|t| t.error_code == 0 && (include_internal || !t.is_internal))
            .filter_map(|t| {
                Some(TopicListing {
                    name: t.name.as_ref()?.0.to_string(),
                    id: t.topic_id,
                    internal: t.is_internal,
                })
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Describes topics (`None`: every topic but the internal ones); an unknown topic is an error.
    pub async fn describe_topics(&self, names: Option<&[String]>) -> Result<Vec<TopicDescription>, ClientError> {
        let names: Vec<String> = match names {
            Some(names) => names.to_vec(),
            None => self.list_topics(false).await?.into_iter().map(|t| t.name).collect(),
        };
        let mut described = Vec::with_capacity(names.len());
        for name in &names {
            self.cluster.invalidate(name);
            described.push((*self.cluster.topic(name, false).await?).clone());
        }
        Ok(described)
    }

    /// Grows topics to the given total partition counts.
    pub async fn create_partitions(
        &self,
        counts: &BTreeMap<String, i32>,
        validate_only: bool,
    ) -> Result<Outcomes, ClientError> {
        let connection = self.cluster.controller().await?;
        let version = connection.version::<CreatePartitionsRequest>(Some(3))?;
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_validate_only(validate_only)
            .with_topics(
                counts
                    .iter()
                    .map(|(name, count)| {
                        CreatePartitionsTopic::default()
                            .with_name(topic_name(name))
                            .with_count(*count)
                            .with_assignments(None)
                    })
                    .collect(),
            );
        let response = connection.send_version(version, &request).await?;
        let mut outcomes = Outcomes::new();
        for result in &response.results {
            let name = result.name.0.to_string();
            self.cluster.invalidate(&name);
            let outcome = item_error(
                "CreatePartitions",
                result.error_code,
                result.error_message.as_ref().map(|m| m.as_str()),
                &name,
            );
            outcomes.insert(name, outcome);
        }
        Ok(outcomes)
    }
}

//! Configs of topics and brokers: describe, and alter incrementally.

use std::fmt;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;

use super::Admin;
use super::client::item_error;
use crate::error::ClientError;
use crate::net::BrokerConnection;

/// Something that has configs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker, by id.
    Broker(i32),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            Self::Topic(name) => (2, name.clone()),
            Self::Broker(id) => (4, id.to_string()),
        }
    }
}

impl fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Topic(name) => write!(f, "topic {name}"),
            Self::Broker(id) => write!(f, "broker {id}"),
        }
    }
}

/// Where a config value comes from (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// Set on this broker at runtime.
    DynamicBroker,
    /// Set at runtime as the default of every broker.
    DynamicDefaultBroker,
    /// From the broker's config file or flags.
    StaticBroker,
    /// The built-in default.
    Default,
    /// Anything else.
    Unknown,
}

impl ConfigSource {
    fn from_wire(source: i8) -> Self {
        match source {
            1 => Self::DynamicTopic,
            2 => Self::DynamicBroker,
            3 => Self::DynamicDefaultBroker,
            4 => Self::StaticBroker,
            5 => Self::Default,
            _ => Self::Unknown,
        }
    }

    /// Kafka's name, as `kafka-configs --describe` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
            Self::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
            Self::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            Self::StaticBroker => "STATIC_BROKER_CONFIG",
            Self::Default => "DEFAULT_CONFIG",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// One config and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Key.
    pub name: String,
    /// Value (`None` for sensitive ones).
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it can be altered at runtime.
    pub read_only: bool,
    /// Whether the value is hidden.
    pub sensitive: bool,
}

impl ConfigEntry {
    /// Whether the value is the built-in default.
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::Default
    }
}

/// An incremental change to one config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterOp {
    /// Set the value.
    Set(String),
    /// Remove the override, back to the default.
    Delete,
    /// Add to a list value.
    Append(String),
    /// Remove from a list value.
    Subtract(String),
}

impl AlterOp {
    fn wire(&self) -> (i8, Option<&str>) {
        match self {
            Self::Set(v) => (0, Some(v)),
            Self::Delete => (1, None),
            Self::Append(v) => (2, Some(v)),
            Self::Subtract(v) => (3, Some(v)),
        }
    }
}

impl Admin {
    /// A broker's configs must be asked of that broker; a topic's of any.
    async fn connection_for(&self, resource: &ConfigResource) -> Result<BrokerConnection, ClientError> {
        match resource {
            ConfigResource::Broker(id) => self.cluster.broker(*id).await,
            ConfigResource::Topic(_) => self.cluster.any().await,
        }
    }

    /// Every config of `resource`, sorted by name.
    pub async fn describe_configs(&self, resource: &ConfigResource) -> Result<Vec<ConfigEntry>, ClientError> {
        let connection = self.connection_for(resource).await?;
        let version = connection.version::<DescribeConfigsRequest>(Some(4))?;
        let (kind, name) = resource.wire();
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(StrBytes::from_string(name.clone()))
                .with_configuration_keys(None),
        ]);
        let response = connection.send_version(version, &request).await?;
        let Some(result) = response.results.first() else {
            return Err(ClientError::Protocol {
                what: "DescribeConfigs",
                reason: format!("no result for {resource}"),
            });
        };
        item_error(
            "DescribeConfigs",
            result.error_code,
            result.error_message.as_ref().map(|m| m.as_str()),
            &resource.to_string(),
        )?;
        let mut entries: Vec<ConfigEntry> = result
            .configs
            .iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                source: ConfigSource::from_wire(c.config_source),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Applies incremental changes to `resource`'s configs (IncrementalAlterConfigs).
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        changes: &[(String, AlterOp)],
    ) -> Result<(), ClientError> {
        let connection = self.connection_for(resource).await?;
        let version = connection.version::<IncrementalAlterConfigsRequest>(Some(1))?;
        let (kind, name) = resource.wire();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(StrBytes::from_string(name))
                .with_configs(
                    changes
                        .iter()
                        .map(|(key, op)| {
                            let (code, value) = op.wire();
                            AlterableConfig::default()
                                .with_name(StrBytes::from_string(key.clone()))
                                .with_config_operation(code)
                                .with_value(value.map(|v| StrBytes::from_string(v.to_owned())))
                        })
                        .collect(),
                ),
        ]);
        let response = connection.send_version(version, &request).await?;
        for result in &response.responses {
            item_error(
                "IncrementalAlterConfigs",
                result.error_code,
                result.error_message.as_ref().map(|m| m.as_str()),
                &resource.to_string(),
            )?;
        }
        Ok(())
    }
}

//! The admin handle.

use std::collections::BTreeMap;

use crate::cluster::Cluster;
use crate::config::{CommonConfig, ConfigError, apply, properties};
use crate::error::ClientError;

/// An admin client. Cloning shares its connections.
#[derive(Debug, Clone)]
pub struct Admin {
    pub(super) cluster: Cluster,
}

impl Admin {
    /// Connects with Kafka-named properties (only the common client settings apply).
    pub async fn from_properties<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ClientError> {
        let mut config = CommonConfig::default();
        apply(&properties(pairs), &mut config, |_, _| Ok::<_, ConfigError>(false))?;
        Self::new(config).await
    }

    /// Connects to the cluster.
    pub async fn new(config: CommonConfig) -> Result<Self, ClientError> {
        Ok(Self {
            cluster: Cluster::connect(config).await?,
        })
    }

    /// The cluster view this client uses.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub(super) fn timeout_ms(&self) -> i32 {
        self.cluster
            .config()
            .default_api_timeout_ms
            .clamp(1, i64::from(i32::MAX)) as i32
    }
}

/// Per-item outcomes of a batch operation (topics, groups), by name.
pub type Outcomes = BTreeMap<String, Result<(), ClientError>>;

/// The item's error from a response's code and message, if any.
pub(super) fn item_error(api: &'static str, code: i16, message: Option<&str>, item: &str) -> Result<(), ClientError> {
    match ClientError::from_code(api, code, Some(message.filter(|m| !m.is_empty()).unwrap_or(item))) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

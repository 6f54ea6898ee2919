//! Describing the cluster.

use kafka_protocol::messages::DescribeClusterRequest;

use super::Admin;
use crate::cluster::BrokerInfo;
use crate::error::ClientError;

/// The cluster's identity, controller and brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: String,
    /// Controller broker id (-1 if unknown).
    pub controller: i32,
    /// Brokers by id.
    pub brokers: Vec<BrokerInfo>,
}

impl Admin {
    /// The cluster id, controller and brokers (DescribeCluster, or Metadata on brokers without it).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, ClientError> {
        let connection = self.cluster.any().await?;
        if let Ok(version) = connection.version::<DescribeClusterRequest>(Some(1)) {
            let response = connection
                .send_version(version, &DescribeClusterRequest::default())
                .await?;
            if let Some(error) = ClientError::from_code(
                "DescribeCluster",
                response.error_code,
                response.error_message.as_ref().map(|m| m.as_str()),
            ) {
                return Err(error);
            }
            let mut brokers: Vec<BrokerInfo> = response
                .brokers
                .iter()
                .map(|b| BrokerInfo {
                    id: b.broker_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                })
                .collect();
            brokers.sort_by_key(|b| b.id);
            return Ok(ClusterDescription {
                cluster_id: response.cluster_id.to_string(),
                controller: response.controller_id.0,
                brokers,
            });
        }
        let response = self.cluster.refresh(Some(&[]), false).await?;
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.map(|c| c.to_string()).unwrap_or_default(),
            controller: response.controller_id.0,
            brokers: self.cluster.brokers(),
        })
    }
}

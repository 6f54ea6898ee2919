//! A Rill broker in this process, for single-binary applications and tests: one call starts it
//! and an application on it ([`KafkaStreams::start_embedded`]).

use std::path::Path;

use rill_broker::testing::TestBroker;

use crate::error::StreamsError;
use crate::runtime::{KafkaStreams, StreamsConfig};
use crate::topology::Topology;

/// A broker running in this process, on 127.0.0.1 and a free port.
#[derive(Debug)]
pub struct EmbeddedBroker {
    broker: TestBroker,
}

fn broker_error(e: rill_broker::BrokerError) -> StreamsError {
    StreamsError::Usage(format!("embedded broker: {e}"))
}

impl EmbeddedBroker {
    /// Starts a broker with its data in `data_dir` (kept, so that a restart finds its topics),
    /// or in a temporary directory removed when it stops.
    pub async fn start(data_dir: Option<&Path>) -> Result<Self, StreamsError> {
        let configure = |c: &mut rill_broker::config::BrokerConfig| c.group_initial_rebalance_delay_ms = 0;
        let broker = match data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StreamsError::Usage(format!("creating {}: {e}", dir.display())))?;
                TestBroker::start_in(dir, configure).await
            }
            None => TestBroker::start_with(configure).await,
        }
        .map_err(broker_error)?;
        Ok(Self { broker })
    }

    /// Its `bootstrap.servers` address.
    pub fn bootstrap(&self) -> String {
        self.broker.bootstrap()
    }

    /// Stops it cleanly.
    pub async fn stop(self) -> Result<(), StreamsError> {
        self.broker.stop().await.map(drop).map_err(broker_error)
    }
}

impl KafkaStreams {
    /// Starts an embedded broker (data in a temporary directory) and `topology` on it as
    /// application `application_id`; the topics the topology reads and writes by name are
    /// created first, with one partition each.
    pub async fn start_embedded(
        topology: Topology,
        application_id: &str,
    ) -> Result<(KafkaStreams, EmbeddedBroker), StreamsError> {
        Self::start_embedded_with(topology, StreamsConfig::new(application_id, "")).await
    }

    /// [`KafkaStreams::start_embedded`] with a configuration (its bootstrap address is the
    /// embedded broker's).
    pub async fn start_embedded_with(
        topology: Topology,
        mut config: StreamsConfig,
    ) -> Result<(KafkaStreams, EmbeddedBroker), StreamsError> {
        let broker = EmbeddedBroker::start(None).await?;
        let bootstrap = broker.bootstrap();
        let admin = rill_client::admin::Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
            .await
            .map_err(|e| StreamsError::Client(Box::new(e)))?;
        let mut names = topology.user_source_topics();
        names.extend(topology.user_sink_topics());
        let inputs: Vec<rill_client::admin::NewTopic> = names
            .into_iter()
            .map(|t| rill_client::admin::NewTopic::new(t).partitions(1))
            .collect();
        if !inputs.is_empty() {
            admin
                .create_topics(&inputs, false)
                .await
                .map_err(|e| StreamsError::Client(Box::new(e)))?;
        }
        config.bootstrap_servers = bootstrap;
        let streams = KafkaStreams::start(topology, config).await?;
        Ok((streams, broker))
    }
}

//! CreateTopics.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::str_bytes;
use crate::config::TopicConfig;
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};
use crate::topics::{NewTopic, TopicError};

/// DescribeConfigs' source codes, also used in CreateTopics v5+.
pub(crate) const SOURCE_TOPIC: i8 = 1;
pub(crate) const SOURCE_STATIC_BROKER: i8 = 4;
pub(crate) const SOURCE_DEFAULT: i8 = 5;

/// The source of a topic key's value: set on the topic, set on the broker, or Kafka's default.
pub(crate) fn topic_source(
    broker: &crate::config::BrokerConfig,
    overrides: &BTreeMap<String, String>,
    key: &str,
) -> i8 {
    if overrides.contains_key(key) {
        SOURCE_TOPIC
    } else if TopicConfig::broker_synonym(key).is_some_and(|b| broker_key_is_set(broker, b)) {
        SOURCE_STATIC_BROKER
    } else {
        SOURCE_DEFAULT
    }
}

/// Whether a broker key differs from its default (was configured).
pub(crate) fn broker_key_is_set(broker: &crate::config::BrokerConfig, key: &str) -> bool {
    broker.get(key) != crate::config::BrokerConfig::default().get(key)
}

pub(crate) async fn handle(ctx: &RequestContext, request: CreateTopicsRequest) -> Answer<CreateTopicsResponse> {
    let topics = &ctx.broker.topics;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for topic in &request.topics {
        *counts.entry(topic.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let failed = |code: ErrorCode, message: String| {
            result
                .clone()
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message)))
        };
        if counts.get(&name).copied().unwrap_or(0) > 1 {
            results.push(failed(
                ErrorCode::InvalidRequest,
                format!("topic `{name}` appears more than once in the request"),
            ));
            continue;
        }
        let mut configs = BTreeMap::new();
        let mut null_key = None;
        for config in topic.configs {
            match config.value {
                Some(value) => {
                    configs.insert(config.name.to_string(), value.to_string());
                }
                None => null_key = Some(config.name.to_string()),
            }
        }
        if let Some(key) = null_key {
            results.push(failed(
                ErrorCode::InvalidConfig,
                format!("null value for configuration `{key}`"),
            ));
            continue;
        }
        let spec = NewTopic {
            name: name.clone(),
            partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignments: topic
                .assignments
                .into_iter()
                .map(|a| (a.partition_index, a.broker_ids.into_iter().map(|b| b.0).collect()))
                .collect(),
            configs: configs.clone(),
        };

        match topics.create(spec, request.validate_only).await {
            Ok(created) => {
                let mut result = result
                    .with_num_partitions(created.partitions)
                    .with_replication_factor(1);
                if let Some(topic) = &created.topic {
                    result = result.with_topic_id(topic.id());
                }
                results.push(result.with_configs(Some(describe(&ctx.broker.config, &created.config, &configs))));
            }
            Err(e) => {
                let message = e.to_string();
                let code = e.code();
                if !matches!(e, TopicError::AlreadyExists { .. }) {
                    tracing::info!(topic = %name, cause = %message, "create topic refused");
                }
                results.push(failed(code, message));
            }
        }
    }
    Answer::Now(CreateTopicsResponse::default().with_topics(results))
}

fn describe(
    broker: &crate::config::BrokerConfig,
    config: &TopicConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    TopicConfig::KEYS
        .iter()
        .map(|key| {
            CreatableTopicConfigs::default()
                .with_name(str_bytes(key.name))
                .with_value(config.get(key.name).map(str_bytes))
                .with_config_source(topic_source(broker, overrides, key.name))
        })
        .collect()
}

//! DescribeConfigs for topics (every topic-level key, with its source and synonyms) and for this
//! broker (its static configuration, read-only).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::create_topics::{SOURCE_DEFAULT, SOURCE_STATIC_BROKER, SOURCE_TOPIC, broker_key_is_set, topic_source};
use super::{resource, str_bytes};
use crate::config::{BrokerConfig, KeyInfo, TopicConfig};
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

struct Options {
    keys: Option<Vec<String>>,
    synonyms: bool,
    documentation: bool,
}

impl Options {
    fn wants(&self, key: &str) -> bool {
        self.keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k == key))
    }
}

fn entry(
    key: &KeyInfo,
    value: Option<String>,
    source: i8,
    read_only: bool,
    options: &Options,
) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(key.name))
        .with_value(value.map(str_bytes))
        .with_read_only(read_only)
        .with_config_source(source)
        .with_config_type(key.ty.code())
        .with_documentation(options.documentation.then(|| str_bytes(key.doc)))
}

fn synonym(name: &str, value: Option<String>, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(str_bytes(name))
        .with_value(value.map(str_bytes))
        .with_source(source)
}

fn describe_topic(
    broker: &BrokerConfig,
    config: &TopicConfig,
    overrides: &BTreeMap<String, String>,
    options: &Options,
) -> Vec<DescribeConfigsResourceResult> {
    let defaults = BrokerConfig::default();
    TopicConfig::KEYS
        .iter()
        .filter(|key| options.wants(key.name))
        .map(|key| {
            let source = topic_source(broker, overrides, key.name);
            let mut result = entry(key, config.get(key.name), source, false, options);
            if options.synonyms {
                if let Some(value) = overrides.get(key.name) {
                    result
                        .synonyms
                        .push(synonym(key.name, Some(value.clone()), SOURCE_TOPIC));
                }
                if let Some(broker_key) = TopicConfig::broker_synonym(key.name) {
                    if broker_key_is_set(broker, broker_key) {
                        result
                            .synonyms
                            .push(synonym(broker_key, broker.get(broker_key), SOURCE_STATIC_BROKER));
                    }
                    result
                        .synonyms
                        .push(synonym(broker_key, defaults.get(broker_key), SOURCE_DEFAULT));
                }
            }
            result
        })
        .collect()
}

fn describe_broker(broker: &BrokerConfig, options: &Options) -> Vec<DescribeConfigsResourceResult> {
    BrokerConfig::KEYS
        .iter()
        .filter(|key| options.wants(key.name))
        .map(|key| {
            let source = if broker_key_is_set(broker, key.name) {
                SOURCE_STATIC_BROKER
            } else {
                SOURCE_DEFAULT
            };
            let mut result = entry(key, broker.get(key.name), source, true, options);
            if options.synonyms {
                result.synonyms.push(synonym(key.name, broker.get(key.name), source));
            }
            result
        })
        .collect()
}

pub(crate) async fn handle(ctx: &RequestContext, request: DescribeConfigsRequest) -> Answer<DescribeConfigsResponse> {
    let broker = &ctx.broker;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let options = Options {
                // Null or empty: every key.
                keys: resource
                    .configuration_keys
                    .filter(|keys| !keys.is_empty())
                    .map(|keys| keys.iter().map(|k| k.to_string()).collect()),
                synonyms: request.include_synonyms,
                documentation: request.include_documentation,
            };
            let name = resource.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name);
            let fail = |code: ErrorCode, message: String| {
                result
                    .clone()
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(message)))
            };
            match resource.resource_type {
                resource::TOPIC => match broker.topics.get(&name) {
                    Some(topic) => result.with_configs(describe_topic(
                        &broker.config,
                        &topic.config(),
                        &topic.overrides(),
                        &options,
                    )),
                    None => fail(
                        ErrorCode::UnknownTopicOrPartition,
                        format!("topic `{name}` does not exist"),
                    ),
                },
                resource::BROKER if name.is_empty() || name == broker.node_id().to_string() => {
                    result.with_configs(describe_broker(&broker.config, &options))
                }
                resource::BROKER => fail(
                    ErrorCode::InvalidRequest,
                    format!("this is broker {}, not `{name}`", broker.node_id()),
                ),
                other => fail(
                    ErrorCode::InvalidRequest,
                    format!("resource type {other} has no configurations here"),
                ),
            }
        })
        .collect();
    Answer::Now(DescribeConfigsResponse::default().with_results(results))
}

//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on a topic's overrides.

use std::collections::BTreeMap;

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::{apply, not_a_topic};
use super::{resource, str_bytes};
use crate::config::{ConfigType, TopicConfig};
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Applies the operations to `overrides`, starting from the current effective values for list
/// operations.
fn edit(
    overrides: &mut BTreeMap<String, String>,
    current: &TopicConfig,
    ops: Vec<AlterableConfig>,
) -> Result<(), String> {
    for op in ops {
        let name = op.name.to_string();
        let value = op.value.map(|v| v.to_string());
        match op.config_operation {
            SET => {
                overrides.insert(
                    name.clone(),
                    value.ok_or_else(|| format!("SET of `{name}` needs a value"))?,
                );
            }
            DELETE => {
                overrides.remove(&name);
            }
            APPEND | SUBTRACT => {
                let is_list = TopicConfig::KEYS
                    .iter()
                    .any(|k| k.name == name && k.ty == ConfigType::List);
                if !is_list {
                    return Err(format!(
                        "`{name}` is not a list: APPEND and SUBTRACT apply only to lists"
                    ));
                }
                let existing = overrides
                    .get(&name)
                    .cloned()
                    .or_else(|| current.get(&name))
                    .unwrap_or_default();
                let mut items: Vec<String> = existing
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                for item in value
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    if op.config_operation == APPEND {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_owned());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                overrides.insert(name, items.join(","));
            }
            other => return Err(format!("unknown config operation {other}")),
        }
    }
    Ok(())
}

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> Answer<IncrementalAlterConfigsResponse> {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let name = resource.resource_name.to_string();
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let error = if resource.resource_type != resource::TOPIC {
            Some(not_a_topic(resource.resource_type))
        } else {
            match ctx.broker.topics.get(&name) {
                None => Some((
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic `{name}` does not exist"),
                )),
                Some(topic) => {
                    let mut overrides = topic.overrides();
                    match edit(&mut overrides, &topic.config(), resource.configs) {
                        Ok(()) => apply(ctx, &name, overrides, request.validate_only).await,
                        Err(message) => Some((ErrorCode::InvalidConfig, message)),
                    }
                }
            }
        };
        responses.push(match error {
            None => response,
            Some((code, message)) => response
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message))),
        });
    }
    Answer::Now(IncrementalAlterConfigsResponse::default().with_responses(responses))
}

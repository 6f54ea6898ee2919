//! Metadata: brokers, controller, topics and partition leaders; auto-creates topics when the
//! request and `auto.create.topics.enable` both allow it.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use tracing::{debug, warn};

use super::{str_bytes, topic_name};
use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext};
use crate::topics::{Created, NewTopic, Topic, TopicError};

/// "Not requested" for authorized-operations fields.
const NO_OPERATIONS: i32 = i32::MIN;

fn describe(topic: &Topic, node_id: i32) -> MetadataResponseTopic {
    let partitions = topic
        .partitions()
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index())
                .with_leader_id(BrokerId(node_id))
                .with_leader_epoch(0)
                .with_replica_nodes(vec![BrokerId(node_id)])
                .with_isr_nodes(vec![BrokerId(node_id)])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(topic.name())))
        .with_topic_id(topic.id())
        .with_is_internal(topic.is_internal())
        .with_partitions(partitions)
        .with_topic_authorized_operations(NO_OPERATIONS)
}

fn missing(name: &str, error: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_error_code(error.code())
        .with_topic_authorized_operations(NO_OPERATIONS)
}

pub(crate) async fn handle(ctx: &RequestContext, request: MetadataRequest) -> Answer<MetadataResponse> {
    let broker = &ctx.broker;
    let node_id = broker.node_id();
    // v0 has no null: an empty list means all topics.
    let requested = match request.topics {
        Some(topics) if !(ctx.version == 0 && topics.is_empty()) => Some(topics),
        _ => None,
    };
    let allow_auto_create =
        (ctx.version < 4 || request.allow_auto_topic_creation) && broker.config.auto_create_topics_enable;
    let topics = match requested {
        None => broker.topics.list().iter().map(|t| describe(t, node_id)).collect(),
        Some(requested) => {
            let mut out = Vec::with_capacity(requested.len());
            for entry in requested {
                let Some(name) = entry.name.map(|n| n.0.to_string()) else {
                    // Lookup by topic id (v10+).
                    match broker.topics.list().into_iter().find(|t| t.id() == entry.topic_id) {
                        Some(topic) => out.push(describe(&topic, node_id)),
                        None => out.push(
                            MetadataResponseTopic::default()
                                .with_topic_id(entry.topic_id)
                                .with_error_code(ErrorCode::UnknownTopicOrPartition.code()),
                        ),
                    }
                    continue;
                };
                out.push(lookup_or_create(ctx, &name, allow_auto_create, node_id).await);
            }
            out
        }
    };
    Answer::Now(
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(node_id))
                    .with_host(str_bytes(broker.advertised.host.clone()))
                    .with_port(broker.advertised.port),
            ])
            .with_cluster_id(Some(str_bytes(broker.cluster_id.clone())))
            .with_controller_id(BrokerId(node_id))
            .with_topics(topics)
            .with_cluster_authorized_operations(NO_OPERATIONS),
    )
}

async fn lookup_or_create(
    ctx: &RequestContext,
    name: &str,
    allow_auto_create: bool,
    node_id: i32,
) -> MetadataResponseTopic {
    let topics = &ctx.broker.topics;
    if let Some(topic) = topics.get(name) {
        return describe(&topic, node_id);
    }
    if crate::topics::name::validate(name).is_err() {
        return missing(name, ErrorCode::InvalidTopicException);
    }
    if !allow_auto_create {
        return missing(name, ErrorCode::UnknownTopicOrPartition);
    }
    let spec = NewTopic {
        name: name.to_owned(),
        partitions: -1,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: Default::default(),
    };
    match topics.create(spec, false).await {
        Ok(Created { topic: Some(topic), .. }) => {
            debug!(topic = name, client = ?ctx.client_id, "auto-created topic");
            describe(&topic, node_id)
        }
        Ok(Created { topic: None, .. }) => missing(name, ErrorCode::LeaderNotAvailable),
        Err(TopicError::AlreadyExists { .. }) => topics.get(name).map_or_else(
            || missing(name, ErrorCode::LeaderNotAvailable),
            |t| describe(&Arc::clone(&t), node_id),
        ),
        Err(e) => {
            warn!(topic = name, cause = %e, "auto-creating topic failed");
            missing(name, e.code())
        }
    }
}

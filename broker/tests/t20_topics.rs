//! Topic administration and Metadata: create, auto-create, grow, configure, delete.

mod common;

use common::{create_topic, name, s, try_create_topic};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use rill_broker::testing::TestBroker;
use rill_client::Connection;

async fn metadata(conn: &mut Connection, version: i16, topics: Option<&[&str]>, auto_create: bool) -> MetadataResponse {
    let request = MetadataRequest::default()
        .with_topics(topics.map(|t| {
            t.iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
                .collect()
        }))
        // Before v4 the flag does not exist and must keep its default (true).
        .with_allow_auto_topic_creation(auto_create || version < 4);
    conn.send(version, &request).await.expect("metadata")
}

async fn describe_topic_configs(conn: &mut Connection, topic: &str) -> Vec<(String, Option<String>, i8)> {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(topic)),
        ]);
    let response = conn.send(4, &request).await.expect("describe configs");
    let result = &response.results[0];
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map(|v| v.to_string()),
                c.config_source,
            )
        })
        .collect()
}

#[tokio::test]
async fn metadata_names_this_broker_as_controller_and_lists_topics() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "orders", 3, &[]).await;
    for version in [0, 1, 4, 9, 12] {
        let response = metadata(&mut conn, version, None, false).await;
        assert_eq!(response.brokers.len(), 1, "v{version}");
        assert_eq!(response.brokers[0].port, i32::from(broker.addr().port()));
        if version >= 1 {
            assert_eq!(response.controller_id, response.brokers[0].node_id, "v{version}");
        }
        if version >= 2 {
            assert!(
                response.cluster_id.as_ref().is_some_and(|id| id.len() == 22),
                "v{version}"
            );
        }
        let topic = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "orders"))
            .expect("orders");
        assert_eq!(topic.partitions.len(), 3);
        assert!(
            topic
                .partitions
                .iter()
                .all(|p| p.leader_id == response.brokers[0].node_id && p.isr_nodes.len() == 1)
        );
        if version >= 10 {
            assert!(!topic.topic_id.is_nil());
        }
    }
    // An empty list (v1+) asks for no topics.
    assert!(metadata(&mut conn, 4, Some(&[]), false).await.topics.is_empty());
}

#[tokio::test]
async fn auto_create_follows_request_flag_and_broker_setting() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 4).await.expect("broker");
    let mut conn = common::connect(&broker).await;
    let refused = metadata(&mut conn, 9, Some(&["lazy"]), false).await;
    assert_eq!(
        refused.topics[0].error_code, 3,
        "not created when the request forbids it"
    );
    let created = metadata(&mut conn, 9, Some(&["lazy"]), true).await;
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(created.topics[0].partitions.len(), 4, "num.partitions");
    let invalid = metadata(&mut conn, 9, Some(&["bad topic"]), true).await;
    assert_eq!(invalid.topics[0].error_code, 17);

    let off = TestBroker::start_with(|c| c.auto_create_topics_enable = false)
        .await
        .expect("broker");
    let mut conn = common::connect(&off).await;
    let response = metadata(&mut conn, 9, Some(&["lazy"]), true).await;
    assert_eq!(response.topics[0].error_code, 3, "auto.create.topics.enable=false");
    // v3 requests imply auto-creation; the broker setting still wins.
    assert_eq!(
        metadata(&mut conn, 3, Some(&["lazy"]), true).await.topics[0].error_code,
        3
    );
}

#[tokio::test]
async fn create_topics_validates_like_kafka() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 2, &[("retention.ms", "1000")]).await;
    assert_eq!(try_create_topic(&mut conn, "t", 2, &[]).await, 36, "already exists");
    assert_eq!(try_create_topic(&mut conn, "a/b", 1, &[]).await, 17, "invalid name");
    assert_eq!(
        try_create_topic(&mut conn, "zero", 0, &[]).await,
        37,
        "invalid partitions"
    );
    assert_eq!(
        try_create_topic(&mut conn, "cfg", 1, &[("retention.ms", "soon")]).await,
        40,
        "invalid config value"
    );
    assert_eq!(
        try_create_topic(&mut conn, "cfg", 1, &[("no.such.config", "1")]).await,
        40,
        "unknown config"
    );
    let request = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(name("rf3"))
            .with_num_partitions(1)
            .with_replication_factor(3),
    ]);
    let response = conn.send(7, &request).await.expect("create");
    assert_eq!(response.topics[0].error_code, 38, "replication factor 3 on one broker");
    assert!(
        response.topics[0]
            .error_message
            .as_ref()
            .is_some_and(|m| m.contains("1 available broker"))
    );
    // validate_only creates nothing.
    let request = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(name("dry"))
                .with_num_partitions(5)
                .with_replication_factor(-1),
        ]);
    let response = conn.send(7, &request).await.expect("create");
    assert_eq!(
        (response.topics[0].error_code, response.topics[0].num_partitions),
        (0, 5)
    );
    assert_eq!(
        metadata(&mut conn, 9, Some(&["dry"]), false).await.topics[0].error_code,
        3
    );
}

#[tokio::test]
async fn configs_describe_alter_and_survive_restart() {
    let broker = TestBroker::start_with(|c| c.log_retention_ms = 123_456)
        .await
        .expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "c", 1, &[("cleanup.policy", "compact")]).await;
    let configs = describe_topic_configs(&mut conn, "c").await;
    let get =
        |configs: &[(String, Option<String>, i8)], key: &str| configs.iter().find(|c| c.0 == key).cloned().expect(key);
    assert_eq!(
        get(&configs, "cleanup.policy"),
        ("cleanup.policy".into(), Some("compact".into()), 1),
        "topic override"
    );
    assert_eq!(
        get(&configs, "retention.ms"),
        ("retention.ms".into(), Some("123456".into()), 4),
        "static broker config"
    );
    assert_eq!(get(&configs, "segment.bytes").2, 5, "default");

    // IncrementalAlterConfigs: APPEND to a list, SET a value.
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("c"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(s("cleanup.policy"))
                    .with_config_operation(2)
                    .with_value(Some(s("delete"))),
                AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s("5000"))),
            ]),
    ]);
    let response = conn.send(1, &request).await.expect("alter");
    assert_eq!(
        response.responses[0].error_code, 0,
        "{:?}",
        response.responses[0].error_message
    );
    let bad = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("c"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s("-7"))),
            ]),
    ]);
    let response = conn.send(1, &bad).await.expect("alter");
    assert_eq!(response.responses[0].error_code, 40);
    assert!(
        response.responses[0]
            .error_message
            .as_ref()
            .is_some_and(|m| m.contains("retention.ms"))
    );

    let dir = broker.stop().await.expect("stop").expect("temp dir");
    let broker = TestBroker::start_in(dir.path(), |c| c.log_retention_ms = 123_456)
        .await
        .expect("restart");
    let mut conn = common::connect(&broker).await;
    let configs = describe_topic_configs(&mut conn, "c").await;
    assert_eq!(get(&configs, "cleanup.policy").1.as_deref(), Some("compact,delete"));
    assert_eq!(
        get(&configs, "retention.ms"),
        ("retention.ms".into(), Some("5000".into()), 1)
    );

    // Legacy AlterConfigs replaces the whole override set.
    use alter_configs_request::{AlterConfigsResource as Legacy, AlterableConfig as LegacyConfig};
    let request = AlterConfigsRequest::default().with_resources(vec![
        Legacy::default()
            .with_resource_type(2)
            .with_resource_name(s("c"))
            .with_configs(vec![
                LegacyConfig::default()
                    .with_name(s("segment.bytes"))
                    .with_value(Some(s("65536"))),
            ]),
    ]);
    assert_eq!(conn.send(2, &request).await.expect("alter").responses[0].error_code, 0);
    let configs = describe_topic_configs(&mut conn, "c").await;
    assert_eq!(get(&configs, "cleanup.policy").2, 5, "override removed");
    assert_eq!(
        get(&configs, "segment.bytes"),
        ("segment.bytes".into(), Some("65536".into()), 1)
    );
    drop(dir);
}

#[tokio::test]
async fn broker_configs_are_described_read_only() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 7).await.expect("broker");
    let mut conn = common::connect(&broker).await;
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s("1"))
            .with_configuration_keys(Some(vec![s("num.partitions")])),
    ]);
    let response = conn.send(4, &request).await.expect("describe");
    let configs = &response.results[0].configs;
    assert_eq!(configs.len(), 1);
    assert_eq!(
        (
            configs[0].value.as_deref(),
            configs[0].read_only,
            configs[0].config_source
        ),
        (Some("7"), true, 4)
    );
}

#[tokio::test]
async fn create_partitions_and_delete_topics() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "grow", 2, &[]).await;
    let grow = |count| {
        CreatePartitionsRequest::default().with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(name("grow"))
                .with_count(count),
        ])
    };
    assert_eq!(conn.send(3, &grow(5)).await.expect("grow").results[0].error_code, 0);
    assert_eq!(conn.send(3, &grow(3)).await.expect("shrink").results[0].error_code, 37);
    assert_eq!(
        metadata(&mut conn, 9, Some(&["grow"]), false).await.topics[0]
            .partitions
            .len(),
        5
    );
    // The new partitions take writes.
    assert_eq!(
        common::produce(&mut conn, "grow", 4, common::batch(2, 10, 0)).await,
        (0, 0)
    );

    let by_name = DeleteTopicsRequest::default().with_topic_names(vec![name("grow"), name("missing")]);
    let response = conn.send(5, &by_name).await.expect("delete");
    assert_eq!(
        response.responses.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        vec![0, 3]
    );
    assert_eq!(
        metadata(&mut conn, 9, Some(&["grow"]), false).await.topics[0].error_code,
        3
    );
    assert_eq!(
        common::produce(&mut conn, "grow", 0, common::batch(1, 10, 0)).await.0,
        3
    );
    // The files go in the background.
    common::eventually(std::time::Duration::from_secs(10), "grow-0 removed", || {
        let gone = !broker.data_dir().join("grow-0").exists();
        async move { gone.then_some(()) }
    })
    .await;

    // v6 deletes by id; a re-created topic gets a new id and starts empty.
    create_topic(&mut conn, "again", 1, &[]).await;
    let id = metadata(&mut conn, 10, Some(&["again"]), false).await.topics[0].topic_id;
    let by_id = DeleteTopicsRequest::default().with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
    let response = conn.send(6, &by_id).await.expect("delete");
    assert_eq!(
        (
            response.responses[0].error_code,
            response.responses[0].name.as_ref().map(|n| n.0.to_string())
        ),
        (0, Some("again".into()))
    );
    create_topic(&mut conn, "again", 1, &[]).await;
    assert_ne!(
        metadata(&mut conn, 10, Some(&["again"]), false).await.topics[0].topic_id,
        id
    );
    assert_eq!(common::list_offset(&mut conn, "again", 0, -1).await, (0, 0, -1));
}

#[tokio::test]
async fn describe_cluster_and_init_producer_id() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    let cluster = conn
        .send(1, &DescribeClusterRequest::default().with_endpoint_type(1))
        .await
        .expect("describe cluster");
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(cluster.controller_id, cluster.brokers[0].broker_id);
    let first = conn
        .send(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await
        .expect("init");
    let second = conn
        .send(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await
        .expect("init");
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    assert_ne!(first.producer_id, second.producer_id);
}

#[tokio::test]
async fn find_coordinator_names_this_broker_for_groups() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    let port = i32::from(broker.addr().port());
    for version in [0, 1, 3] {
        let response = conn
            .send(version, &FindCoordinatorRequest::default().with_key(s("my-group")))
            .await
            .expect("find");
        assert_eq!(
            (response.error_code, response.node_id.0, response.port),
            (0, 1, port),
            "v{version}"
        );
    }
    let batched = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]);
    let response = conn.send(6, &batched).await.expect("find");
    assert_eq!(
        response
            .coordinators
            .iter()
            .map(|c| (c.key.to_string(), c.node_id.0, c.port))
            .collect::<Vec<_>>(),
        vec![("a".into(), 1, port), ("b".into(), 1, port)]
    );
    let transactional = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s("tx")]);
    let response = conn.send(4, &transactional).await.expect("find");
    assert_eq!(
        response.coordinators[0].error_code, 15,
        "no transaction coordinator yet"
    );
}

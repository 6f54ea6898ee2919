//! The admin client against an in-process broker: topics, partitions, configs, groups and
//! their offsets, records deletion, the cluster description.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use rill_broker::testing::TestBroker;
use rill_client::admin::{Admin, AlterOp, ConfigResource, ConfigSource, NewTopic};
use rill_client::consumer::Consumer;
use rill_client::producer::{Producer, ProducerRecord};
use rill_client::{OffsetAndMetadata, OffsetSpec, TopicPartition};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_partitions_and_configs() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 2).await.expect("broker");
    let bootstrap = broker.bootstrap();
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("admin");

    let cluster = admin.describe_cluster().await.expect("describe cluster");
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(cluster.controller, cluster.brokers[0].id);
    assert!(!cluster.cluster_id.is_empty());

    let outcomes = admin
        .create_topics(
            &[
                NewTopic::new("orders").partitions(3).config("retention.ms", "3600000"),
                NewTopic::new("defaults"),
                NewTopic::new("bad").config("cleanup.policy", "sideways"),
            ],
            false,
        )
        .await
        .expect("create topics");
    assert!(
        outcomes["orders"].is_ok() && outcomes["defaults"].is_ok(),
        "{outcomes:?}"
    );
    let bad = outcomes["bad"].as_ref().expect_err("invalid config");
    assert_eq!(bad.kafka(), Some(ResponseError::InvalidConfig), "{bad}");
    let again = admin
        .create_topics(&[NewTopic::new("orders").partitions(3)], false)
        .await
        .expect("create");
    assert_eq!(
        again["orders"].as_ref().expect_err("exists").kafka(),
        Some(ResponseError::TopicAlreadyExists)
    );
    let validated = admin
        .create_topics(&[NewTopic::new("dry-run").partitions(1)], true)
        .await
        .expect("validate only");
    assert!(validated["dry-run"].is_ok());

    let names: Vec<String> = admin
        .list_topics(false)
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["defaults", "orders"], "validate_only created nothing");

    let described = admin
        .describe_topics(Some(&["orders".to_owned(), "defaults".to_owned()]))
        .await
        .expect("describe");
    assert_eq!(described[0].partitions.len(), 3);
    assert_eq!(described[1].partitions.len(), 2, "num.partitions applies");
    let p = &described[0].partitions[1];
    assert_eq!(
        (p.partition, p.replicas.clone(), p.isr.clone()),
        (1, vec![p.leader], vec![p.leader])
    );
    let missing = admin
        .describe_topics(Some(&["nope".to_owned()]))
        .await
        .expect_err("unknown topic");
    assert!(missing.to_string().contains("nope"), "{missing}");

    let grown = admin
        .create_partitions(&BTreeMap::from([("orders".to_owned(), 5)]), false)
        .await
        .expect("create partitions");
    assert!(grown["orders"].is_ok(), "{grown:?}");
    let shrink = admin
        .create_partitions(&BTreeMap::from([("orders".to_owned(), 2)]), false)
        .await
        .expect("create partitions");
    assert!(shrink["orders"].is_err(), "partitions never shrink");
    let described = admin
        .describe_topics(Some(&["orders".to_owned()]))
        .await
        .expect("describe");
    assert_eq!(described[0].partitions.len(), 5);

    let topic = ConfigResource::Topic("orders".to_owned());
    let configs = admin.describe_configs(&topic).await.expect("describe configs");
    let retention = configs.iter().find(|c| c.name == "retention.ms").expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    let cleanup = configs
        .iter()
        .find(|c| c.name == "cleanup.policy")
        .expect("cleanup.policy");
    assert!(cleanup.is_default(), "{cleanup:?}");
    admin
        .alter_configs(
            &topic,
            &[
                ("cleanup.policy".to_owned(), AlterOp::Set("compact".to_owned())),
                ("retention.ms".to_owned(), AlterOp::Delete),
            ],
        )
        .await
        .expect("alter configs");
    let configs = admin.describe_configs(&topic).await.expect("describe configs");
    let get = |name: &str| configs.iter().find(|c| c.name == name).cloned().expect("present");
    assert_eq!(get("cleanup.policy").value.as_deref(), Some("compact"));
    assert!(get("retention.ms").is_default());
    let refused = admin
        .alter_configs(
            &topic,
            &[("cleanup.policy".to_owned(), AlterOp::Set("sideways".to_owned()))],
        )
        .await
        .expect_err("invalid value");
    assert_eq!(refused.kafka(), Some(ResponseError::InvalidConfig), "{refused}");
    let broker_configs = admin
        .describe_configs(&ConfigResource::Broker(cluster.brokers[0].id))
        .await
        .expect("broker configs");
    assert!(broker_configs.iter().any(|c| c.name == "num.partitions"));

    let deleted = admin
        .delete_topics(&["defaults".to_owned(), "nope".to_owned()])
        .await
        .expect("delete");
    assert!(deleted["defaults"].is_ok());
    assert_eq!(
        deleted["nope"].as_ref().expect_err("unknown").kafka(),
        Some(ResponseError::UnknownTopicOrPartition)
    );
    let names: Vec<String> = admin
        .list_topics(false)
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["orders"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_offsets_and_records() {
    let broker = TestBroker::start_with(|c| {
        c.num_partitions = 2;
        c.group_initial_rebalance_delay_ms = 0;
    })
    .await
    .expect("broker");
    let bootstrap = broker.bootstrap();
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("admin");
    let producer = Producer::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("producer");
    for i in 0..20 {
        producer
            .send(ProducerRecord::new("events").partition(i % 2).value(format!("e{i}")))
            .await
            .expect("send")
            .await
            .expect("delivered");
    }
    let (p0, p1) = (TopicPartition::new("events", 0), TopicPartition::new("events", 1));

    // A live member shows up in describe, with its assignment and client id.
    let mut member = Consumer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", "readers"),
        ("client.id", "reader-1"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ])
    .await
    .expect("consumer");
    member.subscribe(["events"]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = 0;
    while got < 20 {
        assert!(Instant::now() < deadline, "consumed {got} of 20");
        got += member.poll(Duration::from_millis(200)).await.expect("poll").len();
    }
    member.commit_sync().await.expect("commit");
    let groups = admin.list_groups().await.expect("list groups");
    let readers = groups.iter().find(|g| g.group_id == "readers").expect("listed");
    assert_eq!(readers.protocol_type, "consumer");
    let described = admin.describe_groups(&["readers".to_owned()]).await.expect("describe");
    let group = &described[0];
    assert_eq!((group.state.as_str(), group.protocol.as_str()), ("Stable", "range"));
    assert_eq!(group.members.len(), 1);
    assert_eq!(group.members[0].client_id, "reader-1");
    assert_eq!(group.members[0].assignment, vec![p0.clone(), p1.clone()]);
    let offsets = admin.list_group_offsets("readers").await.expect("offsets");
    assert_eq!((offsets[&p0].offset, offsets[&p1].offset), (10, 10));

    // Offsets of a group with members cannot be altered, nor the group deleted.
    let busy = admin
        .alter_group_offsets("readers", &BTreeMap::from([(p0.clone(), OffsetAndMetadata::new(0))]))
        .await
        .expect_err("active group");
    assert!(busy.kafka().is_some(), "{busy}");
    let refused = admin
        .delete_groups(&["readers".to_owned()])
        .await
        .expect("delete groups");
    assert_eq!(
        refused["readers"].as_ref().expect_err("not empty").kafka(),
        Some(ResponseError::NonEmptyGroup)
    );
    member.close().await.expect("close");

    // Empty now: reset offsets, delete one partition's, then the group.
    admin
        .alter_group_offsets(
            "readers",
            &BTreeMap::from([
                (p0.clone(), OffsetAndMetadata::new(2)),
                (p1.clone(), OffsetAndMetadata::new(4)),
            ]),
        )
        .await
        .expect("alter offsets");
    let offsets = admin.list_group_offsets("readers").await.expect("offsets");
    assert_eq!((offsets[&p0].offset, offsets[&p1].offset), (2, 4));
    admin
        .delete_group_offsets("readers", std::slice::from_ref(&p1))
        .await
        .expect("delete offsets");
    let offsets = admin.list_group_offsets("readers").await.expect("offsets");
    assert_eq!(offsets.keys().cloned().collect::<Vec<_>>(), vec![p0.clone()]);
    let described = admin.describe_groups(&["readers".to_owned()]).await.expect("describe");
    assert_eq!(described[0].state, "Empty");
    let deleted = admin
        .delete_groups(&["readers".to_owned()])
        .await
        .expect("delete groups");
    assert!(deleted["readers"].is_ok(), "{deleted:?}");
    let described = admin.describe_groups(&["readers".to_owned()]).await.expect("describe");
    assert_eq!(described[0].state, "Dead");

    // Delete records: the log start moves, and list_offsets sees it.
    let low = admin
        .delete_records(&BTreeMap::from([(p0.clone(), 6), (p1.clone(), -1)]))
        .await
        .expect("delete records");
    assert_eq!((low[&p0], low[&p1]), (6, 10));
    let earliest = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::Earliest)])
        .await
        .expect("list");
    let latest = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::Latest)])
        .await
        .expect("list");
    assert_eq!(earliest[&p0].map(|l| l.offset), Some(6));
    assert_eq!(latest[&p0].map(|l| l.offset), Some(10));
    producer.close().await.expect("close");
}

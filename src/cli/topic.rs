//! `rill topic create|list|describe|alter|delete`, printing what `kafka-topics` prints.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rill_client::admin::{Admin, AlterOp, ConfigResource, ConfigSource, NewTopic};

use super::client_args::{ClientArgs, key_value, runtime};

/// Arguments of `rill topic`.
#[derive(Debug, Args)]
pub(crate) struct TopicArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    action: TopicAction,
}

#[derive(Debug, Subcommand)]
enum TopicAction {
    /// Create a topic.
    Create(CreateArgs),
    /// List topic names.
    List(ListArgs),
    /// Describe topics: partitions, leaders, replicas, ISR, configs.
    Describe(DescribeArgs),
    /// Add partitions or change configs.
    Alter(AlterArgs),
    /// Delete a topic.
    Delete(NamedTopic),
}

/// A topic named positionally or with `--topic`, as `kafka-topics` takes it.
#[derive(Debug, Args)]
struct NamedTopic {
    /// Topic name.
    #[arg(value_name = "TOPIC", required_unless_present = "topic_flag")]
    topic: Option<String>,
    /// Topic name (Kafka's spelling).
    #[arg(long = "topic", value_name = "TOPIC", conflicts_with = "topic")]
    topic_flag: Option<String>,
}

impl NamedTopic {
    fn name(&self) -> anyhow::Result<String> {
        match (&self.topic, &self.topic_flag) {
            (Some(t), _) | (None, Some(t)) => Ok(t.clone()),
            (None, None) => bail!("a topic name is required"),
        }
    }
}

#[derive(Debug, Args)]
struct CreateArgs {
    #[command(flatten)]
    topic: NamedTopic,
    /// Partition count (default: the broker's num.partitions).
    #[arg(long)]
    partitions: Option<i32>,
    /// Replication factor (default: the broker's default.replication.factor).
    #[arg(long = "replication-factor")]
    replication_factor: Option<i16>,
    /// A topic config, repeatable: `--config retention.ms=60000`.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    configs: Vec<String>,
    /// Succeed if the topic already exists.
    #[arg(long = "if-not-exists")]
    if_not_exists: bool,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Leave out internal topics (`__consumer_offsets`).
    #[arg(long = "exclude-internal")]
    exclude_internal: bool,
}

#[derive(Debug, Args)]
struct DescribeArgs {
    /// Topic to describe (default: all).
    #[arg(value_name = "TOPIC")]
    topic: Option<String>,
    /// Topic to describe (Kafka's spelling).
    #[arg(long = "topic", value_name = "TOPIC", conflicts_with = "topic")]
    topic_flag: Option<String>,
}

#[derive(Debug, Args)]
struct AlterArgs {
    #[command(flatten)]
    topic: NamedTopic,
    /// New total partition count (partitions are only ever added).
    #[arg(long)]
    partitions: Option<i32>,
    /// Set a topic config, repeatable: `--config cleanup.policy=compact`.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    configs: Vec<String>,
    /// Remove a topic config override, repeatable.
    #[arg(long = "delete-config", value_name = "KEY")]
    delete_configs: Vec<String>,
}

pub(crate) fn run(args: TopicArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let admin = args.client.admin().await?;
        match args.action {
            TopicAction::Create(a) => create(&admin, a).await,
            TopicAction::List(a) => list(&admin, a).await,
            TopicAction::Describe(a) => describe(&admin, a).await,
            TopicAction::Alter(a) => alter(&admin, a).await,
            TopicAction::Delete(a) => delete(&admin, a).await,
        }
    })
}

async fn create(admin: &Admin, args: CreateArgs) -> anyhow::Result<()> {
    let name = args.topic.name()?;
    let mut topic = NewTopic::new(&name);
    topic.partitions = args.partitions;
    topic.replication_factor = args.replication_factor;
    for pair in &args.configs {
        let (k, v) = key_value(pair)?;
        topic.configs.insert(k, v);
    }
    let outcomes = admin.create_topics(&[topic], false).await?;
    match outcomes.get(&name) {
        Some(Ok(())) => println!("Created topic {name}."),
        Some(Err(e)) if args.if_not_exists && e.kafka() == Some(rill_client::ResponseError::TopicAlreadyExists) => {}
        Some(Err(e)) => return Err(anyhow::anyhow!("{e}")).with_context(|| format!("creating topic {name}")),
        None => bail!("the broker did not answer for topic {name}"),
    }
    Ok(())
}

async fn list(admin: &Admin, args: ListArgs) -> anyhow::Result<()> {
    for topic in admin.list_topics(!args.exclude_internal).await? {
        println!("{}", topic.name);
    }
    Ok(())
}

async fn describe(admin: &Admin, args: DescribeArgs) -> anyhow::Result<()> {
    let names = args.topic.or(args.topic_flag).map(|t| vec![t]);
    let topics = admin.describe_topics(names.as_deref()).await?;
    for topic in topics {
        let configs = admin
            .describe_configs(&ConfigResource::Topic(topic.name.clone()))
            .await?
            .into_iter()
            .filter(|c| c.source == ConfigSource::DynamicTopic)
            .map(|c| format!("{}={}", c.name, c.value.unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",");
        let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
        println!(
            "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
            topic.name,
            rill_client::kafka_uuid(&topic.id),
            topic.partitions.len(),
            replication,
            configs
        );
        let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        for p in &topic.partitions {
            println!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                topic.name,
                p.partition,
                if p.leader >= 0 {
                    p.leader.to_string()
                } else {
                    "none".to_owned()
                },
                ids(&p.replicas),
                ids(&p.isr)
            );
        }
    }
    Ok(())
}

async fn alter(admin: &Admin, args: AlterArgs) -> anyhow::Result<()> {
    let name = args.topic.name()?;
    if args.partitions.is_none() && args.configs.is_empty() && args.delete_configs.is_empty() {
        bail!("nothing to alter: give --partitions, --config or --delete-config");
    }
    if let Some(count) = args.partitions {
        let outcomes = admin
            .create_partitions(&BTreeMap::from([(name.clone(), count)]), false)
            .await?;
        if let Some(Err(e)) = outcomes.get(&name) {
            bail!("adding partitions to {name}: {e}");
        }
        println!("Adding partitions succeeded!");
    }
    let mut changes = Vec::new();
    for pair in &args.configs {
        let (k, v) = key_value(pair)?;
        changes.push((k, AlterOp::Set(v)));
    }
    for key in &args.delete_configs {
        changes.push((key.clone(), AlterOp::Delete));
    }
    if !changes.is_empty() {
        admin
            .alter_configs(&ConfigResource::Topic(name.clone()), &changes)
            .await
            .with_context(|| format!("updating the config of topic {name}"))?;
        println!("Completed updating config for topic {name}.");
    }
    Ok(())
}

async fn delete(admin: &Admin, args: NamedTopic) -> anyhow::Result<()> {
    let name = args.name()?;
    let outcomes = admin.delete_topics(std::slice::from_ref(&name)).await?;
    match outcomes.get(&name) {
        Some(Ok(())) => println!("Deleted topic {name}."),
        Some(Err(e)) => bail!("deleting topic {name}: {e}"),
        None => bail!("the broker did not answer for topic {name}"),
    }
    Ok(())
}

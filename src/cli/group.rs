//! `rill group list|describe|reset-offsets|delete`, printing what `kafka-consumer-groups`
//! prints.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rill_client::admin::{Admin, GroupDescription};
use rill_client::{OffsetAndMetadata, OffsetSpec, TopicPartition};

use super::client_args::{ClientArgs, runtime};
use super::table::Table;
use super::time::parse_datetime;

/// Arguments of `rill group`.
#[derive(Debug, Args)]
pub(crate) struct GroupArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    action: GroupAction,
}

#[derive(Debug, Subcommand)]
enum GroupAction {
    /// List consumer groups.
    List(ListArgs),
    /// Show a group's offsets and lag per partition, its members, or its state.
    Describe(DescribeArgs),
    /// Move a group's committed offsets (the group must have no active members).
    ResetOffsets(ResetArgs),
    /// Delete groups (they must have no active members).
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Also print each group's state.
    #[arg(long)]
    state: bool,
}

/// A group named positionally or with `--group`.
#[derive(Debug, Args)]
struct NamedGroup {
    /// Group id.
    #[arg(value_name = "GROUP", required_unless_present = "group_flag")]
    group: Option<String>,
    /// Group id (Kafka's spelling).
    #[arg(long = "group", value_name = "GROUP", conflicts_with = "group")]
    group_flag: Option<String>,
}

impl NamedGroup {
    fn name(&self) -> anyhow::Result<String> {
        match (&self.group, &self.group_flag) {
            (Some(g), _) | (None, Some(g)) => Ok(g.clone()),
            (None, None) => bail!("a group id is required"),
        }
    }
}

#[derive(Debug, Args)]
struct DescribeArgs {
    #[command(flatten)]
    group: NamedGroup,
    /// Print the members instead of the offsets.
    #[arg(long, conflicts_with = "state")]
    members: bool,
    /// Print the group's state instead of the offsets.
    #[arg(long)]
    state: bool,
}

#[derive(Debug, Args)]
struct ResetArgs {
    #[command(flatten)]
    group: NamedGroup,
    /// Topic to reset, optionally with partitions: `orders` or `orders:0,2`; repeatable.
    #[arg(
        long = "topic",
        value_name = "TOPIC[:PARTITIONS]",
        required_unless_present = "all_topics"
    )]
    topics: Vec<String>,
    /// Every topic the group has committed offsets for.
    #[arg(long = "all-topics", conflicts_with = "topics")]
    all_topics: bool,
    /// To the log start.
    #[arg(long = "to-earliest", group = "target")]
    to_earliest: bool,
    /// To the log end.
    #[arg(long = "to-latest", group = "target")]
    to_latest: bool,
    /// To this offset (kept within the log).
    #[arg(long = "to-offset", group = "target", value_name = "OFFSET")]
    to_offset: Option<i64>,
    /// By this many records from the committed offset (negative: back).
    #[arg(long = "shift-by", group = "target", value_name = "N", allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// To the first record at or after this time: YYYY-MM-DDTHH:mm:SS[.sss][Z|+hh:mm] (UTC if no zone).
    #[arg(long = "to-datetime", group = "target", value_name = "DATETIME")]
    to_datetime: Option<String>,
    /// To the committed offsets as they are (a no-op, useful with --dry-run).
    #[arg(long = "to-current", group = "target")]
    to_current: bool,
    /// Commit the new offsets (without it nothing changes, as with --dry-run).
    #[arg(long, conflicts_with = "dry_run")]
    execute: bool,
    /// Only print the new offsets.
    #[arg(long = "dry-run")]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    #[command(flatten)]
    group: NamedGroup,
}

pub(crate) fn run(args: GroupArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let admin = args.client.admin().await?;
        match args.action {
            GroupAction::List(a) => list(&admin, a).await,
            GroupAction::Describe(a) => describe(&admin, a).await,
            GroupAction::ResetOffsets(a) => reset(&admin, a).await,
            GroupAction::Delete(a) => delete(&admin, a).await,
        }
    })
}

async fn list(admin: &Admin, args: ListArgs) -> anyhow::Result<()> {
    let groups = admin.list_groups().await?;
    if args.state {
        let mut table = Table::new(&["GROUP", "STATE"]);
        for g in groups {
            table.row(vec![g.group_id, g.state.unwrap_or_else(|| "-".to_owned())]);
        }
        print!("{}", table.render());
    } else {
        for g in groups {
            println!("{}", g.group_id);
        }
    }
    Ok(())
}

async fn describe_one(admin: &Admin, group: &str) -> anyhow::Result<GroupDescription> {
    let described = admin.describe_groups(&[group.to_owned()]).await?;
    let description = described
        .into_iter()
        .next()
        .with_context(|| format!("no description of group {group}"))?;
    Ok(description)
}

async fn describe(admin: &Admin, args: DescribeArgs) -> anyhow::Result<()> {
    let group = args.group.name()?;
    let description = describe_one(admin, &group).await?;
    let committed = admin.list_group_offsets(&group).await?;
    if description.state == "Dead" && committed.is_empty() {
        bail!("Consumer group '{group}' does not exist.");
    }
    if args.state {
        let coordinator = admin.cluster().coordinator(&group).await?;
        let addr = coordinator.addr().to_owned();
        let id = admin
            .cluster()
            .brokers()
            .into_iter()
            .find(|b| format!("{}:{}", b.host, b.port) == addr)
            .map_or(-1, |b| b.id);
        let mut table = Table::new(&["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]);
        table.row(vec![
            group.clone(),
            format!("{addr} ({id})"),
            description.protocol.clone(),
            description.state.clone(),
            description.members.len().to_string(),
        ]);
        println!();
        print!("{}", table.render());
        return Ok(());
    }
    if description.members.is_empty() {
        println!("\nConsumer group '{group}' has no active members.");
    }
    if args.members {
        let mut table = Table::new(&["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]);
        for m in &description.members {
            table.row(vec![
                group.clone(),
                m.member_id.clone(),
                m.host.clone(),
                m.client_id.clone(),
                m.assignment.len().to_string(),
            ]);
        }
        println!();
        print!("{}", table.render());
        return Ok(());
    }
    // Every partition that is assigned or has a committed offset.
    let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    for (i, m) in description.members.iter().enumerate() {
        for tp in &m.assignment {
            owner.insert(tp.clone(), i);
        }
    }
    let partitions: BTreeSet<TopicPartition> = owner.keys().chain(committed.keys()).cloned().collect();
    let specs: Vec<(TopicPartition, OffsetSpec)> =
        partitions.iter().map(|tp| (tp.clone(), OffsetSpec::Latest)).collect();
    let ends = admin.list_offsets(&specs).await?;
    let mut table = Table::new(&[
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]);
    for tp in &partitions {
        let current = committed.get(tp).map(|o| o.offset);
        let end = ends.get(tp).copied().flatten().map(|l| l.offset);
        let lag = match (current, end) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            _ => "-".to_owned(),
        };
        let dash = || "-".to_owned();
        let member = owner.get(tp).map(|&i| &description.members[i]);
        table.row(vec![
            group.clone(),
            tp.topic.clone(),
            tp.partition.to_string(),
            current.map_or_else(dash, |c| c.to_string()),
            end.map_or_else(dash, |e| e.to_string()),
            lag,
            member.map_or_else(dash, |m| m.member_id.clone()),
            member.map_or_else(dash, |m| m.host.clone()),
            member.map_or_else(dash, |m| m.client_id.clone()),
        ]);
    }
    println!();
    print!("{}", table.render());
    Ok(())
}

/// The partitions `--topic` names (`orders`, `orders:0,2`) or, with `--all-topics`, every
/// partition the group has committed.
async fn reset_partitions(
    admin: &Admin,
    args: &ResetArgs,
    committed: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> anyhow::Result<Vec<TopicPartition>> {
    if args.all_topics {
        return Ok(committed.keys().cloned().collect());
    }
    let mut partitions = Vec::new();
    for spec in &args.topics {
        match spec.split_once(':') {
            Some((topic, list)) => {
                for p in list.split(',') {
                    let p: i32 = p
                        .trim()
                        .parse()
                        .with_context(|| format!("`{p}` in --topic {spec} is not a partition"))?;
                    partitions.push(TopicPartition::new(topic, p));
                }
            }
            None => {
                let info = admin.describe_topics(Some(std::slice::from_ref(spec))).await?;
                for topic in info {
                    partitions.extend(
                        topic
                            .partitions
                            .iter()
                            .map(|p| TopicPartition::new(&topic.name, p.partition)),
                    );
                }
            }
        }
    }
    Ok(partitions)
}

async fn reset(admin: &Admin, args: ResetArgs) -> anyhow::Result<()> {
    let group = args.group.name()?;
    let targets = [
        args.to_earliest,
        args.to_latest,
        args.to_offset.is_some(),
        args.shift_by.is_some(),
        args.to_datetime.is_some(),
        args.to_current,
    ];
    if targets.iter().filter(|t| **t).count() != 1 {
        bail!("give exactly one of --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime, --to-current");
    }
    let description = describe_one(admin, &group).await?;
    if !description.members.is_empty() && args.execute {
        bail!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
            description.state
        );
    }
    let committed = admin.list_group_offsets(&group).await?;
    let partitions = reset_partitions(admin, &args, &committed).await?;
    let specs = |spec: OffsetSpec| partitions.iter().map(|tp| (tp.clone(), spec)).collect::<Vec<_>>();
    let earliest = admin.list_offsets(&specs(OffsetSpec::Earliest)).await?;
    let latest = admin.list_offsets(&specs(OffsetSpec::Latest)).await?;
    let bounds = |tp: &TopicPartition| -> (i64, i64) {
        let lo = earliest.get(tp).copied().flatten().map_or(0, |l| l.offset);
        let hi = latest.get(tp).copied().flatten().map_or(lo, |l| l.offset);
        (lo, hi)
    };
    let by_time = match &args.to_datetime {
        Some(text) => {
            let ts = parse_datetime(text)?;
            Some(admin.list_offsets(&specs(OffsetSpec::Timestamp(ts))).await?)
        }
        None => None,
    };
    let mut new_offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
    for tp in &partitions {
        let (lo, hi) = bounds(tp);
        let current = committed.get(tp).map(|o| o.offset);
        let target = if args.to_earliest {
            lo
        } else if args.to_latest {
            hi
        } else if let Some(offset) = args.to_offset {
            offset
        } else if let Some(shift) = args.shift_by {
            current.unwrap_or(lo).saturating_add(shift)
        } else if let Some(found) = &by_time {
            found.get(tp).copied().flatten().map_or(hi, |l| l.offset)
        } else {
            current.unwrap_or(lo)
        };
        new_offsets.insert(tp.clone(), OffsetAndMetadata::new(target.clamp(lo, hi)));
    }
    if !args.execute && !args.dry_run {
        eprintln!(
            "WARN: No action will be performed as the --execute option is missing. \
             In a future major release, the default behavior of this command will be to prompt the user before \
             executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you \
             are scripting this command and want to keep the current default behavior without prompting."
        );
    }
    if args.execute {
        admin
            .alter_group_offsets(&group, &new_offsets)
            .await
            .with_context(|| format!("resetting the offsets of group {group}"))?;
    }
    let mut table = Table::new(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    for (tp, offset) in &new_offsets {
        table.row(vec![
            group.clone(),
            tp.topic.clone(),
            tp.partition.to_string(),
            offset.offset.to_string(),
        ]);
    }
    println!();
    print!("{}", table.render());
    Ok(())
}

async fn delete(admin: &Admin, args: DeleteArgs) -> anyhow::Result<()> {
    let group = args.group.name()?;
    let outcomes = admin.delete_groups(std::slice::from_ref(&group)).await?;
    match outcomes.get(&group) {
        Some(Ok(())) => {
            println!("Deletion of requested consumer groups ('{group}') was successful.");
            Ok(())
        }
        Some(Err(e)) => {
            bail!("Deletion of some consumer groups failed:\n* Group '{group}' could not be deleted due to: {e}")
        }
        None => bail!("the broker did not answer for group {group}"),
    }
}

//! The input every assignor starts from, normalised the way Java's `AbstractPartitionAssignor`
//! prepares it: members deduplicated and in a fixed order, each member's topics as a set, and the
//! partition counts of only the topics someone subscribes to.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::{MemberSubscription, TopicPartition};

/// One member of a [`Group`].
#[derive(Debug)]
pub(crate) struct Member<'a> {
    pub(crate) subscription: &'a MemberSubscription,
    /// Every topic the member subscribes to, known or not.
    pub(crate) topics: BTreeSet<&'a str>,
}

impl Member<'_> {
    pub(crate) fn id(&self) -> &str {
        &self.subscription.member_id
    }

    pub(crate) fn subscribes(&self, topic: &str) -> bool {
        self.topics.contains(topic)
    }

    /// Java's `MemberInfo` order: members with a `group.instance.id` first, by that id; then the
    /// others by member id. It keeps a static member's assignment across restarts, when its
    /// member id changes.
    pub(crate) fn instance_order(&self, other: &Self) -> Ordering {
        let key = |m: &Self| {
            let instance = m.subscription.group_instance_id.as_deref();
            (instance.is_none(), instance, m.subscription.member_id.as_str())
        };
        key(self).cmp(&key(other))
    }
}

/// The members and partitions of one assignment.
#[derive(Debug)]
pub(crate) struct Group<'a> {
    /// Sorted by member id; a member id given twice keeps its first subscription.
    pub(crate) members: Vec<Member<'a>>,
    /// Partition count of each topic at least one member subscribes to; topics with no partitions
    /// (unknown to the metadata) are left out.
    pub(crate) partitions: BTreeMap<&'a str, i32>,
}

impl<'a> Group<'a> {
    pub(crate) fn new(partitions: &'a BTreeMap<String, i32>, members: &'a [MemberSubscription]) -> Self {
        let mut by_id: BTreeMap<&str, Member<'a>> = BTreeMap::new();
        for subscription in members {
            by_id.entry(subscription.member_id.as_str()).or_insert_with(|| Member {
                subscription,
                topics: subscription.topics.iter().map(String::as_str).collect(),
            });
        }
        let members: Vec<Member<'a>> = by_id.into_values().collect();
        let partitions = partitions
            .iter()
            .filter(|(topic, count)| **count > 0 && members.iter().any(|m| m.subscribes(topic)))
            .map(|(topic, count)| (topic.as_str(), *count))
            .collect();
        Self { members, partitions }
    }

    /// Whether `tp` exists: its topic is assignable and the index is within its count.
    pub(crate) fn contains(&self, tp: &TopicPartition) -> bool {
        self.partitions
            .get(tp.topic.as_str())
            .is_some_and(|count| (0..*count).contains(&tp.partition))
    }

    /// Every assignable partition, sorted by topic and partition.
    pub(crate) fn all_partitions(&self) -> impl Iterator<Item = TopicPartition> + '_ {
        self.partitions
            .iter()
            .flat_map(|(topic, count)| (0..*count).map(move |p| TopicPartition::new(*topic, p)))
    }

    /// Turns per-member lists (indexed like [`Group::members`]) into the assignors' answer: one
    /// entry per member, each list sorted.
    pub(crate) fn answer(&self, assigned: Vec<Vec<TopicPartition>>) -> BTreeMap<String, Vec<TopicPartition>> {
        self.members
            .iter()
            .zip(assigned)
            .map(|(member, mut partitions)| {
                partitions.sort();
                (member.id().to_owned(), partitions)
            })
            .collect()
    }
}

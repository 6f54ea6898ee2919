//! What the consumer is assigned and where it stands in each partition (Java's
//! `SubscriptionState`).

use std::collections::BTreeMap;

use super::config::OffsetReset;
use crate::topic_partition::TopicPartition;

/// The consumer's state in one assigned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionState {
    /// The offset of the next record to return; `None` until known (committed offset or reset).
    pub(crate) position: Option<i64>,
    /// A reset asked for (seek to beginning/end, or `auto.offset.reset` after an out-of-range
    /// fetch); done before the next fetch.
    pub(crate) reset: Option<OffsetReset>,
    pub(crate) paused: bool,
    /// From the last fetch response: high watermark, last stable offset, log start (-1 unknown).
    pub(crate) high_watermark: i64,
    pub(crate) last_stable_offset: i64,
    pub(crate) log_start_offset: i64,
}

impl PartitionState {
    fn new() -> Self {
        Self {
            position: None,
            reset: None,
            paused: false,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
        }
    }
}

/// How partitions come to the consumer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Subscription {
    #[default]
    None,
    /// `assign`: exactly these partitions.
    Manual,
    /// `subscribe`: the group assigns partitions of these topics.
    Topics(Vec<String>),
}

/// The assigned partitions and their states.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionState {
    pub(crate) subscription: Subscription,
    partitions: BTreeMap<TopicPartition, PartitionState>,
}

impl SubscriptionState {
    /// Replaces the assignment; partitions kept keep their state.
    pub(crate) fn set_assignment(&mut self, assigned: impl IntoIterator<Item = TopicPartition>) {
        let mut next = BTreeMap::new();
        for tp in assigned {
            let state = self.partitions.remove(&tp).unwrap_or_else(PartitionState::new);
            next.insert(tp, state);
        }
        self.partitions = next;
    }

    /// Adds partitions (cooperative rebalancing), keeping existing states.
    pub(crate) fn add(&mut self, added: impl IntoIterator<Item = TopicPartition>) {
        for tp in added {
            self.partitions.entry(tp).or_insert_with(PartitionState::new);
        }
    }

    /// Removes partitions.
    pub(crate) fn remove(&mut self, removed: &[TopicPartition]) {
        for tp in removed {
            self.partitions.remove(tp);
        }
    }

    pub(crate) fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    pub(crate) fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    pub(crate) fn get(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.partitions.get(tp)
    }

    pub(crate) fn get_mut(&mut self, tp: &TopicPartition) -> Option<&mut PartitionState> {
        self.partitions.get_mut(tp)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionState)> {
        self.partitions.iter()
    }

    /// Partitions that may be fetched now: position known, not paused.
    pub(crate) fn fetchable(&self) -> impl Iterator<Item = (&TopicPartition, i64)> {
        self.partitions
            .iter()
            .filter(|(_, s)| !s.paused && s.reset.is_none())
            .filter_map(|(tp, s)| s.position.map(|p| (tp, p)))
    }

    /// Partitions whose position must be found (committed offset or reset).
    pub(crate) fn missing_positions(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.position.is_none() && s.reset.is_none())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Partitions with a pending reset, and to where.
    pub(crate) fn pending_resets(&self) -> Vec<(TopicPartition, OffsetReset)> {
        self.partitions
            .iter()
            .filter_map(|(tp, s)| s.reset.map(|r| (tp.clone(), r)))
            .collect()
    }
}

//! Rebalance callbacks (Java's `ConsumerRebalanceListener`), called from within `poll` when the
//! group moves partitions to or from this consumer.

use std::collections::BTreeMap;

use super::state::SubscriptionState;
use crate::offsets::OffsetAndMetadata;
use crate::topic_partition::TopicPartition;

/// Told when the consumer's assignment changes. Each method runs inside `poll` (or `close`),
/// before the consumer goes on; the [`RebalanceContext`] reads positions, seeks, and queues
/// commits that the consumer makes synchronously as soon as the callback returns.
pub trait RebalanceListener: Send {
    /// Partitions are taken away in an orderly rebalance: commit what was processed.
    fn on_partitions_revoked(&mut self, context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        let _ = (context, partitions);
    }

    /// Partitions were given to this consumer; seek here to start elsewhere than the committed
    /// offset.
    fn on_partitions_assigned(&mut self, context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        let _ = (context, partitions);
    }

    /// Partitions were lost without an orderly revocation (the member was fenced or timed out);
    /// they may already belong to another member, so committing is pointless. By default the same
    /// as [`RebalanceListener::on_partitions_revoked`].
    fn on_partitions_lost(&mut self, context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(context, partitions);
    }
}

/// What a rebalance callback may do with the consumer.
#[derive(Debug)]
pub struct RebalanceContext<'a> {
    pub(crate) state: &'a mut SubscriptionState,
    pub(crate) commits: BTreeMap<TopicPartition, OffsetAndMetadata>,
    pub(crate) seeks: Vec<(TopicPartition, i64)>,
}

impl<'a> RebalanceContext<'a> {
    pub(crate) fn new(state: &'a mut SubscriptionState) -> Self {
        Self {
            state,
            commits: BTreeMap::new(),
            seeks: Vec::new(),
        }
    }

    /// The position (next offset to return) in an assigned partition, if known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.state.get(tp).and_then(|s| s.position)
    }

    /// Queues a commit of `offsets`, made when the callback returns.
    pub fn commit(&mut self, offsets: BTreeMap<TopicPartition, OffsetAndMetadata>) {
        self.commits.extend(offsets);
    }

    /// Queues a commit of the current positions of `partitions`.
    pub fn commit_positions(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(position) = self.position(tp) {
                self.commits.insert(tp.clone(), OffsetAndMetadata::new(position));
            }
        }
    }

    /// Sets the position of an assigned partition, applied when the callback returns.
    pub fn seek(&mut self, tp: TopicPartition, offset: i64) {
        self.seeks.push((tp, offset));
    }
}

/// A listener that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopListener;

impl RebalanceListener for NoopListener {}

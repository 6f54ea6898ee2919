//! The `cooperative-sticky` assignor (Java's `CooperativeStickyAssignor`).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::group::Group;
use super::ownership::Ownership;
use super::{Assignor, MemberSubscription, RebalanceProtocol, TopicPartition, balanced, general};

/// A balanced assignment that moves as few owned partitions as it can, handed out under the
/// cooperative protocol (KIP-429).
///
/// - **Sticky**: a member keeps the partitions it owns unless balance needs them elsewhere. When
///   members claim the same partition the claim with the highest generation wins; claims that tie
///   are all invalid (see below).
/// - **Balanced**: with equal subscriptions member sizes differ by at most one (Java's quota
///   algorithm, `balanced.rs`); with different subscriptions no partition could move, directly or
///   along a chain of members, to one with two fewer partitions (`general.rs`).
/// - **Cooperative**: a partition that moves away from its owner is left out of this round's
///   assignment. The owner sees it missing, revokes it and rejoins, and the next rebalance gives
///   it to its new member. Partitions whose claims tie are left out the same way, until every
///   claimant gave them up.
///
/// A member's generation is the subscription's (version 2+), or else the 4-byte generation
/// Java's cooperative-sticky assignor puts in its user data
/// ([`subscription_user_data`](Assignor::subscription_user_data)), or else -1.
///
/// Racks are ignored (Java's rack-aware placement is not implemented).
#[derive(Clone, Copy, Debug, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    /// The generation as a big-endian `i32`, Java's `CooperativeStickyAssignor` user data: leaders
    /// that read subscriptions only up to version 1 (Java 2.4 to 3.3) find the generation there.
    fn subscription_user_data(&self, generation: i32) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(&generation.to_be_bytes()))
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let group = Group::new(partitions, members);
        let ownership = Ownership::resolve(&group, |index| generation(group.members[index].subscription));
        let same_topics = group.members.windows(2).all(|pair| pair[0].topics == pair[1].topics);
        let mut assigned = if same_topics {
            balanced::assign(&group, &ownership)
        } else {
            general::assign(&group, &ownership)
        };
        for (index, partitions) in assigned.iter_mut().enumerate() {
            partitions.retain(|tp| ownership.may_take(index, tp));
        }
        group.answer(assigned)
    }
}

/// The generation `subscription`'s owned partitions were assigned in.
fn generation(subscription: &MemberSubscription) -> i32 {
    if subscription.generation >= 0 {
        return subscription.generation;
    }
    match subscription.user_data.as_deref() {
        Some([a, b, c, d, ..]) => i32::from_be_bytes([*a, *b, *c, *d]),
        _ => -1,
    }
}

#[cfg(test)]
#[path = "cooperative_sticky_test.rs"]
mod tests;

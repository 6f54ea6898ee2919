//! Who owns which partition before a cooperative rebalance, settled from the members' claims.

use std::collections::{BTreeMap, BTreeSet};

use super::TopicPartition;
use super::group::Group;

/// The previous owners, as the cooperative-sticky assignor trusts them.
///
/// A partition claimed by several members belongs to the one that claims it with the highest
/// generation (the others missed a rebalance and hold a stale assignment). When two or more
/// members share that highest generation nobody owns it: the claims are invalid, no claimant may
/// keep it, and it is handed out only once they all gave it up. Claims on partitions the group
/// cannot assign (unknown topic, no such index, nobody subscribed) are dropped.
#[derive(Debug)]
pub(crate) struct Ownership {
    /// Per member (indexed like [`Group::members`]): the partitions it owns and may keep because
    /// it still subscribes to their topic; sorted.
    pub(crate) keep: Vec<Vec<TopicPartition>>,
    /// Each claimed partition's owner, or `None` when the claims tie.
    owner: BTreeMap<TopicPartition, Option<usize>>,
}

impl Ownership {
    /// Settles the claims in `group`, reading each member's generation with `generation`.
    pub(crate) fn resolve(group: &Group<'_>, generation: impl Fn(usize) -> i32) -> Self {
        let mut claims: BTreeMap<TopicPartition, (i32, Vec<usize>)> = BTreeMap::new();
        for (index, member) in group.members.iter().enumerate() {
            let member_generation = generation(index);
            let owned: BTreeSet<&TopicPartition> = member
                .subscription
                .owned
                .iter()
                .filter(|tp| group.contains(tp))
                .collect();
            for tp in owned {
                let (best, claimants) = claims.entry(tp.clone()).or_insert((member_generation, Vec::new()));
                if member_generation > *best {
                    *best = member_generation;
                    claimants.clear();
                }
                if member_generation == *best {
                    claimants.push(index);
                }
            }
        }
        let owner: BTreeMap<TopicPartition, Option<usize>> = claims
            .into_iter()
            .map(|(tp, (_, claimants))| {
                let owner = match claimants[..] {
                    [only] => Some(only),
                    _ => None,
                };
                (tp, owner)
            })
            .collect();
        let mut keep = vec![Vec::new(); group.members.len()];
        for (tp, owner) in &owner {
            match *owner {
                Some(index) if group.members[index].subscribes(&tp.topic) => keep[index].push(tp.clone()),
                _ => {}
            }
        }
        Self { keep, owner }
    }

    /// Whether `member` may start consuming `tp` now: nobody else owns it (an owner must revoke
    /// it first) and its claims do not tie.
    pub(crate) fn may_take(&self, member: usize, tp: &TopicPartition) -> bool {
        match self.owner.get(tp) {
            None => true,
            Some(owner) => *owner == Some(member),
        }
    }
}

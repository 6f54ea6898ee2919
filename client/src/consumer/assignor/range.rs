//! The `range` assignor (Java's `RangeAssignor`).

use std::collections::BTreeMap;

use super::group::{Group, Member};
use super::{Assignor, MemberSubscription, RebalanceProtocol, TopicPartition};

/// Assigns each topic on its own: the topic's subscribers in Java's member order (static members
/// by `group.instance.id` first, then the rest by member id) each take a contiguous range of its
/// partitions, and the first `partitions % subscribers` of them one extra.
///
/// With two members `C0`, `C1` and two topics of three partitions, `C0` gets `t0-0, t0-1, t1-0,
/// t1-1` and `C1` gets `t0-2, t1-2`: members at the front of the order get the extra partition of
/// every topic.
///
/// Java's rack-aware variant (used when members send `client.rack` and partition replicas have
/// racks) is not implemented: racks are ignored, which Java also does when racks are unknown.
#[derive(Clone, Copy, Debug, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let group = Group::new(partitions, members);
        let mut assigned = vec![Vec::new(); group.members.len()];
        for (&topic, &count) in &group.partitions {
            let mut subscribers: Vec<(usize, &Member<'_>)> = group
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.subscribes(topic))
                .collect();
            if subscribers.is_empty() {
                continue;
            }
            subscribers.sort_by(|(_, a), (_, b)| a.instance_order(b));
            let count_len = usize::try_from(count).unwrap_or_default();
            let (each, extra) = (count_len / subscribers.len(), count_len % subscribers.len());
            let mut next = 0..count;
            for (rank, (index, _)) in subscribers.into_iter().enumerate() {
                let len = each + usize::from(rank < extra);
                assigned[index].extend(next.by_ref().take(len).map(|p| TopicPartition::new(topic, p)));
            }
        }
        group.answer(assigned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::assignor::testing::{counts, member, tps};

    fn assign(partitions: &[(&str, i32)], members: &[MemberSubscription]) -> BTreeMap<String, Vec<TopicPartition>> {
        RangeAssignor.assign(&counts(partitions), members)
    }

    #[test]
    fn javadoc_example_two_members_two_topics() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let got = assign(&[("t0", 3), ("t1", 3)], &members);
        assert_eq!(got["C0"], tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]));
        assert_eq!(got["C1"], tps(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn static_members_sort_by_instance_id_before_dynamic_ones() {
        // Member ids sort C2 < C3, but instance ids put C3 (I0) first; dynamic D0 comes last.
        let mut c3 = member("C3", &["t0", "t1"]);
        c3.group_instance_id = Some("I0".into());
        let mut c2 = member("C2", &["t0", "t1"]);
        c2.group_instance_id = Some("I1".into());
        let d0 = member("D0", &["t0", "t1"]);
        let got = assign(&[("t0", 4), ("t1", 3)], &[c2, d0, c3]);
        assert_eq!(got["C3"], tps(&[("t0", 0), ("t0", 1), ("t1", 0)]));
        assert_eq!(got["C2"], tps(&[("t0", 2), ("t1", 1)]));
        assert_eq!(got["D0"], tps(&[("t0", 3), ("t1", 2)]));
    }

    #[test]
    fn heterogeneous_subscriptions_split_each_topic_among_its_subscribers() {
        let members = [member("a", &["t0"]), member("b", &["t0", "t1"]), member("c", &["t1"])];
        let got = assign(&[("t0", 3), ("t1", 2)], &members);
        assert_eq!(got["a"], tps(&[("t0", 0), ("t0", 1)]));
        assert_eq!(got["b"], tps(&[("t0", 2), ("t1", 0)]));
        assert_eq!(got["c"], tps(&[("t1", 1)]));
    }

    #[test]
    fn unknown_topics_and_unsubscribed_topics_are_ignored() {
        let members = [member("a", &["t0", "ghost"]), member("b", &["ghost"])];
        let got = assign(&[("t0", 2), ("other", 5), ("empty", 0)], &members);
        assert_eq!(got["a"], tps(&[("t0", 0), ("t0", 1)]));
        assert_eq!(got["b"], Vec::new());
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn more_members_than_partitions_leaves_the_last_ones_empty() {
        let members = [member("a", &["t"]), member("b", &["t"]), member("c", &["t"])];
        let got = assign(&[("t", 2)], &members);
        assert_eq!(got["a"], tps(&[("t", 0)]));
        assert_eq!(got["b"], tps(&[("t", 1)]));
        assert_eq!(got["c"], Vec::new());
    }

    #[test]
    fn no_members_means_an_empty_answer() {
        assert!(assign(&[("t", 3)], &[]).is_empty());
    }
}

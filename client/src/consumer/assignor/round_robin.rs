//! The `roundrobin` assignor (Java's `RoundRobinAssignor`).

use std::collections::BTreeMap;

use super::group::{Group, Member};
use super::{Assignor, MemberSubscription, RebalanceProtocol, TopicPartition};

/// Deals every partition of every subscribed topic, sorted by topic and partition, to the members
/// in Java's member order (static members by `group.instance.id` first, then the rest by member
/// id), round and round, skipping a member that does not subscribe to the partition's topic.
///
/// With equal subscriptions member counts differ by at most one. With different subscriptions the
/// skipping can leave the assignment unbalanced, as in Java.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
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
        let mut order: Vec<(usize, &Member<'_>)> = group.members.iter().enumerate().collect();
        order.sort_by(|(_, a), (_, b)| a.instance_order(b));
        let mut assigned = vec![Vec::new(); group.members.len()];
        let mut turn = 0;
        for tp in group.all_partitions() {
            // Every topic in the group has a subscriber, so this finds one within a lap.
            let Some(offset) = (0..order.len()).find(|k| order[(turn + k) % order.len()].1.subscribes(&tp.topic))
            else {
                continue;
            };
            let pick = (turn + offset) % order.len();
            assigned[order[pick].0].push(tp);
            turn = (pick + 1) % order.len();
        }
        group.answer(assigned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::assignor::testing::{counts, member, tps};

    fn assign(partitions: &[(&str, i32)], members: &[MemberSubscription]) -> BTreeMap<String, Vec<TopicPartition>> {
        RoundRobinAssignor.assign(&counts(partitions), members)
    }

    #[test]
    fn javadoc_example_two_members_two_topics() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let got = assign(&[("t0", 3), ("t1", 3)], &members);
        assert_eq!(got["C0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
        assert_eq!(got["C1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));
    }

    #[test]
    fn javadoc_example_heterogeneous_subscriptions() {
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let got = assign(&[("t0", 1), ("t1", 2), ("t2", 3)], &members);
        assert_eq!(got["C0"], tps(&[("t0", 0)]));
        assert_eq!(got["C1"], tps(&[("t1", 0)]));
        assert_eq!(got["C2"], tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]));
    }

    #[test]
    fn javadoc_example_static_members_follow_instance_ids() {
        // After a rolling bounce the member ids changed; instance ids keep the assignment.
        let mut members = Vec::new();
        for (member_id, instance) in [("C5", "I0"), ("C3", "I1"), ("C4", "I2")] {
            let mut m = member(member_id, &["t0", "t1"]);
            m.group_instance_id = Some(instance.into());
            members.push(m);
        }
        let got = assign(&[("t0", 3), ("t1", 3)], &members);
        assert_eq!(got["C5"], tps(&[("t0", 0), ("t1", 0)]));
        assert_eq!(got["C3"], tps(&[("t0", 1), ("t1", 1)]));
        assert_eq!(got["C4"], tps(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn unknown_topics_are_ignored_and_extra_members_get_nothing() {
        let members = [member("a", &["t", "ghost"]), member("b", &["t"]), member("c", &["t"])];
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

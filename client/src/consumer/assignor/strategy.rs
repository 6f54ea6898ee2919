//! The [`Assignor`] trait and the lookup of an assignor by its `partition.assignment.strategy`
//! name.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;

use super::{CooperativeStickyAssignor, MemberSubscription, RangeAssignor, RoundRobinAssignor, TopicPartition};
use crate::config::assignor_name;

/// How members give up partitions when the group rebalances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes everything it owns before it rejoins.
    Eager,
    /// KIP-429: members keep what they own while rejoining and revoke only the partitions the new
    /// assignment takes away; a partition that moves reaches its new owner one rebalance later.
    Cooperative,
}

/// A partition assignor, run by the group leader over every member's subscription.
pub trait Assignor: Send + Sync + fmt::Debug {
    /// The protocol name offered in JoinGroup: `range`, `roundrobin` or `cooperative-sticky`, the
    /// names the Java client uses, so mixed-language groups agree on one.
    fn name(&self) -> &'static str;

    /// Whether members using this assignor rebalance eagerly or cooperatively.
    fn protocol(&self) -> RebalanceProtocol;

    /// User data to put in this member's subscription, given the generation of its current
    /// assignment (-1 when it has none). `None` by default.
    fn subscription_user_data(&self, generation: i32) -> Option<Bytes> {
        let _ = generation;
        None
    }

    /// Assigns partitions to `members`. `partitions` holds the partition count of each topic;
    /// subscribed topics missing from it (or with no partitions) are ignored, and so are topics in
    /// it that no member subscribes to.
    ///
    /// The answer has an entry for every member id in `members`, possibly empty, with each list
    /// sorted by topic and partition. The same input always gives the same answer. A member id
    /// that occurs twice in `members` counts once, with its first subscription.
    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>>;
}

/// The assignor called `name`: `range`, `roundrobin`, `cooperative-sticky`, or the Java class
/// names (`org.apache.kafka.clients.consumer.RangeAssignor`, `RoundRobinAssignor`,
/// `CooperativeStickyAssignor`), as accepted by `partition.assignment.strategy`.
pub fn assignor(name: &str) -> Option<Box<dyn Assignor>> {
    match assignor_name(name.trim())? {
        "range" => Some(Box::new(RangeAssignor)),
        "roundrobin" => Some(Box::new(RoundRobinAssignor)),
        "cooperative-sticky" => Some(Box::new(CooperativeStickyAssignor)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_accepts_protocol_and_java_class_names() {
        for (name, expected, protocol) in [
            ("range", "range", RebalanceProtocol::Eager),
            (
                "org.apache.kafka.clients.consumer.RangeAssignor",
                "range",
                RebalanceProtocol::Eager,
            ),
            ("roundrobin", "roundrobin", RebalanceProtocol::Eager),
            (
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
                "roundrobin",
                RebalanceProtocol::Eager,
            ),
            (
                "cooperative-sticky",
                "cooperative-sticky",
                RebalanceProtocol::Cooperative,
            ),
            (
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
                "cooperative-sticky",
                RebalanceProtocol::Cooperative,
            ),
            (" range ", "range", RebalanceProtocol::Eager),
        ] {
            let found = assignor(name).unwrap_or_else(|| panic!("{name} not found"));
            assert_eq!(found.name(), expected);
            assert_eq!(found.protocol(), protocol);
        }
        assert!(assignor("sticky").is_none());
        assert!(assignor("org.apache.kafka.clients.consumer.StickyAssignor").is_none());
        assert!(assignor("").is_none());
    }
}

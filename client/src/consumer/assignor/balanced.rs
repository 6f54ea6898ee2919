//! The cooperative-sticky assignment when every member subscribes to the same topics (Java's
//! `ConstrainedAssignmentBuilder`): quotas make it balanced, owned partitions within quota make it
//! sticky.

use std::collections::{BTreeSet, VecDeque};

use super::TopicPartition;
use super::group::Group;
use super::ownership::Ownership;

/// With `P` partitions and `M` members every member gets `P / M` partitions, and `P % M` of them
/// one more. In member id order each member keeps what it owns up to its quota: one more than
/// `P / M` while such places are left and it owns that many, else `P / M`; when it owns more, it
/// keeps the lowest partition numbers. The partitions nobody kept, in topic and partition order,
/// then go round-robin to the members below `P / M`, and once none is, one each to the members
/// that may still take the extra one.
pub(crate) fn assign(group: &Group<'_>, ownership: &Ownership) -> Vec<Vec<TopicPartition>> {
    let members = group.members.len();
    let mut assigned: Vec<Vec<TopicPartition>> = vec![Vec::new(); members];
    if members == 0 {
        return assigned;
    }
    let total: usize = group
        .partitions
        .values()
        .map(|count| usize::try_from(*count).unwrap_or_default())
        .sum();
    let min_quota = total / members;
    let extra_places = total % members;
    let mut extra_taken = 0;

    let mut below_min = Vec::new();
    let mut at_min = VecDeque::new();
    let mut taken = BTreeSet::new();
    for (index, owned) in ownership.keep.iter().enumerate() {
        let mut kept = owned.clone();
        kept.sort_by(|a, b| (a.partition, &a.topic).cmp(&(b.partition, &b.topic)));
        if kept.len() > min_quota && extra_taken < extra_places {
            extra_taken += 1;
            kept.truncate(min_quota + 1);
        } else {
            kept.truncate(min_quota);
            if kept.len() < min_quota {
                below_min.push(index);
            } else {
                at_min.push_back(index);
            }
        }
        taken.extend(kept.iter().cloned());
        assigned[index] = kept;
    }

    let mut cursor = 0;
    for tp in group.all_partitions().filter(|tp| !taken.contains(tp)) {
        let index = if !below_min.is_empty() {
            if cursor >= below_min.len() {
                cursor = 0;
            }
            let index = below_min[cursor];
            if assigned[index].len() + 1 == min_quota {
                below_min.remove(cursor);
                at_min.push_back(index);
            } else {
                cursor += 1;
            }
            index
        } else if let Some(index) = at_min.pop_front().filter(|_| extra_taken < extra_places) {
            extra_taken += 1;
            index
        } else {
            // The quotas add up to the partition count, so this is not reached; should it be,
            // the partition still goes to someone.
            (0..members)
                .min_by_key(|i| (assigned[*i].len(), *i))
                .unwrap_or_default()
        };
        assigned[index].push(tp);
    }
    assigned
}

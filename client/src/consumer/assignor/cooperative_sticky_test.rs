use super::*;
use crate::consumer::assignor::testing::{counts, member, owner, tps};

type Answer = BTreeMap<String, Vec<TopicPartition>>;

fn assign(partitions: &BTreeMap<String, i32>, members: &[MemberSubscription]) -> Answer {
    CooperativeStickyAssignor.assign(partitions, members)
}

/// What the members do after a cooperative rebalance: each owns exactly what it was given (it
/// revoked the rest) in the new generation `generation`.
fn adopt(members: &mut [MemberSubscription], answer: &Answer, generation: i32) {
    for m in members {
        m.owned = answer[&m.member_id].clone();
        m.generation = generation;
    }
}

fn sizes(answer: &Answer) -> Vec<usize> {
    answer.values().map(Vec::len).collect()
}

#[test]
fn fresh_group_splits_by_quota_in_member_order() {
    let members = [
        member("a", &["t0", "t1"]),
        member("b", &["t0", "t1"]),
        member("c", &["t0", "t1"]),
    ];
    let got = assign(&counts(&[("t0", 4), ("t1", 3)]), &members);
    assert_eq!(got["a"], tps(&[("t0", 0), ("t0", 3), ("t1", 2)]));
    assert_eq!(got["b"], tps(&[("t0", 1), ("t1", 0)]));
    assert_eq!(got["c"], tps(&[("t0", 2), ("t1", 1)]));
}

#[test]
fn joining_member_gets_partitions_one_rebalance_later_and_nothing_else_moves() {
    let partitions = counts(&[("t", 6)]);
    let mut members = vec![
        owner("a", &["t"], &[("t", 0), ("t", 1), ("t", 2)], 1),
        owner("b", &["t"], &[("t", 3), ("t", 4), ("t", 5)], 1),
        member("c", &["t"]),
    ];

    // First round: a and b keep two each and give up one; c gets nothing yet.
    let first = assign(&partitions, &members);
    assert_eq!(first["a"], tps(&[("t", 0), ("t", 1)]));
    assert_eq!(first["b"], tps(&[("t", 3), ("t", 4)]));
    assert_eq!(first["c"], Vec::new());

    // Once a and b revoked them, the second round hands them to c, and nobody else changes.
    adopt(&mut members, &first, 2);
    let second = assign(&partitions, &members);
    assert_eq!(second["a"], first["a"]);
    assert_eq!(second["b"], first["b"]);
    assert_eq!(second["c"], tps(&[("t", 2), ("t", 5)]));
}

#[test]
fn leaving_member_partitions_spread_at_once_and_nothing_else_moves() {
    let partitions = counts(&[("t", 4), ("u", 2)]);
    let members = [
        owner("a", &["t", "u"], &[("t", 0), ("u", 0)], 3),
        owner("b", &["t", "u"], &[("t", 1), ("u", 1)], 3),
        // c owned t-2 and t-3, and left.
    ];
    let got = assign(&partitions, &members);
    assert_eq!(got["a"], tps(&[("t", 0), ("t", 2), ("u", 0)]));
    assert_eq!(got["b"], tps(&[("t", 1), ("t", 3), ("u", 1)]));
}

#[test]
fn claim_with_the_higher_generation_wins() {
    // b missed a rebalance and still claims t-1, which a was given in generation 5.
    let partitions = counts(&[("t", 4)]);
    let members = [
        owner("a", &["t"], &[("t", 0), ("t", 1)], 5),
        owner("b", &["t"], &[("t", 1), ("t", 2), ("t", 3)], 4),
    ];
    let got = assign(&partitions, &members);
    assert_eq!(got["a"], tps(&[("t", 0), ("t", 1)]));
    assert_eq!(got["b"], tps(&[("t", 2), ("t", 3)]));
}

#[test]
fn tied_claims_are_withheld_until_every_claimant_gave_them_up() {
    let partitions = counts(&[("t", 4)]);
    let mut members = vec![
        owner("a", &["t"], &[("t", 0), ("t", 1)], 5),
        owner("b", &["t"], &[("t", 1), ("t", 2)], 5),
    ];
    let first = assign(&partitions, &members);
    assert_eq!(first["a"], tps(&[("t", 0)]), "nobody may keep t-1, not even a");
    assert_eq!(first["b"], tps(&[("t", 2), ("t", 3)]));

    adopt(&mut members, &first, 6);
    let second = assign(&partitions, &members);
    assert_eq!(second["a"], tps(&[("t", 0), ("t", 1)]));
    assert_eq!(second["b"], tps(&[("t", 2), ("t", 3)]));
}

#[test]
fn generation_falls_back_to_the_user_data_of_old_subscriptions() {
    // A version 0/1 subscription has no generation field; Java's assignor sends it as user data.
    let partitions = counts(&[("t", 2)]);
    let mut old = owner("a", &["t"], &[("t", 0), ("t", 1)], -1);
    old.user_data = CooperativeStickyAssignor.subscription_user_data(7);
    let newer = owner("b", &["t"], &[("t", 0)], 6);
    let got = assign(&partitions, &[old, newer]);
    assert_eq!(got["a"], tps(&[("t", 0)]));
    assert_eq!(got["b"], Vec::new(), "t-1 moves from a to b next round");
}

#[test]
fn partition_of_a_dropped_topic_moves_after_its_owner_revokes_it() {
    let partitions = counts(&[("t", 2), ("u", 1)]);
    // a unsubscribed from u but still owns u-0; b subscribes to t and u.
    let mut members = vec![
        owner("a", &["t"], &[("t", 0), ("u", 0)], 2),
        owner("b", &["t", "u"], &[("t", 1)], 2),
    ];
    let first = assign(&partitions, &members);
    assert_eq!(first["a"], tps(&[("t", 0)]));
    assert_eq!(first["b"], tps(&[("t", 1)]));

    adopt(&mut members, &first, 3);
    let second = assign(&partitions, &members);
    assert_eq!(second["a"], tps(&[("t", 0)]));
    assert_eq!(second["b"], tps(&[("t", 1), ("u", 0)]));
}

#[test]
fn heterogeneous_subscriptions_are_balanced_greedily() {
    let partitions = counts(&[("t0", 4), ("t1", 4)]);
    let members = [member("a", &["t0"]), member("b", &["t0", "t1"]), member("c", &["t1"])];
    let got = assign(&partitions, &members);
    assert_eq!(got["a"], tps(&[("t0", 0), ("t0", 2)]));
    assert_eq!(got["b"], tps(&[("t0", 1), ("t0", 3), ("t1", 2)]));
    assert_eq!(got["c"], tps(&[("t1", 0), ("t1", 1), ("t1", 3)]));
}

#[test]
fn heterogeneous_rebalance_keeps_owned_partitions_where_balance_allows() {
    // a owned all of t0 alone; b joins subscribed to t0 and t1, c to t1 only.
    let partitions = counts(&[("t0", 4), ("t1", 2)]);
    let mut members = vec![
        owner("a", &["t0"], &[("t0", 0), ("t0", 1), ("t0", 2), ("t0", 3)], 1),
        member("b", &["t0", "t1"]),
        member("c", &["t1"]),
    ];
    let first = assign(&partitions, &members);
    assert_eq!(
        first["a"],
        tps(&[("t0", 2), ("t0", 3)]),
        "a gives up two partitions to b"
    );
    assert_eq!(first["b"], Vec::new(), "b waits for a to revoke them");
    assert_eq!(first["c"], tps(&[("t1", 0), ("t1", 1)]));

    adopt(&mut members, &first, 2);
    let second = assign(&partitions, &members);
    assert_eq!(second["a"], first["a"]);
    assert_eq!(second["b"], tps(&[("t0", 0), ("t0", 1)]));
    assert_eq!(second["c"], first["c"]);
}

#[test]
fn claims_on_unknown_topics_and_missing_partitions_are_ignored() {
    let partitions = counts(&[("t", 2)]);
    let members = [
        owner("a", &["t", "ghost"], &[("t", 7), ("ghost", 0), ("t", 0)], 1),
        member("b", &["t"]),
    ];
    let got = assign(&partitions, &members);
    assert_eq!(got["a"], tps(&[("t", 0)]));
    assert_eq!(got["b"], tps(&[("t", 1)]));
}

#[test]
fn more_members_than_partitions_keeps_owners_and_leaves_the_rest_empty() {
    let partitions = counts(&[("t", 3)]);
    let members = [
        member("a", &["t"]),
        member("b", &["t"]),
        owner("c", &["t"], &[("t", 2)], 4),
        member("d", &["t"]),
        owner("e", &["t"], &[("t", 0)], 4),
    ];
    let got = assign(&partitions, &members);
    assert_eq!(got["c"], tps(&[("t", 2)]));
    assert_eq!(got["e"], tps(&[("t", 0)]));
    assert_eq!(got["a"], tps(&[("t", 1)]));
    assert_eq!(sizes(&got), vec![1, 0, 1, 0, 1]);
}

#[test]
fn no_members_or_no_partitions() {
    assert!(assign(&counts(&[("t", 3)]), &[]).is_empty());
    let got = assign(&counts(&[]), &[member("a", &["t"])]);
    assert_eq!(got["a"], Vec::new());
}

#[test]
fn member_order_in_the_input_does_not_matter() {
    let partitions = counts(&[("t", 5), ("u", 3)]);
    let members = vec![
        owner("m2", &["t", "u"], &[("t", 0), ("t", 1), ("u", 2)], 3),
        owner("m0", &["t", "u"], &[("t", 1), ("u", 0)], 2),
        member("m1", &["t", "u"]),
    ];
    let mut reversed = members.clone();
    reversed.reverse();
    assert_eq!(assign(&partitions, &members), assign(&partitions, &reversed));
}

#[test]
fn user_data_is_the_big_endian_generation() {
    let data = CooperativeStickyAssignor.subscription_user_data(0x0102_0304);
    assert_eq!(data.as_deref(), Some(&[1, 2, 3, 4][..]));
    assert_eq!(generation(&owner("a", &[], &[], -1)), -1);
    let mut short = owner("a", &[], &[], -1);
    short.user_data = Some(Bytes::from_static(&[1, 2]));
    assert_eq!(generation(&short), -1);
}

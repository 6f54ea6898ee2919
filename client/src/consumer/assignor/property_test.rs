//! Every assignor over many random groups, replayable by seed: each assignable partition goes to
//! exactly one subscriber (for cooperative-sticky once the owners revoked what moves), the
//! assignment is balanced as far as each assignor promises, and the member order of the input
//! does not change the answer.

use std::collections::{BTreeMap, BTreeSet};

use super::testing::XorShift;
use super::*;

const SEEDS: u64 = 500;

/// Bounds of a random group.
#[derive(Clone, Copy, Debug)]
struct Size {
    topics: u64,
    partitions: u64,
    members: u64,
}

const SMALL: Size = Size {
    topics: 4,
    partitions: 9,
    members: 7,
};

const LARGE: Size = Size {
    topics: 8,
    partitions: 40,
    members: 16,
};

type Answer = BTreeMap<String, Vec<TopicPartition>>;

#[derive(Debug)]
struct Scenario {
    partitions: BTreeMap<String, i32>,
    members: Vec<MemberSubscription>,
    equal_subscriptions: bool,
}

fn scenario(rng: &mut XorShift, size: Size) -> Scenario {
    let topics: Vec<String> = (0..1 + rng.below(size.topics)).map(|i| format!("t{i}")).collect();
    let mut partitions = BTreeMap::new();
    for topic in &topics {
        // Now and then a topic the metadata does not know, or one with no partitions.
        if !rng.one_in(6) {
            partitions.insert(
                topic.clone(),
                i32::try_from(rng.below(size.partitions)).unwrap_or_default(),
            );
        }
    }
    let equal_subscriptions = rng.one_in(2);
    let pick_topics = |rng: &mut XorShift| -> Vec<String> {
        let mut chosen: Vec<String> = topics.iter().filter(|_| !rng.one_in(3)).cloned().collect();
        if rng.one_in(5) {
            chosen.push("ghost".to_owned());
        }
        chosen
    };
    let shared = pick_topics(rng);
    let mut members = Vec::new();
    for i in 0..rng.below(size.members) {
        let mut m = MemberSubscription::new(format!("m{}-{i}", rng.below(1000)), Vec::<String>::new());
        m.topics = if equal_subscriptions {
            shared.clone()
        } else {
            pick_topics(rng)
        };
        if rng.one_in(3) {
            m.group_instance_id = Some(format!("i{}", rng.below(1000)));
        }
        members.push(m);
    }
    Scenario {
        partitions,
        members,
        equal_subscriptions,
    }
}

/// Random previous ownership, with overlapping and stale claims and claims on partitions that
/// no longer exist.
fn claim_randomly(rng: &mut XorShift, scenario: &mut Scenario, size: Size) {
    let universe: Vec<TopicPartition> = (0..size.topics)
        .map(|i| format!("t{i}"))
        .chain(["ghost".to_owned()])
        .flat_map(|t| (0..size.partitions).map(move |p| TopicPartition::new(t.clone(), p as i32)))
        .collect();
    let members = scenario.members.len().max(1) as u64;
    for m in &mut scenario.members {
        m.owned = universe.iter().filter(|_| rng.one_in(members + 1)).cloned().collect();
        m.generation = if rng.one_in(5) {
            -1
        } else {
            i32::try_from(rng.below(3)).unwrap_or_default()
        };
    }
}

fn shuffled(rng: &mut XorShift, members: &[MemberSubscription]) -> Vec<MemberSubscription> {
    let mut members = members.to_vec();
    for i in (1..members.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or_default();
        members.swap(i, j);
    }
    members
}

fn subscribes(member: &MemberSubscription, topic: &str) -> bool {
    member.topics.iter().any(|t| t == topic)
}

/// The partitions the group can assign: existing topics someone subscribes to.
fn assignable(scenario: &Scenario) -> BTreeSet<TopicPartition> {
    scenario
        .partitions
        .iter()
        .filter(|(topic, _)| scenario.members.iter().any(|m| subscribes(m, topic)))
        .flat_map(|(topic, count)| (0..*count).map(move |p| TopicPartition::new(topic.clone(), p)))
        .collect()
}

/// Every member has an entry, and each partition went at most once, to a subscriber. Returns the
/// partitions given.
fn check_valid(seed: u64, scenario: &Scenario, answer: &Answer) -> BTreeSet<TopicPartition> {
    let ids: BTreeSet<&str> = scenario.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(
        answer.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        ids,
        "seed {seed}"
    );
    let allowed = assignable(scenario);
    let mut given = BTreeSet::new();
    for m in &scenario.members {
        for tp in &answer[&m.member_id] {
            assert!(given.insert(tp.clone()), "seed {seed}: {tp} given twice in {answer:?}");
            assert!(allowed.contains(tp), "seed {seed}: {tp} cannot be assigned");
            assert!(subscribes(m, &tp.topic), "seed {seed}: {} got {tp}", m.member_id);
        }
    }
    given
}

fn check_complete(seed: u64, scenario: &Scenario, answer: &Answer) {
    let given = check_valid(seed, scenario, answer);
    assert_eq!(given, assignable(scenario), "seed {seed}: {scenario:?} -> {answer:?}");
}

/// Java's definition: no partition could move to a subscriber of its topic with two fewer.
fn check_balanced(seed: u64, scenario: &Scenario, answer: &Answer) {
    for holder in &scenario.members {
        let held = answer[&holder.member_id].len();
        for tp in &answer[&holder.member_id] {
            for other in scenario.members.iter().filter(|m| subscribes(m, &tp.topic)) {
                assert!(
                    held <= answer[&other.member_id].len() + 1,
                    "seed {seed}: {tp} could move from {} to {}: {answer:?}",
                    holder.member_id,
                    other.member_id
                );
            }
        }
    }
}

fn spread(answer: &Answer) -> usize {
    let sizes = answer.values().map(Vec::len);
    sizes.clone().max().unwrap_or_default() - sizes.min().unwrap_or_default()
}

fn check_deterministic(seed: u64, rng: &mut XorShift, assignor: &dyn Assignor, scenario: &Scenario, answer: &Answer) {
    let again = assignor.assign(&scenario.partitions, &shuffled(rng, &scenario.members));
    assert_eq!(
        &again,
        answer,
        "seed {seed}: {} depends on member order",
        assignor.name()
    );
}

#[test]
fn range_assigns_everything_evenly_per_topic_and_deterministically() {
    for seed in 0..SEEDS {
        let mut rng = XorShift::new(seed);
        let scenario = scenario(&mut rng, SMALL);
        let answer = RangeAssignor.assign(&scenario.partitions, &scenario.members);
        check_complete(seed, &scenario, &answer);
        for topic in scenario.partitions.keys() {
            let per_member: Vec<usize> = scenario
                .members
                .iter()
                .filter(|m| subscribes(m, topic))
                .map(|m| answer[&m.member_id].iter().filter(|tp| &tp.topic == topic).count())
                .collect();
            let (low, high) = (per_member.iter().min(), per_member.iter().max());
            assert!(
                high.zip(low).is_none_or(|(h, l)| h - l <= 1),
                "seed {seed}: {topic} {per_member:?}"
            );
        }
        check_deterministic(seed, &mut rng, &RangeAssignor, &scenario, &answer);
    }
}

#[test]
fn roundrobin_assigns_everything_evenly_and_deterministically() {
    for seed in 0..SEEDS {
        let mut rng = XorShift::new(seed);
        let scenario = scenario(&mut rng, SMALL);
        let answer = RoundRobinAssignor.assign(&scenario.partitions, &scenario.members);
        check_complete(seed, &scenario, &answer);
        if scenario.equal_subscriptions {
            assert!(spread(&answer) <= 1, "seed {seed}: {answer:?}");
        }
        check_deterministic(seed, &mut rng, &RoundRobinAssignor, &scenario, &answer);
    }
}

#[test]
fn cooperative_sticky_converges_in_two_rounds_balanced_sticky_and_deterministic() {
    for seed in 0..SEEDS {
        cooperative_rounds(seed, SMALL);
    }
}

#[test]
fn cooperative_sticky_converges_in_two_rounds_in_larger_groups() {
    for seed in 0..SEEDS / 5 {
        cooperative_rounds(seed, LARGE);
    }
}

fn cooperative_rounds(seed: u64, size: Size) {
    {
        let mut rng = XorShift::new(seed);
        let mut scenario = scenario(&mut rng, size);
        claim_randomly(&mut rng, &mut scenario, size);

        // Round one may hold partitions back, but never gives one out twice.
        let first = CooperativeStickyAssignor.assign(&scenario.partitions, &scenario.members);
        check_valid(seed, &scenario, &first);
        check_deterministic(seed, &mut rng, &CooperativeStickyAssignor, &scenario, &first);

        // The members revoke what they lost and rejoin owning what they were given.
        for m in &mut scenario.members {
            m.owned = first[&m.member_id].clone();
            m.generation = 10;
        }
        let second = CooperativeStickyAssignor.assign(&scenario.partitions, &scenario.members);
        check_complete(seed, &scenario, &second);
        check_balanced(seed, &scenario, &second);
        if scenario.equal_subscriptions {
            assert!(spread(&second) <= 1, "seed {seed}: {second:?}");
        }
        for m in &scenario.members {
            let kept: BTreeSet<&TopicPartition> = second[&m.member_id].iter().collect();
            assert!(
                first[&m.member_id].iter().all(|tp| kept.contains(tp)),
                "seed {seed}: round two took partitions from {}: {first:?} -> {second:?}",
                m.member_id
            );
        }
        check_deterministic(seed, &mut rng, &CooperativeStickyAssignor, &scenario, &second);

        // A third round with nothing changed changes nothing.
        for m in &mut scenario.members {
            m.owned = second[&m.member_id].clone();
            m.generation = 11;
        }
        let third = CooperativeStickyAssignor.assign(&scenario.partitions, &scenario.members);
        assert_eq!(third, second, "seed {seed}");
    }
}

#[test]
fn general_method_also_balances_equal_subscriptions_within_one() {
    // The cooperative-sticky assignor routes equal subscriptions to the quota method; the general
    // method promises the same balance for them.
    for seed in 0..SEEDS {
        let mut rng = XorShift::new(seed);
        let mut scenario = scenario(&mut rng, LARGE);
        claim_randomly(&mut rng, &mut scenario, LARGE);
        let shared = scenario.members.first().map(|m| m.topics.clone()).unwrap_or_default();
        for m in &mut scenario.members {
            m.topics = shared.clone();
        }
        let group = super::group::Group::new(&scenario.partitions, &scenario.members);
        let ownership = super::ownership::Ownership::resolve(&group, |i| group.members[i].subscription.generation);
        let answer = group.answer(super::general::assign(&group, &ownership));
        check_complete(seed, &scenario, &answer);
        assert!(spread(&answer) <= 1, "seed {seed}: {answer:?}");
    }
}

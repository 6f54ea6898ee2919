//! Helpers shared by the assignor tests.

use std::collections::BTreeMap;

use super::{MemberSubscription, TopicPartition};

/// A partition-count map from `(topic, count)` pairs.
pub(crate) fn counts(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
    pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
}

/// A member that owns nothing.
pub(crate) fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription::new(id, topics.iter().copied())
}

/// A member that owns `owned`, assigned in `generation`.
pub(crate) fn owner(id: &str, topics: &[&str], owned: &[(&str, i32)], generation: i32) -> MemberSubscription {
    let mut m = member(id, topics);
    m.owned = tps(owned);
    m.generation = generation;
    m
}

/// Partitions from `(topic, partition)` pairs, in the given order.
pub(crate) fn tps(pairs: &[(&str, i32)]) -> Vec<TopicPartition> {
    pairs.iter().map(|(t, p)| TopicPartition::new(*t, *p)).collect()
}

/// A tiny xorshift64 generator, so property tests need no dependency and replay by seed.
#[derive(Debug)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `1/n`.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

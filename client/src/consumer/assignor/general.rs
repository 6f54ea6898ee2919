//! The cooperative-sticky assignment when members subscribe to different topics (the role of
//! Java's `GeneralAssignmentBuilder`, by a simpler method that balances at least as well).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::TopicPartition;
use super::group::Group;
use super::ownership::Ownership;

/// Every member keeps what it owns. The other partitions, topics with the fewest subscribers
/// first, each go to the subscriber with the fewest partitions (ties: lowest member id).
///
/// Then, while some member could shed a partition to a member two or more smaller, it does.
/// First partitions their holder does not own move straight to the least loaded subscriber of
/// their topic. Then whole chains: each member on the chain hands one partition to the next,
/// which subscribes to its topic (a gives b a `t0` partition, b gives c a `t1` partition). The
/// chain chosen moves the fewest partitions away from their owners, then spans the largest size
/// difference; each hop hands over a partition its holder does not own before one it does.
///
/// Every move lowers the sum of squared member sizes, so this ends, and it ends when no chain
/// remains: in particular no partition can move to a subscriber with two fewer, which is what
/// Java calls balanced, and with equal subscriptions sizes differ by at most one. Java moves
/// single partitions only, so it can stop earlier. Java's other heuristics (moving a partition
/// back to its previous-generation owner, undoing a rebalance that did not lower its balance
/// score) are left out: every move here improves the balance.
pub(crate) fn assign(group: &Group<'_>, ownership: &Ownership) -> Vec<Vec<TopicPartition>> {
    let mut state = State::new(group, ownership);
    state.place_unowned();
    // Every pass that moves something lowers the sum of squared sizes by two or more; the bound
    // only guards against a bug turning into a hang.
    let bound = state.sizes.iter().map(|size| size * size).sum::<usize>() + 1;
    for _ in 0..bound {
        if !state.shed_unowned() {
            break;
        }
    }
    for _ in 0..bound {
        if !state.shed_along_a_chain() {
            break;
        }
    }
    state.assigned()
}

/// The assignment while it is being built. Partitions are named by their rank in `order`.
#[derive(Debug)]
struct State<'g> {
    /// The subscribers of each assignable topic, in member order.
    subscribers: BTreeMap<&'g str, Vec<usize>>,
    /// Per member, the assignable topics it subscribes to.
    subscribed: Vec<Vec<&'g str>>,
    /// Every partition: topics with the fewest subscribers first, then by name and index.
    order: Vec<TopicPartition>,
    /// The member that owned and keeps each partition, by rank.
    owner: Vec<Option<usize>>,
    /// The member each partition is with, by rank.
    holder: Vec<Option<usize>>,
    /// Per member and topic, the partitions it holds as `(owns it, rank)`: the first entry is the
    /// one to hand on, a partition the member does not own before one it does.
    held: Vec<BTreeMap<&'g str, BTreeSet<(bool, usize)>>>,
    /// Per topic, the members holding at least one of its partitions.
    holders: BTreeMap<&'g str, BTreeSet<usize>>,
    sizes: Vec<usize>,
}

impl<'g> State<'g> {
    fn new(group: &Group<'g>, ownership: &Ownership) -> Self {
        let members = group.members.len();
        let subscribers: BTreeMap<&'g str, Vec<usize>> = group
            .partitions
            .keys()
            .map(|topic| {
                (
                    *topic,
                    (0..members).filter(|i| group.members[*i].subscribes(topic)).collect(),
                )
            })
            .collect();
        let mut subscribed = vec![Vec::new(); members];
        for (topic, members) in &subscribers {
            for member in members {
                subscribed[*member].push(*topic);
            }
        }
        let mut topics: Vec<&'g str> = subscribers.keys().copied().collect();
        topics.sort_by_key(|topic| (subscribers[topic].len(), *topic));
        let order: Vec<TopicPartition> = topics
            .iter()
            .flat_map(|topic| (0..group.partitions[topic]).map(move |p| TopicPartition::new(*topic, p)))
            .collect();
        let owners: BTreeMap<&TopicPartition, usize> = ownership
            .keep
            .iter()
            .enumerate()
            .flat_map(|(index, owned)| owned.iter().map(move |tp| (tp, index)))
            .collect();
        let owner: Vec<Option<usize>> = order.iter().map(|tp| owners.get(tp).copied()).collect();
        let mut state = Self {
            subscribers,
            subscribed,
            holder: vec![None; order.len()],
            order,
            owner,
            held: vec![BTreeMap::new(); members],
            holders: BTreeMap::new(),
            sizes: vec![0; members],
        };
        for rank in 0..state.order.len() {
            if let Some(index) = state.owner[rank] {
                state.give(rank, index);
            }
        }
        state
    }

    /// Gives each partition nobody kept to its least loaded subscriber.
    fn place_unowned(&mut self) {
        for rank in 0..self.order.len() {
            if self.holder[rank].is_none() {
                if let Some(to) = self.least_loaded(rank) {
                    self.give(rank, to);
                }
            }
        }
    }

    /// One pass moving partitions their holder does not own to the least loaded subscriber, when
    /// that one has two fewer. False when nothing moved.
    fn shed_unowned(&mut self) -> bool {
        let mut moved = false;
        for rank in 0..self.order.len() {
            let (Some(from), Some(to)) = (self.holder[rank], self.least_loaded(rank)) else {
                continue;
            };
            if self.owner[rank] != Some(from) && self.sizes[from] >= self.sizes[to] + 2 {
                self.take(rank, from);
                self.give(rank, to);
                moved = true;
            }
        }
        moved
    }

    /// Moves one partition along each hop of the best chain from a member to one two or more
    /// smaller. False when there is none.
    fn shed_along_a_chain(&mut self) -> bool {
        let levels: BTreeSet<usize> = self.sizes.iter().copied().collect();
        let heaviest = levels.last().copied().unwrap_or_default();
        // (owned partitions moved, larger size difference first, giver)
        let mut best: Option<(usize, Reverse<usize>, usize)> = None;
        let mut best_next = BTreeMap::new();
        for level in levels.into_iter().take_while(|level| level + 2 <= heaviest) {
            let (cost, next) = self.chains_to(level);
            let mut improved = false;
            for (from, cost) in cost {
                let key = (cost, Reverse(self.sizes[from].saturating_sub(level)), from);
                if self.sizes[from] >= level + 2 && best.is_none_or(|best| key < best) {
                    best = Some(key);
                    improved = true;
                }
            }
            if improved {
                best_next = next;
            }
        }
        let Some((_, _, from)) = best else {
            return false;
        };
        let mut path = vec![from];
        while let Some(next) = path.last().and_then(|last| best_next.get(last)) {
            path.push(*next);
            if path.len() > self.sizes.len() {
                return false;
            }
        }
        // From the far end back, so each member gives before it receives.
        for hop in path.windows(2).rev() {
            self.hand_on(hop[0], hop[1]);
        }
        true
    }

    /// Searches backwards from every member of size `level` at once (a 0-1 breadth-first search):
    /// for each member that reaches one of them, the fewest owned partitions its chain moves, and
    /// each member's next hop. A hop from giver to receiver exists when the giver holds a
    /// partition of a topic the receiver subscribes to; it costs nothing when the giver does not
    /// own that partition.
    fn chains_to(&self, level: usize) -> (BTreeMap<usize, usize>, BTreeMap<usize, usize>) {
        let targets: Vec<usize> = (0..self.sizes.len()).filter(|m| self.sizes[*m] == level).collect();
        let mut cost: BTreeMap<usize, usize> = targets.iter().map(|m| (*m, 0)).collect();
        let mut next: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue: VecDeque<usize> = targets.into();
        while let Some(receiver) = queue.pop_front() {
            let here = cost[&receiver];
            for topic in &self.subscribed[receiver] {
                for giver in self.holders.get(topic).into_iter().flatten() {
                    let owns = self.held[*giver]
                        .get(topic)
                        .and_then(BTreeSet::first)
                        .is_none_or(|(owns, _)| *owns);
                    let there = here + usize::from(owns);
                    if cost.get(giver).is_none_or(|known| there < *known) {
                        cost.insert(*giver, there);
                        next.insert(*giver, receiver);
                        if owns {
                            queue.push_back(*giver);
                        } else {
                            queue.push_front(*giver);
                        }
                    }
                }
            }
        }
        (cost, next)
    }

    /// Moves one partition from `from` to `to`, which subscribes to one of `from`'s topics.
    fn hand_on(&mut self, from: usize, to: usize) {
        let pick = self.held[from]
            .iter()
            .filter(|(topic, _)| self.subscribers[**topic].contains(&to))
            .filter_map(|(_, partitions)| partitions.first().copied())
            .min();
        if let Some((_, rank)) = pick {
            self.take(rank, from);
            self.give(rank, to);
        }
    }

    /// The subscriber of partition `rank`'s topic with the fewest partitions, the lowest member
    /// id among equals.
    fn least_loaded(&self, rank: usize) -> Option<usize> {
        self.subscribers[self.order[rank].topic.as_str()]
            .iter()
            .copied()
            .min_by_key(|i| (self.sizes[*i], *i))
    }

    fn give(&mut self, rank: usize, to: usize) {
        let owns = self.owner[rank] == Some(to);
        let topic = self
            .subscribers
            .get_key_value(self.order[rank].topic.as_str())
            .map(|(t, _)| *t);
        if let Some(topic) = topic {
            self.held[to].entry(topic).or_default().insert((owns, rank));
            self.holders.entry(topic).or_default().insert(to);
            self.holder[rank] = Some(to);
            self.sizes[to] += 1;
        }
    }

    fn take(&mut self, rank: usize, from: usize) {
        let owns = self.owner[rank] == Some(from);
        let topic = self.order[rank].topic.as_str();
        if let Some(partitions) = self.held[from].get_mut(topic) {
            partitions.remove(&(owns, rank));
            if partitions.is_empty() {
                self.held[from].remove(topic);
                if let Some(holders) = self.holders.get_mut(topic) {
                    holders.remove(&from);
                }
            }
        }
        self.holder[rank] = None;
        self.sizes[from] -= 1;
    }

    fn assigned(self) -> Vec<Vec<TopicPartition>> {
        let mut assigned = vec![Vec::new(); self.sizes.len()];
        for (tp, holder) in self.order.into_iter().zip(self.holder) {
            if let Some(index) = holder {
                assigned[index].push(tp);
            }
        }
        assigned
    }
}

//! What the consumer-group tests produced, partition by partition, and the at-least-once check
//! of what group members read: every record read by someone, each with the key produced at its
//! offset, duplicates counted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::events::{Events, Tp};
use super::kclient::KClient;
use super::records::{Record, show};

/// The records of one topic, by partition; a record's index is its offset.
#[derive(Clone, Debug)]
pub struct Ledger {
    pub topic: String,
    pub partitions: i32,
    keys: BTreeMap<i32, Vec<Vec<u8>>>,
}

impl Ledger {
    pub fn new(topic: &str, partitions: i32) -> Self {
        Self {
            topic: topic.to_owned(),
            partitions,
            keys: (0..partitions).map(|p| (p, Vec::new())).collect(),
        }
    }

    /// Produces `per_partition` records to every partition (explicitly, interleaved), keyed
    /// `<tag>-<partition>-<n>`, and checks that each landed at the next offset.
    pub async fn produce(&mut self, producer: &KClient, tag: &str, per_partition: usize) {
        let mut records = Vec::new();
        for n in 0..per_partition {
            for p in 0..self.partitions {
                records.push(Record {
                    key: Some(format!("{tag}-{p}-{n}").into_bytes()),
                    value: Some(format!("value of {tag}-{p}-{n}").into_bytes()),
                    headers: Vec::new(),
                    timestamp: None,
                    partition: Some(p),
                });
            }
        }
        let deliveries = producer.produce(&self.topic, &records, &[]).await;
        for (r, d) in records.into_iter().zip(deliveries) {
            let p = r.partition.expect("explicit partition");
            let keys = self.keys.get_mut(&p).expect("known partition");
            assert_eq!(
                (d.partition, d.offset),
                (p, keys.len() as i64),
                "record {} was delivered to {}:{}, expected the next offset of partition {p}",
                show(r.key.as_deref()),
                d.partition,
                d.offset
            );
            keys.push(r.key.expect("keyed"));
        }
    }

    /// Every partition of the topic.
    pub fn all(&self) -> BTreeSet<Tp> {
        (0..self.partitions).map(|p| (self.topic.clone(), p)).collect()
    }

    /// The log-end offset of every partition.
    pub fn ends(&self) -> BTreeMap<Tp, i64> {
        self.keys
            .iter()
            .map(|(p, k)| ((self.topic.clone(), *p), k.len() as i64))
            .collect()
    }

    pub fn total(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    /// Whether `members` between them read every record produced so far.
    pub fn all_read(&self, events: &Events, members: &[&str]) -> bool {
        let mut seen: BTreeSet<(&Tp, i64)> = BTreeSet::new();
        for (_, tp, offset, _) in events.records(members) {
            if tp.0 == self.topic && offset < self.end(tp.1) {
                seen.insert((tp, offset));
            }
        }
        seen.len() == self.total()
    }

    fn end(&self, partition: i32) -> i64 {
        self.keys.get(&partition).map_or(0, |k| k.len() as i64)
    }

    /// Checks what `members` read against what was produced.
    pub fn check(&self, events: &Events, members: &[&str]) -> Delivery {
        let mut delivery = Delivery::default();
        let mut reads: BTreeMap<(i32, i64), usize> = BTreeMap::new();
        for (member, tp, offset, key) in events.records(members) {
            delivery.read += 1;
            if tp.0 != self.topic {
                continue;
            }
            *reads.entry((tp.1, offset)).or_default() += 1;
            match self.keys.get(&tp.1).and_then(|k| k.get(offset as usize)) {
                None => delivery
                    .wrong
                    .push(format!("{member} read {}:{offset}, which was never produced", tp.1)),
                Some(expected) if key.is_some_and(|k| k != expected.as_slice()) => delivery.wrong.push(format!(
                    "{member} read {}:{offset} with key {}, produced with {}",
                    tp.1,
                    show(key),
                    show(Some(expected))
                )),
                Some(_) => {}
            }
        }
        for (p, keys) in &self.keys {
            for offset in 0..keys.len() as i64 {
                match reads.get(&(*p, offset)) {
                    None => delivery.missing.entry(*p).or_default().push(offset),
                    Some(&n) if n > 1 => delivery.duplicates.entry(*p).or_default().push(offset),
                    Some(_) => {}
                }
            }
        }
        delivery.duplicate_reads = reads.values().map(|n| n.saturating_sub(1)).sum();
        delivery
    }
}

/// What group members read, against what was produced.
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    /// Record events.
    pub read: usize,
    /// Reads beyond the first of the same record.
    pub duplicate_reads: usize,
    /// Records read more than once, by partition.
    pub duplicates: BTreeMap<i32, Vec<i64>>,
    /// Records nobody read, by partition.
    pub missing: BTreeMap<i32, Vec<i64>>,
    /// Reads that do not match the produced record.
    pub wrong: Vec<String>,
}

impl Delivery {
    /// Panics unless every record was read, each as produced (duplicates allowed).
    pub fn assert_complete(&self, context: &str, events: &Events) {
        if self.missing.is_empty() && self.wrong.is_empty() {
            return;
        }
        let mut msg = format!("{context}: records lost or wrong");
        for (p, offsets) in &self.missing {
            let _ = write!(
                msg,
                "\n  partition {p}: {} never read: {}",
                offsets.len(),
                ranges(offsets)
            );
        }
        for w in self.wrong.iter().take(15) {
            let _ = write!(msg, "\n  {w}");
        }
        panic!("{msg}\n--- events ---\n{}", events.summary());
    }

    /// `12 duplicate reads (p1: 40..=45, p3: 50..=55)`, for test output.
    pub fn describe_duplicates(&self) -> String {
        if self.duplicates.is_empty() {
            return "no duplicates".to_owned();
        }
        let parts: Vec<String> = self
            .duplicates
            .iter()
            .map(|(p, o)| format!("p{p}: {}", ranges(o)))
            .collect();
        format!("{} duplicate reads ({})", self.duplicate_reads, parts.join(", "))
    }
}

/// Sorted offsets as `a..=b` ranges.
fn ranges(offsets: &[i64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = offsets.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().expect("peeked");
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}..={end}")
        });
    }
    out.join(" ")
}

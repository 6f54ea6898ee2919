//! What consumer-group member processes report, as events: rebalance callbacks, records,
//! commits, exit; parsed from `kclient.py group-consume`'s JSON lines and kcat's output, and
//! queried by the tests' wait conditions and checks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Instant;

use serde_json::Value;

use super::records::unhex;

/// A topic partition.
pub type Tp = (String, i32);

/// What a rebalance callback reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebalanceKind {
    Assigned,
    Revoked,
    /// Taken away without a chance to commit (cooperative protocol, or a member that was
    /// removed from the group).
    Lost,
}

/// One rebalance callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebalance {
    pub kind: RebalanceKind,
    /// The partitions the callback was given.
    pub partitions: BTreeSet<Tp>,
    /// What the member owns after it.
    pub assignment: BTreeSet<Tp>,
    /// Incremental (cooperative) rather than eager.
    pub incremental: bool,
    pub member_id: Option<String>,
    /// Where the client shows it (kafka-python, aiokafka).
    pub generation: Option<i64>,
}

/// What a member reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    Rebalance(Rebalance),
    Record {
        tp: Tp,
        offset: i64,
        key: Option<Vec<u8>>,
    },
    /// A commit that succeeded: the offsets after the records it covers.
    Committed(Vec<(Tp, i64)>),
    CommitFailed {
        error: String,
        detail: String,
    },
    /// A non-fatal client error, or the script's final error line.
    Error {
        error: String,
        detail: String,
    },
    /// The consumer closed (after stdin closed or its time ran out).
    Closed {
        reason: String,
    },
    /// Its stdout ended: the process exited or was killed.
    Exited,
    /// A line that is not an event (shown in failure messages).
    Unparsed(String),
}

/// One event, as the test received it.
#[derive(Clone, Debug)]
pub struct Event {
    pub member: String,
    pub at: Instant,
    pub what: What,
}

/// Every event of a test so far, in arrival order (per member, in the order the member printed
/// them).
#[derive(Clone, Debug)]
pub struct Events {
    pub start: Instant,
    pub all: Vec<Event>,
}

impl Events {
    /// The events of one member.
    pub fn of<'a>(&'a self, member: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.all.iter().filter(move |e| e.member == member)
    }

    /// Whether `stays`, which was alone in the group before `joined` came, has finished every
    /// rebalance `joined` took part in: apart from its first (solo) assignment it has had at least
    /// as many assignment callbacks as `joined`. (A cooperative rebalance takes two rounds, and the
    /// last callbacks of a round reach the members in no particular order.)
    pub fn settled_with(&self, stays: &str, joined: &str) -> bool {
        let assigned = |member: &str| {
            self.rebalances(member)
                .filter(|(_, r)| r.kind == RebalanceKind::Assigned)
                .count()
        };
        assigned(stays).saturating_sub(1) >= assigned(joined)
    }

    /// The rebalance callbacks of one member, with their arrival time.
    pub fn rebalances<'a>(&'a self, member: &'a str) -> impl Iterator<Item = (Instant, &'a Rebalance)> + 'a {
        self.of(member).filter_map(|e| match &e.what {
            What::Rebalance(r) => Some((e.at, r)),
            _ => None,
        })
    }

    /// The rebalance callbacks of one member that moved partitions (clients also report empty
    /// assignments and revocations).
    pub fn moves<'a>(&'a self, member: &'a str) -> impl Iterator<Item = (Instant, &'a Rebalance)> + 'a {
        self.rebalances(member).filter(|(_, r)| !r.partitions.is_empty())
    }

    /// What a member owns after its last rebalance callback (for a member that was killed:
    /// what it owned when it died).
    pub fn assignment(&self, member: &str) -> BTreeSet<Tp> {
        self.rebalances(member)
            .last()
            .map(|(_, r)| r.assignment.clone())
            .unwrap_or_default()
    }

    /// The index in [`Events::all`] of a member's last rebalance callback.
    pub fn last_rebalance_index(&self, member: &str) -> Option<usize> {
        self.all
            .iter()
            .rposition(|e| e.member == member && matches!(e.what, What::Rebalance(_)))
    }

    /// The first offset a member read from each partition after event index `from`.
    pub fn first_reads_after(&self, member: &str, from: usize) -> BTreeMap<Tp, i64> {
        let mut first = BTreeMap::new();
        for e in self.all[from..].iter().filter(|e| e.member == member) {
            if let What::Record { tp, offset, .. } = &e.what {
                first.entry(tp.clone()).or_insert(*offset);
            }
        }
        first
    }

    /// The offset after the last record a member read from each partition.
    pub fn read_ends(&self, member: &str) -> BTreeMap<Tp, i64> {
        let mut ends: BTreeMap<Tp, i64> = BTreeMap::new();
        for e in self.of(member) {
            if let What::Record { tp, offset, .. } = &e.what {
                let end = ends.entry(tp.clone()).or_insert(0);
                *end = (*end).max(offset + 1);
            }
        }
        ends
    }

    /// The member id a member last reported.
    pub fn member_id(&self, member: &str) -> Option<String> {
        self.rebalances(member).filter_map(|(_, r)| r.member_id.clone()).last()
    }

    pub fn exited(&self, member: &str) -> bool {
        self.of(member).any(|e| e.what == What::Exited)
    }

    pub fn closed(&self, member: &str) -> bool {
        self.of(member).any(|e| matches!(e.what, What::Closed { .. }))
    }

    /// Whether `members` own `all` between them: each something, no partition twice.
    pub fn split(&self, members: &[&str], all: &BTreeSet<Tp>) -> bool {
        let mut union = BTreeSet::new();
        for m in members {
            let owned = self.assignment(m);
            if owned.is_empty() || owned.iter().any(|tp| !union.insert(tp.clone())) {
                return false;
            }
        }
        union == *all
    }

    /// Records read by `members`: (member, partition, offset, key), in arrival order.
    pub fn records<'a>(
        &'a self,
        members: &'a [&'a str],
    ) -> impl Iterator<Item = (&'a str, &'a Tp, i64, Option<&'a [u8]>)> + 'a {
        self.all
            .iter()
            .filter(|e| members.contains(&e.member.as_str()))
            .filter_map(|e| match &e.what {
                What::Record { tp, offset, key } => Some((e.member.as_str(), tp, *offset, key.as_deref())),
                _ => None,
            })
    }

    /// Partitions that `members` gave up (revoked or lost) in events `from..`.
    pub fn given_up_since(&self, from: usize, members: &[&str]) -> BTreeSet<Tp> {
        let mut given_up = BTreeSet::new();
        for e in &self.all[from..] {
            if let What::Rebalance(r) = &e.what {
                if members.contains(&e.member.as_str()) && r.kind != RebalanceKind::Assigned {
                    given_up.extend(r.partitions.iter().cloned());
                }
            }
        }
        given_up
    }

    /// The latest committed offset per partition reported by any of `members`.
    pub fn committed(&self, members: &[&str]) -> BTreeMap<Tp, i64> {
        let mut last = BTreeMap::new();
        for e in self.all.iter().filter(|e| members.contains(&e.member.as_str())) {
            if let What::Committed(offsets) = &e.what {
                for (tp, o) in offsets {
                    last.insert(tp.clone(), *o);
                }
            }
        }
        last
    }

    /// A readable account of every member's events, for failure messages.
    pub fn summary(&self) -> String {
        let mut members: Vec<&str> = Vec::new();
        for e in &self.all {
            if !members.contains(&e.member.as_str()) {
                members.push(&e.member);
            }
        }
        let mut s = String::new();
        for m in members {
            let _ = writeln!(s, "member {m}{}:", if self.exited(m) { " (exited)" } else { "" });
            let mut ranges: BTreeMap<&Tp, (i64, i64, usize)> = BTreeMap::new();
            for e in self.of(m) {
                let t = e.at.duration_since(self.start).as_secs_f64();
                match &e.what {
                    What::Record { tp, offset, .. } => {
                        let r = ranges.entry(tp).or_insert((*offset, *offset, 0));
                        r.0 = r.0.min(*offset);
                        r.1 = r.1.max(*offset);
                        r.2 += 1;
                    }
                    What::Rebalance(r) => {
                        let _ = writeln!(
                            s,
                            "  {t:7.3}s {:?} {} -> owns {} (gen {:?}, {})",
                            r.kind,
                            show_tps(&r.partitions),
                            show_tps(&r.assignment),
                            r.generation,
                            r.member_id.as_deref().unwrap_or("-")
                        );
                    }
                    What::Committed(_) => {}
                    other => {
                        let _ = writeln!(s, "  {t:7.3}s {other:?}");
                    }
                }
            }
            for (tp, (lo, hi, n)) in ranges {
                let _ = writeln!(s, "  records {}-{}: offsets {lo}..={hi}, {n} records", tp.0, tp.1);
            }
            let committed = self.committed(&[m]);
            if !committed.is_empty() {
                let _ = writeln!(s, "  last commits: {committed:?}");
            }
        }
        s
    }
}

/// Partitions as `t-0,t-1`.
pub fn show_tps(tps: &BTreeSet<Tp>) -> String {
    let parts: Vec<String> = tps.iter().map(|(t, p)| format!("{t}-{p}")).collect();
    format!("[{}]", parts.join(","))
}

/// The same offset for each of `tps`.
pub fn offsets(tps: &BTreeSet<Tp>, offset: i64) -> BTreeMap<Tp, i64> {
    tps.iter().map(|tp| (tp.clone(), offset)).collect()
}

/// The entries of `map` for `tps` only.
pub fn restrict(map: BTreeMap<Tp, i64>, tps: &BTreeSet<Tp>) -> BTreeMap<Tp, i64> {
    map.into_iter().filter(|(tp, _)| tps.contains(tp)).collect()
}

/// Collects the events of a test's members.
fn tps_of(v: &Value) -> BTreeSet<Tp> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|tp| Some((tp[0].as_str()?.to_owned(), tp[1].as_i64()? as i32)))
                .collect()
        })
        .unwrap_or_default()
}

/// One line of `kclient.py group-consume` (or kcat's `-f` record lines).
pub(super) fn parse_event(line: &str) -> What {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return What::Unparsed(line.to_owned());
    };
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let rebalance = |kind| {
        What::Rebalance(Rebalance {
            kind,
            partitions: tps_of(&v["partitions"]),
            assignment: tps_of(&v["assignment"]),
            incremental: v["incremental"].as_bool().unwrap_or(false),
            member_id: v["member_id"].as_str().map(str::to_owned),
            generation: v["generation"].as_i64(),
        })
    };
    match v["event"].as_str() {
        Some("assigned") => rebalance(RebalanceKind::Assigned),
        Some("revoked") => rebalance(RebalanceKind::Revoked),
        Some("lost") => rebalance(RebalanceKind::Lost),
        Some("record") => match (v["topic"].as_str(), v["partition"].as_i64(), v["offset"].as_i64()) {
            (Some(t), Some(p), Some(o)) => What::Record {
                tp: (t.to_owned(), p as i32),
                offset: o,
                key: v["key"].as_str().map(unhex),
            },
            _ => What::Unparsed(line.to_owned()),
        },
        Some("committed") => What::Committed(
            v["offsets"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| Some(((x[0].as_str()?.to_owned(), x[1].as_i64()? as i32), x[2].as_i64()?)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Some("commit_failed") => What::CommitFailed {
            error: text("error"),
            detail: text("detail"),
        },
        Some("error") => What::Error {
            error: text("error"),
            detail: text("detail"),
        },
        Some("closed") => What::Closed { reason: text("reason") },
        // The script's fatal error line: {"error": KIND, "detail": ...}.
        None if v.get("error").is_some() => What::Error {
            error: text("error"),
            detail: text("detail"),
        },
        _ => What::Unparsed(line.to_owned()),
    }
}

/// kcat's `% Group G rebalanced (memberid M): assigned: t [0], t [1]` (or `revoked:`); kcat
/// uses the eager protocol, so an assignment replaces what the member owned.
pub(super) fn parse_kcat_rebalance(line: &str, owned: &mut BTreeSet<Tp>) -> Option<Rebalance> {
    let rest = line.strip_prefix("% Group ")?;
    let (_, rest) = rest.split_once(" rebalanced (memberid ")?;
    let (member_id, rest) = rest.split_once("): ")?;
    let (kind, list) = if let Some(list) = rest.strip_prefix("assigned: ") {
        (RebalanceKind::Assigned, list)
    } else if let Some(list) = rest.strip_prefix("revoked: ") {
        (RebalanceKind::Revoked, list)
    } else {
        return None;
    };
    let partitions: BTreeSet<Tp> = list
        .split(", ")
        .filter_map(|tp| {
            let (topic, p) = tp.trim().split_once(" [")?;
            Some((topic.to_owned(), p.strip_suffix(']')?.parse().ok()?))
        })
        .collect();
    match kind {
        RebalanceKind::Assigned => *owned = partitions.clone(),
        _ => owned.retain(|tp| !partitions.contains(tp)),
    }
    Some(Rebalance {
        kind,
        partitions,
        assignment: owned.clone(),
        incremental: false,
        member_id: Some(member_id.to_owned()),
        generation: None,
    })
}

//! The group state machine, driven request by request with a virtual clock: the cases that are
//! awkward to script. The main flows (join, sync, delays, expiry, static restarts, leaving) are
//! the data-driven scripts in `scenarios/`.

use bytes::Bytes;

use super::*;
use crate::group::{Join, Sync};

const DELAY: u64 = 3000;
const SESSION: u64 = 10_000;
const REBALANCE: u64 = 30_000;

struct Harness {
    group: Group,
    now: u64,
    requests: u64,
    ids: u64,
}

impl Harness {
    fn new() -> Self {
        Self {
            group: Group::new(
                "g",
                GroupTimings {
                    initial_rebalance_delay_ms: DELAY,
                },
            ),
            now: 0,
            requests: 0,
            ids: 0,
        }
    }

    fn request(&mut self) -> u64 {
        self.requests += 1;
        self.requests
    }

    fn join_with(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        protocols: &[(&str, &str)],
        v4: bool,
    ) -> (u64, Vec<Reply>) {
        let request = self.request();
        self.ids += 1;
        let join = Join {
            request,
            member_id: member_id.to_owned(),
            instance_id: instance.map(str::to_owned),
            client_id: "client".to_owned(),
            client_host: "/127.0.0.1".to_owned(),
            session_timeout_ms: SESSION,
            rebalance_timeout_ms: REBALANCE,
            protocol_type: "consumer".to_owned(),
            protocols: protocols
                .iter()
                .map(|(n, m)| ((*n).to_owned(), Bytes::from((*m).to_owned())))
                .collect(),
            require_known_member_id: v4,
            new_member_id: format!("member-{}", self.ids),
        };
        let replies = self.group.join(join, self.now);
        (request, replies)
    }

    fn join(&mut self, member_id: &str) -> (u64, Vec<Reply>) {
        self.join_with(member_id, None, &[("range", "meta")], false)
    }

    fn sync(&mut self, member_id: &str, generation: i32, assignments: &[(&str, &str)]) -> (u64, Vec<Reply>) {
        let request = self.request();
        let sync = Sync {
            request,
            member_id: member_id.to_owned(),
            instance_id: None,
            generation,
            protocol_type: Some("consumer".to_owned()),
            protocol: None,
            assignments: assignments
                .iter()
                .map(|(m, a)| ((*m).to_owned(), Bytes::from((*a).to_owned())))
                .collect(),
        };
        (request, self.group.sync(sync, self.now))
    }

    fn advance(&mut self, ms: u64) -> Vec<Reply> {
        self.now += ms;
        self.group.tick(self.now)
    }
}

fn join_result(replies: &[Reply], request: u64) -> JoinResult {
    replies
        .iter()
        .find_map(|r| match r {
            Reply::Join(id, result) if *id == request => Some(result.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join reply for request {request} in {replies:?}"))
}

fn sync_result(replies: &[Reply], request: u64) -> SyncResult {
    replies
        .iter()
        .find_map(|r| match r {
            Reply::Sync(id, result) if *id == request => Some(result.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync reply for request {request} in {replies:?}"))
}

/// Two dynamic members joined and synced: (harness, leader id, follower id).
fn stable_pair() -> (Harness, String, String) {
    let mut h = Harness::new();
    let (a, _) = h.join("");
    let (b, _) = h.join("");
    let replies = h.advance(DELAY);
    let (ra, rb) = (join_result(&replies, a), join_result(&replies, b));
    let (leader, follower) = (ra.member_id.clone(), rb.member_id.clone());
    assert_eq!(ra.leader, leader);
    let (sf, none) = h.sync(&follower, 1, &[]);
    assert!(none.is_empty(), "a follower waits for the leader");
    let (sl, replies) = h.sync(&leader, 1, &[(&leader, "p0,p1"), (&follower, "p2,p3")]);
    assert_eq!(sync_result(&replies, sl).assignment, Bytes::from("p0,p1"));
    assert_eq!(sync_result(&replies, sf).assignment, Bytes::from("p2,p3"));
    assert_eq!(h.group.state, GroupState::Stable);
    (h, leader, follower)
}

#[test]
fn the_protocol_most_members_prefer_among_common_ones_wins() {
    let mut h = Harness::new();
    let (a, _) = h.join_with("", None, &[("cooperative-sticky", "c1"), ("range", "r1")], false);
    let (_, _) = h.join_with("", None, &[("range", "r2"), ("cooperative-sticky", "c2")], false);
    let (_, _) = h.join_with(
        "",
        None,
        &[("cooperative-sticky", "c3"), ("roundrobin", "x"), ("range", "r3")],
        false,
    );
    let replies = h.advance(DELAY);
    let leader = join_result(&replies, a);
    assert_eq!(leader.protocol.as_deref(), Some("cooperative-sticky"));
    let metadata: Vec<Bytes> = leader.members.into_iter().map(|(_, _, m)| m).collect();
    assert_eq!(
        metadata,
        vec![Bytes::from("c1"), Bytes::from("c2"), Bytes::from("c3")],
        "metadata passes through untouched"
    );
}

#[test]
fn incompatible_protocols_are_refused() {
    let (mut h, _, _) = stable_pair();
    let (r, replies) = h.join_with("", None, &[("roundrobin", "m")], false);
    assert_eq!(join_result(&replies, r).error, ErrorCode::InconsistentGroupProtocol);
}

#[test]
fn a_rebalance_during_sync_tells_waiting_members_to_rejoin() {
    let mut h = Harness::new();
    let (a, _) = h.join("");
    let (b, _) = h.join("");
    let replies = h.advance(DELAY);
    let follower = join_result(&replies, b).member_id;
    let _leader = join_result(&replies, a).member_id;
    let (s, _) = h.sync(&follower, 1, &[]);
    let (_, replies) = h.join("");
    assert_eq!(sync_result(&replies, s).error, ErrorCode::RebalanceInProgress);
    let (_, replies) = h.sync(&follower, 1, &[]);
    assert_eq!(replies.len(), 1);
    assert!(matches!(&replies[0], Reply::Sync(_, r) if r.error == ErrorCode::RebalanceInProgress));
}

#[test]
fn a_static_member_outlives_a_short_absence_but_not_its_session() {
    let mut h = Harness::new();
    let (a, _) = h.join_with("", Some("i"), &[("range", "m")], false);
    let replies = h.advance(DELAY);
    let id = join_result(&replies, a).member_id;
    h.sync(&id, 1, &[(&id, "x")]);
    h.advance(SESSION - 1);
    assert_eq!(h.group.state, GroupState::Stable);
    h.advance(1);
    assert!(h.group.member(&id).is_none());
}

#[test]
fn a_member_id_that_is_never_used_expires() {
    let mut h = Harness::new();
    let (r, replies) = h.join_with("", None, &[("range", "m")], true);
    let id = join_result(&replies, r).member_id;
    assert!(h.group.pending.contains_key(&id));
    h.advance(SESSION);
    assert!(h.group.pending.is_empty());
    let (r, replies) = h.join_with(&id, None, &[("range", "m")], true);
    assert_eq!(join_result(&replies, r).error, ErrorCode::UnknownMemberId);
}

#[test]
fn commits_are_checked_against_membership() {
    let mut empty = Harness::new();
    assert_eq!(
        empty.group.check_commit("", None, -1),
        Ok(()),
        "standalone consumers commit to empty groups"
    );
    let (h, leader, _) = stable_pair();
    assert_eq!(h.group.check_commit(&leader, None, 1), Ok(()));
    assert_eq!(
        h.group.check_commit(&leader, None, 0),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(h.group.check_commit("", None, -1), Err(ErrorCode::UnknownMemberId));
    assert_eq!(h.group.check_commit("x", None, 1), Err(ErrorCode::UnknownMemberId));
    empty.advance(1);
}

#[test]
fn deadlines_cover_sessions_and_rebalances() {
    let (mut h, _, _) = stable_pair();
    assert_eq!(h.group.next_deadline(), Some(h.now + SESSION));
    h.join("");
    assert!(h.group.next_deadline().is_some_and(|d| d <= h.now + REBALANCE));
}

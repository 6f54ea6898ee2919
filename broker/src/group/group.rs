//! A classic consumer group as a pure state machine: requests and the passage of time go in,
//! responses come out (Kafka's `GroupMetadata` + `GroupCoordinator` logic, without I/O).
//!
//! Time is a monotonic millisecond count supplied by the caller. JoinGroup and SyncGroup answers
//! that must wait for other members are returned later, from the call that completes the step,
//! tagged with the request id they answer.

use std::collections::HashMap;

use bytes::Bytes;

use super::member::{Member, RequestId};
use super::state::GroupState;
use crate::error_code::ErrorCode;

/// Timing settings of the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupTimings {
    /// `group.initial.rebalance.delay.ms`: how long an empty group waits for more members.
    pub(crate) initial_rebalance_delay_ms: u64,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinResult {
    pub(crate) error: ErrorCode,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    /// For the leader: every member with its metadata for the chosen protocol.
    pub(crate) members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub(crate) fn error(error: ErrorCode, member_id: &str) -> Self {
        Self {
            error,
            generation: -1,
            protocol_type: None,
            protocol: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyncResult {
    pub(crate) error: ErrorCode,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) assignment: Bytes,
}

impl SyncResult {
    pub(crate) fn error(error: ErrorCode) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol: None,
            assignment: Bytes::new(),
        }
    }
}

/// A response released by a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Join(RequestId, JoinResult),
    Sync(RequestId, SyncResult),
}

/// A classic group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    /// Members in join order (the first one leads when the leader is gone).
    pub(crate) members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the deadline to come back.
    pub(crate) pending: HashMap<String, u64>,
    pub(crate) rebalance_deadline: Option<u64>,
    /// During the first rebalance of an empty group: (start, last new member) for the
    /// initial delay, which waits for more members instead of completing early.
    pub(crate) initial_join: Option<(u64, u64)>,
    /// The group metadata changed in a way that must be persisted.
    pub(crate) dirty: bool,
    pub(crate) timings: GroupTimings,
}

impl Group {
    pub(crate) fn new(id: &str, timings: GroupTimings) -> Self {
        Self {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_join: None,
            dirty: false,
            timings,
        }
    }

    pub(crate) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub(crate) fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    pub(crate) fn static_member(&self, instance_id: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Checks the static-membership identity of a request: an instance id registered to another
    /// member id means the sender is a zombie (FENCED_INSTANCE_ID).
    pub(crate) fn check_instance(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        match instance_id.and_then(|i| self.static_member(i)) {
            Some(registered) if registered.id != member_id => Err(ErrorCode::FencedInstanceId),
            _ => Ok(()),
        }
    }

    /// Whether a joining member's protocols can live with the group's: same protocol type, and
    /// at least one protocol every member (and it) supports.
    pub(crate) fn accepts(&self, protocol_type: &str, protocols: &[(String, Bytes)], except: Option<&str>) -> bool {
        if protocols.is_empty() || protocol_type.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self.members.iter().filter(|m| Some(m.id.as_str()) != except).collect();
        if others.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref().is_some_and(|t| t != protocol_type) {
            return false;
        }
        protocols
            .iter()
            .any(|(name, _)| others.iter().all(|m| m.metadata(name).is_some()))
    }

    /// The protocol every member supports that most members prefer (Kafka's vote).
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| self.members.iter().all(|m| m.metadata(name).is_some()))
            .collect();
        let vote = |m: &Member| {
            m.protocols
                .iter()
                .map(|(name, _)| name)
                .find(|name| candidates.contains(name))
                .cloned()
        };
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| ((*c).clone(), 0)).collect();
        for member in &self.members {
            if let Some(choice) = vote(member) {
                if let Some(entry) = votes.iter_mut().find(|(name, _)| *name == choice) {
                    entry.1 += 1;
                }
            }
        }
        // The first candidate wins ties, so the choice is deterministic.
        votes.into_iter().rev().max_by_key(|(_, n)| *n).map(|(name, _)| name)
    }

    /// Starts a rebalance: every member must rejoin before `rebalance_deadline`.
    pub(crate) fn prepare_rebalance(&mut self, now: u64, replies: &mut Vec<Reply>) {
        if self.state == GroupState::CompletingRebalance {
            // The assignment being computed is for a membership that no longer holds.
            for member in &mut self.members {
                if let Some(request) = member.awaiting_sync.take() {
                    replies.push(Reply::Sync(request, SyncResult::error(ErrorCode::RebalanceInProgress)));
                }
            }
        }
        let longest = self.members.iter().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0);
        if self.state == GroupState::Empty && self.timings.initial_rebalance_delay_ms > 0 {
            self.initial_join = Some((now, now));
        }
        self.rebalance_deadline = Some(match self.initial_join {
            Some((start, last)) => (last + self.timings.initial_rebalance_delay_ms)
                .min(start + longest.max(self.timings.initial_rebalance_delay_ms)),
            None => now + longest,
        });
        self.state = GroupState::PreparingRebalance;
    }

    /// Records a new member during the initial delay, which extends the delay.
    pub(crate) fn note_new_member(&mut self, now: u64) {
        if let Some((start, _)) = self.initial_join {
            self.initial_join = Some((start, now));
            let longest = self.members.iter().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0);
            self.rebalance_deadline = Some(
                (now + self.timings.initial_rebalance_delay_ms)
                    .min(start + longest.max(self.timings.initial_rebalance_delay_ms)),
            );
        }
    }

    /// Completes the join phase once every member has rejoined (outside the initial delay).
    pub(crate) fn maybe_complete_join(&mut self, now: u64, replies: &mut Vec<Reply>) {
        let all_joined = self.members.iter().all(|m| m.awaiting_join.is_some()) && self.pending.is_empty();
        if self.state == GroupState::PreparingRebalance && self.initial_join.is_none() && all_joined {
            self.complete_join(now, replies);
        }
    }

    /// Ends the join phase: members that did not rejoin are removed, a new generation starts,
    /// and every waiting JoinGroup is answered (the leader gets the member list).
    pub(crate) fn complete_join(&mut self, now: u64, replies: &mut Vec<Reply>) {
        self.members.retain(|m| m.awaiting_join.is_some());
        self.rebalance_deadline = None;
        self.initial_join = None;
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.protocol = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| self.member(l).is_none()) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        let protocol = self.protocol.clone().unwrap_or_default();
        let roster: Vec<(String, Option<String>, Bytes)> = self
            .members
            .iter()
            .map(|m| {
                (
                    m.id.clone(),
                    m.instance_id.clone(),
                    m.metadata(&protocol).cloned().unwrap_or_default(),
                )
            })
            .collect();
        let leader = self.leader.clone().unwrap_or_default();
        for member in &mut self.members {
            member.touch(now);
            if let Some(request) = member.awaiting_join.take() {
                replies.push(Reply::Join(
                    request,
                    JoinResult {
                        error: ErrorCode::None,
                        generation: self.generation,
                        protocol_type: self.protocol_type.clone(),
                        protocol: self.protocol.clone(),
                        leader: leader.clone(),
                        member_id: member.id.clone(),
                        members: if member.id == leader {
                            roster.clone()
                        } else {
                            Vec::new()
                        },
                    },
                ));
            }
        }
    }

    /// The answer a member gets when it (re)joins without causing a rebalance.
    pub(crate) fn current_join_result(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol.clone().unwrap_or_default();
        let is_leader = self.is_leader(member_id);
        JoinResult {
            error: ErrorCode::None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if is_leader {
                self.members
                    .iter()
                    .map(|m| {
                        (
                            m.id.clone(),
                            m.instance_id.clone(),
                            m.metadata(&protocol).cloned().unwrap_or_default(),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Removes a member; its waiting requests get `error`. Adjusts the group as Kafka does.
    pub(crate) fn remove_member(&mut self, member_id: &str, error: ErrorCode, now: u64, replies: &mut Vec<Reply>) {
        let Some(index) = self.members.iter().position(|m| m.id == member_id) else {
            return;
        };
        let member = self.members.remove(index);
        if let Some(request) = member.awaiting_join {
            replies.push(Reply::Join(request, JoinResult::error(error, member_id)));
        }
        if let Some(request) = member.awaiting_sync {
            replies.push(Reply::Sync(request, SyncResult::error(error)));
        }
        if self.is_leader(member_id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance) {
            self.prepare_rebalance(now, replies);
        }
        // With everyone left already rejoined (or nobody left), the rebalance completes now.
        self.maybe_complete_join(now, replies);
    }

    /// Processes the passage of time: expired sessions, members who never came back for their
    /// id, and rebalance deadlines.
    pub(crate) fn tick(&mut self, now: u64) -> Vec<Reply> {
        let mut replies = Vec::new();
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.is_waiting() && m.session_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for member_id in expired {
            self.remove_member(&member_id, ErrorCode::UnknownMemberId, now, &mut replies);
        }
        if self.state == GroupState::PreparingRebalance {
            if self.rebalance_deadline.is_some_and(|d| d <= now) {
                self.complete_join(now, &mut replies);
            } else {
                self.maybe_complete_join(now, &mut replies);
            }
        }
        replies
    }

    /// The next time [`Group::tick`] has something to do.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let sessions = self
            .members
            .iter()
            .filter(|m| !m.is_waiting())
            .map(|m| m.session_deadline);
        sessions
            .chain(self.pending.values().copied())
            .chain(self.rebalance_deadline)
            .min()
    }
}

#[cfg(test)]
#[path = "group_test.rs"]
mod tests;

#[cfg(test)]
#[path = "scenario_test.rs"]
mod scenarios;

//! SyncGroup, Heartbeat, LeaveGroup and the membership check of OffsetCommit.

use std::collections::HashMap;

use bytes::Bytes;

use super::group::{Group, Reply, SyncResult};
use super::member::RequestId;
use super::state::GroupState;
use crate::error_code::ErrorCode;

/// A SyncGroup request as the group sees it.
#[derive(Debug, Clone)]
pub(crate) struct Sync {
    pub(crate) request: RequestId,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    /// From the leader: each member's assignment.
    pub(crate) assignments: Vec<(String, Bytes)>,
}

impl Group {
    /// Checks that a request comes from a current member of the current generation.
    fn check_generation(&self, member_id: &str, instance_id: Option<&str>, generation: i32) -> Result<(), ErrorCode> {
        self.check_instance(member_id, instance_id)?;
        if self.member(member_id).is_none() {
            return Err(ErrorCode::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        Ok(())
    }

    /// Handles a SyncGroup; returns the replies it releases, possibly including its own.
    pub(crate) fn sync(&mut self, sync: Sync, now: u64) -> Vec<Reply> {
        let reject = |error| vec![Reply::Sync(sync.request, SyncResult::error(error))];
        if let Err(error) = self.check_generation(&sync.member_id, sync.instance_id.as_deref(), sync.generation) {
            return reject(error);
        }
        let mismatched = |given: &Option<String>, ours: &Option<String>| given.is_some() && given != ours;
        if mismatched(&sync.protocol_type, &self.protocol_type) || mismatched(&sync.protocol, &self.protocol) {
            return reject(ErrorCode::InconsistentGroupProtocol);
        }
        let result = |group: &Group, assignment: Bytes| SyncResult {
            error: ErrorCode::None,
            protocol_type: group.protocol_type.clone(),
            protocol: group.protocol.clone(),
            assignment,
        };
        match self.state {
            GroupState::Empty | GroupState::Dead => reject(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => reject(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                let Some(member) = self.member_mut(&sync.member_id) else {
                    return reject(ErrorCode::UnknownMemberId);
                };
                member.touch(now);
                let assignment = member.assignment.clone();
                vec![Reply::Sync(sync.request, result(self, assignment))]
            }
            GroupState::CompletingRebalance => {
                let is_leader = self.is_leader(&sync.member_id);
                let Some(member) = self.member_mut(&sync.member_id) else {
                    return reject(ErrorCode::UnknownMemberId);
                };
                member.touch(now);
                let mut replies = Vec::new();
                if let Some(old) = member.awaiting_sync.replace(sync.request) {
                    replies.push(Reply::Sync(old, SyncResult::error(ErrorCode::UnknownMemberId)));
                }
                if !is_leader {
                    return replies;
                }
                let assignments: HashMap<String, Bytes> = sync.assignments.into_iter().collect();
                let done = result(self, Bytes::new());
                for member in &mut self.members {
                    member.assignment = assignments.get(&member.id).cloned().unwrap_or_default();
                    if let Some(request) = member.awaiting_sync.take() {
                        replies.push(Reply::Sync(
                            request,
                            SyncResult {
                                assignment: member.assignment.clone(),
                                ..done.clone()
                            },
                        ));
                    }
                }
                self.state = GroupState::Stable;
                self.dirty = true;
                replies
            }
        }
    }

    /// Handles a Heartbeat.
    pub(crate) fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: u64,
    ) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if let Err(error) = self.check_instance(member_id, instance_id) {
            return error;
        }
        if self.member(member_id).is_none() {
            return ErrorCode::UnknownMemberId;
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => {
                if let Some(member) = self.member_mut(member_id) {
                    member.touch(now);
                }
                ErrorCode::RebalanceInProgress
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                if generation != self.generation {
                    return ErrorCode::IllegalGeneration;
                }
                if let Some(member) = self.member_mut(member_id) {
                    member.touch(now);
                }
                ErrorCode::None
            }
        }
    }

    /// Handles a LeaveGroup for several members (v3+ batches them); returns each member's error
    /// and the replies released.
    pub(crate) fn leave(&mut self, members: &[(String, Option<String>)], now: u64) -> (Vec<ErrorCode>, Vec<Reply>) {
        let mut replies = Vec::new();
        let mut errors = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let target = match instance_id {
                Some(instance) => match self.static_member(instance) {
                    Some(m) if !member_id.is_empty() && m.id != *member_id => Err(ErrorCode::FencedInstanceId),
                    Some(m) => Ok(m.id.clone()),
                    None => Err(ErrorCode::UnknownMemberId),
                },
                None if self.pending.remove(member_id).is_some() => {
                    errors.push(ErrorCode::None);
                    continue;
                }
                None if self.member(member_id).is_some() => Ok(member_id.clone()),
                None => Err(ErrorCode::UnknownMemberId),
            };
            match target {
                Ok(id) => {
                    self.remove_member(&id, ErrorCode::UnknownMemberId, now, &mut replies);
                    self.dirty = true;
                    errors.push(ErrorCode::None);
                }
                Err(error) => errors.push(error),
            }
        }
        (errors, replies)
    }

    /// Whether an OffsetCommit from this member and generation may be applied. A generation
    /// below zero with no member id is a standalone (`assign()`) consumer, allowed while the
    /// group has no members.
    pub(crate) fn check_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ErrorCode> {
        if generation < 0 && member_id.is_empty() {
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(ErrorCode::UnknownMemberId)
            };
        }
        if self.state == GroupState::CompletingRebalance && self.member(member_id).is_some() {
            return Err(ErrorCode::RebalanceInProgress);
        }
        self.check_generation(member_id, instance_id, generation)
    }
}

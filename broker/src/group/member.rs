//! One member of a classic consumer group.

use bytes::Bytes;

/// Identifies a request whose answer the group holds back until a rebalance step completes.
pub(crate) type RequestId = u64;

/// A group member as the coordinator knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) id: String,
    /// `group.instance.id` of a static member.
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: u64,
    pub(crate) rebalance_timeout_ms: u64,
    /// Protocols the member supports, most preferred first, with its metadata for each.
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// What the leader assigned it in the current generation.
    pub(crate) assignment: Bytes,
    /// A JoinGroup waiting for the rebalance to complete.
    pub(crate) awaiting_join: Option<RequestId>,
    /// A SyncGroup waiting for the leader's assignment.
    pub(crate) awaiting_sync: Option<RequestId>,
    /// When the session expires unless a heartbeat (or join/sync) arrives, monotonic ms.
    pub(crate) session_deadline: u64,
}

impl Member {
    /// The member's metadata for `protocol`, if it supports it.
    pub(crate) fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata)
    }

    /// Whether the member's protocols differ from `protocols` (names and metadata, in order).
    pub(crate) fn protocols_differ(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols != protocols
    }

    /// Pushes the session deadline forward from `now`.
    pub(crate) fn touch(&mut self, now: u64) {
        self.session_deadline = now + self.session_timeout_ms;
    }

    /// A member waiting in join or sync is kept alive by that request, not by heartbeats.
    pub(crate) fn is_waiting(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }
}

//! What the assignors work on: partitions and what each member told the group.

use bytes::Bytes;

pub use crate::topic_partition::TopicPartition;

/// What one member told the group in JoinGroup: its member id and group instance id from the
/// JoinGroup response, the rest decoded from its `ConsumerProtocolSubscription` metadata
/// ([`decode_subscription`](super::decode_subscription)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// Static membership: `group.instance.id`, if the member has one.
    pub group_instance_id: Option<String>,
    /// The topics the member subscribes to (duplicates are ignored).
    pub topics: Vec<String>,
    /// The partitions the member owns now (schema version 1+; empty before).
    pub owned: Vec<TopicPartition>,
    /// The generation in which the member was assigned `owned` (schema version 2+; -1 when absent).
    pub generation: i32,
    /// The member's `client.rack` (schema version 3+; an empty rack reads as `None`).
    pub rack: Option<String>,
    /// Opaque assignor data.
    pub user_data: Option<Bytes>,
}

impl MemberSubscription {
    /// A member that owns nothing, with no generation, rack or user data.
    pub fn new(member_id: impl Into<String>, topics: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            member_id: member_id.into(),
            group_instance_id: None,
            topics: topics.into_iter().map(Into::into).collect(),
            owned: Vec::new(),
            generation: -1,
            rack: None,
            user_data: None,
        }
    }
}

//! Consumer-group partition assignors and the embedded consumer protocol they speak.
//!
//! The group leader decodes every member's subscription from the JoinGroup response
//! ([`decode_subscription`]), runs the [`Assignor`] the group chose over them, and sends each
//! member its partitions in SyncGroup ([`encode_assignment`]). The assignors behave like the Java
//! client's, under the same protocol names, so Rill consumers can share a group with Java,
//! librdkafka and Python consumers, whichever of them leads.
//!
//! # Layout
//! - [`Assignor`], [`RebalanceProtocol`] and [`assignor()`], the lookup by name (`strategy.rs`).
//! - [`RangeAssignor`] (`range.rs`), [`RoundRobinAssignor`] (`round_robin.rs`) and
//!   [`CooperativeStickyAssignor`] (`cooperative_sticky.rs`); the sticky assignor settles owners
//!   in `ownership.rs` and assigns in `balanced.rs` (equal subscriptions) or `general.rs`.
//! - `group.rs`: the input every assignor starts from (deduplicated members, subscribed topics).
//! - [`TopicPartition`] and [`MemberSubscription`] (`subscription.rs`).
//! - The wire format and its version policy (`protocol.rs`), and [`ConsumerProtocolError`]
//!   (`error.rs`).

mod balanced;
mod cooperative_sticky;
mod error;
mod general;
mod group;
mod ownership;
mod protocol;
mod range;
mod round_robin;
mod strategy;
mod subscription;

#[cfg(test)]
mod property_test;
#[cfg(test)]
mod protocol_test;
#[cfg(test)]
mod testing;

pub use cooperative_sticky::CooperativeStickyAssignor;
pub use error::ConsumerProtocolError;
pub use protocol::{
    CONSUMER_PROTOCOL_VERSION, decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use strategy::{Assignor, RebalanceProtocol, assignor};
pub use subscription::{MemberSubscription, TopicPartition};

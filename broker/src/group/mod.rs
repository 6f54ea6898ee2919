//! Consumer groups: the classic join/sync/heartbeat protocol and committed offsets.
//!
//! # Layout
//! - [`group`](self::group), `join`, `membership`, [`member`](self::member), [`state`](self::state):
//!   one group as a pure state machine (requests and time in, responses out), unit-tested
//!   without a runtime.
//! - `offsets_topic`: the records of `__consumer_offsets` (Kafka's key and value schemas) and the
//!   partition a group lives in.
//! - `coordinator`: the actor that owns every group and the committed offsets, drives timers,
//!   persists to `__consumer_offsets` and loads from it at start.

pub(crate) mod coordinator;
#[allow(clippy::module_inception)]
pub(crate) mod group;
mod join;
pub(crate) mod member;
mod membership;
pub(crate) mod offsets_topic;
pub(crate) mod state;
mod store;

pub(crate) use coordinator::{Coordinator, CoordinatorHandle};
pub(crate) use join::Join;
pub(crate) use membership::Sync;

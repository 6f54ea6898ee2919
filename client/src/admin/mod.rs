//! The admin client: topics, partitions, configs, consumer groups and their offsets, records
//! deletion, and the cluster's description — the operations behind Kafka's `kafka-topics`,
//! `kafka-configs`, `kafka-consumer-groups` and `kafka-delete-records`.
//!
//! # Layout
//! - `client`: [`Admin`], connecting and routing.
//! - `topics`: create, delete, list, describe, add partitions.
//! - `configs`: describe and (incrementally) alter configs.
//! - `groups`: list, describe, delete groups; list, alter, delete their offsets.
//! - `records`: delete records, list offsets.
//! - `cluster`: describe the cluster.

mod client;
mod cluster;
mod configs;
mod groups;
mod records;
mod topics;

pub use client::{Admin, Outcomes};
pub use cluster::ClusterDescription;
pub use configs::{AlterOp, ConfigEntry, ConfigResource, ConfigSource};
pub use groups::{GroupDescription, GroupListing, MemberDescription};
pub use topics::{NewTopic, TopicDescription, TopicListing};

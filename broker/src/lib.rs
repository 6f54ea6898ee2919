//! Rill's Kafka-compatible broker.

pub mod config;
pub mod log;

//! Wire-level helpers on top of the `kafka-protocol` crate's generated messages.

pub mod batch;
pub mod builder;
pub mod compression;
pub mod frame;
pub mod varint;

//! Shared code of the compatibility tests (`tests/compat_*.rs`), which drive real Kafka clients
//! against an in-process broker: where the tools are ([`tools`]), the records the tests send
//! ([`records`]), the drivers for `tests/compat/kclient.py` ([`kclient`]) and kcat ([`kcat`]),
//! and the checks on what came back ([`verify`]).
#![allow(dead_code, unreachable_pub)]

pub mod kcat;
pub mod kclient;
pub mod records;
pub mod tools;
pub mod verify;

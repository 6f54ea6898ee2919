//! Shared code of the compatibility tests (`tests/compat_*.rs`), which drive real Kafka clients
//! against an in-process broker: where the tools are ([`tools`]), the records the tests send
//! ([`records`]), the drivers for `tests/compat/kclient.py` ([`kclient`]) and kcat ([`kcat`]),
//! and the checks on what came back ([`verify`]); for consumer groups, long-running members and
//! the events they report ([`members`], [`events`]) and the at-least-once check of what they read
//! ([`ledger`]).
#![allow(dead_code, unreachable_pub)]

pub mod events;
pub mod kcat;
pub mod kclient;
pub mod ledger;
pub mod members;
pub mod records;
pub mod tools;
pub mod verify;

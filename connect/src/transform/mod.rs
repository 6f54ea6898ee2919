//! Kafka Connect's single-message transforms (SMTs) and predicates, on schemaless records (keys
//! and values as JSON).
//!
//! A connector's config names its transforms in order and configures each under its alias, as in
//! Kafka Connect:
//!
//! ```text
//! transforms=mask,route
//! transforms.mask.type=org.apache.kafka.connect.transforms.MaskField$Value
//! transforms.mask.fields=ssn
//! transforms.route.type=RegexRouter
//! transforms.route.regex=(.*)-raw
//! transforms.route.replacement=$1
//! transforms.route.predicate=is-raw
//! predicates=is-raw
//! predicates.is-raw.type=TopicNameMatches
//! predicates.is-raw.pattern=.*-raw
//! ```
//!
//! [`TransformChain::from_config`] checks all of it once (the error names the key at fault), and
//! [`TransformChain::apply`] runs it per record. Types are Kafka's class names or the short names
//! after the package ([`transform_types`], [`predicate_types`]). JSON has no date type, so
//! `TimestampConverter`'s Timestamp, Date and Time are epoch milliseconds; date patterns are Java
//! `SimpleDateFormat`'s, in UTC.
//!
//! Besides Kafka's, the type `rhai` runs a script on each record (`rhai.rs`), and
//! [`dry_run`] runs a chain on sample records.
//!
//! Layout: `chain.rs` (the chain), `types.rs` (type names), `predicate.rs`, `settings.rs`
//! (config reading), `transformation.rs` (the trait and key/value helpers), `date_format.rs`
//! (Java date patterns), `field_path.rs` (KIP-821 nested paths), then one file per transform
//! (`headers.rs` for the three header transforms).

mod cast;
mod chain;
mod date_format;
mod dry_run;
mod error;
mod extract_field;
mod field_path;
mod filter;
mod headers;
mod hoist_field;
mod insert_field;
mod mask_field;
mod predicate;
mod regex_router;
mod replace_field;
mod rhai;
mod settings;
mod timestamp_converter;
mod timestamp_router;
mod transformation;
mod types;
mod value_to_key;

pub use chain::TransformChain;
pub use dry_run::{default_sample_topic, dry_run, record_from_json, record_to_json};
pub use error::TransformError;
pub use types::{predicate_types, transform_types};

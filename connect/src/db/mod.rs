//! Database connectors over sqlx: SQLite (the embedded default) and PostgreSQL.
//!
//! - [`DbSource`] polls tables or a query like Kafka's JDBC source connector: `bulk`,
//!   `incrementing`, `timestamp` and `timestamp+incrementing` modes; rows become JSON objects
//!   keyed by their primary key (`{"id": 7}`). Timestamps and dates are epoch milliseconds.
//! - [`DbSink`] writes records into tables like Kafka's JDBC sink, but takes schemaless JSON:
//!   `insert` or `upsert`, keys from the record key or value fields, tables created (and
//!   columns added) from the records' shape, tombstones deleting rows, batched writes in one
//!   transaction; a record the database refuses comes back as a failure with its reason, the
//!   others are written.

mod dialect;
mod error;
mod sink;
mod source;

pub use dialect::Dialect;
pub use error::DbError;
pub use sink::{DbSink, DbSinkConfig, PkMode};
pub use source::{DbSource, DbSourceConfig, Mode};

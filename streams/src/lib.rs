//! Rill Streams: stream processing over Kafka topics with the semantics Kafka Streams users know,
//! in Rust.
//!
//! A [`StreamsBuilder`] builds a [`Topology`] with a typed DSL: [`KStream`]s of independent
//! records and [`KTable`]s of the latest value per key, stateless operators (`filter`, `map`,
//! `flat_map`, `split`, `merge`, `select_key`, ...) and aggregations (`count`, `reduce`,
//! `aggregate`) into state stores logged to compacted changelog topics
//! (`<application.id>-<store>-changelog`). Keys and values cross topics and stores as bytes
//! through explicit [`Serde`]s. A key-changing operator before a grouping makes the grouping
//! repartition through `<application.id>-<name>-repartition`, as in Kafka Streams.
//!
//! [`TopologyTestDriver`] runs a topology in memory, without a broker:
//!
//! ```
//! use rill_streams::serde::{IntSerde, Nullable, StringSerde};
//! use rill_streams::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, TestTopic, TopologyTestDriver};
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("lines", Consumed::with(Nullable(StringSerde), StringSerde))
//!     .flat_map_values(|line: String| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
//!     .group_by(|_, word| word.clone(), Grouped::with(StringSerde, StringSerde))
//!     .count(Materialized::as_("counts"))
//!     .to_stream()
//!     .to("word-counts", Produced::with(StringSerde, Nullable(IntSerde)));
//! let mut driver = TopologyTestDriver::new(builder.build()?, "wordcount")?;
//! let lines = TestTopic::new("lines", Nullable(StringSerde), StringSerde);
//! let counts = TestTopic::new("word-counts", StringSerde, IntSerde);
//! driver.pipe(&lines, None, "to be or not to be".to_owned(), 1_000)?;
//! let last: Vec<(String, i64)> = driver.read(&counts)?.into_iter().map(|r| (r.key, r.value)).collect();
//! assert_eq!(last.last(), Some(&("be".to_owned(), 2)));
//! # Ok::<(), rill_streams::StreamsError>(())
//! ```

mod cache;
mod dsl;
#[cfg(feature = "embedded")]
mod embedded;
mod error;
mod processor;
mod runtime;
#[cfg(feature = "script")]
pub mod script;
pub mod serde;
mod state;
mod test_driver;
mod topology;

pub use dsl::{
    BranchedKStream, Change, Consumed, Data, GlobalKTable, Grouped, JoinWindows, KGroupedStream, KStream, KTable,
    Materialized, Produced, SessionWindowedKStream, SessionWindowedSerde, SessionWindows, SharedSerde, SlidingWindows,
    StreamJoined, StreamsBuilder, Suppressed, TimeWindowedKStream, TimeWindows, TimestampExtractor, Window, Windowed,
    WindowedSerde,
};
#[cfg(feature = "embedded")]
pub use embedded::EmbeddedBroker;
pub use error::StreamsError;
pub use processor::{Headers, Output, Record};
pub use runtime::{KafkaStreams, StreamsConfig, StreamsStats};
pub use serde::{Serde, SerdeError};
pub use test_driver::{TestTopic, TopologyTestDriver};
pub use topology::Topology;

//! Word count: lines in, a running count per word out.
//!
//! `cargo run -p rill-streams --example wordcount` (an embedded broker; set
//! `RILL_BOOTSTRAP_SERVER` to use a running one).

mod common;

use std::time::Duration;

use common::{Cluster, latest};
use rill_streams::serde::{IntSerde, Nullable, StringSerde};
use rill_streams::{Consumed, Grouped, KafkaStreams, Materialized, Produced, StreamsBuilder, StreamsConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Cluster::start().await?;
    cluster.create_topics(&["lines", "word-counts"], 3).await?;
    let lines = ["the quick brown fox", "jumps over the lazy dog", "the dog sleeps"];
    let input: Vec<(&str, &str, i64)> = lines.iter().enumerate().map(|(i, l)| ("", *l, i as i64)).collect();
    cluster.produce("lines", &input).await?;

    let builder = StreamsBuilder::new();
    builder
        .stream("lines", Consumed::with(Nullable(StringSerde), StringSerde))
        .flat_map_values(|line: String| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
        .group_by(|_, word: &String| word.clone(), Grouped::with(StringSerde, StringSerde))
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("word-counts", Produced::with(StringSerde, Nullable(IntSerde)));
    let topology = builder.build()?;
    println!("{}", topology.describe());
    let config = StreamsConfig::new("wordcount", &cluster.bootstrap).commit_interval(Duration::from_millis(100));
    let app = KafkaStreams::start(topology, config).await?;

    // Nine distinct words; the record cache collapses each word's updates within a commit.
    let updates = cluster.read("word-counts", 9).await?;
    let counts = latest(updates.iter().map(|r| {
        let word = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
        let count = r
            .value
            .as_deref()
            .map_or(0, |v| i64::from_be_bytes(v.try_into().unwrap_or_default()));
        (word, count)
    }));
    for (word, count) in &counts {
        println!("{word:>8} {count}");
    }
    app.close().await?;
    cluster.stop().await
}

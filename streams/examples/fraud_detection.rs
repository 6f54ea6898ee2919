//! Card payments in two countries within five minutes: a stream–stream join of the payments
//! with themselves, flagging pairs of one card's payments made from different countries.
//!
//! `cargo run -p rill-streams --example fraud_detection`

mod common;

use std::time::Duration;

use common::{Cluster, text};
use rill_streams::serde::StringSerde;
use rill_streams::{Consumed, JoinWindows, KafkaStreams, Produced, StreamJoined, StreamsBuilder, StreamsConfig};

const MINUTE: i64 = 60_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Cluster::start().await?;
    cluster.create_topics(&["payments", "suspicious"], 1).await?;
    // (card, country, time)
    let payments = [
        ("card-1", "FR", 0),
        ("card-2", "FR", MINUTE),
        ("card-1", "JP", 3 * MINUTE), // FR three minutes earlier: suspicious
        ("card-2", "FR", 4 * MINUTE),
        ("card-2", "US", 20 * MINUTE), // far from card-2's other payments
    ];
    cluster.produce("payments", &payments).await?;

    let builder = StreamsBuilder::new();
    let payments = builder.stream("payments", Consumed::with(StringSerde, StringSerde));
    payments
        .join_windowed(
            &payments,
            |a: &String, b: &String| (a != b).then(|| format!("{a} and {b} within 5 minutes")),
            JoinWindows::of_time_difference_with_no_grace(5 * MINUTE),
            StreamJoined::default(),
        )
        .filter(|_, flagged| flagged.is_some())
        .map_values(|flagged| flagged.unwrap_or_default())
        .to("suspicious", Produced::with(StringSerde, StringSerde));
    let config = StreamsConfig::new("fraud", &cluster.bootstrap).commit_interval(Duration::from_millis(100));
    let app = KafkaStreams::start(builder.build()?, config).await?;

    for record in cluster.read("suspicious", 2).await? {
        let (card, why) = text(&record);
        println!("{card}: {why}");
    }
    app.close().await?;
    cluster.stop().await
}

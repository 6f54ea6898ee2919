//! Page views per user per one-minute tumbling window, emitted once per window when it closes.
//!
//! `cargo run -p rill-streams --example pageviews_per_minute`

mod common;

use std::time::Duration;

use common::Cluster;
use rill_streams::serde::{IntSerde, Nullable, StringSerde};
use rill_streams::{
    Consumed, Grouped, KafkaStreams, Materialized, Produced, StreamsBuilder, StreamsConfig, Suppressed, TimeWindows,
    WindowedSerde,
};

const MINUTE: i64 = 60_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Cluster::start().await?;
    cluster.create_topics(&["pageviews", "views-per-minute"], 1).await?;
    // (user, page, time): ann views three pages in the first minute, bob one; one of ann's
    // arrives after a view of the second minute, but within the 10 s grace; the last record
    // moves stream time past every window.
    let views = [
        ("ann", "/home", 1_000),
        ("bob", "/home", 5_000),
        ("ann", "/cart", 20_000),
        ("ann", "/pay", 65_000),
        ("ann", "/home", 59_000),
        ("bob", "/docs", 200_000),
    ];
    cluster.produce("pageviews", &views).await?;

    let builder = StreamsBuilder::new();
    builder
        .stream("pageviews", Consumed::<String, String>::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(MINUTE, 10_000))
        .count(Materialized::as_("views"))
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to(
            "views-per-minute",
            Produced::with(WindowedSerde::new(StringSerde, MINUTE), Nullable(IntSerde)),
        );
    let config = StreamsConfig::new("pageviews", &cluster.bootstrap).commit_interval(Duration::from_millis(100));
    let app = KafkaStreams::start(builder.build()?, config).await?;

    let serde = WindowedSerde::new(StringSerde, MINUTE);
    for record in cluster.read("views-per-minute", 3).await? {
        use rill_streams::Serde;
        let key = serde.deserialize(record.key.as_deref())?;
        let count = Serde::<Option<i64>>::deserialize(&Nullable(IntSerde), record.value.as_deref())?;
        println!(
            "{} [{}s, {}s): {} views",
            key.key,
            key.window.start / 1000,
            key.window.end / 1000,
            count.unwrap_or(0)
        );
    }
    app.close().await?;
    cluster.stop().await
}

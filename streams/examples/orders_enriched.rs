//! Orders enriched with their customer's name: a stream–table join.
//!
//! `cargo run -p rill-streams --example orders_enriched`

mod common;

use std::time::Duration;

use common::{Cluster, text};
use rill_streams::serde::StringSerde;
use rill_streams::{Consumed, KafkaStreams, Materialized, Produced, StreamsBuilder, StreamsConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Cluster::start().await?;
    cluster
        .create_topics(&["customers", "orders", "orders-enriched"], 2)
        .await?;
    cluster
        .produce("customers", &[("c1", "Ann", 1), ("c2", "Bob", 1)])
        .await?;

    let builder = StreamsBuilder::new();
    let customers = builder.table(
        "customers",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_("customers"),
    );
    builder
        .stream("orders", Consumed::with(StringSerde, StringSerde))
        .left_join(&customers, |order: &String, name: Option<&String>| {
            format!("{order} for {}", name.map_or("an unknown customer", String::as_str))
        })
        .to("orders-enriched", Produced::with(StringSerde, StringSerde));
    let config = StreamsConfig::new("orders", &cluster.bootstrap).commit_interval(Duration::from_millis(100));
    let app = KafkaStreams::start(builder.build()?, config).await?;

    // The orders come once the application has read the customers into its table.
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    while app.stats().processed < 2 {
        ticks.tick().await;
    }
    cluster
        .produce(
            "orders",
            &[
                ("c1", "order-1: 2 books", 10),
                ("c3", "order-2: a lamp", 11),
                ("c2", "order-3: tea", 12),
            ],
        )
        .await?;
    for record in cluster.read("orders-enriched", 3).await? {
        let (customer, order) = text(&record);
        println!("{customer}: {order}");
    }
    app.close().await?;
    cluster.stop().await
}

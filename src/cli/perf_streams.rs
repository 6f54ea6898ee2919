//! `rill perf streams`: end-to-end throughput of a Streams application, on an embedded broker or
//! a cluster: N records are produced to an input topic, then a topology (a stateless filter and
//! map, or a windowed count) runs until it has processed all of them; records per second of wall
//! time and per CPU-second of this process are reported.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use rill_client::admin::{Admin, NewTopic};
use rill_client::producer::{Producer, ProducerRecord};
use rill_streams::serde::{BytesSerde, IntSerde, Nullable};
use rill_streams::{
    Consumed, EmbeddedBroker, Grouped, KafkaStreams, Materialized, Produced, StreamsBuilder, StreamsConfig,
    TimeWindows, Topology, WindowedSerde,
};

use super::client_args::ClientArgs;

/// The topology to measure.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Workload {
    /// `filter` then `map_values`, written to an output topic.
    FilterMap,
    /// Count per key in one-minute tumbling windows, every update written to an output topic.
    WindowedCount,
}

/// Arguments of `rill perf streams`.
#[derive(Debug, Args)]
pub(crate) struct StreamsArgs {
    /// The topology.
    #[arg(long, value_enum, default_value = "filter-map")]
    workload: Workload,
    /// Records to process.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Bytes per record value.
    #[arg(long = "record-size", default_value_t = 100)]
    record_size: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 1000)]
    keys: u64,
    /// Partitions of the input topic (tasks of the application).
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Start a broker in this process (data in a temporary directory) instead of using
    /// --bootstrap-server.
    #[arg(long)]
    embedded: bool,
    /// Milliseconds between progress lines.
    #[arg(long = "reporting-interval", default_value_t = 5000)]
    reporting_interval_ms: u64,
}

/// CPU seconds (user + system) this process has used, from /proc (Linux; 0 elsewhere).
pub(crate) fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

fn topology(workload: Workload, input: &str, output: &str) -> anyhow::Result<Topology> {
    let builder = StreamsBuilder::new();
    let stream = builder.stream(input, Consumed::with(BytesSerde, BytesSerde));
    match workload {
        Workload::FilterMap => stream
            .filter(|_, v| !v.is_empty())
            .map_values(|v: Bytes| v.slice(1..))
            .to(output, Produced::with(BytesSerde, BytesSerde)),
        Workload::WindowedCount => stream
            .group_by_key(Grouped::default())
            .windowed_by(TimeWindows::of_size_with_no_grace(60_000))
            .count(Materialized::as_("perf-counts"))
            .to_stream()
            .to(
                output,
                Produced::with(WindowedSerde::new(BytesSerde, 60_000), Nullable(IntSerde)),
            ),
    }
    builder.build().context("building the topology")
}

pub(crate) async fn run(client: &ClientArgs, args: StreamsArgs) -> anyhow::Result<()> {
    if args.records == 0 || args.keys == 0 || args.partitions < 1 {
        bail!("--records, --keys and --partitions must be positive");
    }
    let broker = if args.embedded {
        Some(
            EmbeddedBroker::start(None)
                .await
                .context("starting the embedded broker")?,
        )
    } else {
        None
    };
    let bootstrap = match &broker {
        Some(b) => b.bootstrap(),
        None => client.bootstrap_server.clone(),
    };
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let (input, output) = (
        format!("perf-streams-in-{run_id}"),
        format!("perf-streams-out-{run_id}"),
    );
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .with_context(|| format!("connecting to {bootstrap}"))?;
    let topics = [
        NewTopic::new(&input).partitions(args.partitions),
        NewTopic::new(&output).partitions(args.partitions),
    ];
    for (topic, outcome) in admin.create_topics(&topics, false).await? {
        outcome.with_context(|| format!("creating topic {topic}"))?;
    }

    let started = Instant::now();
    let producer = Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("acks", "1"),
        ("linger.ms", "10"),
        ("batch.size", "1000000"),
    ])
    .await?;
    let payload = Bytes::from(vec![b'x'; args.record_size.max(1)]);
    let keys: Vec<Bytes> = (0..args.keys).map(|k| Bytes::from(format!("key-{k}"))).collect();
    let mut deliveries = Vec::new();
    for i in 0..args.records {
        let record = ProducerRecord::new(input.as_str())
            .key(keys[(i % args.keys) as usize].clone())
            .value(payload.clone());
        deliveries.push(producer.send(record).await?);
        if deliveries.len() >= 100_000 {
            for d in deliveries.drain(..) {
                d.await.map_err(|e| anyhow::anyhow!("producing the input: {e}"))?;
            }
        }
    }
    for d in deliveries {
        d.await.map_err(|e| anyhow::anyhow!("producing the input: {e}"))?;
    }
    producer.close().await?;
    println!(
        "Produced {} records of {} B to {input} in {:.2} s.",
        args.records,
        args.record_size,
        started.elapsed().as_secs_f64()
    );

    let config =
        StreamsConfig::new(&format!("perf-streams-{run_id}"), &bootstrap).commit_interval(Duration::from_secs(1));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let app = KafkaStreams::start(topology(args.workload, &input, &output)?, config).await?;
    let interval = Duration::from_millis(args.reporting_interval_ms.max(1));
    let mut next_report = Instant::now() + interval;
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    loop {
        let processed = app.stats().processed;
        if processed >= args.records {
            break;
        }
        if app.is_finished() {
            app.close().await?;
            bail!("the application stopped after {processed} records");
        }
        if Instant::now() >= next_report {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{processed} records processed, {:.1} records/sec.",
                processed as f64 / secs.max(1e-9)
            );
            next_report += interval;
        }
        ticks.tick().await;
    }
    // Until everything the records produced is acknowledged and committed.
    app.close().await?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let cpu = (cpu_seconds() - cpu_before).max(1e-9);
    println!(
        "{} records processed in {secs:.2} s: {:.1} records/sec ({:.2} MB/sec), {cpu:.2} CPU-seconds, {:.1} records per CPU-second{}.",
        args.records,
        args.records as f64 / secs,
        (args.records * args.record_size as u64) as f64 / secs / 1_048_576.0,
        args.records as f64 / cpu,
        if args.embedded {
            " (application and broker)"
        } else {
            " (application)"
        }
    );
    if let Some(broker) = broker {
        broker.stop().await.context("stopping the embedded broker")?;
    }
    Ok(())
}

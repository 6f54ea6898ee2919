//! `rill perf connect-file`: throughput of the file source, a log of N lines tailed into a
//! topic (through the same task the worker runs: one record per line with its `file.*` headers,
//! positions stored after acknowledgement), on an embedded broker or a cluster. Reports MB/s of
//! log read and lines/s, wall time and CPU-seconds of this process. `rill perf connect-db-sink`:
//! rows/s of upserts through the database sink.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rill_client::TopicPartition;
use rill_client::admin::{Admin, NewTopic};
use rill_client::consumer::Consumer;
use rill_client::producer::Producer;
use rill_connect::OffsetStore;
use rill_connect::file::{FileSourceConfig, run_file_source};
use rill_streams::EmbeddedBroker;
use tokio_util::sync::CancellationToken;

use super::client_args::ClientArgs;
use super::perf_streams::cpu_seconds;

/// Arguments of `rill perf connect-file`.
#[derive(Debug, Args)]
pub(crate) struct ConnectFileArgs {
    /// Lines in the log.
    #[arg(long, default_value_t = 2_000_000)]
    lines: u64,
    /// Bytes per line, its newline included.
    #[arg(long = "line-size", default_value_t = 100)]
    line_size: usize,
    /// Start a broker in this process (data in a temporary directory) instead of using
    /// --bootstrap-server.
    #[arg(long)]
    embedded: bool,
    /// Milliseconds between progress lines.
    #[arg(long = "reporting-interval", default_value_t = 5000)]
    reporting_interval_ms: u64,
}

pub(crate) async fn file(client: &ClientArgs, args: ConnectFileArgs) -> anyhow::Result<()> {
    if args.lines == 0 || args.line_size < 2 {
        bail!("--lines must be positive and --line-size at least 2");
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
    let bootstrap = broker
        .as_ref()
        .map_or_else(|| client.bootstrap_server.clone(), EmbeddedBroker::bootstrap);
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let topic = format!("perf-connect-file-{run_id}");
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .with_context(|| format!("connecting to {bootstrap}"))?;
    for (name, outcome) in admin
        .create_topics(&[NewTopic::new(&topic).partitions(1)], false)
        .await?
    {
        outcome.with_context(|| format!("creating topic {name}"))?;
    }

    let dir = tempfile::tempdir().context("a temporary directory")?;
    let log = dir.path().join("perf.log");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&log).context("creating the log")?);
        let filler = "x".repeat(args.line_size.saturating_sub(12).max(1));
        for i in 0..args.lines {
            let line = format!("{i:010} {filler}");
            out.write_all(&line.as_bytes()[..args.line_size - 1])
                .context("writing the log")?;
            out.write_all(b"\n").context("writing the log")?;
        }
        out.flush().context("writing the log")?;
    }
    let bytes = args.lines * args.line_size as u64;
    println!(
        "Wrote {} lines ({:.1} MB) to {}.",
        args.lines,
        bytes as f64 / 1_048_576.0,
        log.display()
    );

    let settings = [
        ("name", format!("perf-{run_id}")),
        ("topic", topic.clone()),
        ("file.include", log.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Arc::new(FileSourceConfig::from_config(&settings)?);
    let offsets = OffsetStore::open(&bootstrap, &format!("perf-connect-offsets-{run_id}")).await?;
    let producer = Producer::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "5"),
        ("batch.size", "1000000"),
    ])
    .await?;
    let stop = CancellationToken::new();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            let outcome = run_file_source(&config, &producer, &offsets, stop).await;
            let _ = producer.close().await;
            let _ = offsets.close().await;
            outcome
        }
    });
    let reader = Consumer::from_properties([("bootstrap.servers", bootstrap.as_str())]).await?;
    let tp = TopicPartition::new(&topic, 0);
    let interval = Duration::from_millis(args.reporting_interval_ms.max(1));
    let mut next_report = Instant::now() + interval;
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    loop {
        let end = reader
            .end_offsets(std::slice::from_ref(&tp))
            .await?
            .get(&tp)
            .copied()
            .unwrap_or(0);
        if end as u64 >= args.lines {
            break;
        }
        if task.is_finished() {
            bail!("the file source stopped after {end} lines");
        }
        if Instant::now() >= next_report {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            println!("{end} lines in the topic, {:.1} lines/sec.", end as f64 / secs);
            next_report += interval;
        }
        ticks.tick().await;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let cpu = (cpu_seconds() - cpu_before).max(1e-9);
    stop.cancel();
    let stats = task.await.context("the file source panicked")??;
    println!(
        "{} lines ({:.1} MB) tailed into {topic} in {secs:.2} s: {:.1} MB/sec, {:.0} lines/sec, {cpu:.2} CPU-seconds{}.",
        stats.lines,
        bytes as f64 / 1_048_576.0,
        bytes as f64 / secs / 1_048_576.0,
        args.lines as f64 / secs,
        if args.embedded {
            " (file source and broker)"
        } else {
            " (file source)"
        }
    );
    if let Some(broker) = broker {
        broker.stop().await.context("stopping the embedded broker")?;
    }
    Ok(())
}

/// Arguments of `rill perf connect-db-sink`.
#[derive(Debug, Args)]
pub(crate) struct ConnectDbSinkArgs {
    /// The database (`sqlite:path` or `postgres://user@host:port/db`).
    #[arg(long)]
    url: String,
    /// Records to write.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Distinct keys (records beyond them update rows).
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Records per write (`batch.size`).
    #[arg(long = "batch-size", default_value_t = 3000)]
    batch_size: usize,
}

/// `rill perf connect-db-sink`: upserts through the database sink (what a sink task hands it:
/// JSON records keyed `{"id": n}` with three value fields), batch by batch, and reports rows/s.
pub(crate) async fn db_sink(args: ConnectDbSinkArgs) -> anyhow::Result<()> {
    use rill_connect::db::{DbSink, DbSinkConfig};
    use rill_connect::record::ConnectRecord;
    use serde_json::json;

    if args.records == 0 || args.keys == 0 || args.batch_size == 0 {
        bail!("--records, --keys and --batch-size must be positive");
    }
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let table = format!("perf_sink_{run_id}");
    let settings = [
        ("connection.url", args.url.clone()),
        ("insert.mode", "upsert".to_owned()),
        ("pk.mode", "record_key".to_owned()),
        ("auto.create", "true".to_owned()),
        ("table.name.format", table.clone()),
        ("batch.size", args.batch_size.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut sink = DbSink::open(DbSinkConfig::from_config(&settings)?).await?;
    // The records are made first: what is measured is the sink.
    let records: Vec<ConnectRecord> = (0..args.records)
        .map(|i| {
            let id = i % args.keys;
            ConnectRecord::new(
                "perf",
                Some(json!({ "id": id })),
                Some(json!({ "id": id, "name": format!("user-{id}"), "score": i, "active": i % 2 == 0 })),
            )
        })
        .collect();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut written = 0u64;
    let mut next_report = Instant::now() + Duration::from_secs(5);
    for batch in records.chunks(args.batch_size) {
        let failures = sink.put(batch).await?;
        if let Some(failure) = failures.first() {
            bail!("a record was refused: {}", failure.reason);
        }
        written += batch.len() as u64;
        if Instant::now() >= next_report {
            println!(
                "{written} rows upserted, {:.0} rows/sec.",
                written as f64 / started.elapsed().as_secs_f64()
            );
            next_report += Duration::from_secs(5);
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let cpu = (cpu_seconds() - cpu_before).max(1e-9);
    sink.close().await;
    println!(
        "{written} records upserted into {table} ({} keys, batches of {}) in {secs:.2} s: {:.0} rows/sec, {cpu:.2} CPU-seconds of this process.",
        args.keys,
        args.batch_size,
        written as f64 / secs,
    );
    Ok(())
}

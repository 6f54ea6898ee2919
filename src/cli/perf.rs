//! `rill perf produce|consume`: throughput and latency, printed as Kafka's
//! `kafka-producer-perf-test` and `kafka-consumer-perf-test` print them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use rill_client::TopicPartition;
use rill_client::consumer::Consumer;
use rill_client::producer::{DeliveryFuture, Producer, ProducerRecord};

use super::client_args::{ClientArgs, key_value};
use super::time::format_kafka_time;

/// Arguments of `rill perf`.
#[derive(Debug, Args)]
pub(crate) struct PerfArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    action: PerfAction,
}

#[derive(Debug, Subcommand)]
enum PerfAction {
    /// Produce records as fast as allowed and report throughput and latency.
    Produce(ProduceArgs),
    /// Consume records and report throughput.
    Consume(ConsumeArgs),
    /// Run a Streams topology over records and report its throughput.
    Streams(super::perf_streams::StreamsArgs),
    /// Run records through a rhai pipeline (and the same in Rust) in process and report records/s.
    Script(super::perf_script::ScriptArgs),
    /// Tail a generated log into a topic with the Connect file source and report MB/s.
    ConnectFile(super::perf_connect::ConnectFileArgs),
    /// Upsert records into a database through the Connect database sink and report rows/s.
    ConnectDbSink(super::perf_connect::ConnectDbSinkArgs),
}

#[derive(Debug, Args)]
struct ProduceArgs {
    /// Topic to produce to.
    #[arg(long)]
    topic: String,
    /// Records to send.
    #[arg(long = "num-records")]
    num_records: u64,
    /// Bytes per record value.
    #[arg(long = "record-size")]
    record_size: usize,
    /// Records per second to aim for; -1 for no limit.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    throughput: i64,
    /// Producer properties, `key=value` (Kafka's spelling): `--producer-props acks=1 linger.ms=5`.
    #[arg(long = "producer-props", value_name = "KEY=VALUE", num_args = 1..)]
    producer_props: Vec<String>,
    /// Milliseconds between progress lines.
    #[arg(long = "reporting-interval", default_value_t = 5000)]
    reporting_interval_ms: u64,
}

#[derive(Debug, Args)]
struct ConsumeArgs {
    /// Topic to consume.
    #[arg(long)]
    topic: String,
    /// Records to consume.
    #[arg(long)]
    messages: u64,
    /// Consume in this group (default: no group, every partition from the beginning).
    #[arg(long)]
    group: Option<String>,
    /// Give up when no record arrives for this long, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout: u64,
    /// Milliseconds between progress lines.
    #[arg(long = "reporting-interval", default_value_t = 5000)]
    reporting_interval_ms: u64,
}

pub(crate) fn run(args: PerfArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        match args.action {
            PerfAction::Produce(a) => produce(&args.client, a).await,
            PerfAction::Consume(a) => consume(&args.client, a).await,
            PerfAction::Streams(a) => super::perf_streams::run(&args.client, a).await,
            PerfAction::Script(a) => super::perf_script::run(&a),
            PerfAction::ConnectFile(a) => super::perf_connect::file(&args.client, a).await,
            PerfAction::ConnectDbSink(a) => super::perf_connect::db_sink(a).await,
        }
    })
}

/// Latencies in microseconds, and their window for progress lines.
#[derive(Debug, Default)]
struct Latencies {
    all: Vec<u32>,
    window_count: u64,
    window_bytes: u64,
    window_sum_us: u64,
    window_max_us: u64,
    window_start: Option<Instant>,
}

impl Latencies {
    fn record(&mut self, micros: u64, bytes: u64) {
        self.all.push(micros.min(u64::from(u32::MAX)) as u32);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_sum_us += micros;
        self.window_max_us = self.window_max_us.max(micros);
    }

    /// Prints and resets the window: `N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency.`
    fn report_window(&mut self, now: Instant) {
        let start = self.window_start.unwrap_or(now);
        let secs = now.duration_since(start).as_secs_f64().max(1e-9);
        if self.window_count > 0 {
            println!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                self.window_count,
                self.window_count as f64 / secs,
                self.window_bytes as f64 / secs / 1_048_576.0,
                self.window_sum_us as f64 / self.window_count as f64 / 1000.0,
                self.window_max_us as f64 / 1000.0
            );
        }
        self.window_count = 0;
        self.window_bytes = 0;
        self.window_sum_us = 0;
        self.window_max_us = 0;
        self.window_start = Some(now);
    }
}

/// The records in flight of `rill perf produce`, oldest first, and what became of those done.
///
/// Checked after every send without waiting, so one task both sends and collects (as a
/// librdkafka application polls its delivery reports): a record's latency runs from `send` to the
/// first check that finds its batch done. Times are wall-clock microseconds, read once per record
/// and also used as its timestamp, as Kafka's tool does.
struct Tracker {
    pending: VecDeque<(u64, DeliveryFuture)>,
    latencies: Latencies,
    record_bytes: u64,
    errors: u64,
    first_error: Option<String>,
    interval: Duration,
    next_report: Instant,
}

impl Tracker {
    /// Takes the finished records off the front of the queue.
    fn collect_done(&mut self) {
        let mut now = None;
        while let Some(result) = self.pending.front().and_then(|(_, d)| d.try_result()) {
            let (sent, _) = self.pending.pop_front().expect("front exists");
            let (now_us, _) = *now.get_or_insert_with(|| (wall_micros(), Instant::now()));
            self.finish(sent, now_us, result.map(drop).map_err(|e| e.to_string()));
        }
        if let Some((_, now)) = now {
            if now >= self.next_report {
                self.latencies.report_window(now);
                self.next_report = now + self.interval;
            }
        }
    }

    /// Waits for every record still in flight.
    async fn wait_all(&mut self) {
        while let Some((sent, delivery)) = self.pending.pop_front() {
            let result = delivery.wait().await.map(drop).map_err(|e| e.to_string());
            self.finish(sent, wall_micros(), result);
        }
    }

    fn finish(&mut self, sent_us: u64, now_us: u64, result: Result<(), String>) {
        match result {
            Ok(()) => self.latencies.record(now_us.saturating_sub(sent_us), self.record_bytes),
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

async fn produce(client: &ClientArgs, args: ProduceArgs) -> anyhow::Result<()> {
    if args.record_size == 0 {
        bail!("--record-size must be at least 1");
    }
    let mut overrides: Vec<(String, String)> = Vec::new();
    for pair in &args.producer_props {
        overrides.push(key_value(pair)?);
    }
    let overrides: Vec<(&str, String)> = overrides.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let props = client.properties(&overrides)?;
    let producer = Producer::from_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .await
        .with_context(|| format!("connecting to {}", client.bootstrap_server))?;
    // One payload of uppercase letters reused for every record, as Kafka's tool does; static for
    // the life of the command, so that sharing it costs no reference counting.
    let payload: &'static [u8] = Box::leak(
        (0..args.record_size)
            .map(|i| b'A' + ((i * 7 + i / 26) % 26) as u8)
            .collect::<Vec<u8>>()
            .into_boxed_slice(),
    );
    let payload = Bytes::from_static(payload);
    let record_bytes = args.record_size as u64;
    let mut tracker = Tracker {
        pending: VecDeque::new(),
        latencies: Latencies {
            window_start: Some(Instant::now()),
            ..Latencies::default()
        },
        record_bytes,
        errors: 0,
        first_error: None,
        interval: Duration::from_millis(args.reporting_interval_ms.max(1)),
        next_report: Instant::now(),
    };
    tracker.next_report += tracker.interval;
    let start = Instant::now();
    for i in 0..args.num_records {
        if args.throughput > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / args.throughput as f64);
            if due > Instant::now() + Duration::from_millis(1) {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let sent = wall_micros();
        let record = ProducerRecord::new(args.topic.as_str())
            .value(payload.clone())
            .timestamp((sent / 1000) as i64);
        let delivery = producer.send(record).await.context("sending")?;
        tracker.pending.push_back((sent, delivery));
        tracker.collect_done();
    }
    tracker.wait_all().await;
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    producer.close().await?;
    let Tracker {
        mut latencies,
        errors,
        first_error,
        ..
    } = tracker;
    let sent = latencies.all.len() as u64;
    let avg_ms = if sent > 0 {
        latencies.all.iter().map(|&l| u64::from(l)).sum::<u64>() as f64 / sent as f64 / 1000.0
    } else {
        0.0
    };
    let max_ms = latencies.all.iter().copied().max().unwrap_or(0) as f64 / 1000.0;
    latencies.all.sort_unstable();
    let pct = |p: f64| -> u64 {
        if latencies.all.is_empty() {
            return 0;
        }
        let idx = ((latencies.all.len() as f64 * p) as usize).min(latencies.all.len() - 1);
        u64::from(latencies.all[idx]) / 1000
    };
    println!(
        "{sent} records sent, {:.1} records/sec ({:.2} MB/sec), {avg_ms:.2} ms avg latency, {max_ms:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
        sent as f64 / elapsed,
        (sent * record_bytes) as f64 / elapsed / 1_048_576.0,
        pct(0.5),
        pct(0.95),
        pct(0.99),
        pct(0.999)
    );
    if errors > 0 {
        bail!(
            "{errors} records were not delivered: {}",
            first_error.unwrap_or_default()
        );
    }
    Ok(())
}

async fn consume(client: &ClientArgs, args: ConsumeArgs) -> anyhow::Result<()> {
    let mut overrides = vec![
        ("auto.offset.reset", "earliest".to_owned()),
        ("enable.auto.commit", "false".to_owned()),
    ];
    if let Some(group) = &args.group {
        overrides.push(("group.id", group.clone()));
    }
    let props = client.properties(&overrides)?;
    let start_ms = now_ms();
    let start = Instant::now();
    let mut consumer = Consumer::from_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .await
        .with_context(|| format!("connecting to {}", client.bootstrap_server))?;
    if args.group.is_some() {
        consumer.subscribe([args.topic.as_str()])?;
    } else {
        let info = consumer.cluster().topic(&args.topic, false).await?;
        consumer.assign(
            info.partitions
                .iter()
                .map(|p| TopicPartition::new(&args.topic, p.partition)),
        )?;
    }
    let mut messages = 0u64;
    let mut bytes = 0u64;
    let mut first_record: Option<Instant> = None;
    let mut last_record = Instant::now();
    let interval = Duration::from_millis(args.reporting_interval_ms.max(1));
    let mut next_report = Instant::now() + interval;
    let (mut window_messages, mut window_bytes, mut window_start) = (0u64, 0u64, Instant::now());
    while messages < args.messages {
        let records = consumer.poll(Duration::from_millis(500)).await?;
        let now = Instant::now();
        if records.is_empty() {
            if now.duration_since(last_record) > Duration::from_millis(args.timeout) {
                eprintln!(
                    "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded.",
                    args.timeout
                );
                break;
            }
            continue;
        }
        first_record.get_or_insert(now);
        last_record = now;
        for record in &records {
            let size = record.value.as_ref().map_or(0, |v| v.len()) + record.key.as_ref().map_or(0, |k| k.len());
            bytes += size as u64;
            window_bytes += size as u64;
        }
        messages += records.len() as u64;
        window_messages += records.len() as u64;
        if now >= next_report {
            let secs = now.duration_since(window_start).as_secs_f64().max(1e-9);
            eprintln!(
                "{messages} records consumed, {:.1} records/sec ({:.2} MB/sec)",
                window_messages as f64 / secs,
                window_bytes as f64 / secs / 1_048_576.0
            );
            (window_messages, window_bytes, window_start) = (0, 0, now);
            next_report = now + interval;
        }
    }
    let end_ms = now_ms();
    let total = start.elapsed().as_secs_f64().max(1e-9);
    let rebalance_ms = first_record.map_or(0, |f| f.duration_since(start).as_millis() as u64);
    let fetch_secs = first_record
        .map_or(0.0, |f| last_record.duration_since(f).as_secs_f64())
        .max(1e-9);
    let mb = bytes as f64 / 1_048_576.0;
    consumer.close().await?;
    println!(
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    );
    println!(
        "{}, {}, {mb:.4}, {:.4}, {messages}, {:.4}, {rebalance_ms}, {}, {:.4}, {:.4}",
        format_kafka_time(start_ms),
        format_kafka_time(end_ms),
        mb / total,
        messages as f64 / total,
        (fetch_secs * 1000.0) as u64,
        mb / fetch_secs,
        messages as f64 / fetch_secs
    );
    Ok(())
}

fn now_ms() -> i64 {
    (wall_micros() / 1000) as i64
}

/// Microseconds since the epoch.
fn wall_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() * 1_000_000 + u64::from(d.subsec_micros()))
}

//! `rill perf script`: records per second through a rhai pipeline, in this process (the
//! topology test driver: no broker, no network), next to the same pipeline written in Rust, so
//! that the difference is what the script costs per record.
//!
//! Values are JSON log lines, `{"level": "ERROR" | "INFO", "msg": "..."}` (or text lines for
//! the `string-*` workloads), one in two an error.

use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use rill_streams::script::{Pipeline, ScriptOptions};
use rill_streams::serde::{JsonSerde, Nullable, StringSerde};
use rill_streams::{Consumed, Produced, StreamsBuilder, Topology, TopologyTestDriver};
use serde_json::{Value, json};

use super::perf_streams::cpu_seconds;

/// The pipeline to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScriptWorkload {
    /// `filter(|r| r.value.level == "ERROR")` on JSON values.
    Predicate,
    /// The predicate, then `map_values(|v| #{ msg: v.msg })`.
    FilterMap,
    /// `filter(|r| r.value.starts_with("E"))` on string values (no JSON decoding; a method
    /// call, run by the interpreter).
    StringPredicate,
    /// `filter(|r| r.value == "ERROR")` on string values (a comparison, run without the
    /// interpreter).
    StringEquals,
}

/// Arguments of `rill perf script`.
#[derive(Debug, Args)]
pub(crate) struct ScriptArgs {
    /// The pipeline.
    #[arg(long, value_enum, default_value = "filter-map")]
    workload: ScriptWorkload,
    /// Records to run through it.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Bytes of each record's `msg`.
    #[arg(long = "msg-size", default_value_t = 40)]
    msg_size: usize,
}

fn script(workload: ScriptWorkload) -> &'static str {
    match workload {
        ScriptWorkload::Predicate => r#"stream("in").filter(|r| r.value.level == "ERROR").to("out");"#,
        ScriptWorkload::FilterMap => {
            r#"stream("in").filter(|r| r.value.level == "ERROR").map_values(|v| #{ msg: v.msg }).to("out");"#
        }
        ScriptWorkload::StringPredicate => {
            r#"stream("in", #{ value: "string" }).filter(|r| r.value.starts_with("E")).to("out", #{ value: "string" });"#
        }
        ScriptWorkload::StringEquals => {
            r#"stream("in", #{ value: "string" }).filter(|r| r.value == "ERROR").to("out", #{ value: "string" });"#
        }
    }
}

/// The same pipeline in Rust.
fn native(workload: ScriptWorkload) -> anyhow::Result<Topology> {
    let builder = StreamsBuilder::new();
    let key = || Nullable(StringSerde);
    match workload {
        ScriptWorkload::StringPredicate => builder
            .stream("in", Consumed::with(key(), StringSerde))
            .filter(|_, v: &String| v.starts_with('E'))
            .to("out", Produced::with(key(), StringSerde)),
        ScriptWorkload::StringEquals => builder
            .stream("in", Consumed::with(key(), StringSerde))
            .filter(|_, v: &String| v == "ERROR")
            .to("out", Produced::with(key(), StringSerde)),
        ScriptWorkload::Predicate | ScriptWorkload::FilterMap => {
            let errors = builder
                .stream("in", Consumed::with(key(), JsonSerde::<Value>::new()))
                .filter(|_, v: &Value| v["level"] == "ERROR");
            let errors = match workload {
                ScriptWorkload::FilterMap => errors.map_values(|v: Value| json!({ "msg": v["msg"] })),
                _ => errors,
            };
            errors.to("out", Produced::with(key(), JsonSerde::<Value>::new()));
        }
    }
    builder.build().context("building the Rust topology")
}

/// Runs `records` values through `topology`; (seconds, CPU-seconds, records written).
fn measure(topology: Topology, values: &[Bytes], records: u64) -> anyhow::Result<(f64, f64, u64)> {
    let mut driver = TopologyTestDriver::new(topology, "perf-script")?;
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut written = 0;
    for i in 0..records {
        let value = values[(i % values.len() as u64) as usize].clone();
        driver.pipe_raw("in", None, Some(value), i as i64, Vec::new())?;
        if i % 10_000 == 9_999 {
            written += driver.read_raw("out").len() as u64;
        }
    }
    written += driver.read_raw("out").len() as u64;
    Ok((
        started.elapsed().as_secs_f64().max(1e-9),
        (cpu_seconds() - cpu).max(1e-9),
        written,
    ))
}

pub(crate) fn run(args: &ScriptArgs) -> anyhow::Result<()> {
    let msg = "m".repeat(args.msg_size);
    let values: Vec<Bytes> = match args.workload {
        ScriptWorkload::StringPredicate => {
            vec![Bytes::from(format!("ERROR {msg}")), Bytes::from(format!("INFO {msg}"))]
        }
        ScriptWorkload::StringEquals => vec![Bytes::from("ERROR"), Bytes::from(format!("INFO {msg}"))],
        _ => ["ERROR", "INFO"]
            .iter()
            .map(|level| Bytes::from(json!({ "level": level, "msg": msg }).to_string()))
            .collect(),
    };
    let source = script(args.workload);
    println!("Script: {source}");
    let pipeline = Pipeline::compile(source, &ScriptOptions::named("perf.rhai"))?;
    let mut results = Vec::new();
    for (name, topology) in [("rhai", pipeline.topology()), ("Rust", native(args.workload)?)] {
        let (secs, cpu, written) = measure(topology, &values, args.records)?;
        println!(
            "{name:>4}: {} records in {secs:.2} s: {:.0} records/sec, {:.0} records per CPU-second, {:.0} ns/record ({written} written)",
            args.records,
            args.records as f64 / secs,
            args.records as f64 / cpu,
            secs * 1e9 / args.records as f64,
        );
        results.push(secs * 1e9 / args.records as f64);
    }
    println!(
        "The script costs {:.0} ns per record more than Rust (one thread, in process; the broker and the network not included).",
        results[0] - results[1]
    );
    Ok(())
}

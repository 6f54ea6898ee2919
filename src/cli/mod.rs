//! Command-line arguments (clap derive) and their execution, one module per noun.

mod broker;
mod client_args;
mod connect;
mod consume;
mod group;
mod perf;
mod perf_connect;
mod perf_script;
mod perf_streams;
mod produce;
mod run;
mod table;
mod time;
mod topic;

use clap::{Parser, Subcommand};

/// Rill: a Kafka-compatible broker, Streams library and Connect runtime.
#[derive(Debug, Parser)]
#[command(name = "rill", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (defaults: 127.0.0.1:9092, data in ./rill-data).
    Broker(broker::BrokerArgs),
    /// Create, list, describe, alter and delete topics (like kafka-topics).
    Topic(topic::TopicArgs),
    /// Write lines from stdin or a file as records (like kafka-console-producer).
    Produce(produce::ProduceArgs),
    /// Print records (like kafka-console-consumer).
    Consume(consume::ConsumeArgs),
    /// List, describe, reset and delete consumer groups (like kafka-consumer-groups).
    Group(group::GroupArgs),
    /// Measure producer or consumer throughput (like kafka-producer-perf-test).
    Perf(perf::PerfArgs),
    /// Run connectors (like connect-standalone).
    Connect(connect::ConnectArgs),
    /// Run a Streams pipeline written in rhai, reloading it when the file changes.
    Run(run::RunArgs),
}

impl Cli {
    /// The log level when RUST_LOG/RILL_LOG say nothing: the broker reports what it does, the
    /// client tools only warnings (their output is the records and tables).
    pub(crate) fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Broker(_) | Command::Connect(_) | Command::Run(_) => "info",
            _ => "warn",
        }
    }
}

/// Runs the parsed command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Broker(args) => broker::run(args),
        Command::Topic(args) => topic::run(args),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Group(args) => group::run(args),
        Command::Perf(args) => perf::run(args),
        Command::Connect(args) => connect::run(args),
        Command::Run(args) => run::run(args),
    }
}

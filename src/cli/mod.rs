//! Command-line arguments (clap derive) and their execution, one module per noun.

mod broker;

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
}

/// Runs the parsed command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Broker(args) => broker::run(args),
    }
}

//! `rill produce TOPIC`: records from stdin or a file, one per line, as
//! `kafka-console-producer` and `kcat -P` send them.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use rill_client::producer::{Producer, ProducerRecord};

use super::client_args::{ClientArgs, key_value, runtime};

/// Arguments of `rill produce`.
#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Topic to write to.
    #[arg(value_name = "TOPIC")]
    topic: String,
    /// Split each line into key and value at the first SEP (`key<SEP>value`); without it the
    /// whole line is the value and the key is null.
    #[arg(long = "key-separator", value_name = "SEP")]
    key_separator: Option<String>,
    /// A header added to every record, repeatable: `--header source=app1`.
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// Read records from this file instead of stdin.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write to this partition instead of partitioning by key.
    #[arg(long)]
    partition: Option<i32>,
    /// Acknowledgements: all, 1 or 0.
    #[arg(long, default_value = "all")]
    acks: String,
    /// Compression: none, gzip, snappy, lz4, zstd.
    #[arg(long = "compression-codec", default_value = "none")]
    compression: String,
}

pub(crate) fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let headers: Vec<(String, String)> = args.headers.iter().map(|h| key_value(h)).collect::<Result<_, _>>()?;
    if args.key_separator.as_deref() == Some("") {
        bail!("--key-separator must not be empty");
    }
    let overrides = vec![
        ("acks", args.acks.clone()),
        ("compression.type", args.compression.clone()),
    ];
    let props = args.client.properties(&overrides)?;
    let input: Box<dyn BufRead + Send> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    runtime()?.block_on(async move {
        let producer = Producer::from_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .await
            .with_context(|| format!("connecting to {}", args.client.bootstrap_server))?;
        // Lines are read on a blocking thread so that the producer keeps sending meanwhile.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<String>>(1024);
        let reader = tokio::task::spawn_blocking(move || {
            for line in input.lines() {
                let failed = line.is_err();
                if tx.blocking_send(line).is_err() || failed {
                    return;
                }
            }
        });
        let mut deliveries = Vec::new();
        let mut sent = 0u64;
        while let Some(line) = rx.recv().await {
            let line = line.context("reading input")?;
            let mut record = ProducerRecord::new(args.topic.as_str());
            match &args.key_separator {
                Some(sep) => match line.split_once(sep.as_str()) {
                    Some((key, value)) => record = record.key(key.to_owned()).value(value.to_owned()),
                    None => bail!("line {} has no key separator `{sep}`: {line}", sent + 1),
                },
                None => record = record.value(line),
            }
            for (k, v) in &headers {
                record = record.header(k.clone(), v.clone());
            }
            if let Some(p) = args.partition {
                record = record.partition(p);
            }
            deliveries.push(
                producer
                    .send(record)
                    .await
                    .with_context(|| format!("sending line {}", sent + 1))?,
            );
            sent += 1;
            // Settle what has been acknowledged so far, keeping memory flat on long inputs.
            if deliveries.len() >= 10_000 {
                for delivery in deliveries.drain(..) {
                    delivery.await.context("a record was not delivered")?;
                }
            }
        }
        let _ = reader.await;
        producer.flush().await;
        for delivery in deliveries {
            delivery.await.context("a record was not delivered")?;
        }
        producer.close().await?;
        Ok(())
    })
}

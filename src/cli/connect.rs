//! `rill connect standalone worker.toml connector.json ...`: runs connectors in this process, as
//! Kafka Connect's `connect-standalone` does. The worker file holds Kafka's worker keys
//! (`bootstrap.servers`, `offset.storage.topic`); each connector file is what Connect's REST API
//! takes (`{"name": ..., "config": {...}}`, or the flat config with its `name`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rill_client::producer::Producer;
use rill_connect::OffsetStore;
use rill_connect::file::{FileSourceConfig, run_file_source};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// Arguments of `rill connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    #[command(subcommand)]
    command: ConnectCommand,
}

#[derive(Debug, Subcommand)]
enum ConnectCommand {
    /// Run connectors in this process until SIGINT/SIGTERM (like connect-standalone).
    Standalone {
        /// The worker's settings (TOML): `bootstrap.servers`, `offset.storage.topic`.
        worker: PathBuf,
        /// Connector configurations (JSON).
        #[arg(required = true)]
        connectors: Vec<PathBuf>,
    },
}

/// A TOML table flattened to Kafka-style dotted keys (`a.b = 1` and `"a.b" = 1` alike).
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (key, value) in table {
        let key = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

fn worker_config(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("parsing {}", path.display()))?;
    let mut config = BTreeMap::new();
    flatten("", &table, &mut config);
    Ok(config)
}

/// A connector's flat config from its JSON file.
fn connector_config(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let (name, body) = match json.get("config") {
        Some(config) => (json.get("name").cloned(), config.clone()),
        None => (None, json),
    };
    let Some(map) = body.as_object() else {
        bail!("{}: a connector config is a JSON object", path.display());
    };
    let mut config = BTreeMap::new();
    for (key, value) in map {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        config.insert(key.clone(), value);
    }
    if let Some(serde_json::Value::String(name)) = name {
        config.entry("name".to_owned()).or_insert(name);
    }
    // Kafka's FileStreamSource names one file with `file`.
    if let Some(file) = config.get("file").cloned() {
        config.entry("file.include".to_owned()).or_insert(file);
    }
    Ok(config)
}

fn is_file_source(class: &str) -> bool {
    matches!(class, "FileSource" | "file-source" | "FileStreamSource") || class.ends_with(".FileStreamSourceConnector")
}

pub(crate) fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let ConnectCommand::Standalone { worker, connectors } = args.command;
    let worker = worker_config(&worker)?;
    let bootstrap = worker
        .get("bootstrap.servers")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let offsets_topic = worker
        .get("offset.storage.topic")
        .cloned()
        .unwrap_or_else(|| "connect-offsets".to_owned());
    let mut sources = Vec::new();
    for path in &connectors {
        let config = connector_config(path)?;
        let class = config.get("connector.class").map(String::as_str).unwrap_or_default();
        if !is_file_source(class) {
            bail!(
                "{}: connector.class {class:?} is not a connector this worker runs (FileStreamSource)",
                path.display()
            );
        }
        sources.push(Arc::new(
            FileSourceConfig::from_config(&config).with_context(|| format!("{}", path.display()))?,
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let offsets = Arc::new(
            OffsetStore::open(&bootstrap, &offsets_topic)
                .await
                .with_context(|| format!("opening the offsets topic {offsets_topic} on {bootstrap}"))?,
        );
        let stop = CancellationToken::new();
        tokio::spawn(super::broker::on_signal(stop.clone()));
        let mut tasks = Vec::new();
        for config in sources {
            let producer = Producer::from_properties([("bootstrap.servers", bootstrap.as_str()), ("linger.ms", "5")])
                .await
                .context("starting a producer")?;
            let (offsets, stop) = (Arc::clone(&offsets), stop.clone());
            info!(connector = %config.name, topic = %config.topic, "starting a file source");
            tasks.push(tokio::spawn(async move {
                let outcome = run_file_source(&config, &producer, &offsets, stop.clone()).await;
                if let Err(e) = &outcome {
                    error!(connector = %config.name, error = %e, "connector failed");
                    stop.cancel();
                }
                let _ = producer.close().await;
                outcome.map(|stats| (config.name.clone(), stats))
            }));
        }
        println!("Rill connect standalone: {} connector(s) on {bootstrap}", tasks.len());
        let mut failed = None;
        for task in tasks {
            match task.await.context("a connector task panicked")? {
                Ok((name, stats)) => info!(connector = %name, lines = stats.lines, "connector stopped"),
                Err(e) => failed = Some(e),
            }
        }
        offsets.close().await?;
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    })
}

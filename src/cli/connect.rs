//! `rill connect standalone worker.toml [connector.json ...]`: a Connect worker in this process,
//! as Kafka Connect's `connect-standalone`, serving the REST API (`listeners`, by default
//! `http://127.0.0.1:8083`). The worker file holds Kafka's worker keys (`bootstrap.servers`,
//! `listeners`, `offset.storage.topic`, `config.storage.topic`, `status.storage.topic`); each
//! connector file is what the REST API takes (`{"name": ..., "config": {...}}`, or the flat
//! config with its `name`) and is created or updated at start. Connectors created through the
//! API are kept in the config topic and come back when the worker restarts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rill_connect::runtime::{Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Arguments of `rill connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    #[command(subcommand)]
    command: ConnectCommand,
}

#[derive(Debug, Subcommand)]
enum ConnectCommand {
    /// Run a worker with the REST API, and these connectors, until SIGINT/SIGTERM (like
    /// connect-standalone).
    Standalone {
        /// The worker's settings (TOML): `bootstrap.servers`, `listeners`, `*.storage.topic`.
        worker: PathBuf,
        /// Connector configurations (JSON) to create or update at start.
        connectors: Vec<PathBuf>,
    },
    /// Run a connector's transforms on sample records and print what comes out (a dry run: no
    /// worker, no cluster).
    TestTransform {
        /// The connector's configuration (JSON, as `standalone` takes it); only its
        /// `transforms.*` and `predicates.*` keys (and `topic`/`topics`) matter.
        connector: PathBuf,
        /// Sample records, one JSON object per line (`{"topic", "key", "value", "timestamp",
        /// "headers"}`, all but `value` optional); default: standard input.
        #[arg(long, value_name = "FILE")]
        records: Option<PathBuf>,
    },
}

/// `test-transform`: each sample's result as a JSON line.
fn test_transform(connector: &Path, records: Option<&Path>) -> anyhow::Result<()> {
    use std::io::Read;

    let (_, config) = connector_config(connector)?;
    let chain = rill_connect::transform::TransformChain::from_config(&config)
        .with_context(|| format!("{}", connector.display()))?;
    let mut text = String::new();
    match records {
        Some(path) => text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading samples from stdin")?;
        }
    }
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let sample: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("sample on line {}: not JSON", i + 1))?;
        samples.push(sample);
    }
    let topic = rill_connect::transform::default_sample_topic(&config);
    for result in rill_connect::transform::dry_run(&chain, &samples, &topic) {
        println!("{result}");
    }
    Ok(())
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

/// A connector's name and flat config from its JSON file.
fn connector_config(path: &Path) -> anyhow::Result<(String, BTreeMap<String, String>)> {
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
    let Some(name) = config.get("name").cloned() else {
        bail!("{}: the connector has no name", path.display());
    };
    Ok((name, config))
}

pub(crate) fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let (worker, connectors) = match args.command {
        ConnectCommand::Standalone { worker, connectors } => (worker, connectors),
        ConnectCommand::TestTransform { connector, records } => return test_transform(&connector, records.as_deref()),
    };
    let settings = worker_config(&worker)?;
    let listener = settings
        .get("listeners")
        .map(|l| l.trim_start_matches("http://").trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "127.0.0.1:8083".to_owned());
    let connectors = connectors
        .iter()
        .map(|path| connector_config(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listener)
            .await
            .with_context(|| format!("binding the REST listener {listener}"))?;
        let address = listener.local_addr().context("the REST listener's address")?;
        let mut config = WorkerConfig::from_config(&settings);
        config.worker_id = address.to_string();
        let bootstrap = config.bootstrap.clone();
        let worker = Worker::start(config)
            .await
            .with_context(|| format!("starting the worker on {bootstrap}"))?;
        for (name, config) in connectors {
            let (created, _) = worker
                .put_config(&name, config)
                .await
                .with_context(|| format!("connector {name}"))?;
            info!(connector = %name, created, "connector from the command line");
        }
        let stop = CancellationToken::new();
        tokio::spawn(super::broker::on_signal(stop.clone()));
        println!("Rill Connect worker: REST API on http://{address}, cluster {bootstrap}");
        let served = rill_connect::rest::serve(listener, worker.clone(), stop.clone()).await;
        worker.shutdown().await;
        served.context("serving the REST API")
    })
}

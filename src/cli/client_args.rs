//! Connection arguments every client command shares, as Kafka's tools spell them.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

/// Where the cluster is and how to talk to it.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// Broker(s) to bootstrap from, comma-separated.
    #[arg(
        long = "bootstrap-server",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9092",
        env = "RILL_BOOTSTRAP_SERVER",
        global = true
    )]
    pub(crate) bootstrap_server: String,
    /// A client property under its Kafka name (`-X linger.ms=5`); repeatable.
    #[arg(short = 'X', long = "property", value_name = "KEY=VALUE", global = true)]
    pub(crate) properties: Vec<String>,
    /// A file of client properties, one `key=value` per line (`#` starts a comment).
    #[arg(long = "command-config", value_name = "FILE", global = true)]
    pub(crate) command_config: Option<PathBuf>,
}

/// Splits `key=value`.
pub(crate) fn key_value(pair: &str) -> anyhow::Result<(String, String)> {
    match pair.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => bail!("`{pair}` is not KEY=VALUE"),
    }
}

impl ClientArgs {
    /// The client properties: the command-config file, then `-X`, then `overrides` (the
    /// command's own flags), then `bootstrap.servers`.
    pub(crate) fn properties(&self, overrides: &[(&str, String)]) -> anyhow::Result<Vec<(String, String)>> {
        let mut props: Vec<(String, String)> = Vec::new();
        if let Some(path) = &self.command_config {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                    continue;
                }
                props.push(key_value(line).with_context(|| format!("{}:{}", path.display(), n + 1))?);
            }
        }
        for pair in &self.properties {
            props.push(key_value(pair)?);
        }
        for (k, v) in overrides {
            props.push(((*k).to_owned(), v.clone()));
        }
        props.push(("bootstrap.servers".to_owned(), self.bootstrap_server.clone()));
        // Later settings win.
        let mut merged: Vec<(String, String)> = Vec::new();
        for (k, v) in props {
            merged.retain(|(key, _)| *key != k);
            merged.push((k, v));
        }
        Ok(merged)
    }

    /// Connects an admin client.
    pub(crate) async fn admin(&self) -> anyhow::Result<rill_client::admin::Admin> {
        let props = self.properties(&[])?;
        rill_client::admin::Admin::from_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .await
            .with_context(|| format!("connecting to {}", self.bootstrap_server))
    }
}

/// A current-thread runtime for a client command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

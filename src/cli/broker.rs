//! `rill broker`: runs a broker until SIGINT or SIGTERM, then shuts down cleanly.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rill_broker::config::{ConfigSources, ENV_PREFIX};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Arguments of `rill broker`.
#[derive(Debug, Args)]
pub(crate) struct BrokerArgs {
    /// TOML file of Kafka broker settings (`"num.partitions" = 3` or `log.retention.hours = 24`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (`listeners`), e.g. 127.0.0.1:9092.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Data directory (`log.dirs`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A broker setting, applied after the file and the RILL_BROKER_* environment; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

pub(crate) fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let mut sets = args.sets;
    if let Some(listen) = args.listen {
        sets.push(format!("listeners={listen}"));
    }
    if let Some(dir) = args.data_dir {
        sets.push(format!("log.dirs={}", dir.display()));
    }
    let env = std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
    let loaded = ConfigSources {
        file: args.config,
        env,
        sets,
    }
    .load()
    .context("invalid broker configuration")?;
    for key in &loaded.ignored {
        warn!(key, "ignoring Kafka setting that has no meaning in Rill");
    }
    let config = loaded.config;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let addr = config.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let shutdown = CancellationToken::new();
        let server = rill_broker::Server::open(listener, config, shutdown.clone())
            .await
            .context("opening the data directory")?;
        let local = server.local_addr()?;
        info!(cluster_id = server.cluster_id(), "broker started");
        println!("Rill broker listening on {local}");
        tokio::spawn(on_signal(shutdown));
        server.run().await.context("broker failed")
    })
}

pub(crate) async fn on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        warn!("cannot install signal handlers; stop the broker with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
    shutdown.cancel();
}

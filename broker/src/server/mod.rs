//! The TCP server: accepts connections (at most `max.connections`), serves each with
//! [`connection`], and shuts down by fan-out (one cancellation token) and drain (one task
//! tracker), flushing every log before it returns.

mod connection;
mod dispatch;
mod error;
mod response;
pub(crate) mod versions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use dispatch::{Answer, RequestContext};
pub use error::BrokerError;
pub(crate) use error::DispatchError;
pub(crate) use response::{Marker, new_marker};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::background;
use crate::broker::{Advertised, Broker};
use crate::config::BrokerConfig;

/// A broker whose data directory is open and whose listener is bound, ready to [`Server::run`].
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
}

impl Server {
    /// Opens the data directory (recovering logs if needed) for a broker that will serve
    /// `listener`. `shutdown` stops it.
    pub async fn open(
        listener: TcpListener,
        config: BrokerConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, BrokerError> {
        let local = listener.local_addr().map_err(BrokerError::Listener)?;
        let advertised = match config.advertised_addr()? {
            Some((host, port)) => Advertised {
                host,
                port: i32::from(port),
            },
            None => Advertised {
                host: if local.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    local.ip().to_string()
                },
                port: i32::from(local.port()),
            },
        };
        let token = shutdown.child_token();
        let broker = tokio::task::spawn_blocking(move || Broker::open(config, advertised, token))
            .await
            .map_err(BrokerError::Task)??;
        Ok(Self {
            listener,
            broker: Arc::new(broker),
            shutdown,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, BrokerError> {
        self.listener.local_addr().map_err(BrokerError::Listener)
    }

    /// The cluster id stored in the data directory.
    pub fn cluster_id(&self) -> &str {
        &self.broker.cluster_id
    }

    /// Serves clients until the shutdown token is cancelled, then closes every connection,
    /// waits for in-flight work and flushes all logs.
    pub async fn run(self) -> Result<(), BrokerError> {
        let Self {
            listener,
            broker,
            shutdown,
        } = self;
        background::start(&broker);
        broker.start_coordinator();
        let limit = Arc::new(Semaphore::new(broker.config.max_connections as usize));
        info!(address = %listener.local_addr().map_err(BrokerError::Listener)?, "accepting connections");
        loop {
            let permit = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                permit = Arc::clone(&limit).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    broker
                        .tasks
                        .spawn(connection::serve(stream, peer, Arc::clone(&broker), permit));
                }
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    warn!(cause = %e, "accept failed");
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
        drop(listener);
        info!("shutting down");
        broker.shutdown.cancel();
        broker.tasks.close();
        broker.tasks.wait().await;
        let closing = Arc::clone(&broker);
        let closed = tokio::task::spawn_blocking(move || closing.close())
            .await
            .map_err(BrokerError::Task)?;
        if let Err(e) = &closed {
            error!(cause = %e, "closing logs failed; the next start will recover them");
        }
        closed
    }
}

/// Runs a broker on `listener` until `shutdown` is cancelled: [`Server::open`] then [`Server::run`].
pub async fn run(listener: TcpListener, config: BrokerConfig, shutdown: CancellationToken) -> Result<(), BrokerError> {
    Server::open(listener, config, shutdown).await?.run().await
}

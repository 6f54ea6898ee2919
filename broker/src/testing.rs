//! An in-process broker for tests: bound to 127.0.0.1 on an ephemeral port, with its data in a
//! temporary directory, stopped (cleanly) by [`TestBroker::stop`] or on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::server::{BrokerError, Server};

/// A running in-process broker.
#[derive(Debug)]
pub struct TestBroker {
    addr: SocketAddr,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), BrokerError>>>,
}

impl TestBroker {
    /// Starts a broker with default settings in a fresh temporary directory.
    pub async fn start() -> Result<Self, BrokerError> {
        Self::start_with(|_| {}).await
    }

    /// Starts a broker in a fresh temporary directory after `configure` adjusts the config.
    pub async fn start_with(configure: impl FnOnce(&mut BrokerConfig)) -> Result<Self, BrokerError> {
        let temp = tempfile::tempdir()
            .map_err(|e| crate::log::io_err("creating temporary directory", Path::new("/tmp"))(e))?;
        let dir = temp.path().to_owned();
        let mut broker = Self::start_in(&dir, configure).await?;
        broker._temp = Some(temp);
        Ok(broker)
    }

    /// Starts a broker on an existing data directory (to test restarts).
    pub async fn start_in(data_dir: &Path, configure: impl FnOnce(&mut BrokerConfig)) -> Result<Self, BrokerError> {
        Self::start_at(
            data_dir,
            "127.0.0.1:0"
                .parse()
                .map_err(|_| BrokerError::Listener(std::io::ErrorKind::InvalidInput.into()))?,
            configure,
        )
        .await
    }

    /// Starts a broker on an existing data directory, listening on `addr` (to restart a broker on
    /// the port its clients know).
    pub async fn start_at(
        data_dir: &Path,
        addr: SocketAddr,
        configure: impl FnOnce(&mut BrokerConfig),
    ) -> Result<Self, BrokerError> {
        let mut config = BrokerConfig {
            log_dirs: data_dir.display().to_string(),
            ..Default::default()
        };
        configure(&mut config);
        let config = config.validate()?;
        let listener = TcpListener::bind(addr).await.map_err(BrokerError::Listener)?;
        let shutdown = CancellationToken::new();
        let server = Server::open(listener, config, shutdown.clone()).await?;
        let addr = server.local_addr()?;
        let task = tokio::spawn(server.run());
        Ok(Self {
            addr,
            data_dir: data_dir.to_owned(),
            _temp: None,
            shutdown,
            task: Some(task),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the broker cleanly and waits until every log is flushed and closed. The temporary
    /// directory (if any) is kept until the returned value is dropped.
    pub async fn stop(mut self) -> Result<Option<tempfile::TempDir>, BrokerError> {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.map_err(BrokerError::Task)??;
        }
        Ok(self._temp.take())
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

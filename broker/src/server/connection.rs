//! One client connection: a reader that decodes and dispatches requests in arrival order, and a
//! writer that sends their responses in that same order, waiting on deferred ones (a produce
//! waiting for its fsync, a fetch waiting for data) without blocking the requests behind them.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rill_client::protocol::frame::{FrameError, FrameReader};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tracing::{debug, warn};

use super::dispatch::{BoxFuture, dispatch};
use crate::broker::Broker;

/// What the writer sends for one request.
pub(crate) enum Reply {
    /// An encoded response.
    Ready(Bytes),
    /// A response still being produced.
    Pending(BoxFuture<Result<Bytes, FrameError>>),
    /// Nothing (acks=0 produce).
    Nothing,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready(b) => write!(f, "Ready({} bytes)", b.len()),
            Self::Pending(_) => f.write_str("Pending"),
            Self::Nothing => f.write_str("Nothing"),
        }
    }
}

/// Displays an error with its chain of sources: `outer: inner: innermost`.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// Serves one connection until the client closes it, sends something unacceptable, or the
/// broker shuts down.
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>, _permit: OwnedSemaphorePermit) {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, cause = %e, "could not disable Nagle");
    }
    let (read, write) = stream.into_split();
    let (tx, rx) = mpsc::channel(broker.config.queued_max_requests as usize);
    tokio::join!(read_loop(read, peer, &broker, tx), write_loop(write, peer, &broker, rx));
    debug!(%peer, "connection closed");
}

async fn read_loop(mut read: OwnedReadHalf, peer: SocketAddr, broker: &Arc<Broker>, tx: mpsc::Sender<Reply>) {
    let mut reader = FrameReader::new(broker.config.socket_request_max_bytes as usize);
    loop {
        let frame = tokio::select! {
            biased;
            () = broker.shutdown.cancelled() => return,
            frame = reader.next(&mut read) => frame,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(FrameError::Io(e)) => {
                debug!(%peer, cause = %e, "connection read failed");
                return;
            }
            Err(e) => {
                warn!(%peer, cause = %e, "closing connection: bad frame");
                return;
            }
        };
        match dispatch(broker, frame, peer).await {
            Ok(Reply::Nothing) => {}
            Ok(reply) => {
                if tx.send(reply).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(%peer, cause = %ErrorChain(&e), "closing connection");
                return;
            }
        }
    }
}

async fn write_loop(mut write: OwnedWriteHalf, peer: SocketAddr, broker: &Arc<Broker>, mut rx: mpsc::Receiver<Reply>) {
    while let Some(reply) = rx.recv().await {
        let bytes = match reply {
            Reply::Ready(bytes) => bytes,
            Reply::Pending(pending) => {
                let result = tokio::select! {
                    biased;
                    () = broker.shutdown.cancelled() => return,
                    result = pending => result,
                };
                match result {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        warn!(%peer, cause = %ErrorChain(&e), "closing connection: response failed to encode");
                        return;
                    }
                }
            }
            Reply::Nothing => continue,
        };
        if let Err(e) = write.write_all(&bytes).await {
            debug!(%peer, cause = %e, "connection write failed");
            return;
        }
    }
    let _ = write.shutdown().await;
}

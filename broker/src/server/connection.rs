//! One client connection, in three stages joined by bounded channels:
//!
//! 1. the reader takes frames off the socket;
//! 2. the executor runs each request's handler in arrival order, so that effects (appends,
//!    topic changes) happen in request order; a handler may leave part of its answer pending
//!    (a produce waiting for its fsync, a fetch waiting for data);
//! 3. the writer sends responses in that same order, awaiting pending ones.
//!
//! Reading the next request overlaps with appending the previous one, and a durable produce's
//! fsync wait does not hold back the appends behind it, so one fsync can cover many requests.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rill_client::protocol::frame::{FrameError, FrameReader};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::{debug, warn};

use super::dispatch::{BoxFuture, dispatch};
use super::response::Chunk;
use crate::broker::Broker;
use crate::log::FileSlice;

/// What the writer sends for one request.
pub(crate) enum Reply {
    /// An encoded response.
    Ready(Vec<Chunk>),
    /// A response still being produced.
    Pending(BoxFuture<Result<Vec<Chunk>, FrameError>>),
    /// Nothing (acks=0 produce).
    Nothing,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready(chunks) => write!(f, "Ready({} chunks)", chunks.len()),
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
    let depth = broker.config.queued_max_requests as usize;
    let (frames_tx, frames_rx) = mpsc::channel(depth);
    let (replies_tx, replies_rx) = mpsc::channel(depth);
    tokio::join!(
        read_loop(read, peer, &broker, frames_tx),
        execute_loop(peer, &broker, frames_rx, replies_tx),
        write_loop(write, peer, &broker, replies_rx)
    );
    debug!(%peer, "connection closed");
}

/// A request frame with its share of the connection's byte budget, released once executed.
type Queued = (Bytes, OwnedSemaphorePermit);

async fn read_loop(mut read: OwnedReadHalf, peer: SocketAddr, broker: &Arc<Broker>, frames: mpsc::Sender<Queued>) {
    let max_frame = broker.config.socket_request_max_bytes as usize;
    let mut reader = FrameReader::new(max_frame);
    // Bytes of requests read but not yet executed; one frame of the largest size always fits.
    let budget = Arc::new(Semaphore::new(
        (broker.config.queued_max_request_bytes.max(0) as usize).max(max_frame),
    ));
    loop {
        let frame = tokio::select! {
            biased;
            () = broker.shutdown.cancelled() => return,
            () = frames.closed() => return,
            frame = reader.next(&mut read) => frame,
        };
        match frame {
            Ok(Some(frame)) => {
                let Ok(permit) = Arc::clone(&budget).acquire_many_owned(frame.len() as u32).await else {
                    return;
                };
                if frames.send((frame, permit)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(FrameError::Io(e)) => {
                debug!(%peer, cause = %e, "connection read failed");
                return;
            }
            Err(e) => {
                warn!(%peer, cause = %e, "closing connection: bad frame");
                return;
            }
        }
    }
}

async fn execute_loop(
    peer: SocketAddr,
    broker: &Arc<Broker>,
    mut frames: mpsc::Receiver<Queued>,
    replies: mpsc::Sender<Reply>,
) {
    while let Some((frame, _permit)) = frames.recv().await {
        let reply = tokio::select! {
            biased;
            () = broker.shutdown.cancelled() => return,
            reply = dispatch(broker, frame, peer) => reply,
        };
        match reply {
            Ok(Reply::Nothing) => {}
            Ok(reply) => {
                if replies.send(reply).await.is_err() {
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
        let chunks = match reply {
            Reply::Ready(chunks) => chunks,
            Reply::Pending(pending) => {
                let result = tokio::select! {
                    biased;
                    () = broker.shutdown.cancelled() => return,
                    result = pending => result,
                };
                match result {
                    Ok(chunks) => chunks,
                    Err(e) => {
                        warn!(%peer, cause = %ErrorChain(&e), "closing connection: response failed to encode");
                        return;
                    }
                }
            }
            Reply::Nothing => continue,
        };
        if let Err(e) = send(&mut write, chunks).await {
            debug!(%peer, cause = %e, "connection write failed");
            return;
        }
    }
    let _ = write.shutdown().await;
}

async fn send(write: &mut OwnedWriteHalf, chunks: Vec<Chunk>) -> std::io::Result<()> {
    for chunk in chunks {
        match chunk {
            Chunk::Memory(bytes) => write.write_all(&bytes).await?,
            Chunk::File(slice) => send_file(write.as_ref(), &slice).await?,
        }
    }
    Ok(())
}

/// Sends a file range with `sendfile(2)`: page cache to socket, no copy through user space.
async fn send_file(stream: &TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    let mut offset = slice.position;
    let end = slice.position + slice.len;
    while offset < end {
        stream.writable().await?;
        let count = (end - offset) as usize;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*slice.file, Some(&mut offset), count).map_err(std::io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{} ended before byte {end}", slice.path.display()),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

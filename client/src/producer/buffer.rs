//! `buffer.memory`: the bytes of records waiting in the producer, bounded so that `send` blocks
//! (up to `max.block.ms`) when the application produces faster than the cluster takes.
//!
//! Cheaper per record than a semaphore permit: taking room is one compare-and-swap with no
//! reference counting ([`Reserved`] borrows the pool), and a batch's records pour their room into
//! one [`Lease`] that gives it all back at once when the batch is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::ClientError;

/// The producer's record memory.
#[derive(Debug)]
pub(crate) struct BufferPool {
    used: AtomicUsize,
    limit: usize,
    freed: Notify,
}

impl BufferPool {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit: limit.max(1),
            freed: Notify::new(),
        })
    }

    /// Takes room for `size` bytes (all of the pool for a record larger than it), waiting up to
    /// `max_block` for batches to complete and free some.
    pub(crate) async fn reserve(&self, size: usize, max_block: Duration) -> Result<Reserved<'_>, ClientError> {
        let size = size.min(self.limit);
        if let Some(lease) = self.try_reserve(size) {
            return Ok(lease);
        }
        let wait = async {
            loop {
                let freed = self.freed.notified();
                tokio::pin!(freed);
                freed.as_mut().enable();
                if let Some(lease) = self.try_reserve(size) {
                    return lease;
                }
                freed.await;
            }
        };
        tokio::time::timeout(max_block, wait)
            .await
            .map_err(|_| ClientError::Timeout {
                what: "waiting for buffer.memory".to_owned(),
                ms: max_block.as_millis() as u64,
            })
    }

    fn try_reserve(&self, size: usize) -> Option<Reserved<'_>> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used + size > self.limit {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(used, used + size, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Reserved {
                        pool: self,
                        bytes: size,
                    });
                }
                Err(now) => used = now,
            }
        }
    }

    /// Bytes taken now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            self.freed.notify_waiters();
        }
    }
}

/// Room for one record, given back if dropped before it joins a batch's [`Lease`].
#[derive(Debug)]
#[must_use]
pub(crate) struct Reserved<'a> {
    pool: &'a BufferPool,
    bytes: usize,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.pool.give_back(self.bytes);
    }
}

/// The room of a batch's records, given back when the batch is dropped (done).
#[derive(Debug)]
pub(crate) struct Lease {
    pool: Arc<BufferPool>,
    bytes: usize,
}

impl Lease {
    pub(crate) fn new(pool: &Arc<BufferPool>) -> Self {
        Self {
            pool: Arc::clone(pool),
            bytes: 0,
        }
    }

    /// Takes over a record's room.
    pub(crate) fn add(&mut self, mut reserved: Reserved<'_>) {
        self.bytes += std::mem::take(&mut reserved.bytes);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reserving_blocks_until_room_is_given_back_or_times_out() {
        let pool = BufferPool::new(100);
        let mut lease = Lease::new(&pool);
        lease.add(pool.reserve(60, Duration::ZERO).await.expect("room"));
        lease.add(pool.reserve(30, Duration::ZERO).await.expect("room"));
        assert_eq!(pool.used(), 90);
        let err = pool.reserve(20, Duration::from_millis(10)).await.expect_err("full");
        assert!(matches!(err, ClientError::Timeout { .. }), "{err}");

        // Room not added to a lease goes back when dropped.
        drop(pool.reserve(10, Duration::ZERO).await.expect("room"));
        assert_eq!(pool.used(), 90);

        let waiter = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.reserve(20, Duration::from_secs(10)).await.map(|r| r.bytes) }
        });
        drop(lease);
        assert_eq!(waiter.await.expect("task").expect("room after the drop"), 20);
        assert_eq!(pool.used(), 0, "all room is back");

        // A record larger than the pool takes all of it.
        let whole = pool.reserve(1000, Duration::ZERO).await.expect("room");
        assert_eq!((whole.bytes, pool.used()), (100, 100));
    }
}

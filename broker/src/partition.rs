//! A partition: its log under a mutex, its published offsets, and its flusher.
//!
//! This is where the synchronous log meets async code. Appends and reads run on the blocking
//! pool; the high watermark is published through atomics and a [`Notify`] that wakes waiting
//! fetches. Durable topics (`flush.messages=1`) acknowledge only after an fsync, and one fsync
//! covers every append that arrived before it started (group commit).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rill_client::protocol::batch::BatchHeader;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use crate::config::TopicConfig;
use crate::log::{Appended, FileSlice, LogError, PartitionLog};

/// Flush progress, published to waiting producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlushState {
    /// Everything below this offset is fsynced.
    pub(crate) flushed: i64,
    /// An fsync failed; the partition no longer acknowledges durable writes.
    pub(crate) failed: bool,
}

/// One partition of a topic on this broker.
#[derive(Debug)]
pub(crate) struct Partition {
    topic: Arc<str>,
    index: i32,
    log: Mutex<PartitionLog>,
    high_watermark: AtomicI64,
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    /// Notified when the high watermark or log start moves, or the partition goes away.
    data_changed: Notify,
    flush_requested: AtomicI64,
    flush_wanted: Notify,
    flush_state: watch::Sender<FlushState>,
    durable: AtomicBool,
    deleted: AtomicBool,
}

/// Result of appending the batches of one produce request to one partition.
#[derive(Debug)]
pub(crate) struct AppendResult {
    /// First batch's placement, or the error that stopped the appends.
    pub(crate) outcome: Result<Appended, LogError>,
    /// If set, the produce must not be acknowledged before this offset is fsynced.
    pub(crate) flush_to: Option<i64>,
}

impl Partition {
    pub(crate) fn new(topic: Arc<str>, index: i32, log: PartitionLog) -> Arc<Self> {
        let end = log.log_end_offset();
        let durable = log.config().is_durable();
        Arc::new(Self {
            topic,
            index,
            high_watermark: AtomicI64::new(end),
            log_start_offset: AtomicI64::new(log.log_start_offset()),
            log_end_offset: AtomicI64::new(end),
            data_changed: Notify::new(),
            flush_requested: AtomicI64::new(log.flushed_offset()),
            flush_wanted: Notify::new(),
            flush_state: watch::Sender::new(FlushState {
                flushed: log.flushed_offset(),
                failed: false,
            }),
            durable: AtomicBool::new(durable),
            deleted: AtomicBool::new(false),
            log: Mutex::new(log),
        })
    }

    pub(crate) fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    pub(crate) fn index(&self) -> i32 {
        self.index
    }

    /// Locks the log. Poisoning means a panic mid-operation; the log's own invariants are kept
    /// by its methods, so the guard is still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Last stable offset: the high watermark, as long as there are no transactions.
    pub(crate) fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
    }

    pub(crate) fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    pub(crate) fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// A future that completes at the next change of the high watermark or log start. Create it
    /// before checking the state it guards, so that no change is missed.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.data_changed.notified()
    }

    /// Appends validated batches (blocking: call from the blocking pool). Stops at the first
    /// failure; batches after it are not appended.
    pub(crate) fn append(&self, batches: &[(Bytes, BatchHeader)], now_ms: i64) -> AppendResult {
        let mut log = self.lock();
        let mut first = None;
        let mut failure = None;
        for (wire, header) in batches {
            match log.append(wire, header, now_ms) {
                Ok(appended) => {
                    first.get_or_insert(appended);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let end = log.log_end_offset();
        let flush_messages = log.config().flush_messages;
        let unflushed = log.unflushed_messages();
        drop(log);
        // Concurrent appenders publish in any order; the offsets only move forward.
        self.log_end_offset.fetch_max(end, Ordering::AcqRel);
        if !self.durable.load(Ordering::Acquire) {
            self.advance_high_watermark(end);
        }
        if let Some(e) = failure {
            return AppendResult {
                outcome: Err(e),
                flush_to: None,
            };
        }
        let flush_to = (flush_messages != i64::MAX && unflushed >= flush_messages as u64).then_some(end);
        if let Some(target) = flush_to {
            self.request_flush(target);
        }
        match first {
            Some(appended) => AppendResult {
                outcome: Ok(appended),
                flush_to,
            },
            None => AppendResult {
                outcome: Err(LogError::NothingToAppend),
                flush_to: None,
            },
        }
    }

    fn advance_high_watermark(&self, to: i64) {
        if self.high_watermark.fetch_max(to, Ordering::AcqRel) < to {
            self.data_changed.notify_waiters();
        }
    }

    /// Asks the flusher to fsync up to at least `offset`.
    pub(crate) fn request_flush(&self, offset: i64) {
        if self.flush_requested.fetch_max(offset, Ordering::AcqRel) < offset {
            self.flush_wanted.notify_one();
        }
    }

    /// Waits until `offset` is durable; `false` if the flush failed or the partition went away.
    pub(crate) async fn wait_flushed(&self, offset: i64) -> bool {
        let mut rx = self.flush_state.subscribe();
        match rx.wait_for(|s| s.flushed >= offset || s.failed).await {
            Ok(state) => !state.failed && state.flushed >= offset,
            Err(_) => false,
        }
    }

    /// Runs the group-commit flusher until `shutdown`: each round fsyncs everything appended so
    /// far, outside the log lock, while new appends continue.
    pub(crate) async fn run_flusher(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let wanted = self.flush_wanted.notified();
            tokio::pin!(wanted);
            wanted.as_mut().enable();
            if self.flush_requested.load(Ordering::Acquire) <= self.flush_state.borrow().flushed {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return,
                    () = &mut wanted => {}
                }
            }
            if self.is_deleted() {
                return;
            }
            // One round on the blocking pool: plan under the lock, fsync outside it, record.
            let partition = Arc::clone(&self);
            let round = tokio::task::spawn_blocking(move || -> Result<Option<i64>, LogError> {
                let Some(plan) = partition.lock().plan_flush() else {
                    return Ok(None);
                };
                plan.execute()?;
                partition.lock().flush_done(&plan, crate::clock::now_ms());
                Ok(Some(plan.up_to))
            })
            .await;
            match round {
                Ok(Ok(flushed)) => {
                    let flushed = flushed.unwrap_or_else(|| self.log_end_offset());
                    self.flush_state.send_modify(|s| s.flushed = s.flushed.max(flushed));
                    if self.durable.load(Ordering::Acquire) {
                        self.advance_high_watermark(flushed);
                    }
                }
                Ok(Err(e)) => {
                    error!(topic = %self.topic, partition = self.index, cause = %e, "fsync failed; partition stops acknowledging durable writes");
                    self.flush_state.send_modify(|s| s.failed = true);
                    return;
                }
                Err(join) => {
                    warn!(cause = %join, "flush task panicked");
                    self.flush_state.send_modify(|s| s.failed = true);
                    return;
                }
            }
        }
    }

    /// Plans a read of committed data (below the high watermark).
    pub(crate) fn plan_read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<Option<FileSlice>, LogError> {
        let bound = self.high_watermark();
        self.lock().plan_read(offset, max_bytes, bound, min_one)
    }

    /// Applies a new topic configuration.
    pub(crate) fn set_config(&self, config: Arc<TopicConfig>) {
        let durable = config.is_durable();
        self.lock().set_config(config);
        let was_durable = self.durable.swap(durable, Ordering::AcqRel);
        if was_durable && !durable {
            self.advance_high_watermark(self.log_end_offset());
        }
    }

    /// Records a new log start offset (after DeleteRecords or retention) and wakes fetches.
    pub(crate) fn publish_log_start(&self, offset: i64) {
        self.log_start_offset.store(offset, Ordering::Release);
        self.data_changed.notify_waiters();
    }

    /// Marks the partition deleted; waiting fetches and flushes wake up.
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        self.data_changed.notify_waiters();
        self.flush_wanted.notify_one();
        self.flush_state.send_modify(|s| s.failed = true);
    }
}

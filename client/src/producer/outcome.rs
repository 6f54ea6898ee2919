//! The outcome of one produced batch, shared by the futures of its records.

use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use crate::error::ClientError;

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset, or -1 with `acks=0`.
    pub offset: i64,
    /// The record's timestamp (the broker's with LogAppendTime).
    pub timestamp: i64,
}

/// How a batch ended: its base offset and LogAppendTime (-1 if CreateTime), or an error.
pub(crate) type BatchResult = Result<(i64, i64), Arc<ClientError>>;

/// Set once when a batch completes; wakes every waiting record future.
#[derive(Debug)]
pub(crate) struct BatchOutcome {
    /// The batch's topic and partition.
    topic: Arc<str>,
    partition: i32,
    result: OnceLock<BatchResult>,
    done: Notify,
}

impl BatchOutcome {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Self {
        Self {
            topic,
            partition,
            result: OnceLock::new(),
            done: Notify::new(),
        }
    }

    pub(crate) fn complete(&self, result: BatchResult) {
        if self.result.set(result).is_ok() {
            self.done.notify_waiters();
        }
    }

    pub(crate) async fn wait(&self) -> &BatchResult {
        if let Some(result) = self.result.get() {
            return result;
        }
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(result) = self.result.get() {
                return result;
            }
            notified.await;
        }
    }
}

/// A produced record's future: resolves when the broker acknowledged its batch (or it failed).
#[derive(Debug)]
pub struct DeliveryFuture {
    pub(crate) outcome: Arc<BatchOutcome>,
    pub(crate) offset_delta: i32,
    pub(crate) timestamp: i64,
}

impl DeliveryFuture {
    /// Whether `other`'s record is in the same batch as this one's: both complete together,
    /// with the same outcome.
    pub fn same_batch(&self, other: &DeliveryFuture) -> bool {
        Arc::ptr_eq(&self.outcome, &other.outcome)
    }

    /// The partition the record was put in.
    pub fn partition(&self) -> i32 {
        self.outcome.partition
    }

    /// Waits for the outcome.
    pub async fn wait(self) -> Result<RecordMetadata, Arc<ClientError>> {
        let result = self.outcome.wait().await;
        self.metadata(result)
    }

    /// The outcome if the record's batch has one already, without waiting: for callers that
    /// watch many records, as `rill perf produce` does.
    pub fn try_result(&self) -> Option<Result<RecordMetadata, Arc<ClientError>>> {
        self.outcome.result.get().map(|result| self.metadata(result))
    }

    fn metadata(&self, result: &BatchResult) -> Result<RecordMetadata, Arc<ClientError>> {
        let (base, log_append_time) = result.clone()?;
        Ok(RecordMetadata {
            topic: Arc::clone(&self.outcome.topic),
            partition: self.outcome.partition,
            offset: if base < 0 {
                -1
            } else {
                base + i64::from(self.offset_delta)
            },
            timestamp: if log_append_time >= 0 {
                log_append_time
            } else {
                self.timestamp
            },
        })
    }
}

impl IntoFuture for DeliveryFuture {
    type Output = Result<RecordMetadata, Arc<ClientError>>;
    type IntoFuture = Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

//! Retrying a request until it succeeds, fails for good, or its time is up.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use crate::error::ClientError;

/// The retry budget of one operation: attempts run until `timeout` has passed, with `backoff`
/// between them; only retriable errors are retried.
///
/// ```ignore
/// let retry = Retry::new("listing offsets", timeout, backoff);
/// loop {
///     match retry.attempt(async { /* one try */ }).await {
///         Ok(value) => break value,
///         Err(e) => retry.failed(e).await?,
///     }
/// }
/// ```
#[derive(Debug)]
pub(crate) struct Retry {
    what: &'static str,
    timeout: Duration,
    backoff: Duration,
    deadline: Instant,
}

impl Retry {
    pub(crate) fn new(what: &'static str, timeout: Duration, backoff: Duration) -> Self {
        Self {
            what,
            timeout,
            backoff,
            deadline: Instant::now() + timeout,
        }
    }

    /// Runs one attempt, cut off at the deadline.
    pub(crate) async fn attempt<T>(
        &self,
        attempt: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout_at(self.deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out()),
        }
    }

    /// After a failed attempt: waits out the backoff if another attempt may succeed in time,
    /// else returns the error.
    pub(crate) async fn failed(&self, error: ClientError) -> Result<(), ClientError> {
        if !error.is_retriable() || matches!(error, ClientError::Timeout { .. }) && Instant::now() >= self.deadline {
            return Err(error);
        }
        if Instant::now() + self.backoff >= self.deadline {
            debug!(what = self.what, cause = %error, "giving up");
            return Err(error);
        }
        debug!(what = self.what, cause = %error, "retrying");
        tokio::time::sleep(self.backoff).await;
        Ok(())
    }

    fn timed_out(&self) -> ClientError {
        ClientError::Timeout {
            what: self.what.to_owned(),
            ms: self.timeout.as_millis() as u64,
        }
    }
}

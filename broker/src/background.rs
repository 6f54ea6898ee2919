//! The broker's periodic work: retention, log compaction, time-based flushes (`flush.ms`), and
//! offset checkpoints. Each loop stops when the broker shuts down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info};

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::log::{CleanerParams, clean_log};

/// Starts every periodic task on the broker's tracker.
pub(crate) fn start(broker: &Arc<Broker>) {
    let config = &broker.config;
    every(broker, config.log_retention_check_interval_ms, retention);
    every(broker, config.log_flush_scheduler_interval_ms, flush_due);
    every(broker, config.log_flush_offset_checkpoint_interval_ms, checkpoint);
    if config.log_cleaner_enable {
        every(broker, config.log_cleaner_backoff_ms, compact);
    }
}

fn every<F, Fut>(broker: &Arc<Broker>, period_ms: i64, pass: F)
where
    F: Fn(Arc<Broker>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let broker_for_task = Arc::clone(broker);
    let period = Duration::from_millis(period_ms.max(1) as u64);
    broker.tasks.spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = broker_for_task.shutdown.cancelled() => return,
                _ = ticks.tick() => pass(Arc::clone(&broker_for_task)).await,
            }
        }
    });
}

/// Deletes expired segments and forgets idle producers.
async fn retention(broker: Arc<Broker>) {
    let result = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let expiration = broker.config.producer_id_expiration_ms;
        for partition in broker.topics.all_partitions() {
            if partition.is_deleted() {
                continue;
            }
            let mut log = partition.lock();
            log.expire_producers(now, expiration);
            match log.apply_retention(now) {
                Ok(retained) if retained.segments > 0 => {
                    let start = log.log_start_offset();
                    drop(log);
                    partition.publish_log_start(start);
                    info!(
                        topic = %partition.topic(),
                        partition = partition.index(),
                        segments = retained.segments,
                        bytes = retained.bytes,
                        log_start_offset = start,
                        "deleted segments past retention"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    error!(topic = %partition.topic(), partition = partition.index(), cause = %e, "retention failed")
                }
            }
        }
    })
    .await;
    if let Err(e) = result {
        error!(cause = %e, "retention task panicked");
    }
}

/// Runs a cleaning round on every compacted partition that needs one, on the blocking pool. The
/// partition lock is held only to plan and to swap; a shutdown or a topic deletion stops a round
/// between two groups of segments.
async fn compact(broker: Arc<Broker>) {
    let result = tokio::task::spawn_blocking(move || {
        let dedupe_buffer_bytes = usize::try_from(broker.config.log_cleaner_dedupe_buffer_size).unwrap_or(usize::MAX);
        for partition in broker.topics.all_partitions() {
            if broker.shutdown.is_cancelled() {
                return;
            }
            if partition.is_deleted() {
                continue;
            }
            let params = CleanerParams {
                now_ms: now_ms(),
                dedupe_buffer_bytes,
            };
            let stop = || broker.shutdown.is_cancelled() || partition.is_deleted();
            match clean_log(|| partition.lock(), params, &stop) {
                Ok(Some(report)) => info!(
                    topic = %partition.topic(),
                    partition = partition.index(),
                    dirty_ratio = report.dirty_ratio,
                    keys = report.keys,
                    segments_before = report.segments_before,
                    segments_after = report.segments_after,
                    bytes_before = report.bytes_before,
                    bytes_after = report.bytes_after,
                    records_removed = report.records_removed,
                    first_dirty_offset = report.first_dirty_offset,
                    interrupted = report.interrupted,
                    "compacted log"
                ),
                Ok(None) => {}
                Err(e) => error!(topic = %partition.topic(), partition = partition.index(), cause = %e, "log compaction failed"),
            }
        }
    })
    .await;
    if let Err(e) = result {
        error!(cause = %e, "log cleaner task panicked");
    }
}

/// Requests a flush of every partition whose oldest unflushed data is older than `flush.ms`.
async fn flush_due(broker: Arc<Broker>) {
    let result = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        for partition in broker.topics.all_partitions() {
            let due = {
                let log = partition.lock();
                let flush_ms = log.config().flush_ms;
                (log.unflushed_messages() > 0
                    && flush_ms != i64::MAX
                    && now.saturating_sub(log.last_flush_ms()) >= flush_ms)
                    .then(|| log.log_end_offset())
            };
            if let Some(offset) = due {
                partition.request_flush(offset);
            }
        }
    })
    .await;
    if let Err(e) = result {
        error!(cause = %e, "flush scheduling task panicked");
    }
}

/// Writes the recovery-point and log-start checkpoints.
async fn checkpoint(broker: Arc<Broker>) {
    match tokio::task::spawn_blocking(move || broker.topics.write_checkpoints()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!(cause = %e, "writing checkpoints failed"),
        Err(e) => error!(cause = %e, "checkpoint task panicked"),
    }
}

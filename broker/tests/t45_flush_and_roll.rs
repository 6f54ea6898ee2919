//! Flush policy and segment rolling: `flush.ms` flushes in the background and the flushed offset
//! reaches the recovery-point checkpoint; `segment.ms` and `segment.bytes` roll segments.

mod common;

use std::time::Duration;

use common::{batch, create_topic, produce};
use rill_broker::testing::TestBroker;

fn checkpointed(data_dir: &std::path::Path, topic: &str) -> Option<i64> {
    let text = std::fs::read_to_string(data_dir.join("recovery-point-offset-checkpoint")).ok()?;
    text.lines()
        .skip(2)
        .find_map(|line| line.strip_prefix(&format!("{topic} 0 "))?.parse().ok())
}

fn segment_count(data_dir: &std::path::Path, dir: &str) -> usize {
    std::fs::read_dir(data_dir.join(dir))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn flush_ms_flushes_in_the_background() {
    let broker = TestBroker::start_with(|c| {
        c.log_flush_scheduler_interval_ms = 10;
        c.log_flush_offset_checkpoint_interval_ms = 10;
    })
    .await
    .expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "timed", 1, &[("flush.ms", "50")]).await;
    create_topic(&mut conn, "never", 1, &[]).await;
    for _ in 0..3 {
        produce(&mut conn, "timed", 0, batch(5, 10, 0)).await;
        produce(&mut conn, "never", 0, batch(5, 10, 0)).await;
    }
    let dir = broker.data_dir().to_owned();
    common::eventually(
        Duration::from_secs(10),
        "flush.ms flush reaching the checkpoint",
        || {
            let point = checkpointed(&dir, "timed");
            async move { (point == Some(15)).then_some(()) }
        },
    )
    .await;
    // Without flush.ms or flush.messages, nothing forces an fsync: the OS writes back.
    assert_eq!(checkpointed(&dir, "never"), Some(0));
}

#[tokio::test]
async fn segments_roll_by_size_and_by_record_time() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "by-time", 1, &[("segment.ms", "1000")]).await;
    create_topic(&mut conn, "by-size", 1, &[("segment.bytes", "2048")]).await;
    produce(&mut conn, "by-time", 0, batch(2, 10, 10_000)).await;
    produce(&mut conn, "by-time", 0, batch(2, 10, 10_500)).await;
    assert_eq!(
        segment_count(broker.data_dir(), "by-time-0"),
        1,
        "within segment.ms of the first record"
    );
    produce(&mut conn, "by-time", 0, batch(2, 10, 12_000)).await;
    assert_eq!(
        segment_count(broker.data_dir(), "by-time-0"),
        2,
        "a record past segment.ms rolls"
    );
    for _ in 0..10 {
        produce(&mut conn, "by-size", 0, batch(2, 400, 0)).await;
    }
    let count = segment_count(broker.data_dir(), "by-size-0");
    assert!(count >= 4, "about 900 B per batch in 2 KiB segments: {count} segments");
    // Every segment file stays within segment.bytes.
    for entry in std::fs::read_dir(broker.data_dir().join("by-size-0"))
        .expect("dir")
        .filter_map(Result::ok)
    {
        if entry.path().extension().is_some_and(|x| x == "log") {
            assert!(entry.metadata().expect("meta").len() <= 2048);
        }
    }
    assert_eq!(
        common::read_all(&mut conn, "by-size", 0, 0).await.len(),
        10,
        "reads cross segments"
    );
}

//! ListOffsets, DeleteRecords and retention, over the wire.

mod common;

use std::time::Duration;

use common::{batch, create_topic, fetch, list_offset, produce};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::*;
use rill_broker::testing::TestBroker;
use rill_client::Connection;

async fn delete_records(conn: &mut Connection, topic: &str, partition: i32, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
        DeleteRecordsTopic::default()
            .with_name(common::name(topic))
            .with_partitions(vec![
                DeleteRecordsPartition::default()
                    .with_partition_index(partition)
                    .with_offset(offset),
            ]),
    ]);
    let response = conn.send(2, &request).await.expect("delete records");
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
}

#[tokio::test]
async fn list_offsets_earliest_latest_by_time_and_max_time() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    assert_eq!(list_offset(&mut conn, "t", 0, -1).await, (0, 0, -1), "empty log");
    assert_eq!(
        list_offset(&mut conn, "t", 0, 1000).await,
        (0, -1, -1),
        "no record at or after"
    );
    // Batches of 10 records at 1000+100*b .. +9; the middle batch holds the largest timestamp.
    for b in 0..5i64 {
        let ts0 = if b == 2 { 9000 } else { 1000 + 100 * b };
        produce(&mut conn, "t", 0, batch(10, 20, ts0)).await;
    }
    assert_eq!(list_offset(&mut conn, "t", 0, -2).await, (0, 0, -1));
    assert_eq!(list_offset(&mut conn, "t", 0, -1).await, (0, 50, -1));
    assert_eq!(
        list_offset(&mut conn, "t", 0, 1105).await,
        (0, 15, 1105),
        "exact record"
    );
    assert_eq!(
        list_offset(&mut conn, "t", 0, 1110).await,
        (0, 20, 9000),
        "next record at or after"
    );
    // Kafka's rule is the first offset whose timestamp is at or after: the out-of-order batch wins.
    assert_eq!(list_offset(&mut conn, "t", 0, 1309).await, (0, 20, 9000));
    assert_eq!(list_offset(&mut conn, "t", 0, 9010).await, (0, -1, -1));
    assert_eq!(list_offset(&mut conn, "t", 0, -3).await, (0, 29, 9009), "max timestamp");
    assert_eq!(list_offset(&mut conn, "t", 3, -1).await.0, 3, "unknown partition");
}

#[tokio::test]
async fn delete_records_moves_the_log_start_and_survives_restart() {
    let broker = TestBroker::start_with(|c| c.log_segment_bytes = 1024)
        .await
        .expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    for _ in 0..20 {
        produce(&mut conn, "t", 0, batch(5, 50, 0)).await;
    }
    assert_eq!(
        delete_records(&mut conn, "t", 0, 101).await.0,
        1,
        "beyond the high watermark"
    );
    assert_eq!(delete_records(&mut conn, "t", 0, 42).await, (0, 42));
    assert_eq!(delete_records(&mut conn, "t", 0, 10).await, (0, 42), "never moves back");
    assert_eq!(list_offset(&mut conn, "t", 0, -2).await.1, 42);
    assert_eq!(fetch(&mut conn, "t", 0, 41).await.error_code, 1, "below the log start");
    let data = fetch(&mut conn, "t", 0, 42).await;
    assert_eq!((data.error_code, data.log_start_offset), (0, 42));
    let first = common::batch_headers(data.records.as_deref().expect("records"))[0];
    assert!(
        first.base_offset <= 42 && first.last_offset() >= 42,
        "the batch holding the new start"
    );
    let segments = |dir: &std::path::Path| {
        std::fs::read_dir(dir.join("t-0"))
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "log"))
            })
            .count()
    };
    let before = segments(broker.data_dir());

    let dir = broker.stop().await.expect("stop").expect("temp");
    let broker = TestBroker::start_in(dir.path(), |c| c.log_segment_bytes = 1024)
        .await
        .expect("restart");
    let mut conn = common::connect(&broker).await;
    assert_eq!(
        list_offset(&mut conn, "t", 0, -2).await.1,
        42,
        "log start survives a restart"
    );
    assert_eq!(
        delete_records(&mut conn, "t", 0, -1).await,
        (0, 100),
        "-1 means the high watermark"
    );
    assert!(
        segments(broker.data_dir()) < before,
        "whole segments below the start were deleted"
    );
    assert_eq!(produce(&mut conn, "t", 0, batch(1, 10, 0)).await, (0, 100));
    drop(dir);
}

#[tokio::test]
async fn retention_deletes_old_segments_in_the_background() {
    let broker = TestBroker::start_with(|c| {
        c.log_retention_check_interval_ms = 20;
        c.log_segment_bytes = 1024;
    })
    .await
    .expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "by-time", 1, &[("retention.ms", "60000")]).await;
    create_topic(&mut conn, "by-size", 1, &[("retention.bytes", "3000")]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    // Old records (an hour ago) then fresh ones: only the old segments expire.
    for _ in 0..10 {
        produce(&mut conn, "by-time", 0, batch(4, 50, now - 3_600_000)).await;
    }
    for _ in 0..10 {
        produce(&mut conn, "by-time", 0, batch(4, 50, now)).await;
    }
    for _ in 0..20 {
        produce(&mut conn, "by-size", 0, batch(4, 50, now)).await;
    }
    let start = common::eventually(Duration::from_secs(20), "time retention", || {
        let addr = broker.addr();
        async move {
            let mut conn = rill_client::Connection::connect(addr, "poll").await.ok()?;
            let (_, start, _) = list_offset(&mut conn, "by-time", 0, -2).await;
            (start > 0).then_some(start)
        }
    })
    .await;
    assert!(start <= 40, "fresh records are kept: log start {start}");
    let fresh = fetch(&mut conn, "by-time", 0, 40).await;
    assert_eq!(fresh.error_code, 0);
    let log_bytes = |dir: std::path::PathBuf| -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                    .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(u64::MAX)
    };
    // Whole segments go, and (as in Kafka) only while what remains is at least retention.bytes,
    // so the partition settles between retention.bytes and retention.bytes plus one segment.
    let dir = broker.data_dir().join("by-size-0");
    let settled = common::eventually(Duration::from_secs(20), "size retention", || {
        let bytes = log_bytes(dir.clone());
        async move { (bytes <= 3000 + 1024).then_some(bytes) }
    })
    .await;
    assert!(settled >= 3000, "no more than needed is deleted: {settled}");
    assert!(list_offset(&mut conn, "by-size", 0, -2).await.1 > 0);
    assert_eq!(
        list_offset(&mut conn, "by-size", 0, -1).await.1,
        80,
        "the end offset is kept"
    );
}

//! Restarts: a clean stop reopens as it was left; an unclean one is recovered, its torn tail cut.

mod common;

use std::io::Write;

use bytes::Bytes;
use common::{batch, create_topic, fetch, produce, read_all};
use kafka_protocol::messages::InitProducerIdRequest;
use rill_broker::testing::TestBroker;
use rill_client::protocol::builder::{ProducerStamp, build_batch};

const MARKER: &str = ".rill_cleanshutdown";

#[tokio::test]
async fn a_clean_restart_keeps_everything_and_continues_offsets() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 3, &[]).await;
    for p in 0..3 {
        for i in 0..5 {
            assert_eq!(produce(&mut conn, "t", p, batch(4, 30, i)).await, (0, i * 4));
        }
    }
    let dir = broker.stop().await.expect("stop").expect("temp");
    assert!(dir.path().join(MARKER).exists(), "a clean stop leaves the marker");
    let broker = TestBroker::start_in(dir.path(), |_| {}).await.expect("restart");
    assert!(!dir.path().join(MARKER).exists(), "a running broker has no marker");
    let mut conn = common::connect(&broker).await;
    for p in 0..3 {
        let headers = read_all(&mut conn, "t", p, 0).await;
        assert_eq!(headers.len(), 5);
        assert_eq!(produce(&mut conn, "t", p, batch(1, 30, 0)).await, (0, 20));
    }
    drop(broker);
}

#[tokio::test]
async fn an_unclean_restart_cuts_a_torn_tail_and_continues() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    for i in 0..10 {
        produce(&mut conn, "t", 0, batch(3, 40, i)).await;
    }
    let dir = broker.stop().await.expect("stop").expect("temp");
    // Simulate a crash in the middle of an append: half a batch at the end, no clean marker.
    let segment = dir.path().join("t-0").join("00000000000000000000.log");
    let good = std::fs::metadata(&segment).expect("segment").len();
    let torn = batch(3, 40, 0);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .expect("open")
        .write_all(&torn[..torn.len() / 2])
        .expect("write");
    std::fs::remove_file(dir.path().join(MARKER)).expect("remove marker");

    let broker = TestBroker::start_in(dir.path(), |_| {}).await.expect("restart");
    assert_eq!(
        std::fs::metadata(&segment).expect("segment").len(),
        good,
        "torn tail removed"
    );
    let mut conn = common::connect(&broker).await;
    let headers = read_all(&mut conn, "t", 0, 0).await;
    assert_eq!(
        headers.len(),
        10,
        "every complete batch kept, nothing after the tear served"
    );
    assert_eq!(fetch(&mut conn, "t", 0, 0).await.high_watermark, 30);
    assert_eq!(
        produce(&mut conn, "t", 0, batch(2, 40, 0)).await,
        (0, 30),
        "producing continues at the next offset"
    );
    drop(dir);
}

#[tokio::test]
async fn idempotent_producer_state_survives_a_restart() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    let init = conn
        .send(4, &InitProducerIdRequest::default().with_transactional_id(None))
        .await
        .expect("init");
    let stamp = |seq| ProducerStamp {
        producer_id: init.producer_id.0,
        producer_epoch: init.producer_epoch,
        base_sequence: seq,
    };
    let first = Bytes::from(build_batch(&common::records(5, 10, 0), stamp(0)));
    assert_eq!(produce(&mut conn, "t", 0, first.clone()).await, (0, 0));
    let dir = broker.stop().await.expect("stop").expect("temp");
    // Both after a clean stop (state from the snapshot) and after an unclean one without
    // snapshots (state rebuilt from the log).
    for clean in [true, false] {
        if !clean {
            let _ = std::fs::remove_file(dir.path().join(MARKER));
            for entry in std::fs::read_dir(dir.path().join("t-0"))
                .expect("dir")
                .filter_map(Result::ok)
            {
                if entry.path().extension().is_some_and(|x| x == "snapshot") {
                    std::fs::remove_file(entry.path()).expect("remove snapshot");
                }
            }
        }
        let broker = TestBroker::start_in(dir.path(), |_| {}).await.expect("restart");
        let mut conn = common::connect(&broker).await;
        assert_eq!(
            produce(&mut conn, "t", 0, first.clone()).await,
            (0, 0),
            "retry after restart (clean={clean})"
        );
        assert_eq!(fetch(&mut conn, "t", 0, 0).await.high_watermark, 5);
        let next = conn
            .send(4, &InitProducerIdRequest::default().with_transactional_id(None))
            .await
            .expect("init");
        assert_ne!(next.producer_id, init.producer_id, "producer ids are never reused");
        broker.stop().await.expect("stop");
    }
    drop(dir);
}

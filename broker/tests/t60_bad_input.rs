//! Malformed and hostile input on raw sockets: the broker logs why, closes only the offending
//! connection, and keeps serving everyone else.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::BufMut;
use kafka_protocol::messages::{ApiKey, MetadataRequest, RequestHeader};
use kafka_protocol::protocol::Encodable;
use rill_broker::testing::TestBroker;
use rill_client::{Connection, ConnectionError};

/// Captures the broker's log lines for the whole test binary.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || SharedWriter(Arc::clone(&sink)))
            .init();
        buffer
    })
    .clone()
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn header(api_key: i16, version: i16) -> bytes::BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(5)
        .with_client_id(Some(common::s("bad-client")));
    let mut buf = bytes::BytesMut::new();
    let header_version = ApiKey::try_from(api_key)
        .map(|k| k.request_header_version(version))
        .unwrap_or(1);
    header.encode(&mut buf, header_version).expect("header");
    buf
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

/// Sends `bytes` on a fresh connection and asserts that the broker closes it without answering,
/// logs a line naming the connection and containing `reason`, and still serves `witness`.
async fn assert_rejected(broker: &TestBroker, witness: &mut Connection, bytes: &[u8], reason: &str) {
    let mut conn = common::connect(broker).await;
    let local = conn.local_addr().expect("local addr");
    conn.send_raw(bytes).await.expect("send");
    match conn.read_frame().await {
        Err(ConnectionError::Closed | ConnectionError::Io(_) | ConnectionError::Frame(_)) => {}
        other => panic!("expected the connection closed for `{reason}`, got {other:?}"),
    }
    let metadata = witness.send(9, &MetadataRequest::default().with_topics(None)).await;
    assert!(metadata.is_ok(), "another connection still works after `{reason}`");
    let peer = format!("peer={local}");
    let logs = String::from_utf8_lossy(&logs().lock().expect("logs")).to_string();
    let line = logs
        .lines()
        .find(|l| l.contains(&peer))
        .unwrap_or_else(|| panic!("no log line for {peer} ({reason})"));
    assert!(line.contains(reason), "log line for {reason}: {line}");
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    logs();
    let broker = TestBroker::start_with(|c| {
        c.socket_request_max_bytes = 4096;
        c.message_max_bytes = 1024;
    })
    .await
    .expect("broker");
    let mut witness = common::connect(&broker).await;

    // Garbage that does not even name an API.
    assert_rejected(
        &broker,
        &mut witness,
        &framed(&[0x77, 0x77, 0, 0, 0, 0, 0, 1, 1, 2, 3]),
        "unknown API key 30583",
    )
    .await;
    // A frame above socket.request.max.bytes is refused before its body is read.
    assert_rejected(
        &broker,
        &mut witness,
        &5000i32.to_be_bytes(),
        "exceeds the limit of 4096 bytes",
    )
    .await;
    // A negative size.
    assert_rejected(
        &broker,
        &mut witness,
        &(-1i32).to_be_bytes(),
        "frame size -1 is invalid",
    )
    .await;
    // Too short for a header.
    assert_rejected(&broker, &mut witness, &framed(&[0, 3]), "too short").await;
    // An API this broker does not serve, and a served API at an unserved version.
    assert_rejected(
        &broker,
        &mut witness,
        &framed(&header(ApiKey::AddPartitionsToTxn as i16, 0)),
        "API key 24 (an API this broker does not serve) is not supported",
    )
    .await;
    assert_rejected(
        &broker,
        &mut witness,
        &framed(&header(ApiKey::Produce as i16, 2)),
        "Produce v2 is not supported",
    )
    .await;
    // A body cut short.
    let mut body = header(ApiKey::Metadata as i16, 4);
    body.put_i32(1);
    assert_rejected(&broker, &mut witness, &framed(&body), "malformed Metadata v4 request").await;
}

#[tokio::test]
async fn forged_element_counts_do_not_exhaust_memory() {
    logs();
    let broker = TestBroker::start().await.expect("broker");
    let mut witness = common::connect(&broker).await;
    // Metadata v4 whose topic array claims i32::MAX entries.
    let mut body = header(ApiKey::Metadata as i16, 4);
    body.put_i32(i32::MAX);
    assert_rejected(&broker, &mut witness, &framed(&body), "malformed Metadata v4 request").await;
    // Flexible Produce v9 whose topic array claims 2^32-2 entries (compact count).
    let mut body = header(ApiKey::Produce as i16, 9);
    body.put_u8(0); // null transactional id
    body.put_i16(1);
    body.put_i32(1000);
    body.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_rejected(&broker, &mut witness, &framed(&body), "malformed Produce v9 request").await;
    // CreateTopics v2 with a forged config count inside a topic.
    let mut body = header(ApiKey::CreateTopics as i16, 2);
    body.put_i32(1);
    body.put_i16(1);
    body.put_slice(b"x");
    body.put_i32(1);
    body.put_i16(1);
    body.put_i32(0); // assignments
    body.put_i32(i32::MAX); // configs
    assert_rejected(
        &broker,
        &mut witness,
        &framed(&body),
        "malformed CreateTopics v2 request",
    )
    .await;
}

#[tokio::test]
async fn a_connection_that_disappears_mid_frame_is_harmless() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    conn.send_raw(&[0, 0, 1, 0, 0, 3]).await.expect("send");
    drop(conn);
    let mut witness = common::connect(&broker).await;
    assert!(
        witness
            .send(9, &MetadataRequest::default().with_topics(None))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_connection_cap_queues_extra_clients() {
    let broker = TestBroker::start_with(|c| c.max_connections = 2).await.expect("broker");
    let mut first = common::connect(&broker).await;
    let mut second = common::connect(&broker).await;
    assert!(
        first
            .send(9, &MetadataRequest::default().with_topics(None))
            .await
            .is_ok()
    );
    assert!(
        second
            .send(9, &MetadataRequest::default().with_topics(None))
            .await
            .is_ok()
    );
    let mut third = common::connect(&broker).await;
    let pending = third
        .send_only(9, &MetadataRequest::default().with_topics(None))
        .await
        .expect("queued");
    let waiting = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        third.receive::<MetadataRequest>(9, pending),
    )
    .await;
    assert!(
        waiting.is_err(),
        "the third client is not served while two are connected"
    );
    drop(first);
    let served = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        third.receive::<MetadataRequest>(9, pending),
    )
    .await;
    assert!(served.expect("served once a slot frees").is_ok());
}

//! What the Connect runtime tests share: a broker, a worker serving its REST API on a free port,
//! a small HTTP client, and polling with a deadline.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rill_broker::testing::TestBroker;
use rill_client::admin::{Admin, NewTopic};
use rill_connect::runtime::{Worker, WorkerConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A worker and its REST server.
pub(crate) struct RunningWorker {
    pub(crate) worker: Worker,
    pub(crate) address: SocketAddr,
    stop: CancellationToken,
    server: JoinHandle<()>,
}

impl RunningWorker {
    /// A worker on `bootstrap` with the default topic names, serving on a free port.
    pub(crate) async fn start(bootstrap: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut config = WorkerConfig::from_config(&[("bootstrap.servers".to_owned(), bootstrap.to_owned())].into());
        config.worker_id = address.to_string();
        let worker = Worker::start(config).await.expect("worker");
        let stop = CancellationToken::new();
        let server = tokio::spawn({
            let (worker, stop) = (worker.clone(), stop.clone());
            async move {
                rill_connect::rest::serve(listener, worker, stop).await.expect("serve");
            }
        });
        Self {
            worker,
            address,
            stop,
            server,
        }
    }

    /// Stops serving and shuts the worker down (tasks finish their work).
    pub(crate) async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.server.await;
        self.worker.shutdown().await;
    }

    /// Sends a request; the status and the JSON body (`Null` when empty).
    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value, String) {
        http(self.address, method, path, body).await
    }
}

/// One HTTP/1.1 request (connection closed after it): status, JSON body and raw head.
pub(crate) async fn http(address: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8(response).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let json = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {body}"))
    };
    (status, json, head.to_owned())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// A broker with these topics (one partition each).
pub(crate) async fn broker_with_topics(topics: &[&str]) -> (TestBroker, String) {
    let broker = TestBroker::start().await.expect("broker");
    let bootstrap = broker.bootstrap();
    let admin = Admin::from_properties([("bootstrap.servers", bootstrap.as_str())])
        .await
        .expect("admin");
    let new: Vec<NewTopic> = topics.iter().map(|t| NewTopic::new(*t).partitions(1)).collect();
    for (topic, outcome) in admin.create_topics(&new, false).await.expect("create topics") {
        outcome.unwrap_or_else(|e| panic!("create {topic}: {e}"));
    }
    (broker, bootstrap)
}

/// Polls `check` every 20 ms until it returns `Some`, failing with `what` after `secs` seconds.
pub(crate) async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        if let Some(out) = check().await {
            return out;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        ticks.tick().await;
    }
}

/// Reads `topic` from its start until `want` records came (or 30 s pass).
pub(crate) async fn read(bootstrap: &str, topic: &str, want: usize) -> Vec<rill_client::consumer::ConsumerRecord> {
    let mut consumer = rill_client::consumer::Consumer::from_properties([
        ("bootstrap.servers", bootstrap),
        ("group.id", &format!("reader-{topic}")),
        ("auto.offset.reset", "earliest"),
    ])
    .await
    .expect("consumer");
    consumer.subscribe([topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut records = Vec::new();
    while records.len() < want {
        assert!(
            Instant::now() < deadline,
            "{} of {want} records in {topic}",
            records.len()
        );
        records.extend(consumer.poll(Duration::from_millis(100)).await.expect("poll"));
    }
    consumer.close().await.expect("close");
    records
}

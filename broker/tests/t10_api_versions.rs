//! ApiVersions: every version we advertise, and the KIP-511 fallback for newer ones.

mod common;

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use rill_broker::testing::TestBroker;

#[tokio::test]
async fn every_advertised_version_answers_with_the_same_table() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    for version in 0..=4 {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(common::s("rill-test"))
            .with_client_software_version(common::s("1.0"));
        let response = conn.send(version, &request).await.expect("api versions");
        assert_eq!(response.error_code, 0, "v{version}");
        let produce = response
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::Produce as i16)
            .expect("produce listed");
        assert_eq!((produce.min_version, produce.max_version), (3, 10));
        let fetch = response
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::Fetch as i16)
            .expect("fetch listed");
        assert_eq!((fetch.min_version, fetch.max_version), (4, 12));
        // Transactions are not served yet, so they must not be advertised.
        assert!(
            response
                .api_keys
                .iter()
                .all(|k| k.api_key != ApiKey::AddPartitionsToTxn as i16)
        );
        let join = response
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::JoinGroup as i16)
            .expect("join listed");
        assert_eq!((join.min_version, join.max_version), (0, 7));
    }
}

#[tokio::test]
async fn a_newer_version_gets_a_v0_error_with_our_range() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    // Encode a v3 body but label it v9, as a newer client would.
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(9)
        .with_correlation_id(77)
        .with_client_id(Some(common::s("future-client")));
    let mut body = bytes::BytesMut::new();
    header.encode(&mut body, 2).expect("header");
    ApiVersionsRequest::default().encode(&mut body, 3).expect("body");
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    conn.send_raw(&frame).await.expect("send");
    let mut response = conn.read_frame().await.expect("response");
    let header = ResponseHeader::decode(&mut response, 0).expect("v0 header");
    assert_eq!(header.correlation_id, 77);
    let body = ApiVersionsResponse::decode(&mut response, 0).expect("v0 body");
    assert_eq!(body.error_code, 35);
    assert_eq!(body.api_keys.len(), 1);
    assert_eq!(
        (
            body.api_keys[0].api_key,
            body.api_keys[0].min_version,
            body.api_keys[0].max_version
        ),
        (18, 0, 4)
    );
    // The connection stays usable: the client retries at a version we serve.
    let retry = conn
        .send(
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(common::s("c"))
                .with_client_software_version(common::s("1")),
        )
        .await;
    assert_eq!(retry.expect("retry").error_code, 0);
}

#[tokio::test]
async fn invalid_client_software_name_is_an_invalid_request() {
    let broker = TestBroker::start().await.expect("broker");
    let mut conn = common::connect(&broker).await;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(common::s("bad name!"))
        .with_client_software_version(common::s("1.0"));
    let response = conn.send(3, &request).await.expect("api versions");
    assert_eq!(response.error_code, 42);
}

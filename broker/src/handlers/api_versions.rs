//! ApiVersions: the APIs and version ranges this broker serves.

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, api_versions_response::ApiVersion};

use crate::error_code::ErrorCode;
use crate::server::{Answer, RequestContext, versions};

fn all_versions() -> Vec<ApiVersion> {
    versions::SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect()
}

/// Kafka's rule for `client_software_name` / `_version` (v3+).
fn valid_software_field(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            edge(first)
                && edge(last)
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
        }
        _ => false,
    }
}

pub(crate) async fn handle(ctx: &RequestContext, request: ApiVersionsRequest) -> Answer<ApiVersionsResponse> {
    if ctx.version >= 3
        && !(valid_software_field(&request.client_software_name)
            && valid_software_field(&request.client_software_version))
    {
        return Answer::Now(ApiVersionsResponse::default().with_error_code(ErrorCode::InvalidRequest.code()));
    }
    Answer::Now(ApiVersionsResponse::default().with_api_keys(all_versions()))
}

/// The v0 answer to an ApiVersions request at a version above ours (KIP-511): the error and
/// our ApiVersions range only, so the client retries at a version we serve.
pub(crate) fn unsupported_version() -> ApiVersionsResponse {
    let (min, max) = versions::supported(kafka_protocol::messages::ApiKey::ApiVersions).unwrap_or((0, 0));
    ApiVersionsResponse::default()
        .with_error_code(ErrorCode::UnsupportedVersion.code())
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(kafka_protocol::messages::ApiKey::ApiVersions as i16)
                .with_min_version(min)
                .with_max_version(max),
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_field_rule() {
        for ok in ["librdkafka", "2.0.2", "kafka-python", "a"] {
            assert!(valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-x", "x.", "a b", "a_b"] {
            assert!(!valid_software_field(bad), "{bad}");
        }
    }
}

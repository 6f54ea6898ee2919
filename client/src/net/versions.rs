//! The API version ranges a broker advertises, and the choice of version per request: the highest
//! one both sides support.

use std::collections::HashMap;

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::protocol::Request;

/// A broker's supported versions, by API key.
#[derive(Debug, Clone, Default)]
pub struct ApiVersions {
    ranges: HashMap<i16, (i16, i16)>,
}

impl ApiVersions {
    /// From an ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        Self {
            ranges: response
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect(),
        }
    }

    /// The version to use for `R`: the highest both the broker and the codec support, capped at
    /// `cap` when the client wants an older one. `None` if the ranges do not meet.
    pub fn pick<R: Request>(&self, cap: Option<i16>) -> Option<i16> {
        let (min, max) = *self.ranges.get(&R::KEY)?;
        let ours = R::VERSIONS;
        let high = max.min(ours.max).min(cap.unwrap_or(i16::MAX));
        let low = min.max(ours.min);
        (low <= high).then_some(high)
    }

    /// Whether the broker serves `api_key` at all.
    pub fn supports(&self, api_key: i16) -> bool {
        self.ranges.contains_key(&api_key)
    }
}

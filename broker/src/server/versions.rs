//! The API versions this broker serves, and only those: clients choose behaviour from this list.

use kafka_protocol::messages::ApiKey;

/// Supported (API, min version, max version). Floors follow Kafka 4's (KIP-896); maxima stop
/// below versions whose semantics Rill does not implement yet (topic-id fetches, Fetch v13+;
/// Metadata v13's top-level error; ListOffsets v8+ tiered-storage specs).
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 10),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
];

/// The supported version range of `api`, if it is served at all.
pub(crate) fn supported(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(key, _, _)| *key == api)
        .map(|(_, min, max)| (*min, *max))
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Message;

    use super::*;

    fn crate_range(api: ApiKey) -> (i16, i16) {
        macro_rules! r {
            ($t:ty) => {
                (<$t>::VERSIONS.min, <$t>::VERSIONS.max)
            };
        }
        match api {
            ApiKey::Produce => r!(ProduceRequest),
            ApiKey::Fetch => r!(FetchRequest),
            ApiKey::ListOffsets => r!(ListOffsetsRequest),
            ApiKey::Metadata => r!(MetadataRequest),
            ApiKey::ApiVersions => r!(ApiVersionsRequest),
            ApiKey::CreateTopics => r!(CreateTopicsRequest),
            ApiKey::DeleteTopics => r!(DeleteTopicsRequest),
            ApiKey::DeleteRecords => r!(DeleteRecordsRequest),
            ApiKey::InitProducerId => r!(InitProducerIdRequest),
            ApiKey::DescribeConfigs => r!(DescribeConfigsRequest),
            ApiKey::AlterConfigs => r!(AlterConfigsRequest),
            ApiKey::CreatePartitions => r!(CreatePartitionsRequest),
            ApiKey::IncrementalAlterConfigs => r!(IncrementalAlterConfigsRequest),
            ApiKey::DescribeCluster => r!(DescribeClusterRequest),
            ApiKey::FindCoordinator => r!(FindCoordinatorRequest),
            ApiKey::JoinGroup => r!(JoinGroupRequest),
            ApiKey::SyncGroup => r!(SyncGroupRequest),
            ApiKey::Heartbeat => r!(HeartbeatRequest),
            ApiKey::LeaveGroup => r!(LeaveGroupRequest),
            ApiKey::OffsetCommit => r!(OffsetCommitRequest),
            ApiKey::OffsetFetch => r!(OffsetFetchRequest),
            ApiKey::ListGroups => r!(ListGroupsRequest),
            ApiKey::DescribeGroups => r!(DescribeGroupsRequest),
            ApiKey::DeleteGroups => r!(DeleteGroupsRequest),
            ApiKey::OffsetDelete => r!(OffsetDeleteRequest),
            other => panic!("no range for {other:?}"),
        }
    }

    #[test]
    fn advertised_ranges_lie_inside_what_the_codec_can_decode() {
        for (api, min, max) in SUPPORTED {
            let (cmin, cmax) = crate_range(*api);
            assert!(
                cmin <= *min && *max <= cmax,
                "{api:?} {min}..{max} outside codec {cmin}..{cmax}"
            );
        }
    }
}

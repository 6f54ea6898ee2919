//! Kafka's error codes, mapped from internal errors at the handler boundary. Values are Kafka's
//! (`org.apache.kafka.common.protocol.Errors`) and must never be renumbered.

/// An error code sent to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i16)]
pub enum ErrorCode {
    /// An unexpected server error.
    UnknownServerError = -1,
    /// Success.
    None = 0,
    /// The requested offset is outside the log.
    OffsetOutOfRange = 1,
    /// A batch failed its CRC or is malformed.
    CorruptMessage = 2,
    /// No such topic or partition.
    UnknownTopicOrPartition = 3,
    /// The topic is being created.
    LeaderNotAvailable = 5,
    /// This broker does not lead the partition.
    NotLeaderOrFollower = 6,
    /// The coordinator is not available.
    CoordinatorNotAvailable = 15,
    /// This broker is not the group's coordinator.
    NotCoordinator = 16,
    /// The request timed out.
    RequestTimedOut = 7,
    /// A batch exceeds `max.message.bytes`.
    MessageTooLarge = 10,
    /// Committed offset metadata exceeds `offset.metadata.max.bytes`.
    OffsetMetadataTooLarge = 12,
    /// The coordinator is still loading group state.
    CoordinatorLoadInProgress = 14,
    /// The topic name is illegal.
    InvalidTopicException = 17,
    /// Fewer in-sync replicas than `min.insync.replicas`.
    NotEnoughReplicas = 19,
    /// `acks` is not -1, 0 or 1.
    InvalidRequiredAcks = 21,
    /// The generation id is not the group's current one.
    IllegalGeneration = 22,
    /// The member's protocols are incompatible with the group's.
    InconsistentGroupProtocol = 23,
    /// The group id is empty or invalid.
    InvalidGroupId = 24,
    /// The member id is not a member of the group.
    UnknownMemberId = 25,
    /// The session timeout is outside the broker's allowed range.
    InvalidSessionTimeout = 26,
    /// The group is rebalancing: rejoin.
    RebalanceInProgress = 27,
    /// The topic is being deleted or is internal.
    TopicAuthorizationFailed = 29,
    /// The API version is not supported.
    UnsupportedVersion = 35,
    /// The topic exists already.
    TopicAlreadyExists = 36,
    /// Invalid partition count.
    InvalidPartitions = 37,
    /// Invalid replication factor.
    InvalidReplicationFactor = 38,
    /// Invalid replica assignment.
    InvalidReplicaAssignment = 39,
    /// Invalid configuration.
    InvalidConfig = 40,
    /// The request is malformed or not allowed.
    InvalidRequest = 42,
    /// The batch's magic is not supported.
    UnsupportedForMessageFormat = 43,
    /// A sequence gap from an idempotent producer.
    OutOfOrderSequenceNumber = 45,
    /// The producer's epoch is old.
    InvalidProducerEpoch = 47,
    /// The transactional state does not allow the request.
    InvalidTxnState = 48,
    /// Transactions are not available.
    TransactionalIdAuthorizationFailed = 53,
    /// The log directory failed.
    KafkaStorageError = 56,
    /// The group has members (DeleteGroups).
    NonEmptyGroup = 68,
    /// The group does not exist.
    GroupIdNotFound = 69,
    /// The timestamp is out of range.
    InvalidTimestamp = 32,
    /// Unknown producer id.
    UnknownProducerId = 59,
    /// The offset is not yet available.
    OffsetNotAvailable = 78,
    /// Topic deletion is disabled.
    TopicDeletionDisabled = 73,
    /// A new dynamic member must rejoin with the member id it was given (KIP-394).
    MemberIdRequired = 79,
    /// The group reached `group.max.size`.
    GroupMaxSizeReached = 81,
    /// Another member holds this `group.instance.id`.
    FencedInstanceId = 82,
    /// The group is still subscribed to the topic (OffsetDelete).
    GroupSubscribedToTopic = 86,
    /// A batch failed validation.
    InvalidRecord = 87,
    /// The resource does not exist.
    ResourceNotFound = 91,
}

impl ErrorCode {
    /// The wire value.
    pub fn code(self) -> i16 {
        self as i16
    }
}

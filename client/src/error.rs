//! Errors of the client API. A Kafka error code from a broker is kept with the API that returned
//! it, so callers can tell retriable conditions from final ones.

use kafka_protocol::error::ResponseError;
use thiserror::Error;

use crate::ConnectionError;
use crate::config::ConfigError;
use crate::consumer::assignor::ConsumerProtocolError;

/// A client operation failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Talking to a broker failed (connection refused, closed, malformed frame).
    #[error("broker {broker}: {source}")]
    Connection {
        /// `host:port` of the broker.
        broker: String,
        /// What failed.
        #[source]
        source: ConnectionError,
    },
    /// A broker answered with a Kafka error code.
    #[error("{api}: {error}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        /// The API that returned it.
        api: &'static str,
        /// The error.
        error: ResponseError,
        /// The broker's message, if it sent one.
        message: Option<String>,
    },
    /// No broker of `bootstrap.servers` answered.
    #[error("no broker in bootstrap.servers ({servers}) could be reached")]
    NoBrokers {
        /// The configured list.
        servers: String,
    },
    /// The topic does not exist (and was not created).
    #[error("topic `{topic}` does not exist")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// A deadline passed.
    #[error("{what} did not complete within {ms} ms")]
    Timeout {
        /// The operation.
        what: String,
        /// The deadline.
        ms: u64,
    },
    /// A configuration property is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The component was closed.
    #[error("the {0} is closed")]
    Closed(&'static str),
    /// The broker does not serve an API the operation needs.
    #[error("the broker does not support {api} (versions {min}-{max} are needed)")]
    Unsupported {
        /// API name.
        api: &'static str,
        /// Lowest version the client can use.
        min: i16,
        /// Highest version the client can use.
        max: i16,
    },
    /// A record could not be encoded or decoded.
    #[error("record batch: {0}")]
    Records(String),
    /// A fetched batch failed its checks (CRC, framing, decompression); the position stays at it.
    #[error("corrupt records in {topic}-{partition} at offset {offset}: {reason}")]
    CorruptRecords {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The consumer's position in the partition.
        offset: i64,
        /// What was wrong.
        reason: String,
    },
    /// A peer sent something this client cannot use (a malformed group assignment, an
    /// assignor it did not offer).
    #[error("{what}: {reason}")]
    Protocol {
        /// The message or exchange.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A partition has no committed offset and `auto.offset.reset` is `none`.
    #[error("no committed offset for {partition} and auto.offset.reset is none")]
    NoOffset {
        /// The partition, as `topic-index`.
        partition: String,
    },
    /// A call that does not fit the client's state (polling before subscribing, mixing
    /// `assign` and `subscribe`, seeking an unassigned partition).
    #[error("{0}")]
    IllegalState(String),
    /// A record the client refuses before sending (no such partition, too large).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A consumer group's embedded protocol payload (a member's subscription in JoinGroup, or an
    /// assignment in SyncGroup) could not be decoded or encoded.
    #[error("consumer protocol {what}{}: {source}", member.as_deref().map(|m| format!(" of member `{m}`")).unwrap_or_default())]
    ConsumerProtocol {
        /// `subscription` or `assignment`.
        what: &'static str,
        /// The member it belongs to, when known.
        member: Option<String>,
        /// What is wrong with it.
        #[source]
        source: ConsumerProtocolError,
    },
}

impl ClientError {
    /// The Kafka error, if the broker returned one.
    pub fn kafka(&self) -> Option<ResponseError> {
        match self {
            Self::Kafka { error, .. } => Some(*error),
            _ => None,
        }
    }

    /// Whether retrying the operation may succeed: retriable Kafka errors, lost connections and
    /// timeouts.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Kafka { error, .. } => error.is_retriable(),
            Self::Connection { .. } | Self::NoBrokers { .. } | Self::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Builds a [`ClientError::Kafka`] from a response's error code; `None` for code 0.
    pub fn from_code(api: &'static str, code: i16, message: Option<&str>) -> Option<Self> {
        ResponseError::try_from_code(code).map(|error| Self::Kafka {
            api,
            error,
            message: message.map(str::to_owned),
        })
    }
}

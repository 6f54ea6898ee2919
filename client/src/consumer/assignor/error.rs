//! What can be wrong with a consumer-protocol payload.

use std::error::Error as StdError;

use thiserror::Error;

/// A consumer-protocol subscription or assignment could not be read or written. Carried by
/// [`ClientError::ConsumerProtocol`](crate::ClientError::ConsumerProtocol), which names the
/// payload and the member.
#[derive(Debug, Error)]
pub enum ConsumerProtocolError {
    /// The payload is shorter than its 2-byte version header.
    #[error("{have} byte(s) cannot hold the 2-byte version header")]
    MissingVersion {
        /// The payload's length.
        have: usize,
    },
    /// The version header is negative; no such version exists.
    #[error("version {version} does not exist")]
    BadVersion {
        /// The version found.
        version: i16,
    },
    /// The body does not parse as the schema of `read_as` (the version found, or the newest
    /// version this client knows when the version found is newer).
    #[error("the version {version} body is malformed (read as version {read_as}): {source}")]
    Malformed {
        /// The version in the header.
        version: i16,
        /// The schema version used to read the body.
        read_as: i16,
        /// What the decoder found.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A value does not fit the schema (a topic name longer than 32,767 bytes).
    #[error("cannot encode version {version}: {source}")]
    Unencodable {
        /// The version being written.
        version: i16,
        /// What the encoder refused.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

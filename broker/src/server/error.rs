use std::path::PathBuf;

use rill_client::protocol::frame::FrameError;
use thiserror::Error;

use crate::config::ConfigError;
use crate::log::LogError;
use crate::topics::TopicError;

/// The broker could not start or stop.
#[derive(Debug, Error)]
pub enum BrokerError {
    /// A configuration value is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Loading or closing topics failed.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// `meta.properties` is unusable.
    #[error("{path}: {reason}")]
    Meta {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The listener failed.
    #[error("the listener failed")]
    Listener(#[source] std::io::Error),
    /// A start-up or shutdown task panicked.
    #[error("a broker task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// A request could not be handled; the connection that sent it is closed.
#[derive(Debug, Error)]
pub(crate) enum DispatchError {
    /// The frame is too short to hold a request header.
    #[error("frame of {len} bytes is too short for a request header")]
    Short {
        /// Frame length.
        len: usize,
    },
    /// The API key is not a Kafka API.
    #[error("unknown API key {key}")]
    UnknownApiKey {
        /// The key.
        key: i16,
    },
    /// The API exists but this broker does not serve it.
    #[error("API key {key} ({api}) is not supported by this broker")]
    UnsupportedApi {
        /// API key.
        key: i16,
        /// API name.
        api: &'static str,
    },
    /// The API is served, but not at this version.
    #[error("{api} v{version} is not supported (supported: v{min}-v{max})")]
    UnsupportedVersion {
        /// API name.
        api: &'static str,
        /// Requested version.
        version: i16,
        /// Lowest served.
        min: i16,
        /// Highest served.
        max: i16,
    },
    /// The request did not decode.
    #[error("malformed {api} v{version} request")]
    Decode {
        /// API name.
        api: &'static str,
        /// Version.
        version: i16,
        /// The codec's reason.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The response did not encode.
    #[error(transparent)]
    Encode(#[from] FrameError),
    /// An acks=0 produce failed: Kafka closes the connection so the client notices.
    #[error("acks=0 produce failed: {reason}")]
    AcksZeroFailure {
        /// The first partition error.
        reason: String,
    },
}

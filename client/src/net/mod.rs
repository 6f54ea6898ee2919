//! Connections to brokers: multiplexed request/response over one TCP stream, with the API
//! versions negotiated at connect time.

mod broker;
mod versions;

pub use broker::{BrokerConnection, Pending};
pub use versions::ApiVersions;

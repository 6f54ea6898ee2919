//! Configuration under Kafka's property names: typed values with their checks, and the
//! [`config_table!`](crate::config_table) macro that declares a typed struct from one table of
//! keys, defaults and checks. The broker and the client's producer, consumer and admin configs
//! are all declared with it.

mod client;
mod error;
mod value;

pub(crate) use client::apply;
pub use client::{CommonConfig, ConsumerSettings, ProducerSettings, assignor_name, properties};
pub use error::ConfigError;
pub use value::{ConfigType, ConfigValue, KeyInfo, any, at_least, between};

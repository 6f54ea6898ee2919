use std::path::PathBuf;

use thiserror::Error;

/// A configuration value or source is invalid. Every variant names the key or file involved.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConfigError {
    /// The key is not a configuration Rill knows.
    #[error("unknown configuration key `{key}`")]
    UnknownKey {
        /// The key as given.
        key: String,
    },
    /// The value does not parse as the key's type.
    #[error("invalid value `{value}` for configuration `{key}`: expected {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// What the key accepts.
        expected: String,
    },
    /// The value parses but breaks a constraint.
    #[error("invalid value `{value}` for configuration `{key}`: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The key may not be changed this way (read-only or static).
    #[error("configuration `{key}` cannot be {action}")]
    NotAlterable {
        /// The key.
        key: String,
        /// What was attempted.
        action: &'static str,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O or parse error.
        reason: String,
    },
    /// A `--set` argument is not `key=value`.
    #[error("`{arg}` is not of the form key=value")]
    NotKeyValue {
        /// The argument.
        arg: String,
    },
}

impl ConfigError {
    /// The key this error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::UnknownKey { key }
            | Self::BadValue { key, .. }
            | Self::Invalid { key, .. }
            | Self::NotAlterable { key, .. } => Some(key),
            Self::File { .. } | Self::NotKeyValue { .. } => None,
        }
    }
}

//! The transform layer's error: a bad configuration or a record a transform could not handle.

/// Why a transform chain could not be built, or why it failed on a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// Bad config: names the full config key (e.g. `transforms.mask.fields`) and why.
    #[error("invalid configuration `{key}`: {reason}")]
    Config {
        /// The full config key, e.g. `transforms.mask.fields`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record the transform could not handle (this text goes to dead-letter headers).
    #[error("transform `{alias}` ({kind}) failed: {reason}")]
    Record {
        /// The transform's alias in `transforms`.
        alias: String,
        /// Its type, e.g. `MaskField$Value`.
        kind: String,
        /// Why it failed.
        reason: String,
    },
}

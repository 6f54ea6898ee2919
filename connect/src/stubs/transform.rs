//! Temporary stand-in until the transform module lands.
#![allow(missing_docs, unreachable_pub, clippy::unused_self)]
use std::collections::BTreeMap;

use crate::record::ConnectRecord;

#[derive(Debug, Clone, Default)]
pub struct TransformChain;

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("bad configuration {key}: {reason}")]
    Config { key: String, reason: String },
    #[error("transform {alias} ({kind}) failed: {reason}")]
    Record { alias: String, kind: String, reason: String },
}

impl TransformChain {
    pub fn from_config(_config: &BTreeMap<String, String>) -> Result<Self, TransformError> {
        Ok(Self)
    }
    pub fn is_empty(&self) -> bool {
        true
    }
    pub fn apply(&self, record: ConnectRecord) -> Result<Option<ConnectRecord>, TransformError> {
        Ok(Some(record))
    }
}

pub fn transform_types() -> &'static [&'static str] {
    &[]
}

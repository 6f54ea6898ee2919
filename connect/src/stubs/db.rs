//! Temporary stand-in until the db module lands.
#![allow(missing_docs, unreachable_pub, clippy::unused_async)]
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::record::{ConnectRecord, RecordFailure, SourceRecord};

#[derive(Debug, thiserror::Error)]
#[error("db")]
pub struct DbError;
impl DbError {
    pub fn config_key(&self) -> Option<&str> {
        None
    }
}
#[derive(Debug, Clone)]
pub struct DbSourceConfig;
impl DbSourceConfig {
    pub fn from_config(_c: &BTreeMap<String, String>) -> Result<Self, DbError> {
        Ok(Self)
    }
    pub fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
}
#[derive(Debug)]
pub struct DbSource;
impl DbSource {
    pub async fn open(_c: DbSourceConfig, _s: &HashMap<String, Value>) -> Result<Self, DbError> {
        Ok(Self)
    }
    pub async fn poll(&mut self) -> Result<Vec<SourceRecord>, DbError> {
        Ok(Vec::new())
    }
    pub async fn close(self) {}
}
#[derive(Debug, Clone)]
pub struct DbSinkConfig;
impl DbSinkConfig {
    pub fn from_config(_c: &BTreeMap<String, String>) -> Result<Self, DbError> {
        Ok(Self)
    }
}
#[derive(Debug)]
pub struct DbSink;
impl DbSink {
    pub async fn open(_c: DbSinkConfig) -> Result<Self, DbError> {
        Ok(Self)
    }
    pub async fn put(&mut self, _r: &[ConnectRecord]) -> Result<Vec<RecordFailure>, DbError> {
        Ok(Vec::new())
    }
    pub async fn close(self) {}
}

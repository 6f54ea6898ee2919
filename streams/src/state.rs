//! State stores. A store holds serialized keys and values (so that its order is the order of the
//! key bytes, as in Kafka Streams) and logs every change to its changelog topic,
//! `<application.id>-<store>-changelog`, in the task's partition, from which it is restored.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::processor::{Output, TaskContext};

/// An in-memory key-value store of one task.
#[derive(Debug)]
pub(crate) struct KvStore {
    name: String,
    /// Whether changes go to the changelog topic.
    logged: bool,
    map: BTreeMap<Bytes, Bytes>,
}

impl KvStore {
    pub(crate) fn new(name: &str, logged: bool) -> Self {
        Self {
            name: name.to_owned(),
            logged,
            map: BTreeMap::new(),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// Sets (`Some`) or deletes (`None`) `key`, and logs the change.
    pub(crate) fn put(&mut self, ctx: &mut TaskContext, key: Bytes, value: Option<Bytes>, timestamp: i64) {
        match &value {
            Some(v) => self.map.insert(key.clone(), v.clone()),
            None => self.map.remove(&key),
        };
        if self.logged {
            ctx.output.push(Output {
                topic: ctx.internal_topic(&changelog_suffix(&self.name)),
                partition: Some(ctx.partition),
                key: Some(key),
                value,
                timestamp,
                headers: Vec::new(),
            });
        }
    }

    /// Applies a changelog record (without logging it again).
    pub(crate) fn restore(&mut self, key: Bytes, value: Option<Bytes>) {
        match value {
            Some(v) => self.map.insert(key, v),
            None => self.map.remove(&key),
        };
    }

    /// Removes `key` without logging it: for expired windows, which the changelog topic's own
    /// retention removes.
    pub(crate) fn evict(&mut self, key: &[u8]) {
        self.map.remove(key);
    }

    /// The entries with keys in `[from, to]`, in key-byte order.
    pub(crate) fn range(&self, from: &[u8], to: &[u8]) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        use std::ops::Bound::Included;
        self.map.range::<[u8], _>((Included(from), Included(to)))
    }

    /// Every entry, in key-byte order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.map.iter()
    }
}

/// The changelog topic of store `store`, without the application id.
pub(crate) fn changelog_suffix(store: &str) -> String {
    format!("{store}-changelog")
}

//! State stores. A store holds serialized keys and values (so that its order is the order of the
//! key bytes, as in Kafka Streams) and logs every change to its changelog topic,
//! `<application.id>-<store>-changelog`, in the task's partition, from which it is restored.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::processor::{Output, TaskContext};

/// A key-value store of one task, in memory. With a state directory its content is also kept
/// on disk ([`StateDir`]); `dirty` holds the changes since the last checkpoint.
#[derive(Debug)]
pub(crate) struct KvStore {
    name: String,
    /// Whether changes go to the changelog topic.
    logged: bool,
    map: BTreeMap<Bytes, Bytes>,
    /// The changelog topic, once known.
    changelog: Option<Arc<str>>,
    /// Changes not yet written to disk (only with a state directory).
    dirty: Option<BTreeMap<Bytes, Option<Bytes>>>,
}

impl KvStore {
    pub(crate) fn new(name: &str, logged: bool) -> Self {
        Self {
            name: name.to_owned(),
            logged,
            map: BTreeMap::new(),
            changelog: None,
            dirty: None,
        }
    }

    fn touch(&mut self, key: &Bytes, value: Option<&Bytes>) {
        if let Some(dirty) = &mut self.dirty {
            dirty.insert(key.clone(), value.cloned());
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// Sets (`Some`) or deletes (`None`) `key`, and logs the change.
    pub(crate) fn put(&mut self, ctx: &mut TaskContext, key: Bytes, value: Option<Bytes>, timestamp: i64) {
        self.set(key.clone(), value);
        self.log(ctx, key, timestamp);
    }

    /// Sets (`Some`) or deletes (`None`) `key` without logging it (yet: see [`KvStore::log`]).
    pub(crate) fn set(&mut self, key: Bytes, value: Option<Bytes>) {
        self.touch(&key, value.as_ref());
        match value {
            Some(v) => self.map.insert(key, v),
            None => self.map.remove(&key),
        };
    }

    /// Logs `key`'s current value (a deletion if it has none) to the changelog, if the store
    /// is logged.
    pub(crate) fn log(&mut self, ctx: &mut TaskContext, key: Bytes, timestamp: i64) {
        if !self.logged {
            return;
        }
        let topic = self
            .changelog
            .get_or_insert_with(|| ctx.internal_topic(&changelog_suffix(&self.name)).into());
        ctx.output.push(Output {
            topic: Arc::clone(topic),
            partition: Some(ctx.partition),
            value: self.map.get(&key).cloned(),
            key: Some(key),
            timestamp,
            headers: Vec::new(),
        });
    }

    /// Applies a changelog record (without logging it again).
    pub(crate) fn restore(&mut self, key: Bytes, value: Option<Bytes>) {
        self.touch(&key, value.as_ref());
        match value {
            Some(v) => self.map.insert(key, v),
            None => self.map.remove(&key),
        };
    }

    /// Removes `key` without logging it: for expired windows, which the changelog topic's own
    /// retention removes.
    pub(crate) fn evict(&mut self, key: &[u8]) {
        if let Some((key, _)) = self.map.remove_entry(key) {
            self.touch(&key, None);
        }
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

/// A running instance's local state: one fjall database (so that every store shares its cache
/// and write buffers), a keyspace per store and partition, and in a keyspace of their own the
/// changelog offset each store's content corresponds to. A store's changes and its offset are
/// written in one atomic batch at each commit, so after a crash a store is its last checkpoint
/// plus the changelog from that offset on: never wiped and restored in full.
pub(crate) struct StateDir {
    db: fjall::Database,
    offsets: fjall::Keyspace,
}

impl std::fmt::Debug for StateDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateDir")
    }
}

fn fjall_error(what: &str) -> impl FnOnce(fjall::Error) -> crate::error::StreamsError + '_ {
    move |e| crate::error::StreamsError::Store {
        store: what.to_owned(),
        reason: e.to_string(),
    }
}

/// The keyspace of store `store`'s partition `partition`.
fn keyspace_name(store: &str, partition: i32) -> String {
    let name = format!("{store}.{partition}");
    if name.len() < 200 {
        return name;
    }
    // Keyspace names are at most 255 bytes: long store names go by their FNV-1a hash.
    let hash = store.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("store-{hash:016x}.{partition}")
}

impl StateDir {
    /// Opens (or creates) the state of application instance at `path`.
    pub(crate) fn open(path: &std::path::Path) -> Result<Self, crate::error::StreamsError> {
        let db = fjall::Database::builder(path)
            .cache_size(64 << 20)
            .open()
            .map_err(fjall_error("state directory"))?;
        let offsets = db
            .keyspace("__changelog_offsets", fjall::KeyspaceCreateOptions::default)
            .map_err(fjall_error("state directory"))?;
        Ok(Self { db, offsets })
    }

    fn keyspace(&self, store: &str, partition: i32) -> Result<fjall::Keyspace, crate::error::StreamsError> {
        self.db
            .keyspace(&keyspace_name(store, partition), fjall::KeyspaceCreateOptions::default)
            .map_err(fjall_error(store))
    }

    /// Loads `store`'s partition from disk; returns the changelog offset it corresponds to
    /// (where restoring continues), or `None` without a checkpoint. From now on the store
    /// tracks its changes for [`StateDir::checkpoint`].
    pub(crate) fn load(&self, store: &mut KvStore, partition: i32) -> Result<Option<i64>, crate::error::StreamsError> {
        let name = keyspace_name(&store.name, partition);
        let offset = self
            .offsets
            .get(&name)
            .map_err(fjall_error(&store.name))?
            .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
            .map(i64::from_be_bytes);
        store.map.clear();
        if offset.is_some() {
            for entry in self.keyspace(&store.name, partition)?.iter() {
                let (key, value) = entry.into_inner().map_err(fjall_error(&store.name))?;
                store
                    .map
                    .insert(Bytes::copy_from_slice(&key), Bytes::copy_from_slice(&value));
            }
        }
        store.dirty = Some(BTreeMap::new());
        Ok(offset)
    }

    /// Writes the stores' changes since the last checkpoint, each with the changelog offset its
    /// content now corresponds to, in one atomic batch.
    pub(crate) fn checkpoint(&self, stores: &mut [(&mut KvStore, i32, i64)]) -> Result<(), crate::error::StreamsError> {
        let mut batch = self.db.batch();
        for (store, partition, offset) in stores.iter_mut() {
            let keyspace = self.keyspace(&store.name, *partition)?;
            for (key, value) in std::mem::take(store.dirty.get_or_insert_with(BTreeMap::new)) {
                match value {
                    Some(value) => batch.insert(&keyspace, key.to_vec(), value.to_vec()),
                    None => batch.remove(&keyspace, key.to_vec()),
                }
            }
            batch.insert(
                &self.offsets,
                keyspace_name(&store.name, *partition),
                offset.to_be_bytes().to_vec(),
            );
        }
        batch.commit().map_err(fjall_error("state directory"))
    }
}

//! State stores. A store holds serialized keys and values (so that its order is the order of the
//! key bytes, as in Kafka Streams) and logs every change to its changelog topic,
//! `<application.id>-<store>-changelog`, in the task's partition, from which it is restored.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::StreamsError;
use crate::processor::{Output, TaskContext};

/// A key-value store of one task: in memory, or with a state directory on disk ([`StateDir`]),
/// where it may be larger than memory: reads go to the disk (through fjall's block cache) for
/// what changed before the last checkpoint, and the changes since are kept in memory until the
/// next one writes them.
pub(crate) struct KvStore {
    name: String,
    /// Whether changes go to the changelog topic.
    logged: bool,
    /// The changelog topic, once known.
    changelog: Option<Arc<str>>,
    content: Content,
}

enum Content {
    Memory(BTreeMap<Bytes, Bytes>),
    Disk {
        keyspace: fjall::Keyspace,
        /// Changes since the last checkpoint (`None`: deleted).
        overlay: BTreeMap<Bytes, Option<Bytes>>,
    },
}

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on_disk = matches!(self.content, Content::Disk { .. });
        f.debug_struct("KvStore")
            .field("name", &self.name)
            .field("logged", &self.logged)
            .field("on_disk", &on_disk)
            .finish()
    }
}

/// An entry of a store: key and value.
pub(crate) type Entry = (Bytes, Bytes);

impl KvStore {
    pub(crate) fn new(name: &str, logged: bool) -> Self {
        Self {
            name: name.to_owned(),
            logged,
            changelog: None,
            content: Content::Memory(BTreeMap::new()),
        }
    }

    fn disk_error(&self) -> impl FnOnce(fjall::Error) -> StreamsError + '_ {
        fjall_error(&self.name)
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StreamsError> {
        match &self.content {
            Content::Memory(map) => Ok(map.get(key).cloned()),
            Content::Disk { keyspace, overlay } => match overlay.get(key) {
                Some(changed) => Ok(changed.clone()),
                None => Ok(keyspace
                    .get(key)
                    .map_err(self.disk_error())?
                    .map(|v| Bytes::copy_from_slice(&v))),
            },
        }
    }

    /// Sets (`Some`) or deletes (`None`) `key`, and logs the change.
    pub(crate) fn put(&mut self, ctx: &mut TaskContext, key: Bytes, value: Option<Bytes>, timestamp: i64) {
        self.set(key.clone(), value.clone());
        self.push_log(ctx, key, value, timestamp);
    }

    /// Sets (`Some`) or deletes (`None`) `key` without logging it (yet: see [`KvStore::log`]).
    pub(crate) fn set(&mut self, key: Bytes, value: Option<Bytes>) {
        match &mut self.content {
            Content::Memory(map) => match value {
                Some(v) => {
                    map.insert(key, v);
                }
                None => {
                    map.remove(&key);
                }
            },
            Content::Disk { overlay, .. } => {
                overlay.insert(key, value);
            }
        }
    }

    /// Logs `key`'s current value (a deletion if it has none) to the changelog, if the store
    /// is logged.
    pub(crate) fn log(&mut self, ctx: &mut TaskContext, key: Bytes, timestamp: i64) -> Result<(), StreamsError> {
        if self.logged {
            let value = self.get(&key)?;
            self.push_log(ctx, key, value, timestamp);
        }
        Ok(())
    }

    fn push_log(&mut self, ctx: &mut TaskContext, key: Bytes, value: Option<Bytes>, timestamp: i64) {
        if !self.logged {
            return;
        }
        let topic = self
            .changelog
            .get_or_insert_with(|| ctx.internal_topic(&changelog_suffix(&self.name)).into());
        ctx.output.push(Output {
            topic: Arc::clone(topic),
            partition: Some(ctx.partition),
            key: Some(key),
            value,
            timestamp,
            headers: Vec::new(),
        });
    }

    /// Applies a changelog record (without logging it again).
    pub(crate) fn restore(&mut self, key: Bytes, value: Option<Bytes>) {
        self.set(key, value);
    }

    /// Removes `key` without logging it: for expired windows, which the changelog topic's own
    /// retention removes.
    pub(crate) fn evict(&mut self, key: &Bytes) {
        self.set(key.clone(), None);
    }

    /// The entries with keys in `[from, to]`, in key-byte order.
    pub(crate) fn range(&self, from: &[u8], to: &[u8]) -> Result<Vec<Entry>, StreamsError> {
        use std::ops::Bound::Included;
        let bounds = (Included(from), Included(to));
        match &self.content {
            Content::Memory(map) => Ok(map
                .range::<[u8], _>(bounds)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()),
            Content::Disk { keyspace, overlay } => merge(
                overlay.range::<[u8], _>(bounds),
                keyspace.range(from..=to),
                self.disk_error(),
            ),
        }
    }

    /// Every entry, in key-byte order.
    pub(crate) fn entries(&self) -> Result<Vec<Entry>, StreamsError> {
        match &self.content {
            Content::Memory(map) => Ok(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            Content::Disk { keyspace, overlay } => merge(overlay.iter(), keyspace.iter(), self.disk_error()),
        }
    }

    /// The changes not written to disk yet.
    fn pending(&self) -> usize {
        match &self.content {
            Content::Memory(_) => 0,
            Content::Disk { overlay, .. } => overlay.len(),
        }
    }
}

/// The entries of a disk range with the changes since the last checkpoint applied.
fn merge<'a>(
    overlay: impl Iterator<Item = (&'a Bytes, &'a Option<Bytes>)>,
    disk: fjall::Iter,
    error: impl FnOnce(fjall::Error) -> StreamsError,
) -> Result<Vec<Entry>, StreamsError> {
    let mut stored = Vec::new();
    for guard in disk {
        match guard.into_inner() {
            Ok((k, v)) => stored.push((Bytes::copy_from_slice(&k), Bytes::copy_from_slice(&v))),
            Err(e) => return Err(error(e)),
        }
    }
    let mut out = Vec::with_capacity(stored.len());
    let mut stored = stored.into_iter().peekable();
    for (key, change) in overlay {
        while let Some(entry) = stored.next_if(|(k, _)| k < key) {
            out.push(entry);
        }
        stored.next_if(|(k, _)| k == key);
        if let Some(value) = change {
            out.push((key.clone(), value.clone()));
        }
    }
    out.extend(stored);
    Ok(out)
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

/// Changes a store being restored keeps in memory before they are written to disk.
const RESTORE_CHECKPOINT_CHANGES: usize = 100_000;

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

    /// Puts `store`'s partition on disk: it keeps its content as of its last checkpoint and
    /// returns the changelog offset it corresponds to (where restoring continues), or `None`
    /// without a checkpoint (then it starts empty).
    pub(crate) fn load(&self, store: &mut KvStore, partition: i32) -> Result<Option<i64>, crate::error::StreamsError> {
        let name = keyspace_name(&store.name, partition);
        let offset = self
            .offsets
            .get(&name)
            .map_err(fjall_error(&store.name))?
            .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
            .map(i64::from_be_bytes);
        let keyspace = self.keyspace(&store.name, partition)?;
        if offset.is_none() {
            // Whatever is there was never checkpointed: restoring starts from nothing.
            keyspace.clear().map_err(fjall_error(&store.name))?;
        }
        store.content = Content::Disk {
            keyspace,
            overlay: BTreeMap::new(),
        };
        Ok(offset)
    }

    /// Writes the stores' changes since the last checkpoint, each with the changelog offset its
    /// content now corresponds to, in one atomic batch.
    pub(crate) fn checkpoint(&self, stores: &mut [(&mut KvStore, i32, i64)]) -> Result<(), crate::error::StreamsError> {
        let mut batch = self.db.batch();
        for (store, partition, offset) in stores.iter_mut() {
            if let Content::Disk { keyspace, overlay } = &mut store.content {
                for (key, value) in std::mem::take(overlay) {
                    match value {
                        Some(value) => batch.insert(keyspace, key.to_vec(), value.to_vec()),
                        None => batch.remove(keyspace, key.to_vec()),
                    }
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

    /// Whether `store` holds enough changes in memory to write them out (while restoring).
    pub(crate) fn should_checkpoint(store: &KvStore) -> bool {
        store.pending() >= RESTORE_CHECKPOINT_CHANGES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    fn entries(store: &KvStore) -> Result<Vec<(String, String)>, StreamsError> {
        Ok(store
            .entries()?
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect())
    }

    /// A store on disk reads what was checkpointed from disk and what changed since from memory,
    /// deletions included; after a checkpoint nothing stays in memory, and a reopened state
    /// directory has the content and the changelog offset.
    #[test]
    fn a_store_on_disk_merges_its_checkpoint_and_its_changes() -> Result<(), StreamsError> {
        let dir = tempfile::tempdir().map_err(|e| StreamsError::Usage(e.to_string()))?;
        {
            let state = StateDir::open(dir.path())?;
            let mut store = KvStore::new("s", true);
            assert_eq!(state.load(&mut store, 0)?, None);
            for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
                store.set(b(k), Some(b(v)));
            }
            state.checkpoint(&mut [(&mut store, 0, 10)])?;
            assert_eq!(store.pending(), 0, "written out");
            store.set(b("b"), None);
            store.set(b("d"), Some(b("4")));
            store.set(b("a"), Some(b("11")));
            assert_eq!(store.get(b"a")?, Some(b("11")));
            assert_eq!(store.get(b"b")?, None);
            assert_eq!(store.get(b"c")?, Some(b("3")), "from disk");
            let range: Vec<Bytes> = store.range(b"a", b"c")?.into_iter().map(|(k, _)| k).collect();
            assert_eq!(range, [b("a"), b("c")]);
            let expected = [("a", "11"), ("c", "3"), ("d", "4")].map(|(k, v)| (k.to_owned(), v.to_owned()));
            assert_eq!(entries(&store)?, expected);
            state.checkpoint(&mut [(&mut store, 0, 20)])?;
            assert_eq!(entries(&store)?, expected);
        }
        let state = StateDir::open(dir.path())?;
        let mut store = KvStore::new("s", true);
        assert_eq!(state.load(&mut store, 0)?, Some(20));
        assert_eq!(entries(&store)?.len(), 3);
        assert_eq!(store.get(b"d")?, Some(b("4")));
        let mut other = KvStore::new("s", true);
        assert_eq!(state.load(&mut other, 1)?, None, "each partition has its own keyspace");
        assert!(entries(&other)?.is_empty());
        Ok(())
    }
}

//! Producer id allocation for InitProducerId. Ids are handed out from blocks whose upper bound is
//! persisted before any id of the block is used, so no id is ever issued twice across restarts.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::log::checkpoint::write_atomic;
use crate::log::{LogError, io_err};

const BLOCK: i64 = 1000;

/// Allocates producer ids.
#[derive(Debug)]
pub(crate) struct ProducerIds {
    path: PathBuf,
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Opens the allocator stored at `path`; the first id of a fresh broker is 0.
    pub(crate) fn open(path: &Path) -> Result<Self, LogError> {
        let next = match std::fs::read_to_string(path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|e| LogError::Io {
                op: "parsing",
                path: path.to_owned(),
                source: std::io::Error::other(e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err("reading", path)(e)),
        };
        // Everything below the persisted bound may have been issued: start there.
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new((next, next)),
        })
    }

    /// The next unused producer id (blocking when a new block must be persisted).
    pub(crate) fn next(&self) -> Result<i64, LogError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (next, limit) = &mut *state;
        if *next >= *limit {
            let new_limit = *next + BLOCK;
            write_atomic(&self.path, new_limit.to_string().as_bytes())?;
            *limit = new_limit;
        }
        let id = *next;
        *next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("producer-ids");
        let ids = ProducerIds::open(&path).expect("open");
        let first: Vec<i64> = (0..3).map(|_| ids.next().expect("id")).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(ids);
        let ids = ProducerIds::open(&path).expect("reopen");
        assert_eq!(ids.next().expect("id"), 1000);
    }
}

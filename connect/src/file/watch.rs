//! File-system events (through `notify`: inotify on Linux) that wake the file source: a file
//! created, renamed or removed under a glob's directory asks for a scan at once, and a file
//! written to for a read, instead of waiting for the next periodic scan. The periodic scan
//! stays, for what events miss (directories created later, file systems without events).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Watches the directories files are found in.
#[derive(Debug)]
pub(crate) struct FileEvents {
    /// Kept alive: dropping it stops the events.
    _watcher: Option<RecommendedWatcher>,
    wake: Arc<Notify>,
    rescan: Arc<AtomicBool>,
}

impl FileEvents {
    /// Watches `roots` (each recursively or not); a directory that cannot be watched is left
    /// to the periodic scan, with a log line.
    pub(crate) fn watch<'a>(roots: impl Iterator<Item = (&'a Path, bool)>) -> Self {
        let wake = Arc::new(Notify::new());
        let rescan = Arc::new(AtomicBool::new(false));
        let handler = {
            let (wake, rescan) = (Arc::clone(&wake), Arc::clone(&rescan));
            move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                match event.kind {
                    EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(notify::event::ModifyKind::Name(_)) => {
                        rescan.store(true, Ordering::Release);
                        wake.notify_one();
                    }
                    EventKind::Modify(_) => wake.notify_one(),
                    _ => {}
                }
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(watcher) => watcher,
            Err(e) => {
                tracing::warn!(error = %e, "no file-system events: files are found by periodic scans only");
                return Self {
                    _watcher: None,
                    wake,
                    rescan,
                };
            }
        };
        for (root, recursive) in roots {
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            if let Err(e) = watcher.watch(root, mode) {
                tracing::info!(directory = %root.display(), error = %e, "not watched: found by periodic scans");
            }
        }
        Self {
            _watcher: Some(watcher),
            wake,
            rescan,
        }
    }

    /// Waits for the next event.
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }

    /// Whether files appeared, moved or went since the last call.
    pub(crate) fn take_rescan(&self) -> bool {
        self.rescan.swap(false, Ordering::AcqRel)
    }
}

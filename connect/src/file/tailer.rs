//! [`Tailer`]: finds the files that globs match and reads their new lines.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::fingerprint::{Fingerprint, head, same_start};
use crate::error::ConnectError;

/// Where files are read from on the first start (without checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    /// Everything in them.
    #[default]
    Beginning,
    /// Only what is appended after the start.
    End,
}

/// What to tail.
#[derive(Debug, Clone)]
pub struct TailerConfig {
    /// Glob patterns of the files to read (`/var/log/app/*.log`, `logs/**/*.log`).
    pub include: Vec<String>,
    /// Glob patterns of files not to read.
    pub exclude: Vec<String>,
    /// Where to start on the first start.
    pub read_from: ReadFrom,
    /// A longer line is cut into pieces of this many bytes.
    pub max_line_bytes: usize,
    /// How many leading bytes a fingerprint covers.
    pub fingerprint_bytes: usize,
}

impl TailerConfig {
    /// Tails the files `include` matches, from their beginning.
    pub fn new(include: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            include: include.into_iter().map(Into::into).collect(),
            exclude: Vec::new(),
            read_from: ReadFrom::Beginning,
            max_line_bytes: 1 << 20,
            fingerprint_bytes: 1024,
        }
    }
}

/// A file's identity on its file system: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileKey {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

/// How far a file was read and acknowledged: where reading resumes after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The file.
    pub key: FileKey,
    /// Its fingerprint when the position was reached.
    pub fingerprint: Fingerprint,
    /// The byte after the last acknowledged line.
    pub position: u64,
    /// Its path then (for people; the key and fingerprint identify it).
    pub path: PathBuf,
}

/// A line read from a file (without its line ending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The file.
    pub key: FileKey,
    /// Its path when the line was read.
    pub path: Arc<Path>,
    /// Where the line starts.
    pub offset: u64,
    /// The byte after its end (its newline included): the position once it is acknowledged.
    pub end: u64,
    /// The file's generation: it grows when the file is truncated, so that acknowledgements
    /// of lines read before do not move the new content's position.
    pub generation: u32,
    /// The fingerprint of the file's first bytes when the line was read: a record that carries
    /// it can be matched to the file's content again after a crash.
    pub fingerprint: Fingerprint,
    /// The line.
    pub text: Bytes,
}

/// A file being read.
#[derive(Debug)]
struct Tracked {
    file: File,
    path: Arc<Path>,
    /// Its first bytes (up to `fingerprint_bytes`): to notice it being rewritten, and its copies.
    head: Vec<u8>,
    /// The start of the next line to hand out.
    position: u64,
    /// Bytes after `position` read without a line end yet.
    partial: Vec<u8>,
    generation: u32,
    /// `Some(original)` for a copy of a file still being read: held until the original is
    /// truncated or gone.
    copy_of: Option<FileKey>,
    /// Scans since a glob last matched it (rotated away or deleted).
    unseen_scans: u32,
}

/// Tails the files that globs match: [`Tailer::scan`] finds them (and notices renames,
/// truncation and copies), [`Tailer::read`] returns their new complete lines.
#[derive(Debug)]
pub struct Tailer {
    config: TailerConfig,
    include: GlobSet,
    exclude: GlobSet,
    /// Directories to walk, and how deep (`None`: without limit).
    roots: Vec<(PathBuf, Option<usize>)>,
    files: BTreeMap<FileKey, Tracked>,
    /// Checkpoints of files not found again yet.
    checkpoints: HashMap<FileKey, Checkpoint>,
    /// Files truncated or gone: where a copy of them starts.
    retired: Vec<Retired>,
    /// Whether the last scan found empty files it left for a later scan to decide about.
    undecided: bool,
    /// Whether no scan has run yet.
    first_scan: bool,
    /// Whether it started without checkpoints (then `read_from` applies).
    fresh: bool,
    /// Whether a file was truncated or a copy took over since [`Tailer::take_changed`]: what
    /// only this tailer knows then (which copy goes on where) should be checkpointed at once.
    changed: bool,
}

/// A file that was truncated or went away, and how far it was read.
#[derive(Debug)]
struct Retired {
    /// Its first bytes, or (from a checkpoint) their fingerprint.
    start: Start,
    position: u64,
}

#[derive(Debug)]
enum Start {
    Head(Vec<u8>),
    Print(Fingerprint),
}

impl Retired {
    /// Whether a file that starts with `head` is a copy of this one.
    fn matches(&self, head: &[u8]) -> bool {
        match &self.start {
            Start::Head(own) => same_start(own, head),
            Start::Print(print) => print.len > 0 && print.matches(head),
        }
    }
}

/// At most this many retired files are remembered.
const RETIRED: usize = 256;
/// A file that no glob matches any more is dropped after this many scans at its end.
const UNSEEN_SCANS: u32 = 2;

fn glob_set(patterns: &[String], key: &str) -> Result<GlobSet, ConnectError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| ConnectError::Config {
            key: key.to_owned(),
            reason: format!("{pattern}: {e}"),
        })?;
        set.add(glob);
    }
    set.build().map_err(|e| ConnectError::Config {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// The directory a pattern's matches are under (its components before the first with a glob
/// character) and how many levels below it they are (`None` with `**`).
fn root_of(pattern: &str) -> (PathBuf, Option<usize>) {
    let path = Path::new(pattern);
    let mut root = PathBuf::new();
    let mut rest = 0;
    let mut unbounded = false;
    let mut in_glob = false;
    for component in path.components() {
        let text = component.as_os_str().to_string_lossy();
        if !in_glob && !text.contains(['*', '?', '[', '{']) {
            root.push(component);
            continue;
        }
        in_glob = true;
        rest += 1;
        unbounded |= text.contains("**");
    }
    if rest == 0 {
        // A plain path: its directory, one level.
        root.pop();
        rest = 1;
    }
    if root.as_os_str().is_empty() {
        root.push(".");
    }
    (root, (!unbounded).then_some(rest))
}

impl Tailer {
    /// A tailer for `config`, resuming from `checkpoints` (empty on the first start).
    pub fn new(config: TailerConfig, checkpoints: Vec<Checkpoint>) -> Result<Self, ConnectError> {
        if config.include.is_empty() {
            return Err(ConnectError::Config {
                key: "file.include".to_owned(),
                reason: "no file pattern".to_owned(),
            });
        }
        let include = glob_set(&config.include, "file.include")?;
        let exclude = glob_set(&config.exclude, "file.exclude")?;
        let roots = config.include.iter().map(|p| root_of(p)).collect();
        let fresh = checkpoints.is_empty();
        Ok(Self {
            config,
            include,
            exclude,
            roots,
            files: BTreeMap::new(),
            checkpoints: checkpoints.into_iter().map(|c| (c.key, c)).collect(),
            retired: Vec::new(),
            undecided: false,
            first_scan: true,
            fresh,
            changed: false,
        })
    }

    /// The checkpoint of `key`'s file at `position` (a line's `end`), if the file is still
    /// read and `generation` is its current one.
    pub fn checkpoint(&self, key: FileKey, generation: u32, position: u64) -> Option<Checkpoint> {
        let t = self.files.get(&key)?;
        (t.generation == generation).then(|| Checkpoint {
            key,
            fingerprint: Fingerprint::of_bytes(&t.head),
            position,
            path: t.path.to_path_buf(),
        })
    }

    /// The checkpoints of every file being read, at the position of its next line: what to
    /// save for files with no line waiting for an acknowledgement (a copy that took over from
    /// its original, a file started over after a truncation, one started at its end). Copies
    /// held dormant have none: a restart finds them to be copies again.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.files
            .iter()
            .filter(|(_, t)| t.copy_of.is_none())
            .map(|(key, t)| Checkpoint {
                key: *key,
                fingerprint: Fingerprint::of_bytes(&t.head),
                position: t.position,
                path: t.path.to_path_buf(),
            })
            .collect()
    }

    /// Whether the last scan left empty files undecided (a scan soon should look at them again:
    /// their writes may come with no event that asks for one).
    pub fn has_undecided(&self) -> bool {
        self.undecided
    }

    /// Whether a file was truncated or a copy took over since the last call: then the
    /// checkpoints should be stored now (after a crash, nothing else tells where a copy that
    /// took over stands).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The directories the globs' matches are under, and whether matches may be deeper than
    /// one level (what a file-system watcher watches).
    pub fn roots(&self) -> impl Iterator<Item = (&Path, bool)> {
        self.roots
            .iter()
            .map(|(root, depth)| (root.as_path(), *depth != Some(1)))
    }

    /// The files being read: key, path and the position of the next line.
    pub fn files(&self) -> impl Iterator<Item = (FileKey, &Path, u64)> {
        self.files.iter().map(|(k, t)| (*k, &*t.path, t.position))
    }

    fn matching_paths(&self) -> Result<Vec<PathBuf>, ConnectError> {
        let mut found = Vec::new();
        for (root, depth) in &self.roots {
            walk(root, *depth, &mut found)?;
        }
        found.retain(|p| self.include.is_match(p) && !self.exclude.is_match(p));
        found.sort();
        found.dedup();
        Ok(found)
    }

    fn retire(&mut self, start: Start, position: u64) {
        let empty = match &start {
            Start::Head(head) => head.is_empty(),
            Start::Print(print) => print.len == 0,
        };
        if empty {
            return;
        }
        if self.retired.len() >= RETIRED {
            self.retired.remove(0);
        }
        self.retired.push(Retired { start, position });
    }

    /// Finds the files the globs match now: new ones are added (at the position their history
    /// gives), renamed ones keep going under their new path, truncated or rewritten ones start
    /// over, copies of a truncated or vanished file take over from its position.
    pub fn scan(&mut self) -> Result<(), ConnectError> {
        // The files read are looked at before the directories are walked: a truncation seen
        // here happened after its copy was made (copytruncate copies first), so the walk finds
        // the copy, and the caller stores where it takes over before the file's new lines are
        // read. (Walking first, a copy and truncation made in between left the copy to a later
        // scan, after the new lines: a crash then lost where the copy goes on.)
        let keys: Vec<FileKey> = self.files.keys().copied().collect();
        for key in keys {
            self.check_content(key, None)?;
        }
        let mut new = Vec::new();
        self.undecided = false;
        for tracked in self.files.values_mut() {
            tracked.unseen_scans += 1;
        }
        for path in self.matching_paths()? {
            let meta = match fs::metadata(&path) {
                Ok(meta) if meta.is_file() => meta,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ConnectError::io(&path)(e)),
            };
            let key = FileKey {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            match self.files.get_mut(&key) {
                Some(tracked) => {
                    tracked.unseen_scans = 0;
                    if *tracked.path != *path {
                        tracing::info!(from = %tracked.path.display(), to = %path.display(), "file renamed");
                        tracked.path = path.into();
                    }
                }
                None => new.push((key, path)),
            }
        }
        if self.first_scan {
            // Checkpointed files no glob matches any more (rotated away, deleted): their copies
            // take over where they stopped.
            let found: Vec<FileKey> = new.iter().map(|(k, _)| *k).collect();
            let gone: Vec<Checkpoint> = self
                .checkpoints
                .values()
                .filter(|c| !found.contains(&c.key))
                .cloned()
                .collect();
            for checkpoint in gone {
                self.checkpoints.remove(&checkpoint.key);
                self.retire(Start::Print(checkpoint.fingerprint), checkpoint.position);
            }
        }
        // Files with a checkpoint first: one found rewritten leaves its checkpoint to its copy.
        new.sort_by_key(|(key, _)| !self.checkpoints.contains_key(key));
        for (key, path) in new {
            self.add(key, path)?;
        }
        self.drop_finished();
        self.wake_copies();
        self.first_scan = false;
        Ok(())
    }

    /// Starts `key`'s file over if it was truncated or rewritten since it was read.
    /// `size` is the file's size if the caller just looked.
    fn check_content(&mut self, key: FileKey, size: Option<u64>) -> Result<(), ConnectError> {
        let want = self.config.fingerprint_bytes;
        let Some(tracked) = self.files.get_mut(&key) else {
            return Ok(());
        };
        let size = match size {
            Some(size) => size,
            None => tracked.file.metadata().map_err(ConnectError::io(&tracked.path))?.len(),
        };
        let read_to = tracked.position + tracked.partial.len() as u64;
        let now = head(&tracked.file, want).map_err(ConnectError::io(&tracked.path))?;
        let rewritten = size < read_to || !now.starts_with(&tracked.head);
        if rewritten {
            tracing::info!(path = %tracked.path.display(), size, position = tracked.position, "file truncated: reading it again from the start");
            let old = std::mem::replace(&mut tracked.head, now);
            let position = tracked.position;
            tracked.position = 0;
            tracked.partial.clear();
            tracked.generation += 1;
            self.changed = true;
            self.retire(Start::Head(old), position);
        } else {
            // Grown: a longer head tells it apart better.
            tracked.head = now;
        }
        Ok(())
    }

    /// Starts reading a newly found file.
    fn add(&mut self, key: FileKey, path: PathBuf) -> Result<(), ConnectError> {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(ConnectError::io(&path)(e)),
        };
        let size = file.metadata().map_err(ConnectError::io(&path))?.len();
        if size == 0 && !self.checkpoints.contains_key(&key) {
            // Nothing tells yet whether it is a new file or a copy being made (`cp` creates it
            // empty, then writes): decided once it has content.
            self.undecided = true;
            return Ok(());
        }
        let start = head(&file, self.config.fingerprint_bytes).map_err(ConnectError::io(&path))?;
        let mut copy_of = None;
        let position = if let Some(checkpoint) = self.checkpoints.remove(&key) {
            if checkpoint.fingerprint.matches(&start) && checkpoint.position <= size {
                checkpoint.position
            } else {
                // Rewritten while nobody read it: a copy may hold the rest.
                self.retire(Start::Print(checkpoint.fingerprint), checkpoint.position);
                0
            }
        } else if let Some(original) = self.live_original(&start) {
            copy_of = Some(original);
            0
        } else if let Some(i) = self.retired.iter().rposition(|r| r.matches(&start)) {
            // A copy takes over from a truncated or vanished file: only this tailer knows where
            // it goes on (after a crash, the original's records may all be of its new content).
            self.changed = true;
            self.retired.remove(i).position.min(size)
        } else if self.first_scan && self.fresh && self.config.read_from == ReadFrom::End {
            size
        } else {
            0
        };
        match copy_of {
            Some(original) => {
                tracing::info!(path = %path.display(), ?original, "a copy of a file being read: held until it is truncated")
            }
            None => tracing::info!(path = %path.display(), position, "reading a file"),
        }
        self.files.insert(
            key,
            Tracked {
                file,
                path: path.into(),
                head: start,
                position,
                partial: Vec::new(),
                generation: 0,
                copy_of,
                unseen_scans: 0,
            },
        );
        Ok(())
    }

    /// A live file (not itself a copy) that a file starting with `start` is a copy of.
    fn live_original(&self, start: &[u8]) -> Option<FileKey> {
        self.files
            .iter()
            .find(|(_, t)| t.copy_of.is_none() && same_start(&t.head, start))
            .map(|(k, _)| *k)
    }

    /// Drops files no glob matches any more once they are read to their end.
    fn drop_finished(&mut self) {
        let finished: Vec<FileKey> = self
            .files
            .iter()
            .filter(|(_, t)| {
                t.unseen_scans >= UNSEEN_SCANS
                    && t.partial.is_empty()
                    && t.file.metadata().is_ok_and(|m| m.len() <= t.position)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in finished {
            if let Some(t) = self.files.remove(&key) {
                tracing::info!(path = %t.path.display(), "done with a file no pattern matches any more");
                if t.copy_of.is_none() {
                    self.retire(Start::Head(t.head), t.position);
                }
            }
        }
    }

    /// Copies whose original is gone or was truncated go on from where the original was.
    fn wake_copies(&mut self) {
        let keys: Vec<FileKey> = self.files.keys().copied().collect();
        for key in keys {
            let Some(original) = self.files.get(&key).and_then(|t| t.copy_of) else {
                continue;
            };
            let original_live = self.files.contains_key(&original);
            let Some(copy) = self.files.get(&key) else {
                continue;
            };
            // The original's content as it was when copied, if it is retired.
            let retired = self.retired.iter().rposition(|r| r.matches(&copy.head));
            if original_live && retired.is_none() {
                continue;
            }
            let size = copy.file.metadata().map(|m| m.len()).unwrap_or(0);
            let position = retired.map_or(0, |i| self.retired.remove(i).position).min(size);
            if let Some(copy) = self.files.get_mut(&key) {
                tracing::info!(path = %copy.path.display(), position, "the original of a copy was truncated: reading the copy on");
                copy.copy_of = None;
                copy.position = position;
                self.changed = true;
            }
        }
    }

    /// Reads up to about `max_bytes` of new complete lines from the files.
    pub fn read(&mut self, max_bytes: usize) -> Result<Vec<Line>, ConnectError> {
        let mut lines = Vec::new();
        let mut budget = max_bytes;
        let keys: Vec<FileKey> = self.files.keys().copied().collect();
        for key in keys {
            if budget == 0 {
                break;
            }
            let Some(tracked) = self.files.get(&key).filter(|t| t.copy_of.is_none()) else {
                continue;
            };
            let size = tracked.file.metadata().map_err(ConnectError::io(&tracked.path))?.len();
            if size == tracked.position + tracked.partial.len() as u64 {
                continue; // nothing new (a rewrite to the same size is for the next scan to see)
            }
            // Truncated (or rewritten) since the last read: start over, but not in this call:
            // its new content is read only after the caller stored where things stand (with the
            // copies that take over found by a scan), so that a crash cannot lose which file
            // holds the rest of its old content.
            let generation = tracked.generation;
            self.check_content(key, Some(size))?;
            let Some(tracked) = self.files.get_mut(&key) else {
                continue;
            };
            if tracked.generation != generation {
                continue;
            }
            let from = tracked.position + tracked.partial.len() as u64;
            if size <= from {
                continue;
            }
            let want = usize::try_from(size - from).unwrap_or(usize::MAX).min(budget);
            let mut buf = vec![0u8; want];
            let got = read_fully(&tracked.file, &mut buf, from).map_err(ConnectError::io(&tracked.path))?;
            buf.truncate(got);
            budget = budget.saturating_sub(got);
            split_lines(key, tracked, &buf, self.config.max_line_bytes, &mut lines);
        }
        Ok(lines)
    }
}

/// Reads from `offset` until `buf` is full or the file ends; returns the bytes read.
fn read_fully(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match file.read_at(&mut buf[read..], offset + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

/// Hands out the complete lines of `tracked`'s pending bytes plus `buf`; keeps the rest.
fn split_lines(key: FileKey, tracked: &mut Tracked, buf: &[u8], max_line: usize, lines: &mut Vec<Line>) {
    let mut data = std::mem::take(&mut tracked.partial);
    data.extend_from_slice(buf);
    let data = Bytes::from(data);
    let mut start = 0;
    let max_line = max_line.max(1);
    let fingerprint = Fingerprint::of_bytes(&tracked.head);
    loop {
        let rest = &data[start..];
        let (text_len, consumed) = match memchr::memchr(b'\n', rest) {
            Some(nl) if nl <= max_line => (nl, nl + 1),
            // A line longer than the limit goes out in pieces.
            _ if rest.len() >= max_line => (max_line, max_line),
            _ => break,
        };
        let mut text = data.slice(start..start + text_len);
        if text.last() == Some(&b'\r') && consumed == text_len + 1 {
            text.truncate(text.len() - 1);
        }
        let offset = tracked.position;
        tracked.position += consumed as u64;
        lines.push(Line {
            key,
            path: Arc::clone(&tracked.path),
            offset,
            end: tracked.position,
            generation: tracked.generation,
            fingerprint,
            text,
        });
        start += consumed;
    }
    tracked.partial = data[start..].to_vec();
}

/// Adds the files under `dir` (down to `depth` levels, without limit for `None`) to `out`.
fn walk(dir: &Path, depth: Option<usize>, out: &mut Vec<PathBuf>) -> Result<(), ConnectError> {
    if depth == Some(0) {
        return Ok(());
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ConnectError::io(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(ConnectError::io(dir))?;
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, depth.map(|d| d - 1), out)?,
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

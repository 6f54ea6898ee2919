//! Multi-line events (a stack trace under its log line): a line that matches the start pattern
//! begins an event, the lines after it that do not match belong to it. An event is complete when
//! the next one starts, or when its file has been quiet for a while.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};

use super::tailer::{FileKey, Line};

/// Joins lines into events, per file.
#[derive(Debug)]
pub struct Multiline {
    start: regex::bytes::Regex,
    timeout: Duration,
    /// Each file's event in progress, and when its last line came.
    open: HashMap<FileKey, (Line, Instant)>,
}

impl Multiline {
    /// Events that start with lines matching `start`, complete after `timeout` without more.
    pub fn new(start: regex::bytes::Regex, timeout: Duration) -> Self {
        Self {
            start,
            timeout,
            open: HashMap::new(),
        }
    }

    /// Takes `line` (read at `now`); returns the event it completes, if it starts a new one.
    pub fn push(&mut self, line: Line, now: Instant) -> Option<Line> {
        let starts = self.start.is_match(&line.text);
        match self.open.remove(&line.key) {
            // Lines of the same content (generation) join the open event.
            Some((mut event, _)) if !starts && event.generation == line.generation => {
                let mut text = BytesMut::with_capacity(event.text.len() + 1 + line.text.len());
                text.put_slice(&event.text);
                text.put_u8(b'\n');
                text.put_slice(&line.text);
                event.text = text.freeze();
                event.end = line.end;
                self.open.insert(line.key, (event, now));
                None
            }
            Some((event, _)) => {
                self.open.insert(line.key, (line, now));
                Some(event)
            }
            None => {
                self.open.insert(line.key, (line, now));
                None
            }
        }
    }

    /// The events whose files have been quiet for the timeout (all of them with `all`).
    pub fn flush(&mut self, now: Instant, all: bool) -> Vec<Line> {
        let done: Vec<FileKey> = self
            .open
            .iter()
            .filter(|(_, (_, last))| all || now.duration_since(*last) >= self.timeout)
            .map(|(key, _)| *key)
            .collect();
        done.into_iter()
            .filter_map(|key| self.open.remove(&key).map(|(event, _)| event))
            .collect()
    }

    /// Whether an event of `key`'s file is waiting for more lines.
    pub fn is_open(&self, key: &FileKey) -> bool {
        self.open.contains_key(key)
    }
}

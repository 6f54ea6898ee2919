//! Durable small files: written to a temporary file, fsynced, renamed over the old one, and the
//! directory fsynced, so that a crash leaves either the old or the new content.
//!
//! Offset checkpoints use Kafka's text format: a version line (`0`), a count line, then one
//! `topic partition offset` line per partition.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::error::{LogError, io_err};

/// Writes `bytes` to `path` atomically and durably.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io_err("creating", &tmp))?;
    file.write_all(bytes).map_err(io_err("writing", &tmp))?;
    file.sync_all().map_err(io_err("fsyncing", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_err("renaming into place", path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Fsyncs a directory, making renames and new files in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsyncing directory", dir))
}

/// Per-partition offsets, keyed by (topic, partition).
pub(crate) type Offsets = BTreeMap<(String, i32), i64>;

/// Writes an offset checkpoint file.
pub(crate) fn write_offsets(path: &Path, offsets: &Offsets) -> Result<(), LogError> {
    let mut text = format!("0\n{}\n", offsets.len());
    for ((topic, partition), offset) in offsets {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    write_atomic(path, text.as_bytes())
}

/// Reads an offset checkpoint file; a missing file is empty, a malformed one is ignored (with
/// the reason) so that recovery falls back to scanning.
pub(crate) fn read_offsets(path: &Path) -> Result<Result<Offsets, String>, LogError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(Offsets::new())),
        Err(e) => return Err(io_err("reading", path)(e)),
    };
    Ok(parse_offsets(&text))
}

fn parse_offsets(text: &str) -> Result<Offsets, String> {
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Err("unknown checkpoint version".to_owned());
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("bad entry count")?;
    let mut offsets = Offsets::new();
    for line in lines.by_ref().take(count) {
        let mut parts = line.rsplitn(3, ' ');
        let (Some(offset), Some(partition), Some(topic)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("malformed line `{line}`"));
        };
        let offset = offset.parse().map_err(|_| format!("bad offset in `{line}`"))?;
        let partition = partition.parse().map_err(|_| format!("bad partition in `{line}`"))?;
        offsets.insert((topic.to_owned(), partition), offset);
    }
    if offsets.len() != count {
        return Err(format!("expected {count} entries, found {}", offsets.len()));
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_in_kafka_format() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("recovery-point-offset-checkpoint");
        let offsets = Offsets::from([(("a".to_owned(), 0), 10), (("b-c".to_owned(), 3), 7)]);
        write_offsets(&path, &offsets).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "0\n2\na 0 10\nb-c 3 7\n");
        assert_eq!(read_offsets(&path).expect("io"), Ok(offsets));
        assert_eq!(
            read_offsets(&dir.path().join("missing")).expect("io"),
            Ok(Offsets::new())
        );
        std::fs::write(&path, "0\n3\na 0 1\n").expect("write");
        assert!(read_offsets(&path).expect("io").is_err());
    }
}

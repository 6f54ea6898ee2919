//! File and directory names, Kafka's: `<topic>-<partition>/<20-digit base offset>.log` etc.

use std::path::{Path, PathBuf};

/// Segment data.
pub(crate) const LOG_SUFFIX: &str = "log";
/// Sparse offset → position index.
pub(crate) const INDEX_SUFFIX: &str = "index";
/// Sparse timestamp → offset index.
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";
/// A segment being written by the log cleaner; deleted when found at start-up.
pub(crate) const CLEANED_SUFFIX: &str = "log.cleaned";
/// A complete, fsynced cleaned segment waiting to replace the segments it was made from; a swap
/// found at start-up is finished.
pub(crate) const SWAP_SUFFIX: &str = "log.swap";
/// The log cleaner's per-partition progress (see `log::cleaner_checkpoint`).
pub(crate) const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Producer state snapshot.
pub(crate) const SNAPSHOT_SUFFIX: &str = "snapshot";
/// Marker left in the data directory by a clean shutdown.
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".rill_cleanshutdown";
/// Suffix of a partition directory scheduled for deletion.
pub(crate) const DELETE_DIR_SUFFIX: &str = "-delete";

/// `<dir>/<20-digit offset>.<suffix>`.
pub(crate) fn offset_file(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{offset:020}.{suffix}"))
}

/// The offset and suffix of a file named by [`offset_file`].
pub(crate) fn parse_offset_file(name: &str) -> Option<(i64, &str)> {
    let (stem, suffix) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, suffix))
}

/// `<topic>-<partition>`.
pub(crate) fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Splits `<topic>-<partition>` at the last dash.
pub(crate) fn parse_partition_dir(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() {
        return None;
    }
    let partition: i32 = partition.parse().ok()?;
    (partition >= 0).then_some((topic, partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let path = offset_file(Path::new("/d"), 42, LOG_SUFFIX);
        assert_eq!(path, Path::new("/d/00000000000000000042.log"));
        assert_eq!(parse_offset_file("00000000000000000042.log"), Some((42, "log")));
        assert_eq!(
            parse_offset_file("00000000000000000042.log.swap"),
            Some((42, "log.swap"))
        );
        assert_eq!(parse_offset_file("42.log"), None);
        assert_eq!(parse_partition_dir("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(parse_partition_dir("topic"), None);
        assert_eq!(parse_partition_dir("-3"), None);
    }
}

//! A crash at each step of a compaction, simulated by leaving the files that step leaves and
//! reopening the log as after a crash: every time, the log must read back either as before the
//! round or as after it, never anything else.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::TopicConfig;
use crate::log::cleaner::prepare_swaps;
use crate::log::test_support::{Rec, T0, Writer, clean, compacted, compacted_below, files, load_params, read_all};

/// A log of three segments with many superseded records, plus an active one; returns it with the
/// records it holds before and after compaction.
fn dirty_log(dir: &Path, config: &Arc<TopicConfig>) -> (Writer, Vec<Rec>, Vec<Rec>) {
    let mut w = Writer::create(dir, Arc::clone(config));
    for round in 0..3 {
        for _ in 0..4 {
            w.put(&["a", "b", "c", "d"]);
        }
        w.put(&[["e", "f", "g"][round]]);
        w.roll();
    }
    w.put(&["a"]);
    let end = w.log.log_end_offset() - 1;
    let before = read_all(&w.log);
    let after = compacted_below(&w.written, end);
    assert_ne!(before, after);
    (w, before, after)
}

fn config() -> Arc<TopicConfig> {
    // Three ~800-byte segments that merge into one cleaned segment.
    compacted(|c| c.segment_bytes = 4096)
}

fn reopen(dir: &Path, config: &Arc<TopicConfig>) -> PartitionLog {
    PartitionLog::load(dir.to_owned(), Arc::clone(config), load_params(false))
        .expect("load after a crash")
        .0
}

fn no_leftovers(dir: &Path) {
    let names = files(dir);
    assert!(
        !names.iter().any(|f| f.ends_with(".cleaned") || f.ends_with(".swap")),
        "{names:?}"
    );
}

#[test]
fn a_crash_while_writing_the_cleaned_copy_keeps_the_old_segments() {
    let dir = tempfile::tempdir().expect("dir");
    let config = config();
    let (w, before, _) = dirty_log(dir.path(), &config);
    drop(w);
    // Half a copy of the first segment, as a crash mid-write leaves it.
    let first = std::fs::read(dir.path().join(format!("{:020}.log", 0))).expect("segment");
    std::fs::write(
        dir.path().join(format!("{:020}.log.cleaned", 0)),
        &first[..first.len() / 2],
    )
    .expect("write");
    let log = reopen(dir.path(), &config);
    assert_eq!(read_all(&log), before);
    no_leftovers(dir.path());
}

#[test]
fn a_crash_after_the_swap_is_named_finishes_it_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let config = config();
    let (w, _, after) = dirty_log(dir.path(), &config);
    let swaps = prepare_swaps(&w.log, T0);
    assert_eq!(swaps.len(), 1, "the three segments merge into one");
    assert!(files(dir.path()).contains(&format!("{:020}.log.swap", 0)));
    drop((w, swaps));
    let log = reopen(dir.path(), &config);
    assert_eq!(read_all(&log), after);
    assert_eq!(log.segment_count(), 2, "one cleaned segment and the active one");
    no_leftovers(dir.path());
}

#[test]
fn a_crash_in_the_middle_of_the_swap_finishes_it_at_start() {
    // The swap deletes segment B's files first, then the others'; stop after each deletion.
    for deleted in 1..=3 {
        let dir = tempfile::tempdir().expect("dir");
        let config = config();
        let (w, _, after) = dirty_log(dir.path(), &config);
        let swaps = prepare_swaps(&w.log, T0);
        let (old, _) = &swaps[0];
        for segment in old.iter().take(deleted) {
            for suffix in ["log", "index", "timeindex"] {
                let path = dir.path().join(format!("{:020}.{suffix}", segment.base_offset));
                std::fs::remove_file(&path).expect("delete");
            }
        }
        drop((w, swaps));
        let log = reopen(dir.path(), &config);
        assert_eq!(read_all(&log), after, "crash after deleting {deleted} segments");
        no_leftovers(dir.path());
    }
}

#[test]
fn a_crash_before_the_new_indexes_are_written_rebuilds_them() {
    let dir = tempfile::tempdir().expect("dir");
    let config = config();
    let (mut w, _, after) = dirty_log(dir.path(), &config);
    clean(&mut w.log, T0).expect("a round runs");
    w.log.close(T0).expect("close");
    drop(w);
    for suffix in ["index", "timeindex"] {
        std::fs::remove_file(dir.path().join(format!("{:020}.{suffix}", 0))).expect("delete");
    }
    // Even a start that believes the shutdown was clean rebuilds a missing index.
    let (log, report) =
        PartitionLog::load(dir.path().to_owned(), Arc::clone(&config), load_params(true)).expect("load");
    assert_eq!(report.recovered_segments, 1);
    assert_eq!(read_all(&log), after);
    assert!(dir.path().join(format!("{:020}.index", 0)).exists());
}

#[test]
fn an_unreadable_swap_is_discarded_while_the_old_segments_are_intact() {
    let dir = tempfile::tempdir().expect("dir");
    let config = config();
    let (w, before, _) = dirty_log(dir.path(), &config);
    let swaps = prepare_swaps(&w.log, T0);
    drop((w, swaps));
    let swap = dir.path().join(format!("{:020}.log.swap", 0));
    let mut bytes = std::fs::read(&swap).expect("swap");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&swap, &bytes).expect("corrupt");
    let log = reopen(dir.path(), &config);
    assert_eq!(read_all(&log), before);
    no_leftovers(dir.path());
}

#[test]
fn a_swap_refused_because_retention_deleted_a_segment_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let config = config();
    let (mut w, _, _) = dirty_log(dir.path(), &config);
    let mut swaps = prepare_swaps(&w.log, T0);
    let (old, cleaned) = swaps.remove(0);
    w.log.delete_records_before(old[1].base_offset).expect("delete records");
    let remaining = read_all(&w.log);
    assert!(!w.log.commit_swap(&old, cleaned).expect("commit"), "the log changed");
    assert_eq!(read_all(&w.log), remaining);
    no_leftovers(dir.path());
}

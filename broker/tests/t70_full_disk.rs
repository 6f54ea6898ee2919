//! A full disk: the append that does not fit fails with KAFKA_STORAGE_ERROR, nothing that was
//! acknowledged is lost, writes resume once space is freed, and a restart finds every record.
//!
//! With permission to mount (root), the data directory is a small tmpfs, so the failure is a real
//! ENOSPC. Without it, the process's file-size limit (RLIMIT_FSIZE) makes the segment write fail
//! with EFBIG instead; the broker takes the same path for both (`RILL_TEST_NO_MOUNT=1` forces
//! the fallback).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{batch, create_topic, produce, read_all};
use rill_broker::testing::TestBroker;

enum Full {
    Tmpfs { mount: PathBuf, ballast: PathBuf },
    FileSizeLimit,
}

impl Full {
    /// Prepares `dir` so that about `room` bytes can still be written to one file.
    fn prepare(dir: &Path, room: u64) -> Self {
        // RILL_TEST_NO_MOUNT=1 exercises the fallback where mounting is allowed.
        let mounted = std::env::var_os("RILL_TEST_NO_MOUNT").is_none()
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
        if mounted {
            // Leave `room` bytes free; the ballast is what "freeing space" deletes later.
            let ballast = dir.join("ballast");
            std::fs::write(&ballast, vec![0u8; (8 << 20) - room as usize - (256 << 10)]).expect("ballast");
            eprintln!("full disk: tmpfs at {}", dir.display());
            return Self::Tmpfs {
                mount: dir.to_owned(),
                ballast,
            };
        }
        eprintln!("full disk: no permission to mount; using RLIMIT_FSIZE");
        // Without a handler, exceeding the limit kills the process with SIGXFSZ.
        std::mem::forget(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(25)).expect("SIGXFSZ"));
        rustix::process::setrlimit(
            rustix::process::Resource::Fsize,
            rustix::process::Rlimit {
                current: Some(room),
                maximum: None,
            },
        )
        .expect("setrlimit");
        Self::FileSizeLimit
    }

    fn free(&self) {
        match self {
            Self::Tmpfs { ballast, .. } => std::fs::remove_file(ballast).expect("remove ballast"),
            Self::FileSizeLimit => rustix::process::setrlimit(
                rustix::process::Resource::Fsize,
                rustix::process::Rlimit {
                    current: None,
                    maximum: None,
                },
            )
            .expect("setrlimit"),
        }
    }
}

impl Drop for Full {
    fn drop(&mut self) {
        if let Self::Tmpfs { mount, .. } = self {
            let _ = Command::new("umount").arg(mount).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_write_and_loses_nothing_acknowledged() {
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let full = Full::prepare(&data, 1 << 20);

    let broker = TestBroker::start_in(&data, |_| {}).await.expect("broker");
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    let mut acked = 0;
    let error = loop {
        let (code, base) = produce(&mut conn, "t", 0, batch(10, 10_000, 0)).await;
        if code != 0 {
            break code;
        }
        assert_eq!(base, acked);
        acked += 10;
        assert!(acked < 10_000, "the disk never filled up");
    };
    assert_eq!(error, 56, "KAFKA_STORAGE_ERROR");
    assert!(acked > 0);
    let stored: i64 = read_all(&mut conn, "t", 0, 0)
        .await
        .iter()
        .map(|h| i64::from(h.records_count))
        .sum();
    assert_eq!(
        stored, acked,
        "every acknowledged record is readable, nothing half-written"
    );

    full.free();
    assert_eq!(
        produce(&mut conn, "t", 0, batch(10, 100, 0)).await,
        (0, acked),
        "writes resume where they stopped"
    );
    acked += 10;
    broker.stop().await.expect("clean stop");

    let broker = TestBroker::start_in(&data, |_| {}).await.expect("restart");
    let mut conn = common::connect(&broker).await;
    let stored: i64 = read_all(&mut conn, "t", 0, 0)
        .await
        .iter()
        .map(|h| i64::from(h.records_count))
        .sum();
    assert_eq!(stored, acked, "after a restart");
    assert_eq!(produce(&mut conn, "t", 0, batch(1, 10, 0)).await, (0, acked));
    broker.stop().await.expect("stop");
    drop(full);
}

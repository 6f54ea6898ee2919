//! The external programs the compatibility tests run, and one way to run them: with a time limit,
//! stdin fed from memory, and stdout/stderr captured.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const INSTALL_HINT: &str = "run the tests through `scripts/test` (it installs the compatibility tools and sets \
     RILL_TEST_PYTHON and RILL_TEST_KCAT), or `eval \"$(scripts/test --env)\"` before `cargo test`";

/// The Python with kafka-python, confluent-kafka and aiokafka: `$RILL_TEST_PYTHON`, else the
/// virtualenv `scripts/test` builds in `~/.cache/rill-test/venv`.
pub fn python() -> PathBuf {
    let path = match std::env::var_os("RILL_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/rill-test/venv/bin/python")
        }
    };
    assert!(
        path.is_file(),
        "the Python Kafka clients are missing: {} does not exist; {INSTALL_HINT}",
        path.display()
    );
    path
}

/// kcat: `$RILL_TEST_KCAT`, else `kcat` on `PATH`.
pub fn kcat() -> PathBuf {
    if let Some(p) = std::env::var_os("RILL_TEST_KCAT") {
        let path = PathBuf::from(p);
        assert!(
            path.is_file(),
            "RILL_TEST_KCAT={} does not exist; {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kcat"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("kcat is missing: RILL_TEST_KCAT is unset and no kcat is on PATH; {INSTALL_HINT}"))
}

/// `tests/compat/kclient.py`.
pub fn kclient_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/kclient.py")
}

/// A finished process.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Panics, showing the command and its stderr, unless it exited with status 0.
    pub fn assert_success(&self, what: &str) -> &Self {
        assert!(
            self.status.success(),
            "{what}: `{}` failed with {} after {:?}\nstdout (first 2000 bytes):\n{}\nstderr:\n{}",
            self.command,
            self.status,
            self.elapsed,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)]),
            self.stderr
        );
        self
    }
}

/// Runs `program args` with `stdin` as its input; kills it and panics if it runs longer than
/// `limit` (each tool also has its own, shorter timeout: this is the safety net).
pub async fn run(program: &Path, args: &[String], stdin: Option<Vec<u8>>, limit: Duration) -> Output {
    let command = std::iter::once(program.display().to_string())
        .chain(
            args.iter()
                .map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    // Feed stdin from a task, so that a child filling its stdout pipe cannot deadlock us.
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        tokio::spawn(async move {
            // A child that exits early closes the pipe; its exit status tells why.
            let _ = pipe.write_all(&input).await;
        })
    });
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => output.unwrap_or_else(|e| panic!("waiting for `{command}`: {e}")),
        Err(_) => panic!("`{command}` did not finish within {limit:?}; killed"),
    };
    if let Some(writer) = writer {
        writer.await.expect("stdin writer task");
    }
    Output {
        command,
        status: output.status,
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Sends the in-process broker's `tracing` output to the test's captured output, filtered by
/// `RUST_LOG` (e.g. `RUST_LOG=rill_broker=debug`); nothing without it. Safe to call repeatedly.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

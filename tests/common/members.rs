//! Consumer-group members as long-running child processes (`kclient.py group-consume` for the
//! Python clients, `kcat -G`), and an [`Observer`] that collects what every member reports —
//! rebalances, records, commits, exit — as it happens, so that a test waits for a condition on
//! those events with a deadline instead of sleeping.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::events::{Event, Events, What, parse_event, parse_kcat_rebalance};
use super::kclient::Client;
use super::tools;

/// How long a member may take to exit after it was told to (or killed).
const EXIT_LIMIT: Duration = Duration::from_secs(30);
/// Stderr kept per member, for failure messages (the tail).
const STDERR_KEPT: usize = 256 * 1024;

/// The stderr a member printed so far (its tail).
type StderrBuffer = Arc<Mutex<String>>;

/// Collects the events of a test's members.
#[derive(Clone, Debug)]
pub struct Observer {
    events: Arc<watch::Sender<Events>>,
    /// Each member's stderr, by member name, for failure messages.
    stderr: Arc<Mutex<Vec<(String, StderrBuffer)>>>,
}

impl Default for Observer {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer {
    pub fn new() -> Self {
        let (events, _) = watch::channel(Events {
            start: Instant::now(),
            all: Vec::new(),
        });
        Self {
            events: Arc::new(events),
            stderr: Arc::default(),
        }
    }

    /// Records an event of `member`; members in the test's own process (the Rust client)
    /// report through this.
    pub fn push(&self, member: &str, what: What) {
        let event = Event {
            member: member.to_owned(),
            at: Instant::now(),
            what,
        };
        self.events.send_modify(|events| events.all.push(event));
    }

    /// The events so far.
    pub fn snapshot(&self) -> Events {
        self.events.borrow().clone()
    }

    /// Waits until `condition` holds for the events, at most `limit`; on timeout, returns the
    /// events seen so far as the error.
    pub async fn wait_for(
        &self,
        limit: Duration,
        mut condition: impl FnMut(&Events) -> bool,
    ) -> Result<Events, Events> {
        let mut rx = self.events.subscribe();
        match tokio::time::timeout(limit, rx.wait_for(|events| condition(events))).await {
            Ok(Ok(events)) => Ok(events.clone()),
            // The sender lives in `self`; it cannot be gone.
            Ok(Err(_)) | Err(_) => Err(self.snapshot()),
        }
    }

    /// Waits until `condition` holds, at most `limit`; panics naming `what`, with every
    /// member's events and stderr, if it does not.
    pub async fn expect(&self, what: &str, limit: Duration, condition: impl FnMut(&Events) -> bool) -> Events {
        let started = Instant::now();
        match self.wait_for(limit, condition).await {
            Ok(events) => events,
            Err(events) => self.fail(
                &format!("{what}: not within {limit:?} (waited {:?})", started.elapsed()),
                &events,
            ),
        }
    }

    /// Prints every member's events when `RILL_TEST_SHOW_EVENTS` is set (with `--nocapture`).
    pub fn show(&self, title: &str) {
        if std::env::var_os("RILL_TEST_SHOW_EVENTS").is_some() {
            eprintln!("--- {title}: events ---\n{}", self.snapshot().summary());
        }
    }

    /// Panics with `message`, the events and the tail of every member's stderr.
    pub fn fail(&self, message: &str, events: &Events) -> ! {
        let mut msg = format!("{message}\n--- events ---\n{}", events.summary());
        for (name, stderr) in self.stderr.lock().expect("stderr registry").iter() {
            let text = stderr.lock().expect("stderr buffer");
            if !text.trim().is_empty() {
                // All of it when the clients' debug logs were asked for.
                let keep = if std::env::var_os("RILL_TEST_CLIENT_DEBUG").is_some() {
                    STDERR_KEPT
                } else {
                    6000
                };
                let tail = &text[floor_char_boundary(&text, text.len().saturating_sub(keep))..];
                let _ = write!(msg, "\n--- stderr of {name} (tail) ---\n{tail}");
            }
        }
        panic!("{msg}");
    }

    /// Starts `kclient.py group-consume` as member `name`.
    pub fn spawn(&self, name: &str, spec: &GroupConsume) -> Member {
        let mut args = vec![
            tools::kclient_script().display().to_string(),
            "--client".to_owned(),
            spec.client.name().to_owned(),
            "--bootstrap".to_owned(),
            spec.bootstrap.clone(),
            "--timeout".to_owned(),
            "30".to_owned(),
        ];
        if let Some(level) = &spec.log_level {
            args.extend(["--log-level".to_owned(), level.clone()]);
        }
        args.push("group-consume".to_owned());
        args.extend(spec.args(name));
        self.spawn_process(name, &tools::python(), &args, true, Program::Kclient)
    }

    /// Starts `kcat -G group topic` as member `name`, printing records as event lines
    /// (its rebalances are read from its stderr). `config` are `-X key=value` settings.
    pub fn spawn_kcat(&self, name: &str, bootstrap: &str, group: &str, topic: &str, config: &[&str]) -> Member {
        let mut args: Vec<String> = vec![
            "-b".into(),
            bootstrap.into(),
            // Unbuffered: each record line reaches the test when kcat reads the record.
            "-u".into(),
            "-G".into(),
            group.into(),
            // Not `-o beginning`: kcat 1.7 applies -o to every assignment, ignoring the
            // committed offsets.
            "-X".into(),
            "auto.offset.reset=earliest".into(),
            "-f".into(),
            r#"{"event":"record","topic":"%t","partition":%p,"offset":%o,"key":null}\n"#.into(),
        ];
        for c in config {
            args.extend(["-X".into(), (*c).into()]);
        }
        args.push(topic.into());
        self.spawn_process(name, &tools::kcat(), &args, false, Program::Kcat)
    }

    fn spawn_process(
        &self,
        name: &str,
        program: &std::path::Path,
        args: &[String],
        stdin: bool,
        program_kind: Program,
    ) -> Member {
        let command = std::iter::once(program.display().to_string())
            .chain(
                args.iter()
                    .map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }),
            )
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
        let stderr_text = StderrBuffer::default();
        self.stderr
            .lock()
            .expect("stderr registry")
            .push((name.to_owned(), Arc::clone(&stderr_text)));

        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let observer = self.clone();
        let member = name.to_owned();
        // Both kclient.py and kcat's `-f` format print event lines on stdout.
        let out_task = tokio::spawn(async move {
            for_each_line(stdout, |line| observer.push(&member, parse_event(line))).await;
            observer.push(&member, What::Exited);
        });
        let observer = self.clone();
        let member = name.to_owned();
        let err_task = tokio::spawn(async move {
            let mut owned = BTreeSet::new();
            for_each_line(stderr, |line| {
                {
                    let mut text = stderr_text.lock().expect("stderr buffer");
                    text.push_str(line);
                    text.push('\n');
                    if text.len() > 2 * STDERR_KEPT {
                        let cut = floor_char_boundary(&text, text.len() - STDERR_KEPT);
                        text.replace_range(..cut, "");
                    }
                }
                if program_kind == Program::Kcat {
                    if let Some(r) = parse_kcat_rebalance(line, &mut owned) {
                        observer.push(&member, What::Rebalance(r));
                    }
                }
            })
            .await;
        });
        Member {
            name: name.to_owned(),
            command,
            stdin: child.stdin.take(),
            child,
            readers: vec![out_task, err_task],
            status: None,
        }
    }
}

/// The largest char boundary at or below `i`.
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Program {
    Kclient,
    Kcat,
}

async fn for_each_line(pipe: impl AsyncRead + Unpin, mut f: impl FnMut(&str)) {
    let mut lines = BufReader::new(pipe).lines();
    // A read error (invalid UTF-8 included) ends the stream like EOF; the child's exit
    // status and stderr tell why.
    while let Ok(Some(line)) = lines.next_line().await {
        f(&line);
    }
}

/// A running member process. Killed if dropped.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    /// The command line, for messages.
    pub command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    readers: Vec<JoinHandle<()>>,
    /// Set once it exited.
    status: Option<ExitStatus>,
}

impl Member {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the member is running")
    }

    /// Kills the process with SIGKILL (no LeaveGroup, no commit) and waits until it is gone and
    /// its last lines are read.
    pub async fn kill(&mut self) {
        if self.status.is_none() {
            self.child
                .start_kill()
                .unwrap_or_else(|e| panic!("killing member {}: {e}", self.name));
            self.wait_exit().await;
        }
    }

    /// Asks the process to stop gracefully (closes its stdin; SIGTERM for kcat, which does not
    /// read it), waits for it to exit and returns its status.
    pub async fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        if self.stdin.take().is_none() {
            let pid = self.pid().to_string();
            let status = Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .await
                .expect("run kill");
            assert!(
                status.success(),
                "kill -TERM {pid} (member {}) failed: {status}",
                self.name
            );
        }
        self.wait_exit().await
    }

    async fn wait_exit(&mut self) -> ExitStatus {
        let status = match tokio::time::timeout(EXIT_LIMIT, self.child.wait()).await {
            Ok(status) => status.unwrap_or_else(|e| panic!("waiting for member {}: {e}", self.name)),
            Err(_) => {
                let _ = self.child.start_kill();
                panic!(
                    "member {} did not exit within {EXIT_LIMIT:?}: `{}`",
                    self.name, self.command
                )
            }
        };
        for reader in self.readers.drain(..) {
            tokio::time::timeout(EXIT_LIMIT, reader)
                .await
                .unwrap_or_else(|_| panic!("member {}: its output did not end after it exited", self.name))
                .expect("reader task");
        }
        self.status = Some(status);
        status
    }
}

/// A `kclient.py group-consume` member: the client, group, topics and options.
#[derive(Clone, Debug)]
pub struct GroupConsume {
    pub client: Client,
    pub bootstrap: String,
    pub group: String,
    pub topics: Vec<String>,
    /// `client.id`; the member's name when `None`.
    pub client_id: Option<String>,
    pub instance_id: Option<String>,
    pub strategy: Option<String>,
    pub session_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub max_poll_interval_ms: u64,
    /// batch, auto or none.
    pub commit: String,
    pub max_poll_records: usize,
    /// (partition, offset) limits: records from there on are not read; `None` partition for all.
    pub limits: Vec<(Option<i32>, i64)>,
    /// (partition, offset) commit caps: reading goes on, commits stop there.
    pub commit_caps: Vec<(Option<i32>, i64)>,
    pub max_seconds: u64,
    /// librdkafka debug contexts (confluent).
    pub debug: Option<String>,
    /// Python log level on stderr.
    pub log_level: Option<String>,
}

impl GroupConsume {
    pub fn new(client: Client, bootstrap: &str, group: &str, topic: &str) -> Self {
        Self {
            client,
            bootstrap: bootstrap.to_owned(),
            group: group.to_owned(),
            topics: vec![topic.to_owned()],
            client_id: None,
            instance_id: None,
            strategy: None,
            session_timeout_ms: 10_000,
            heartbeat_interval_ms: 500,
            max_poll_interval_ms: 30_000,
            commit: "batch".to_owned(),
            max_poll_records: 500,
            limits: Vec::new(),
            commit_caps: Vec::new(),
            max_seconds: 180,
            debug: None,
            log_level: None,
        }
    }

    pub fn session(mut self, session_timeout_ms: u64, heartbeat_interval_ms: u64) -> Self {
        self.session_timeout_ms = session_timeout_ms;
        self.heartbeat_interval_ms = heartbeat_interval_ms;
        self
    }

    pub fn instance_id(mut self, id: &str) -> Self {
        self.instance_id = Some(id.to_owned());
        self
    }

    pub fn strategy(mut self, strategy: &str) -> Self {
        self.strategy = Some(strategy.to_owned());
        self
    }

    pub fn client_id(mut self, id: &str) -> Self {
        self.client_id = Some(id.to_owned());
        self
    }

    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.max_poll_records = n;
        self
    }

    pub fn limit(mut self, partition: Option<i32>, offset: i64) -> Self {
        self.limits.push((partition, offset));
        self
    }

    pub fn commit_cap(mut self, partition: Option<i32>, offset: i64) -> Self {
        self.commit_caps.push((partition, offset));
        self
    }

    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_owned();
        self
    }

    /// `RILL_TEST_CLIENT_DEBUG=1` turns on the clients' group logs (librdkafka `cgrp`, Python
    /// DEBUG) on stderr, which failure messages show.
    pub fn debug_from_env(mut self) -> Self {
        if std::env::var_os("RILL_TEST_CLIENT_DEBUG").is_some() {
            self.debug = Some("cgrp,protocol".to_owned());
            self.log_level = Some("DEBUG".to_owned());
        }
        self
    }

    fn args(&self, name: &str) -> Vec<String> {
        let mut args = vec!["--group".to_owned(), self.group.clone()];
        for t in &self.topics {
            args.extend(["--topic".to_owned(), t.clone()]);
        }
        args.extend([
            "--client-id".to_owned(),
            self.client_id.clone().unwrap_or_else(|| name.to_owned()),
            "--session-timeout-ms".to_owned(),
            self.session_timeout_ms.to_string(),
            "--heartbeat-interval-ms".to_owned(),
            self.heartbeat_interval_ms.to_string(),
            "--max-poll-interval-ms".to_owned(),
            self.max_poll_interval_ms.to_string(),
            "--commit".to_owned(),
            self.commit.clone(),
            "--max-poll-records".to_owned(),
            self.max_poll_records.to_string(),
            "--max-seconds".to_owned(),
            self.max_seconds.to_string(),
        ]);
        if let Some(id) = &self.instance_id {
            args.extend(["--instance-id".to_owned(), id.clone()]);
        }
        if let Some(s) = &self.strategy {
            args.extend(["--assignment-strategy".to_owned(), s.clone()]);
        }
        for (flag, list) in [("--limit", &self.limits), ("--commit-cap", &self.commit_caps)] {
            for (p, o) in list {
                args.push(flag.to_owned());
                args.push(match p {
                    Some(p) => format!("{p}:{o}"),
                    None => o.to_string(),
                });
            }
        }
        if let Some(d) = &self.debug {
            args.extend(["--debug".to_owned(), d.clone()]);
        }
        args
    }
}

//! Data-driven tests of the group state machine: each file in `scenarios/` is a script of
//! requests, clock advances and expectations (the format is described in `scenarios/README`).

use std::collections::HashMap;

use bytes::Bytes;

use crate::error_code::ErrorCode;
use crate::group::group::{Group, GroupTimings, Reply};
use crate::group::state::GroupState;
use crate::group::{Join, Sync};

struct Runner {
    group: Group,
    now: u64,
    ids: HashMap<String, u64>,
    next_id: u64,
    released: HashMap<u64, Reply>,
    last_released: usize,
    new_members: u64,
}

fn error_code(name: &str) -> ErrorCode {
    match name {
        "NONE" => ErrorCode::None,
        "MEMBER_ID_REQUIRED" => ErrorCode::MemberIdRequired,
        "UNKNOWN_MEMBER_ID" => ErrorCode::UnknownMemberId,
        "ILLEGAL_GENERATION" => ErrorCode::IllegalGeneration,
        "REBALANCE_IN_PROGRESS" => ErrorCode::RebalanceInProgress,
        "FENCED_INSTANCE_ID" => ErrorCode::FencedInstanceId,
        "INCONSISTENT_GROUP_PROTOCOL" => ErrorCode::InconsistentGroupProtocol,
        other => panic!("unknown error name {other}"),
    }
}

fn args(words: &[&str]) -> HashMap<String, String> {
    words
        .iter()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn list(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

impl Runner {
    fn request(&mut self, name: &str) -> u64 {
        self.next_id += 1;
        self.ids.insert(name.to_owned(), self.next_id);
        self.next_id
    }

    fn absorb(&mut self, replies: Vec<Reply>) {
        self.last_released = replies.len();
        for reply in replies {
            let id = match &reply {
                Reply::Join(id, _) | Reply::Sync(id, _) => *id,
            };
            self.released.insert(id, reply);
        }
    }

    fn step(&mut self, line: &str, at: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let a = args(&words);
        let member = |a: &HashMap<String, String>| a.get("member").filter(|m| *m != "-").cloned().unwrap_or_default();
        match words[0] {
            "join" => {
                let request = self.request(words[1]);
                self.new_members += 1;
                let protocols = list(a.get("protocols"))
                    .into_iter()
                    .map(|p| match p.split_once(':') {
                        Some((name, meta)) => (name.to_owned(), Bytes::from(meta.to_owned())),
                        None => (p, Bytes::new()),
                    })
                    .collect::<Vec<_>>();
                let join = Join {
                    request,
                    member_id: member(&a),
                    instance_id: a.get("instance").cloned(),
                    client_id: "client".to_owned(),
                    client_host: "/127.0.0.1".to_owned(),
                    session_timeout_ms: a.get("session").map_or(10_000, |s| s.parse().expect("session")),
                    rebalance_timeout_ms: a.get("rebalance").map_or(30_000, |s| s.parse().expect("rebalance")),
                    protocol_type: "consumer".to_owned(),
                    protocols: if protocols.is_empty() {
                        vec![("range".to_owned(), Bytes::new())]
                    } else {
                        protocols
                    },
                    require_known_member_id: words.contains(&"v4"),
                    new_member_id: format!("m{}", self.new_members),
                };
                let replies = self.group.join(join, self.now);
                self.absorb(replies);
            }
            "sync" => {
                let request = self.request(words[1]);
                let assignments = list(a.get("assign"))
                    .into_iter()
                    .map(|x| {
                        let (m, bytes) = x
                            .split_once(':')
                            .unwrap_or_else(|| panic!("{at}: assign is member:bytes"));
                        (m.to_owned(), Bytes::from(bytes.to_owned()))
                    })
                    .collect();
                let sync = Sync {
                    request,
                    member_id: member(&a),
                    instance_id: a.get("instance").cloned(),
                    generation: a.get("gen").map_or(-1, |g| g.parse().expect("gen")),
                    protocol_type: None,
                    protocol: None,
                    assignments,
                };
                let replies = self.group.sync(sync, self.now);
                self.absorb(replies);
            }
            "heartbeat" => {
                let generation = a.get("gen").map_or(-1, |g| g.parse().expect("gen"));
                let got =
                    self.group
                        .heartbeat(&member(&a), a.get("instance").map(String::as_str), generation, self.now);
                let want = error_code(words.last().copied().unwrap_or("NONE"));
                assert_eq!(got, want, "{at}: {line}");
            }
            "leave" => {
                let members: Vec<(String, Option<String>)> =
                    list(a.get("members")).into_iter().map(|m| (m, None)).collect();
                let (errors, replies) = self.group.leave(&members, self.now);
                self.absorb(replies);
                let want: Vec<ErrorCode> = list(a.get("errors")).iter().map(|e| error_code(e)).collect();
                assert_eq!(errors, want, "{at}: {line}");
            }
            "advance" => {
                self.now += words[1].parse::<u64>().expect("ms");
                let replies = self.group.tick(self.now);
                self.absorb(replies);
            }
            "expect" => self.expect(&words[1..], &a, line, at),
            other => panic!("{at}: unknown step `{other}`"),
        }
    }

    fn expect(&mut self, words: &[&str], a: &HashMap<String, String>, line: &str, at: &str) {
        match words[0] {
            "none" => assert_eq!(self.last_released, 0, "{at}: {line}"),
            "state" => {
                let want = GroupState::parse(words[1]).unwrap_or_else(|| panic!("{at}: unknown state"));
                assert_eq!(self.group.state, want, "{at}: {line}");
            }
            "pending" => {
                let id = self.ids[words[1]];
                assert!(
                    !self.released.contains_key(&id),
                    "{at}: {} was answered: {:?}",
                    words[1],
                    self.released.get(&id)
                );
            }
            "join" => {
                let id = self.ids[words[1]];
                let Some(Reply::Join(_, result)) = self.released.remove(&id) else {
                    panic!("{at}: no join answer for {}", words[1])
                };
                assert_eq!(
                    result.error,
                    error_code(a.get("error").map_or("NONE", String::as_str)),
                    "{at}: {line}"
                );
                if let Some(g) = a.get("gen") {
                    assert_eq!(result.generation.to_string(), *g, "{at}: generation");
                }
                if let Some(m) = a.get("member") {
                    assert_eq!(result.member_id, *m, "{at}: member id");
                }
                if let Some(l) = a.get("leader") {
                    assert_eq!(result.leader, *l, "{at}: leader");
                }
                if let Some(p) = a.get("protocol") {
                    assert_eq!(result.protocol.as_deref(), Some(p.as_str()), "{at}: protocol");
                }
                if a.contains_key("members") {
                    let got: Vec<String> = result
                        .members
                        .iter()
                        .map(|(id, _, meta)| format!("{id}:{}", String::from_utf8_lossy(meta)))
                        .collect();
                    let got_ids: Vec<String> = result.members.iter().map(|(id, _, _)| id.clone()).collect();
                    let want = list(a.get("members"));
                    assert!(got == want || got_ids == want, "{at}: members {got:?} != {want:?}");
                }
            }
            "sync" => {
                let id = self.ids[words[1]];
                let Some(Reply::Sync(_, result)) = self.released.remove(&id) else {
                    panic!("{at}: no sync answer for {}", words[1])
                };
                assert_eq!(
                    result.error,
                    error_code(a.get("error").map_or("NONE", String::as_str)),
                    "{at}: {line}"
                );
                if let Some(want) = a.get("assignment") {
                    assert_eq!(result.assignment, Bytes::from(want.clone()), "{at}: assignment");
                }
            }
            other => panic!("{at}: unknown expectation `{other}`"),
        }
    }
}

#[test]
fn scenarios() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/group/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "scenario"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "scenario files found: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let delay = text
            .lines()
            .find_map(|l| l.strip_prefix("# initial-delay "))
            .map_or(3000, |d| d.trim().parse().expect("delay"));
        let mut runner = Runner {
            group: Group::new(
                "g",
                GroupTimings {
                    initial_rebalance_delay_ms: delay,
                },
            ),
            now: 0,
            ids: HashMap::new(),
            next_id: 0,
            released: HashMap::new(),
            last_released: 0,
            new_members: 0,
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.split(" #").next().unwrap_or_default().trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            runner.step(line, &format!("{}:{}", file.display(), n + 1));
        }
    }
}

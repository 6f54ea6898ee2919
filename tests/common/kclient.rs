//! Drives `tests/compat/kclient.py`, one command-line over kafka-python, confluent-kafka and
//! aiokafka that speaks JSON lines; see the script's docstring for the commands.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::records::{Features, Record, unhex};
use super::tools::{self, Output};
use super::verify::{Consumed, Delivery};

/// The script's own deadline for one command, in seconds.
const SCRIPT_TIMEOUT_S: u64 = 60;
/// The safety net around it.
const PROCESS_LIMIT: Duration = Duration::from_secs(SCRIPT_TIMEOUT_S + 30);

/// A Python client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    KafkaPython,
    Confluent,
    AioKafka,
}

impl Client {
    pub const ALL: [Client; 3] = [Client::KafkaPython, Client::Confluent, Client::AioKafka];

    /// The name `kclient.py --client` takes.
    pub fn name(self) -> &'static str {
        match self {
            Client::KafkaPython => "kafka-python",
            Client::Confluent => "confluent",
            Client::AioKafka => "aiokafka",
        }
    }

    /// What the client can send.
    pub fn features(self) -> Features {
        match self {
            // KafkaProducer.send() insists on (str, bytes) header tuples.
            Client::KafkaPython => Features {
                null_header_values: false,
                ..Features::ALL
            },
            Client::Confluent | Client::AioKafka => Features::ALL,
        }
    }

    /// The next client, for rotations (each producer read by another client).
    pub fn next(self) -> Client {
        let i = Client::ALL.iter().position(|c| *c == self).expect("listed");
        Client::ALL[(i + 1) % Client::ALL.len()]
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error line of the script: `{"error": KIND, "detail": ..., "elapsed_ms": ...}`.
#[derive(Debug)]
pub struct ScriptError {
    pub kind: String,
    pub detail: String,
    pub elapsed: Duration,
}

/// One client talking to one broker.
#[derive(Debug, Clone)]
pub struct KClient {
    pub client: Client,
    bootstrap: String,
}

impl KClient {
    pub fn new(client: Client, bootstrap: &str) -> Self {
        Self {
            client,
            bootstrap: bootstrap.to_owned(),
        }
    }

    /// Runs one script command; returns the process and its JSON lines.
    pub async fn run(&self, args: &[&str], stdin: Option<Vec<u8>>) -> (Output, Vec<Value>) {
        let mut argv = vec![
            tools::kclient_script().display().to_string(),
            "--client".to_owned(),
            self.client.name().to_owned(),
            "--bootstrap".to_owned(),
            self.bootstrap.clone(),
            "--timeout".to_owned(),
            SCRIPT_TIMEOUT_S.to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let output = tools::run(&tools::python(), &argv, stdin, PROCESS_LIMIT).await;
        let text = String::from_utf8(output.stdout.clone())
            .unwrap_or_else(|e| panic!("`{}` printed non-UTF-8: {e}", output.command));
        let lines = text
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!(
                        "`{}` printed a non-JSON line {l:?}: {e}\nstderr:\n{}",
                        output.command, output.stderr
                    )
                })
            })
            .collect();
        (output, lines)
    }

    /// Runs a command that must succeed; returns its JSON lines.
    pub async fn run_ok(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Vec<Value> {
        let (output, lines) = self.run(args, stdin).await;
        if let Some(e) = lines.iter().find(|l| l.get("error").is_some()) {
            panic!(
                "{}: `{}` failed: {e}\nstderr:\n{}",
                self.client, output.command, output.stderr
            );
        }
        output.assert_success(self.client.name());
        lines
    }

    /// Runs a command that must fail; returns its error line.
    pub async fn run_err(&self, args: &[&str], stdin: Option<Vec<u8>>) -> ScriptError {
        let (output, lines) = self.run(args, stdin).await;
        assert!(
            !output.status.success(),
            "{}: `{}` succeeded but should have failed; it printed {lines:?}",
            self.client,
            output.command
        );
        let e = lines.iter().find(|l| l.get("error").is_some()).unwrap_or_else(|| {
            panic!(
                "{}: `{}` failed without an error line ({})\nstderr:\n{}",
                self.client, output.command, output.status, output.stderr
            )
        });
        ScriptError {
            kind: e["error"].as_str().expect("error kind").to_owned(),
            detail: e["detail"].as_str().unwrap_or_default().to_owned(),
            elapsed: Duration::from_millis(e["elapsed_ms"].as_u64().unwrap_or_default()),
        }
    }

    /// Creates a topic through the client's admin API.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        self.run_ok(
            &[
                "create-topic",
                "--topic",
                topic,
                "--partitions",
                &partitions.to_string(),
            ],
            None,
        )
        .await;
    }

    /// Every topic the client sees, with its partition ids.
    pub async fn list_topics(&self) -> BTreeMap<String, Vec<i32>> {
        self.run_ok(&["list-topics"], None)
            .await
            .iter()
            .map(|l| {
                let parts = l["partitions"].as_array().expect("partitions");
                let parts = parts.iter().map(|p| p.as_i64().expect("partition id") as i32).collect();
                (l["topic"].as_str().expect("topic").to_owned(), parts)
            })
            .collect()
    }

    /// Produces `records` in order (`extra`: produce options such as `--compression gzip`);
    /// returns the delivery reports in the same order.
    pub async fn produce(&self, topic: &str, records: &[Record], extra: &[&str]) -> Vec<Delivery> {
        let mut args = vec!["produce", "--topic", topic];
        args.extend_from_slice(extra);
        let lines = self.run_ok(&args, Some(produce_input(records))).await;
        lines
            .iter()
            .map(|l| Delivery {
                partition: l["partition"].as_i64().expect("partition") as i32,
                offset: l["offset"].as_i64().expect("offset"),
                timestamp: l["timestamp"].as_i64().expect("timestamp"),
            })
            .collect()
    }

    /// Produces `records`, expecting the whole command to fail; returns why.
    pub async fn produce_err(&self, topic: &str, records: &[Record], extra: &[&str]) -> ScriptError {
        let mut args = vec!["produce", "--topic", topic];
        args.extend_from_slice(extra);
        self.run_err(&args, Some(produce_input(records))).await
    }

    /// Consumes by assignment (`extra`: consume options such as `--count 5` or `--start 0:3`);
    /// without `--count`, reads every partition to the end it had when the consumer started.
    pub async fn consume(&self, topic: &str, extra: &[&str]) -> Vec<Consumed> {
        let mut args = vec!["consume", "--topic", topic];
        args.extend_from_slice(extra);
        self.run_ok(&args, None).await.iter().map(consumed_from_json).collect()
    }

    /// ListOffsets through the client: `spec` is earliest, latest, max-timestamp or a timestamp
    /// in ms. Returns partition → (offset, timestamp), `None` where the client found no offset.
    pub async fn list_offsets(&self, topic: &str, spec: &str) -> BTreeMap<i32, (Option<i64>, Option<i64>)> {
        self.run_ok(&["list-offsets", "--topic", topic, "--spec", spec], None)
            .await
            .iter()
            .map(|l| {
                let p = l["partition"].as_i64().expect("partition") as i32;
                (p, (l["offset"].as_i64(), l["timestamp"].as_i64()))
            })
            .collect()
    }
}

/// A group as DescribeGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    pub group: String,
    /// Kafka's name: Stable, Empty, PreparingRebalance, CompletingRebalance, Dead.
    pub state: Option<String>,
    pub protocol_type: Option<String>,
    /// The assignor the group chose.
    pub protocol: Option<String>,
    /// The group's error, as Kafka names it.
    pub error: Option<String>,
    pub members: Vec<GroupMemberDescription>,
}

/// One member in a [`GroupDescription`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    pub instance_id: Option<String>,
    pub assignment: BTreeSet<(String, i32)>,
}

/// A group as ListGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupListing {
    pub group: String,
    pub state: Option<String>,
    pub protocol_type: Option<String>,
}

impl KClient {
    /// DescribeGroups through the client's admin API (confluent, kafka-python).
    pub async fn describe_groups(&self, groups: &[&str]) -> Vec<GroupDescription> {
        let mut args = vec!["describe-groups"];
        for g in groups {
            args.extend(["--group", g]);
        }
        let text = |v: &Value| v.as_str().map(str::to_owned);
        self.run_ok(&args, None)
            .await
            .iter()
            .map(|l| GroupDescription {
                group: text(&l["group"]).expect("group"),
                state: text(&l["state"]),
                protocol_type: text(&l["protocol_type"]),
                protocol: text(&l["protocol"]),
                error: text(&l["group_error"]),
                members: l["members"]
                    .as_array()
                    .expect("members")
                    .iter()
                    .map(|m| GroupMemberDescription {
                        member_id: text(&m["member_id"]).expect("member_id"),
                        client_id: text(&m["client_id"]).expect("client_id"),
                        host: text(&m["host"]).expect("host"),
                        instance_id: text(&m["instance_id"]),
                        assignment: m["assignment"]
                            .as_array()
                            .expect("assignment")
                            .iter()
                            .map(|tp| (text(&tp[0]).expect("topic"), tp[1].as_i64().expect("partition") as i32))
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// The group named `group` in a DescribeGroups answer.
    pub async fn describe_group(&self, group: &str) -> GroupDescription {
        let mut found = self.describe_groups(&[group]).await;
        assert_eq!(
            found.len(),
            1,
            "{}: describe-groups {group} answered {found:?}",
            self.client
        );
        found.remove(0)
    }

    /// ListGroups through the client's admin API, by group id.
    pub async fn list_groups(&self) -> BTreeMap<String, GroupListing> {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        self.run_ok(&["list-groups"], None)
            .await
            .iter()
            .map(|l| {
                let listing = GroupListing {
                    group: text(&l["group"]).expect("group"),
                    state: text(&l["state"]),
                    protocol_type: text(&l["protocol_type"]),
                };
                (listing.group.clone(), listing)
            })
            .collect()
    }

    /// The committed offsets of a group (OffsetFetch for all its partitions).
    pub async fn group_offsets(&self, group: &str) -> BTreeMap<(String, i32), i64> {
        self.run_ok(&["group-offsets", "--group", group], None)
            .await
            .iter()
            .map(|l| {
                let tp = (
                    l["topic"].as_str().expect("topic").to_owned(),
                    l["partition"].as_i64().expect("partition") as i32,
                );
                (tp, l["offset"].as_i64().expect("offset"))
            })
            .collect()
    }

    /// DeleteGroups: each group's error (Kafka's name), `None` for success.
    pub async fn delete_groups(&self, groups: &[&str]) -> BTreeMap<String, Option<String>> {
        let mut args = vec!["delete-groups"];
        for g in groups {
            args.extend(["--group", g]);
        }
        self.run_ok(&args, None)
            .await
            .iter()
            .map(|l| {
                (
                    l["group"].as_str().expect("group").to_owned(),
                    l["group_error"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }
}

fn produce_input(records: &[Record]) -> Vec<u8> {
    let mut input = String::new();
    for r in records {
        input.push_str(&r.to_json_line());
        input.push('\n');
    }
    input.into_bytes()
}

fn bytes_field(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(unhex)
}

fn consumed_from_json(l: &Value) -> Consumed {
    Consumed {
        phase: l["phase"].as_u64().expect("phase") as u32,
        partition: l["partition"].as_i64().expect("partition") as i32,
        offset: l["offset"].as_i64().expect("offset"),
        key: bytes_field(&l["key"]),
        value: bytes_field(&l["value"]),
        headers: l["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|h| (h[0].as_str().expect("header name").to_owned(), bytes_field(&h[1])))
            .collect(),
        timestamp: l["timestamp"].as_i64().unwrap_or(-1),
        timestamp_type: l["timestamp_type"].as_str().unwrap_or("none").to_owned(),
    }
}

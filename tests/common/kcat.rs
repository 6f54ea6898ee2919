//! Drives kcat (Debian's 1.7.1 on librdkafka 2.0.2): binary-safe produce through delimiters
//! that never occur in the records, and a consume format that prints key and value lengths.

use std::time::Duration;

use serde_json::Value;

use super::records::{Features, Record, generate, now_ms};
use super::tools::{self, Output};
use super::verify::{Consumed, Timestamps};

/// Ends each message on kcat's stdin (`-D`; kcat decodes the `\xNN` escapes).
pub const MESSAGE_DELIMITER: &[u8] = b"\x01\x02\x03<end-of-message>\x03\x02\x01";
const MESSAGE_DELIMITER_ARG: &str = r"\x01\x02\x03<end-of-message>\x03\x02\x01";
/// Separates key and value (`-K`); a message without it has a null key.
pub const KEY_DELIMITER: &[u8] = b"\x04<key>\x04";
const KEY_DELIMITER_ARG: &str = r"\x04<key>\x04";
/// One header line with partition, offset, timestamp, key length, value length (-1 for null)
/// and headers as `n=v,...`; then the raw key and value, and a newline.
const CONSUME_FORMAT: &str = r"%p %o %T %K %S %h\n%k%s\n";
/// kcat's own metadata timeout (-m), seconds.
const METADATA_TIMEOUT_S: &str = "10";
/// The safety net around one kcat run.
const PROCESS_LIMIT: Duration = Duration::from_secs(90);

/// How to produce with kcat.
#[derive(Debug, Default, Clone)]
pub struct ProduceOptions<'a> {
    /// `-z`: gzip, snappy, lz4 or zstd.
    pub compression: Option<&'a str>,
    /// `-H`: the same headers on every record; `None` value gives `-H name` (a null value).
    pub headers: Vec<(&'a str, Option<&'a str>)>,
    /// `-Z`: send an empty key or value as null.
    pub empty_as_null: bool,
    /// `-p`: all records to this partition.
    pub partition: Option<i32>,
    /// `-X prop=value` settings.
    pub config: Vec<String>,
}

/// kcat against one broker.
#[derive(Debug, Clone)]
pub struct Kcat {
    bootstrap: String,
}

impl Kcat {
    pub fn new(bootstrap: &str) -> Self {
        Self {
            bootstrap: bootstrap.to_owned(),
        }
    }

    /// Runs `kcat -b <bootstrap> -m 10 args...`.
    pub async fn run(&self, args: &[String], stdin: Option<Vec<u8>>) -> Output {
        let mut argv = vec![
            "-b".to_owned(),
            self.bootstrap.clone(),
            "-m".to_owned(),
            METADATA_TIMEOUT_S.to_owned(),
        ];
        argv.extend_from_slice(args);
        tools::run(&tools::kcat(), &argv, stdin, PROCESS_LIMIT).await
    }

    /// The records as headers of `options` would give them back: the headers kcat adds.
    pub fn with_headers(records: &[Record], options: &ProduceOptions<'_>) -> Vec<Record> {
        let headers: Vec<(String, Option<Vec<u8>>)> = options
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.map(|v| v.as_bytes().to_vec())))
            .collect();
        records
            .iter()
            .map(|r| Record {
                headers: headers.clone(),
                ..r.clone()
            })
            .collect()
    }

    /// The `kcat -P` run for `records` (keys, values; headers and timestamps come from kcat):
    /// returns the process output, successful or not.
    pub async fn produce_run(&self, topic: &str, records: &[Record], options: &ProduceOptions<'_>) -> Output {
        let mut input = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let value = match (&r.value, options.empty_as_null) {
                (Some(v), _) => v.as_slice(),
                (None, true) => &[],
                (None, false) => panic!("record {i}: kcat sends a null value only with -Z"),
            };
            assert!(
                !contains(value, MESSAGE_DELIMITER) && !contains(value, KEY_DELIMITER),
                "record {i}: value contains a kcat delimiter"
            );
            match &r.key {
                Some(k) => {
                    assert!(
                        !options.empty_as_null || !k.is_empty(),
                        "record {i}: -Z sends an empty key as null"
                    );
                    assert!(!contains(k, KEY_DELIMITER) && !contains(k, MESSAGE_DELIMITER));
                    input.extend_from_slice(k);
                    input.extend_from_slice(KEY_DELIMITER);
                }
                None if options.empty_as_null => input.extend_from_slice(KEY_DELIMITER),
                None => assert!(
                    !value.is_empty(),
                    "record {i}: kcat skips an empty message (null key, empty value)"
                ),
            }
            input.extend_from_slice(value);
            input.extend_from_slice(MESSAGE_DELIMITER);
        }
        let mut args: Vec<String> = vec![
            "-P".into(),
            "-t".into(),
            topic.into(),
            "-D".into(),
            MESSAGE_DELIMITER_ARG.into(),
            "-K".into(),
            KEY_DELIMITER_ARG.into(),
        ];
        if let Some(z) = options.compression {
            args.extend(["-z".into(), z.into()]);
        }
        for (name, value) in &options.headers {
            args.push("-H".into());
            args.push(match value {
                Some(v) => format!("{name}={v}"),
                None => name.to_string(),
            });
        }
        if options.empty_as_null {
            args.push("-Z".into());
        }
        if let Some(p) = options.partition {
            args.extend(["-p".into(), p.to_string()]);
        }
        for c in &options.config {
            args.extend(["-X".into(), c.clone()]);
        }
        self.run(&args, Some(input)).await
    }

    /// Produces with kcat and asserts it reported every delivery successful.
    pub async fn produce(&self, topic: &str, records: &[Record], options: &ProduceOptions<'_>) {
        let output = self.produce_run(topic, records, options).await;
        output.assert_success("kcat -P");
        assert!(
            !output.stderr.contains("ERROR"),
            "kcat -P exited 0 but reported errors:\n{}",
            output.stderr
        );
    }

    /// `kcat -C -e -q -f <format> extra...`: consumes until the end of every partition (kcat's
    /// `-e` stops at each partition's end offset, which the broker must report right). By
    /// default from the beginning; `extra` may add `-p`, `-o`, `-c`.
    pub async fn consume(&self, topic: &str, extra: &[&str]) -> Vec<Consumed> {
        let mut args: Vec<String> = vec![
            "-C".into(),
            "-t".into(),
            topic.into(),
            "-e".into(),
            "-q".into(),
            "-f".into(),
            CONSUME_FORMAT.into(),
            "-X".into(),
            "check.crcs=true".into(),
        ];
        if !extra.contains(&"-o") {
            args.extend(["-o".into(), "beginning".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let output = self.run(&args, None).await;
        output.assert_success("kcat -C -e");
        parse_consumed(&output.stdout).unwrap_or_else(|e| panic!("`{}`: cannot parse its output: {e}", output.command))
    }

    /// `kcat -L -J`: the cluster metadata as JSON.
    pub async fn metadata_json(&self, topic: Option<&str>) -> Value {
        let mut args: Vec<String> = vec!["-L".into(), "-J".into()];
        if let Some(t) = topic {
            args.extend(["-t".into(), t.into()]);
        }
        let output = self.run(&args, None).await;
        output.assert_success("kcat -L -J");
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("kcat -L -J printed bad JSON: {e}"))
    }

    /// `kcat -L`: the metadata as text.
    pub async fn metadata_text(&self) -> String {
        let output = self.run(&["-L".into()], None).await;
        output.assert_success("kcat -L");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kcat -Q -t topic:p:ts ...`: partition → offset (-1 when no record is that late).
    pub async fn query(&self, topic: &str, queries: &[(i32, i64)]) -> Vec<(i32, i64)> {
        let mut args: Vec<String> = vec!["-Q".into()];
        for (p, ts) in queries {
            args.extend(["-t".into(), format!("{topic}:{p}:{ts}")]);
        }
        let output = self.run(&args, None).await;
        output.assert_success("kcat -Q");
        // "<topic> [<partition>] offset <offset>" per partition.
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                let rest = line
                    .strip_prefix(&format!("{topic} ["))
                    .unwrap_or_else(|| panic!("kcat -Q printed {line:?}"));
                let (p, rest) = rest
                    .split_once("] offset ")
                    .unwrap_or_else(|| panic!("kcat -Q printed {line:?}"));
                (
                    p.parse().expect("partition"),
                    rest.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("kcat -Q printed {line:?}")),
                )
            })
            .collect()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Parses `CONSUME_FORMAT` output.
fn parse_consumed(mut out: &[u8]) -> Result<Vec<Consumed>, String> {
    let mut records = Vec::new();
    while !out.is_empty() {
        let eol = out
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("header line without newline")?;
        let line = std::str::from_utf8(&out[..eol]).map_err(|e| format!("header line not UTF-8: {e}"))?;
        out = &out[eol + 1..];
        let mut fields = line.splitn(6, ' ');
        let mut number = |what: &str| -> Result<i64, String> {
            let f = fields.next().ok_or(format!("{line:?}: no {what}"))?;
            f.parse().map_err(|e| format!("{line:?}: {what} {f:?}: {e}"))
        };
        let partition = number("partition")? as i32;
        let offset = number("offset")?;
        let timestamp = number("timestamp")?;
        let key_len = number("key length")?;
        let value_len = number("value length")?;
        let headers = parse_headers(fields.next().unwrap_or(""));
        let mut take = |len: i64| -> Result<Option<Vec<u8>>, String> {
            if len < 0 {
                return Ok(None);
            }
            let len = len as usize;
            if out.len() < len {
                return Err(format!("{line:?}: {len} bytes announced, {} left", out.len()));
            }
            let (bytes, rest) = out.split_at(len);
            out = rest;
            Ok(Some(bytes.to_vec()))
        };
        let key = take(key_len)?;
        let value = take(value_len)?;
        if out.first() != Some(&b'\n') {
            return Err(format!("{line:?}: no newline after the value"));
        }
        out = &out[1..];
        records.push(Consumed {
            phase: 0,
            partition,
            offset,
            key,
            value,
            headers,
            timestamp,
            timestamp_type: "create".to_owned(),
        });
    }
    Ok(records)
}

/// kcat's `%h`: `name=value` joined by `,`; a null value prints as `NULL`.
fn parse_headers(s: &str) -> Vec<(String, Option<Vec<u8>>)> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',')
        .map(|h| {
            let (name, value) = h.split_once('=').unwrap_or((h, ""));
            let value = if value == "NULL" {
                None
            } else {
                Some(value.as_bytes().to_vec())
            };
            (name.to_owned(), value)
        })
        .collect()
}

/// What kcat can send: null keys (a message without the key delimiter), text header values
/// (`-H name=value`, one set for every record); null values only with `-Z`.
pub const FEATURES: Features = Features {
    null_keys: true,
    null_values: false,
    null_header_values: true,
    binary_header_values: false,
};

/// The headers every kcat-produced record carries: a repeated name, an empty and a null value,
/// a non-ASCII name.
pub fn headers() -> Vec<(&'static str, Option<&'static str>)> {
    vec![
        ("trace", Some("kcat")),
        ("dup", Some("1")),
        ("dup", Some("2")),
        ("empty", Some("")),
        ("null", None),
        ("ключ", Some("значение")),
    ]
}

/// Records for kcat: no timestamps (kcat stamps them).
pub fn records(n: usize, tag: &str, options: &ProduceOptions<'_>) -> Vec<Record> {
    let records: Vec<Record> = generate(n, tag, FEATURES, 0)
        .into_iter()
        .map(|r| Record { timestamp: None, ..r })
        .collect();
    Kcat::with_headers(&records, options)
}

/// Produces with kcat; returns the CreateTime bounds of the run.
pub async fn produce_timed(kcat: &Kcat, topic: &str, records: &[Record], options: &ProduceOptions<'_>) -> Timestamps {
    let before = now_ms();
    kcat.produce(topic, records, options).await;
    Timestamps::Within(before - 1, now_ms() + 1)
}

//! The records the compatibility tests produce, generated deterministically, and their JSON form
//! in `kclient.py`'s interface (bytes as lowercase hex, null as null).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// One record as a client sends it (or as it came back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// CreateTime in ms; `None` lets the client stamp it.
    pub timestamp: Option<i64>,
    /// Explicit partition; `None` leaves it to the client's partitioner.
    pub partition: Option<i32>,
}

impl Record {
    /// The stdin line `kclient.py produce` reads.
    pub fn to_json_line(&self) -> String {
        let headers: Vec<Value> = self
            .headers
            .iter()
            .map(|(name, value)| json!([name, value.as_deref().map(hex)]))
            .collect();
        json!({
            "key": self.key.as_deref().map(hex),
            "value": self.value.as_deref().map(hex),
            "headers": headers,
            "timestamp": self.timestamp,
            "partition": self.partition,
        })
        .to_string()
    }
}

/// What a client can send; the generator leaves out what it cannot.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// Records without a key.
    pub null_keys: bool,
    /// Records without a value (tombstones).
    pub null_values: bool,
    /// Headers whose value is null (kafka-python's `send` refuses them).
    pub null_header_values: bool,
    /// Header values with any bytes; otherwise printable ASCII without `,` `=` (kcat prints
    /// headers as `name=value,...`, which only round-trips such text).
    pub binary_header_values: bool,
}

impl Features {
    pub const ALL: Features = Features {
        null_keys: true,
        null_values: true,
        null_header_values: true,
        binary_header_values: true,
    };
}

/// A CreateTime base for generated records: an hour ago, in whole seconds, so that records are
/// neither in the future nor old enough for retention (7 days) to touch.
pub fn base_timestamp() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    (now - 3_600_000) / 1000 * 1000
}

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// `n` records: keyed (a few with binary keys, with repeats so that keys share partitions),
/// binary values whose bytes cover 0..=255 (record 0 holds every byte value, and each value
/// starts with its index so that every (key, value) pair is unique), empty values, null keys
/// and null values (never both) where `features` allow, 0 to 4 headers (including a repeated name, an empty
/// value, a non-ASCII name and a null value where allowed) and distinct increasing timestamps
/// `base_ts + 10 * i`.
pub fn generate(n: usize, tag: &str, features: Features, base_ts: i64) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let key = if features.null_keys && i % 10 == 3 {
                None
            } else if i % 7 == 0 {
                Some(vec![0x00, 0xff, (i % 256) as u8, b'\n', 0x80])
            } else if i % 10 == 3 {
                Some(format!("{tag}-unique-{i}").into_bytes())
            } else {
                Some(format!("{tag}-key-{:02}", i % 37).into_bytes())
            };
            // Never both null: kafka-python and aiokafka refuse such a record.
            let value = if features.null_values && i % 97 == 11 && key.is_some() {
                None
            } else if i % 100 == 5 {
                Some(Vec::new())
            } else {
                let mut v = format!("{tag}#{i:05}|").into_bytes();
                let len = if i % 50 == 0 { 256 } else { (i * 37) % 300 };
                v.extend((0..len).map(|j| ((i * 31 + j) % 256) as u8));
                Some(v)
            };
            let header_value = |binary: &[u8], text: &str| {
                Some(if features.binary_header_values {
                    binary.to_vec()
                } else {
                    text.as_bytes().to_vec()
                })
            };
            let headers = match i % 4 {
                0 => Vec::new(),
                1 => vec![
                    ("trace".to_owned(), Some(format!("id-{i}").into_bytes())),
                    ("dup".to_owned(), Some(b"first".to_vec())),
                    ("dup".to_owned(), Some(b"second".to_vec())),
                ],
                2 => vec![
                    (
                        "bin".to_owned(),
                        header_value(&[0, 1, 0xfe, 0xff, (i % 256) as u8], "b1n"),
                    ),
                    (
                        "maybe-null".to_owned(),
                        if features.null_header_values {
                            None
                        } else {
                            Some(b"not-null".to_vec())
                        },
                    ),
                    ("ключ".to_owned(), Some("значение".as_bytes().to_vec())),
                ],
                _ => vec![
                    ("empty".to_owned(), Some(Vec::new())),
                    ("dup".to_owned(), Some(b"x".to_vec())),
                    ("other".to_owned(), header_value(b"y\xc3\x28", "y")),
                    ("dup".to_owned(), Some(b"z".to_vec())),
                ],
            };
            Record {
                key,
                value,
                headers,
                timestamp: Some(base_ts + 10 * i as i64),
                partition: None,
            }
        })
        .collect()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The bytes of a hex string; panics on bad input (it comes from our own script).
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex string {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}")))
        .collect()
}

/// A byte string for failure messages: its length and (a prefix of) its hex.
pub fn show(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".to_owned(),
        Some(b) if b.len() <= 24 => format!("{} bytes {}", b.len(), hex(b)),
        Some(b) => format!("{} bytes {}...", b.len(), hex(&b[..24])),
    }
}

//! The acceptance checks: what a producer sent is what every consumer reads, byte for byte, in
//! produce order per partition, at offsets contiguous from 0, each record exactly once.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::records::{Record, show};

/// Where the broker put a record, as the producer's delivery report says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

/// A record as a consumer printed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumed {
    /// 0 for the first read, 1 for the read after a seek.
    pub phase: u32,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
    /// "create" or "log_append".
    pub timestamp_type: String,
}

/// What consumed timestamps must be.
#[derive(Clone, Copy, Debug)]
pub enum Timestamps {
    /// Exactly the timestamp each record was produced with.
    Exact,
    /// Stamped by the producer (kcat cannot set them): CreateTime within these bounds, in ms.
    Within(i64, i64),
}

/// Failure lines collected before one panic, so that a broken run shows more than its first
/// mismatch.
#[derive(Default)]
struct Problems {
    lines: Vec<String>,
    total: usize,
}

impl Problems {
    fn add(&mut self, line: String) {
        self.total += 1;
        if self.lines.len() < 15 {
            self.lines.push(line);
        }
    }

    fn finish(self, context: &str) {
        if self.total == 0 {
            return;
        }
        let mut msg = format!("{context}: {} problem(s)", self.total);
        for line in &self.lines {
            let _ = write!(msg, "\n  - {line}");
        }
        if self.total > self.lines.len() {
            let _ = write!(msg, "\n  ... and {} more", self.total - self.lines.len());
        }
        panic!("{msg}");
    }
}

/// A record's key and value, which identify it when there are no delivery reports.
type KeyAndValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Checks a produce → consume round trip.
///
/// `deliveries` are the producer's reports, in produce order; without them (kcat reports none)
/// each consumed record is matched to the produced one with the same (key, value), which must
/// then be unique. `partitions` is the topic's partition count.
pub fn verify_round_trip(
    context: &str,
    produced: &[Record],
    deliveries: Option<&[Delivery]>,
    consumed: &[Consumed],
    partitions: i32,
    timestamps: Timestamps,
) {
    let mut problems = Problems::default();
    let consumed: Vec<&Consumed> = consumed.iter().filter(|c| c.phase == 0).collect();

    // Where each produced record went: (partition, offset), by produce index.
    let placement: Vec<Option<(i32, i64)>> = match deliveries {
        Some(deliveries) => {
            assert_eq!(
                deliveries.len(),
                produced.len(),
                "{context}: {} delivery reports for {} records",
                deliveries.len(),
                produced.len()
            );
            for (i, (d, r)) in deliveries.iter().zip(produced).enumerate() {
                if let Some(p) = r.partition {
                    if d.partition != p {
                        problems.add(format!(
                            "record {i} was sent to partition {p} but delivered to {}",
                            d.partition
                        ));
                    }
                }
                if let (Timestamps::Exact, Some(ts)) = (timestamps, r.timestamp) {
                    if d.timestamp != ts {
                        problems.add(format!(
                            "record {i}: delivery report timestamp {} != sent {ts}",
                            d.timestamp
                        ));
                    }
                }
            }
            deliveries.iter().map(|d| Some((d.partition, d.offset))).collect()
        }
        None => {
            let mut by_content: HashMap<KeyAndValue<'_>, usize> = HashMap::new();
            for (i, r) in produced.iter().enumerate() {
                let previous = by_content.insert((r.key.as_deref(), r.value.as_deref()), i);
                assert!(
                    previous.is_none(),
                    "{context}: records {previous:?} and {i} have the same key and value; the test needs them unique"
                );
            }
            let mut placement = vec![None; produced.len()];
            for c in &consumed {
                match by_content.get(&(c.key.as_deref(), c.value.as_deref())) {
                    Some(&i) if placement[i].is_none() => placement[i] = Some((c.partition, c.offset)),
                    Some(&i) => problems.add(format!(
                        "record {i} read twice: at {}:{} and {}:{}",
                        placement[i].expect("set").0,
                        placement[i].expect("set").1,
                        c.partition,
                        c.offset
                    )),
                    None => problems.add(format!(
                        "{}:{} was never produced: key {}, value {}",
                        c.partition,
                        c.offset,
                        show(c.key.as_deref()),
                        show(c.value.as_deref())
                    )),
                }
            }
            for (i, p) in placement.iter().enumerate() {
                if p.is_none() {
                    problems.add(format!("record {i} was never read"));
                }
            }
            placement
        }
    };

    // Per partition: offsets 0..n, in produce order.
    let mut by_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for (i, p) in placement.iter().enumerate() {
        if let Some((partition, offset)) = *p {
            if !(0..partitions).contains(&partition) {
                problems.add(format!(
                    "record {i} is in partition {partition} of a {partitions}-partition topic"
                ));
            }
            by_partition.entry(partition).or_default().push((offset, i));
        }
    }
    for (partition, entries) in &mut by_partition {
        entries.sort();
        for (n, (offset, i)) in entries.iter().enumerate() {
            if *offset != n as i64 {
                problems.add(format!(
                    "partition {partition}: record {i} is at offset {offset}, expected {n} (offsets contiguous from 0)"
                ));
                break;
            }
        }
        for pair in entries.windows(2) {
            if pair[0].1 > pair[1].1 {
                problems.add(format!(
                    "partition {partition}: record {} (offset {}) was produced after record {} (offset {})",
                    pair[0].1, pair[0].0, pair[1].1, pair[1].0
                ));
            }
        }
    }
    let index_of: HashMap<(i32, i64), usize> = placement
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (p, i)))
        .collect();

    // What the consumer read: every record once, in offset order per partition, byte-exact.
    if consumed.len() != produced.len() {
        problems.add(format!(
            "consumed {} records, produced {}",
            consumed.len(),
            produced.len()
        ));
    }
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for c in &consumed {
        let expected = next.entry(c.partition).or_insert(0);
        if c.offset != *expected {
            problems.add(format!(
                "partition {}: consumer read offset {} where {} was next",
                c.partition, c.offset, expected
            ));
        }
        *expected = c.offset + 1;
        let Some(&i) = index_of.get(&(c.partition, c.offset)) else {
            problems.add(format!("{}:{} holds a record nobody produced", c.partition, c.offset));
            continue;
        };
        let r = &produced[i];
        let at = format!("record {i} at {}:{}", c.partition, c.offset);
        if c.key != r.key {
            problems.add(format!(
                "{at}: key {} != produced {}",
                show(c.key.as_deref()),
                show(r.key.as_deref())
            ));
        }
        if c.value != r.value {
            problems.add(format!(
                "{at}: value {} != produced {}",
                show(c.value.as_deref()),
                show(r.value.as_deref())
            ));
        }
        if c.headers != r.headers {
            problems.add(format!("{at}: headers {:?} != produced {:?}", c.headers, r.headers));
        }
        let expected_ts = match (timestamps, r.timestamp, deliveries) {
            (Timestamps::Exact, Some(ts), _) => Some(ts),
            (Timestamps::Exact, None, Some(d)) => Some(d[i].timestamp),
            _ => None,
        };
        match (expected_ts, timestamps) {
            (Some(ts), _) if c.timestamp != ts => problems.add(format!("{at}: timestamp {} != {ts}", c.timestamp)),
            (None, Timestamps::Within(lo, hi)) if !(lo..=hi).contains(&c.timestamp) => problems.add(format!(
                "{at}: timestamp {} is not a CreateTime of the produce run ({lo}..={hi})",
                c.timestamp
            )),
            _ => {}
        }
        if c.timestamp_type != "create" {
            problems.add(format!("{at}: timestamp type {} != create", c.timestamp_type));
        }
    }
    problems.finish(context);
}

/// Checks that `consumed` are exactly `expected` (same order), comparing partition, offset, key,
/// value, headers and timestamp.
pub fn assert_same_records(context: &str, consumed: &[Consumed], expected: &[Consumed]) {
    let mut problems = Problems::default();
    if consumed.len() != expected.len() {
        problems.add(format!("read {} records, expected {}", consumed.len(), expected.len()));
    }
    for (n, (c, e)) in consumed.iter().zip(expected).enumerate() {
        let same = (c.partition, c.offset, &c.key, &c.value, &c.headers, c.timestamp)
            == (e.partition, e.offset, &e.key, &e.value, &e.headers, e.timestamp);
        if !same {
            problems.add(format!(
                "#{n}: read {}:{} key {} value {} ts {}, expected {}:{} key {} value {} ts {}",
                c.partition,
                c.offset,
                show(c.key.as_deref()),
                show(c.value.as_deref()),
                c.timestamp,
                e.partition,
                e.offset,
                show(e.key.as_deref()),
                show(e.value.as_deref()),
                e.timestamp
            ));
        }
    }
    problems.finish(context);
}

/// The compression codec (attributes & 7: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd) of every
/// batch stored for `topic`, read from its log segments `<data_dir>/<topic>-<p>/*.log`.
pub fn stored_codecs(data_dir: &std::path::Path, topic: &str) -> Vec<u8> {
    let mut codecs = Vec::new();
    let prefix = format!("{topic}-");
    for dir in std::fs::read_dir(data_dir).expect("read data dir") {
        let dir = dir.expect("data dir entry").path();
        let name = dir.file_name().expect("name").to_string_lossy().into_owned();
        let is_partition = name
            .strip_prefix(&prefix)
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !is_partition {
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("read partition dir") {
            let file = file.expect("partition dir entry").path();
            if file.extension().is_none_or(|e| e != "log") {
                continue;
            }
            let bytes = std::fs::read(&file).expect("read segment");
            // RecordBatch v2: baseOffset i64, batchLength i32 (bytes after this field), ...,
            // magic at 16, attributes i16 at 21.
            let mut pos = 0;
            while pos + 23 <= bytes.len() {
                let length = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().expect("4 bytes"));
                if length <= 0 {
                    break;
                }
                assert_eq!(
                    bytes[pos + 16],
                    2,
                    "{}: batch at byte {pos} is not magic 2",
                    file.display()
                );
                let attributes = i16::from_be_bytes(bytes[pos + 21..pos + 23].try_into().expect("2 bytes"));
                codecs.push((attributes & 7) as u8);
                pos += 12 + length as usize;
            }
        }
    }
    codecs
}

/// Checks the stored batch codecs of a topic produced with `codec`: every batch uses it, or is
/// uncompressed (clients send a batch uncompressed when compressing does not shrink it), and at
/// least one batch uses it. Returns what is wrong.
pub fn check_codecs(codecs: &[u8], codec: &str) -> Result<(), String> {
    let id = codec_id(codec);
    if codecs.iter().any(|&c| c != id && c != 0) {
        return Err(format!("{codec}: batches with another codec: {codecs:?}"));
    }
    if !codecs.contains(&id) {
        return Err(format!("{codec}: no batch is {codec} (id {id}): {codecs:?}"));
    }
    Ok(())
}

/// Kafka's codec id of a `compression.type` name.
pub fn codec_id(name: &str) -> u8 {
    match name {
        "none" => 0,
        "gzip" => 1,
        "snappy" => 2,
        "lz4" => 3,
        "zstd" => 4,
        other => panic!("unknown codec {other}"),
    }
}

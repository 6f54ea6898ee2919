use rill_client::protocol::batch::{BatchHeader, validate};
use rill_client::protocol::builder::{NewRecord, ProducerStamp, build_batch};

use super::*;

const CONFIG: IndexConfig = IndexConfig {
    interval_bytes: 100,
    max_index_bytes: 1 << 20,
};

fn batch(count: usize, ts: i64) -> Vec<u8> {
    let records: Vec<_> = (0..count)
        .map(|i| NewRecord {
            value: Some(vec![7; 50]),
            timestamp: ts + i as i64,
            ..Default::default()
        })
        .collect();
    build_batch(&records, ProducerStamp::NONE)
}

fn append(segment: &mut Segment, wire: &[u8], base_offset: i64) -> BatchHeader {
    let header = BatchHeader {
        base_offset,
        ..BatchHeader::parse(wire).expect("parse")
    };
    let mut prefix = wire[..16].to_vec();
    prefix[..8].copy_from_slice(&base_offset.to_be_bytes());
    segment.append(&header, &prefix, &wire[16..]).expect("append");
    header
}

#[test]
fn append_find_and_read_back() {
    let dir = tempfile::tempdir().expect("dir");
    let mut segment = Segment::create(dir.path(), 0, CONFIG, 0).expect("create");
    let mut offset = 0;
    for i in 0..20 {
        let wire = batch(3, 1000 + i * 10);
        let h = append(&mut segment, &wire, offset);
        offset = h.next_offset();
    }
    assert_eq!(segment.next_offset(), 60);
    assert_eq!(segment.max_timestamp(), 1000 + 19 * 10 + 2);
    let (pos, header) = segment.find_batch(31).expect("io").expect("found");
    assert_eq!(header.base_offset, 30);
    let bytes = segment.read_batch(pos, &header).expect("read");
    let stored = validate(&bytes).expect("stored batch is valid").header;
    assert_eq!(stored.base_offset, 30);
    assert!(segment.find_batch(60).expect("io").is_none());
}

#[test]
fn recovery_truncates_a_torn_tail_and_rebuilds_indexes() {
    let dir = tempfile::tempdir().expect("dir");
    let mut segment = Segment::create(dir.path(), 0, CONFIG, 0).expect("create");
    let mut offset = 0;
    for _ in 0..10 {
        offset = append(&mut segment, &batch(2, 5), offset).next_offset();
    }
    let good_size = segment.size();
    segment.flush(true).expect("flush");
    // A torn write: half a batch after the good ones.
    let torn = batch(2, 5);
    let path = segment.path().to_owned();
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(&path, &bytes).expect("write");
    drop(segment);
    let (mut reopened, _) = Segment::open(dir.path(), 0, CONFIG, 0).expect("open");
    let recovered = reopened.recover(1 << 20).expect("recover");
    assert_eq!(recovered.batches, 10);
    assert_eq!(recovered.truncated_bytes, (torn.len() / 2) as u64);
    assert_eq!(reopened.size(), good_size);
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), good_size);
    assert_eq!(reopened.next_offset(), 20);
    assert_eq!(reopened.find_batch(13).expect("io").expect("found").1.base_offset, 12);
    // Appending after recovery continues at the right place.
    append(&mut reopened, &batch(1, 5), 20);
    assert_eq!(reopened.next_offset(), 21);
}

#[test]
fn recovery_stops_at_a_corrupt_batch() {
    let dir = tempfile::tempdir().expect("dir");
    let mut segment = Segment::create(dir.path(), 0, CONFIG, 0).expect("create");
    let first = batch(2, 5);
    append(&mut segment, &first, 0);
    append(&mut segment, &batch(2, 5), 2);
    let path = segment.path().to_owned();
    drop(segment);
    let mut bytes = std::fs::read(&path).expect("read");
    let flip = first.len() + 70;
    bytes[flip] ^= 0x55;
    std::fs::write(&path, &bytes).expect("write");
    let (mut reopened, _) = Segment::open(dir.path(), 0, CONFIG, 0).expect("open");
    let recovered = reopened.recover(1 << 20).expect("recover");
    assert_eq!(recovered.batches, 1);
    assert!(recovered.reason.expect("reason").contains("CRC"));
    assert_eq!(reopened.next_offset(), 2);
}

#[test]
fn clean_open_uses_indexes_and_agrees_with_recovery() {
    let dir = tempfile::tempdir().expect("dir");
    let mut segment = Segment::create(dir.path(), 100, CONFIG, 0).expect("create");
    let mut offset = 100;
    for i in 0..30 {
        offset = append(&mut segment, &batch(4, 10 * i), offset).next_offset();
    }
    segment.flush(true).expect("flush");
    let expected = (
        segment.next_offset(),
        segment.max_timestamp(),
        segment.offset_of_max_timestamp(),
    );
    drop(segment);
    let (opened, indexes_ok) = Segment::open(dir.path(), 100, CONFIG, 0).expect("open");
    assert!(indexes_ok);
    assert_eq!(
        (
            opened.next_offset(),
            opened.max_timestamp(),
            opened.offset_of_max_timestamp()
        ),
        expected
    );
    assert_eq!(opened.find_batch(150).expect("io").expect("found").1.base_offset, 148);
}

#[test]
fn a_missing_or_bad_index_is_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let mut segment = Segment::create(dir.path(), 0, CONFIG, 0).expect("create");
    for i in 0..5 {
        append(&mut segment, &batch(1, 0), i);
    }
    segment.flush(true).expect("flush");
    drop(segment);
    std::fs::write(dir.path().join("00000000000000000000.index"), [0xff; 16]).expect("write");
    let (_, indexes_ok) = Segment::open(dir.path(), 0, CONFIG, 0).expect("open");
    assert!(!indexes_ok);
}

#[test]
fn roll_conditions() {
    let dir = tempfile::tempdir().expect("dir");
    let mut segment = Segment::create(dir.path(), 0, CONFIG, 0).expect("create");
    assert!(
        !segment.should_roll(10_000, 0, 0, 1024, 1000, 0),
        "an empty segment never rolls"
    );
    append(&mut segment, &batch(1, 5000), 0);
    assert!(segment.should_roll(2000, 1, 5000, 1024, 1000, 0), "size");
    assert!(!segment.should_roll(10, 1, 5900, 1 << 20, 1000, 0));
    assert!(
        segment.should_roll(10, 1, 6001, 1 << 20, 1000, 0),
        "record time past segment.ms"
    );
}

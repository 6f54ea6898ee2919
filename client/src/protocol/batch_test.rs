use bytes::BytesMut;
use kafka_protocol::records::{
    Compression as KpCompression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType as KpTs,
};

use super::*;
use crate::protocol::builder::{NewRecord, ProducerStamp, build_batch};

fn sample(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            key: if i % 3 == 0 {
                None
            } else {
                Some(format!("key-{i}").into_bytes())
            },
            value: if i == 4 { None } else { Some(vec![i as u8; i * 7]) },
            headers: vec![(b"h".to_vec(), Some(vec![i as u8])), (b"h".to_vec(), None)],
            timestamp: 1_700_000_000_000 + i as i64 * 10,
        })
        .collect()
}

#[test]
fn built_batch_validates_and_reads_back() {
    let records = sample(6);
    let stamp = ProducerStamp {
        producer_id: 7,
        producer_epoch: 2,
        base_sequence: 40,
    };
    let batch = build_batch(&records, stamp);
    let valid = validate(&batch).expect("valid");
    let h = valid.header;
    assert_eq!(
        (h.records_count, h.last_offset_delta, h.producer_id, h.base_sequence),
        (6, 5, 7, 40)
    );
    assert_eq!(h.last_sequence(), 45);
    assert_eq!(h.max_timestamp, 1_700_000_000_050);
    assert_eq!(valid.has_null_key, Some(true));
    let read: Vec<_> = records_of(&batch);
    for (view, want) in read.iter().zip(&records) {
        assert_eq!(view.key, want.key.as_deref());
        assert_eq!(view.value, want.value.as_deref());
        let headers = view.headers().expect("headers");
        assert_eq!(
            headers,
            vec![
                (&b"h"[..], Some(&want.headers[0].1.as_ref().expect("v")[..])),
                (&b"h"[..], None)
            ]
        );
    }
}

fn records_of(batch: &[u8]) -> Vec<RecordView<'_>> {
    records(&batch[HEADER_LEN..])
        .collect::<Result<_, _>>()
        .expect("records")
}

#[test]
fn matches_kafka_protocol_encoder_byte_for_byte() {
    // kafka-protocol keeps headers in a map (duplicates merge) and splits multi-record batches
    // without sequences into one batch per record, so compare single-record, single-header batches.
    for r in sample(4) {
        let single = NewRecord {
            headers: vec![r.headers[0].clone()],
            ..r
        };
        let ours = build_batch(std::slice::from_ref(&single), ProducerStamp::NONE);
        let theirs = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: KpTs::Creation,
            offset: 0,
            sequence: -1,
            timestamp: single.timestamp,
            key: single.key.clone().map(Into::into),
            value: single.value.clone().map(Into::into),
            headers: single
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8(k.clone()).expect("utf8").into(),
                        v.clone().map(Into::into),
                    )
                })
                .collect(),
        };
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: KpCompression::None,
        };
        RecordBatchEncoder::encode(&mut buf, [&theirs], &options).expect("encode");
        assert_eq!(&buf[..], &ours[..]);
    }
}

#[test]
fn compressed_batches_validate_and_decompress_to_the_same_records() {
    use crate::protocol::builder::build_compressed_batch;
    use crate::protocol::compression::record_area;
    let records = sample(20);
    let plain = build_batch(&records, ProducerStamp::NONE);
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let packed = build_compressed_batch(&records, ProducerStamp::NONE, codec).expect("compress");
        let header = validate(&packed).expect("valid").header;
        assert_eq!((header.compression(), header.records_count), (Ok(codec), 20));
        let area = record_area(&packed, &header, 1 << 20).expect("decompress");
        assert_eq!(&area[..], &plain[HEADER_LEN..], "{codec:?}");
    }
}

#[test]
fn corrupt_crc_is_rejected() {
    let mut batch = build_batch(&sample(2), ProducerStamp::NONE);
    let last = batch.len() - 1;
    batch[last] ^= 0xff;
    assert!(matches!(validate(&batch), Err(BatchError::CrcMismatch { .. })));
}

#[test]
fn base_offset_rewrite_keeps_crc_valid() {
    let mut batch = build_batch(&sample(2), ProducerStamp::NONE);
    set_base_offset(&mut batch, 1234);
    set_partition_leader_epoch(&mut batch, 9);
    let h = validate(&batch).expect("valid").header;
    assert_eq!(
        (h.base_offset, h.partition_leader_epoch, h.last_offset()),
        (1234, 9, 1235)
    );
}

#[test]
fn log_append_time_rewrites_crc() {
    let mut batch = build_batch(&sample(2), ProducerStamp::NONE);
    set_log_append_time(&mut batch, 42);
    let h = validate(&batch).expect("valid").header;
    assert_eq!(
        (h.timestamp_type(), h.max_timestamp),
        (TimestampType::LogAppendTime, 42)
    );
}

#[test]
fn truncation_and_bad_fields_are_errors_not_panics() {
    let batch = build_batch(&sample(3), ProducerStamp::NONE);
    for cut in 0..batch.len() {
        assert!(validate(&batch[..cut]).is_err(), "cut at {cut}");
    }
    let mut wrong_magic = batch.clone();
    wrong_magic[16] = 1;
    assert_eq!(validate(&wrong_magic), Err(BatchError::UnsupportedMagic { magic: 1 }));
    let mut wrong_count = batch.clone();
    wrong_count[57..61].copy_from_slice(&5i32.to_be_bytes());
    let crc = crc32c::crc32c(&wrong_count[21..]);
    wrong_count[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(validate(&wrong_count), Err(BatchError::CountMismatch { .. })));
}

#[test]
fn forged_record_count_does_not_allocate_or_panic() {
    let mut batch = build_batch(&sample(1), ProducerStamp::NONE);
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    batch[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(validate(&batch), Err(BatchError::BadRecord { index: 1, .. })));
}

#[test]
fn batch_iter_stops_at_partial_tail() {
    let a = build_batch(&sample(2), ProducerStamp::NONE);
    let b = build_batch(&sample(3), ProducerStamp::NONE);
    let mut set = a.clone();
    set.extend_from_slice(&b[..b.len() - 5]);
    let mut iter = batches(&set);
    let first = iter.next().expect("one").expect("ok");
    assert_eq!(first.range, 0..a.len());
    assert!(iter.next().is_none());
    assert_eq!(iter.rest(), a.len());
}

#[test]
fn sequence_wraps() {
    let mut h = BatchHeader::parse(&build_batch(&sample(3), ProducerStamp::NONE)).expect("parse");
    h.base_sequence = i32::MAX - 1;
    assert_eq!(h.last_sequence(), 0);
}

/// Keeps the records of `batch` at the given indexes, as a log cleaner does.
fn thin(batch: &[u8], keep: &[usize], codec: Compression, base_timestamp: i64) -> Vec<u8> {
    use crate::protocol::builder::{put_record, rebuild_batch};
    use crate::protocol::compression::record_area;
    let header = validate(batch).expect("valid").header;
    let area = record_area(batch, &header, 1 << 20).expect("area");
    let all: Vec<_> = records(&area).collect::<Result<_, _>>().expect("records");
    let mut out = Vec::new();
    for &i in keep {
        let absolute = header.base_timestamp + all[i].timestamp_delta;
        put_record(&mut out, &all[i], absolute - base_timestamp);
    }
    let template = BatchHeader {
        base_timestamp,
        attributes: if base_timestamp == header.base_timestamp {
            header.attributes
        } else {
            header.attributes | DELETE_HORIZON_BIT
        },
        ..header
    };
    rebuild_batch(&template, codec, &out, keep.len() as i32).expect("rebuild")
}

#[test]
fn a_thinned_batch_keeps_its_header_and_passes_only_stored_validation() {
    let stamp = ProducerStamp {
        producer_id: 3,
        producer_epoch: 1,
        base_sequence: 10,
    };
    let mut batch = build_batch(&sample(6), stamp);
    set_base_offset(&mut batch, 100);
    let original = validate(&batch).expect("valid").header;
    let thinned = thin(&batch, &[1, 4, 5], Compression::None, original.base_timestamp);
    assert!(matches!(
        validate(&thinned),
        Err(BatchError::CountMismatch { .. }) | Err(BatchError::BadRecord { .. })
    ));
    let header = validate_stored(&thinned).expect("stored batch is valid").header;
    assert_eq!(
        header,
        BatchHeader {
            batch_length: header.batch_length,
            crc: header.crc,
            records_count: 3,
            ..original
        }
    );
    let deltas: Vec<i32> = records_of(&thinned).iter().map(|r| r.offset_delta).collect();
    assert_eq!(deltas, [1, 4, 5]);
    assert_eq!(header.delete_horizon_ms(), None);
}

#[test]
fn stored_validation_rejects_disordered_or_overflowing_deltas() {
    let batch = build_batch(&sample(3), ProducerStamp::NONE);
    // Records 2 then 0: deltas go backwards.
    let backwards = thin(&batch, &[2, 0], Compression::None, 1_700_000_000_000);
    assert!(matches!(
        validate_stored(&backwards),
        Err(BatchError::BadRecord {
            index: 1,
            reason: RecordError::OffsetDeltaOrder { .. }
        })
    ));
    // More records than the offset range holds.
    let mut crowded = build_batch(&sample(3), ProducerStamp::NONE);
    crowded[23..27].copy_from_slice(&1i32.to_be_bytes());
    let crc = crc32c::crc32c(&crowded[21..]);
    crowded[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        validate_stored(&crowded),
        Err(BatchError::CountMismatch { .. })
    ));
}

#[test]
fn a_delete_horizon_rebases_timestamps_and_recompresses() {
    use crate::protocol::builder::build_compressed_batch;
    use crate::protocol::compression::record_area;
    let records = sample(5);
    for codec in [
        Compression::Gzip,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Snappy,
    ] {
        let packed = build_compressed_batch(&records, ProducerStamp::NONE, codec).expect("compress");
        let horizon = 1_800_000_000_000;
        let thinned = thin(&packed, &[0, 3], codec, horizon);
        let header = validate_stored(&thinned).expect("valid").header;
        assert_eq!(header.compression(), Ok(codec));
        assert_eq!(header.delete_horizon_ms(), Some(horizon));
        let area = record_area(&thinned, &header, 1 << 20).expect("area");
        let kept: Vec<_> = super::records(&area).collect::<Result<_, _>>().expect("records");
        let timestamps: Vec<i64> = kept.iter().map(|r| header.base_timestamp + r.timestamp_delta).collect();
        assert_eq!(timestamps, [records[0].timestamp, records[3].timestamp]);
        assert_eq!(kept[1].value, records[3].value.as_deref());
    }
}

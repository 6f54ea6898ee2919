use bytes::{BufMut, Bytes, BytesMut};

use super::protocol::{encode_assignment_at, encode_subscription_at};
use super::testing::tps;
use super::*;
use crate::ClientError;

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(i16::try_from(s.len()).expect("short string"));
    buf.put_slice(s.as_bytes());
}

fn source(err: ClientError) -> ConsumerProtocolError {
    match err {
        ClientError::ConsumerProtocol { source, .. } => source,
        other => panic!("expected a consumer protocol error, got {other:?}"),
    }
}

#[test]
fn subscription_round_trips_at_every_version() {
    let topics = vec!["b".to_owned(), "a".to_owned(), "b".to_owned()];
    let owned = tps(&[("b", 1), ("a", 2), ("b", 0), ("a", 2)]);
    let user_data = Some(Bytes::from_static(b"\x00\x00\x00\x09"));
    for version in 0..=CONSUMER_PROTOCOL_VERSION {
        let bytes =
            encode_subscription_at(version, &topics, &owned, 9, user_data.clone(), Some("rack-1")).expect("encodes");
        assert_eq!(bytes[..2], version.to_be_bytes(), "version {version}");
        let got = decode_subscription("m-1", Some("i-1"), &bytes).expect("decodes");
        assert_eq!(got.member_id, "m-1");
        assert_eq!(got.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(got.topics, vec!["a", "b"], "sorted and deduplicated, version {version}");
        assert_eq!(got.user_data, user_data);
        let expected_owned = if version >= 1 {
            tps(&[("a", 2), ("b", 0), ("b", 1)])
        } else {
            Vec::new()
        };
        assert_eq!(got.owned, expected_owned, "version {version}");
        assert_eq!(got.generation, if version >= 2 { 9 } else { -1 }, "version {version}");
        assert_eq!(
            got.rack.as_deref(),
            (version >= 3).then_some("rack-1"),
            "version {version}"
        );
    }
}

#[test]
fn subscription_is_written_at_version_3() {
    let bytes = encode_subscription(&["t".to_owned()], &[], -1, None, None).expect("encodes");
    assert_eq!(CONSUMER_PROTOCOL_VERSION, 3);
    assert_eq!(bytes[..2], [0, 3]);
}

#[test]
fn subscription_golden_bytes() {
    // Version 3: topics ["t"], null user data, owned [t: [0, 2]], generation 5, null rack.
    let bytes =
        encode_subscription(&["t".to_owned()], &tps(&[("t", 2), ("t", 0)]), 5, None, Some("")).expect("encodes");
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0, 3,                   // version
        0, 0, 0, 1, 0, 1, b't', // topics
        0xff, 0xff, 0xff, 0xff, // user data: null
        0, 0, 0, 1, 0, 1, b't', // owned partitions: one topic
        0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2,
        0, 0, 0, 5,             // generation
        0xff, 0xff,             // rack: null
    ];
    assert_eq!(&bytes[..], expected);
}

#[test]
fn subscription_of_a_future_version_decodes_its_known_prefix() {
    let mut buf = BytesMut::new();
    buf.put_i16(4);
    buf.put_i32(2);
    put_string(&mut buf, "orders");
    put_string(&mut buf, "payments");
    buf.put_i32(2);
    buf.put_slice(b"ud");
    buf.put_i32(1);
    put_string(&mut buf, "orders");
    buf.put_i32(2);
    buf.put_i32(3);
    buf.put_i32(1);
    buf.put_i32(42);
    put_string(&mut buf, "eu-west-1a");
    // Fields a version 4 might add: an int64 and a string.
    buf.put_i64(-7);
    put_string(&mut buf, "future");

    let got = decode_subscription("m", None, &buf).expect("decodes");
    assert_eq!(got.topics, vec!["orders", "payments"]);
    assert_eq!(got.user_data.as_deref(), Some(&b"ud"[..]));
    assert_eq!(got.owned, tps(&[("orders", 3), ("orders", 1)]));
    assert_eq!(got.generation, 42);
    assert_eq!(got.rack.as_deref(), Some("eu-west-1a"));
}

#[test]
fn version_0_subscription_as_old_clients_write_it() {
    // kafka-python and aiokafka write version 0; this one has empty user data.
    #[rustfmt::skip]
    let bytes: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 2, b't', b'1', 0, 0, 0, 0];
    let got = decode_subscription("m", None, bytes).expect("decodes");
    assert_eq!(got.topics, vec!["t1"]);
    assert_eq!(got.user_data.as_deref(), Some(&b""[..]));
    assert!(got.owned.is_empty());
    assert_eq!((got.generation, got.rack), (-1, None));
}

#[test]
fn empty_rack_reads_as_none() {
    let bytes = encode_subscription_at(3, &[], &[], 1, None, None).expect("encodes");
    assert_eq!(decode_subscription("m", None, &bytes).expect("decodes").rack, None);
    let mut buf = BytesMut::from(&bytes[..bytes.len() - 2]);
    put_string(&mut buf, "");
    assert_eq!(decode_subscription("m", None, &buf).expect("decodes").rack, None);
}

#[test]
fn malformed_subscriptions_are_errors_naming_the_member() {
    let err = decode_subscription("m-7", None, &[3]).expect_err("too short");
    assert!(err.to_string().contains("m-7"), "{err}");
    assert!(matches!(source(err), ConsumerProtocolError::MissingVersion { have: 1 }));

    let err = decode_subscription("m", None, &[0xff, 0xfe, 0, 0, 0, 0]).expect_err("negative version");
    assert!(matches!(source(err), ConsumerProtocolError::BadVersion { version: -2 }));

    let full = encode_subscription(&["topic".to_owned()], &tps(&[("topic", 1)]), 3, None, None).expect("encodes");
    for cut in 2..full.len() {
        let err = decode_subscription("m", None, &full[..cut]).expect_err("truncated");
        assert!(
            matches!(
                source(err),
                ConsumerProtocolError::Malformed {
                    version: 3,
                    read_as: 3,
                    ..
                }
            ),
            "cut at {cut}"
        );
    }

    let err = decode_subscription("m", None, &[0, 9, 0, 0]).expect_err("truncated future version");
    assert!(matches!(
        source(err),
        ConsumerProtocolError::Malformed {
            version: 9,
            read_as: 3,
            ..
        }
    ));
}

#[test]
fn overlong_topic_names_cannot_be_encoded() {
    let long = "x".repeat(40_000);
    let err = encode_subscription(std::slice::from_ref(&long), &[], -1, None, None).expect_err("too long");
    assert!(matches!(
        source(err),
        ConsumerProtocolError::Unencodable { version: 3, .. }
    ));
    let err = encode_assignment(&tps(&[(&long, 0)]), None).expect_err("too long");
    assert!(matches!(
        source(err),
        ConsumerProtocolError::Unencodable { version: 3, .. }
    ));
}

#[test]
fn assignment_round_trips_at_every_version() {
    let partitions = tps(&[("b", 0), ("a", 1), ("a", 0), ("b", 0)]);
    for version in 0..=CONSUMER_PROTOCOL_VERSION {
        for user_data in [None, Some(Bytes::from_static(b"x"))] {
            let bytes = encode_assignment_at(version, &partitions, user_data.clone()).expect("encodes");
            assert_eq!(bytes[..2], version.to_be_bytes());
            let (got, got_data) = decode_assignment(&bytes).expect("decodes");
            assert_eq!(got, tps(&[("a", 0), ("a", 1), ("b", 0)]), "version {version}");
            assert_eq!(got_data, user_data);
        }
    }
}

#[test]
fn assignment_golden_bytes_and_empty_payload() {
    let bytes = encode_assignment(&tps(&[("t", 1)]), None).expect("encodes");
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0, 3,
        0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 1,
        0xff, 0xff, 0xff, 0xff,
    ];
    assert_eq!(&bytes[..], expected);
    assert_eq!(decode_assignment(&[]).expect("empty"), (Vec::new(), None));
    let (none, _) = decode_assignment(&encode_assignment(&[], None).expect("encodes")).expect("decodes");
    assert!(none.is_empty());
}

#[test]
fn assignment_of_a_future_version_decodes_its_known_prefix() {
    let mut buf = BytesMut::new();
    buf.put_i16(5);
    buf.put_i32(1);
    put_string(&mut buf, "t");
    buf.put_i32(1);
    buf.put_i32(4);
    buf.put_i32(-1);
    buf.put_slice(b"trailing fields of version 5");
    let (got, data) = decode_assignment(&buf).expect("decodes");
    assert_eq!(got, tps(&[("t", 4)]));
    assert_eq!(data, None);

    let err = decode_assignment(&[0, 1, 0]).expect_err("truncated");
    assert!(err.to_string().contains("assignment"), "{err}");
    assert!(matches!(
        source(err),
        ConsumerProtocolError::Malformed { version: 1, .. }
    ));
}

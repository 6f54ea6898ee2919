//! The consumer embedded protocol: the `ConsumerProtocolSubscription` a member puts in JoinGroup's
//! protocol metadata, and the `ConsumerProtocolAssignment` the leader hands out in SyncGroup. On
//! the wire each is an `i16` version followed by the message encoded at that version.
//!
//! # Versions
//!
//! Both schemas are at version 3 (subscription: v1 added owned partitions, v2 the generation, v3
//! the rack; the assignment's layout never changed). They are not flexible: a new version only
//! appends fields, and Kafka's schemas promise that later versions never remove or reorder
//! fields. Every reader relies on that and reads the prefix it knows: Java's `ConsumerProtocol`
//! (2.4 and later) parses a newer version with its newest schema, Java 2.3 and earlier read
//! the version 0 fields and leave the rest of the buffer, librdkafka reads the fields whose
//! version gate it knows, and kafka-python and aiokafka decode a version 0 struct from the front.
//!
//! So this client writes [`CONSUMER_PROTOCOL_VERSION`] (3), like Java, for both payloads: every
//! reader parses it, and only version 2+ carries the generation that the cooperative-sticky
//! assignor needs to settle two members claiming the same partition (Java 3.4 and later read it
//! there; Java 2.4 to 3.3 read it from the assignor's user data, which this client's
//! cooperative-sticky assignor also sends). Writing an older version would gain no reader and lose
//! those fields. The decoders accept
//! versions 0 to 3 and, like Java, any higher version by reading its version 3 prefix.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::{ConsumerProtocolError, MemberSubscription, TopicPartition};
use crate::ClientError;

/// The version of both payloads this client writes, and the newest whose fields it reads.
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

const SUBSCRIPTION: &str = "subscription";
const ASSIGNMENT: &str = "assignment";

/// Encodes this member's subscription at [`CONSUMER_PROTOCOL_VERSION`]: its topics (sorted, as
/// Java sends them), the partitions it owns (grouped by topic), the generation they were assigned
/// in (-1 for none), the assignor's user data and `client.rack` (`None` or empty for none).
///
/// Fails only when a topic name is longer than the protocol's 32,767 bytes.
pub fn encode_subscription(
    topics: &[String],
    owned: &[TopicPartition],
    generation: i32,
    user_data: Option<Bytes>,
    rack: Option<&str>,
) -> Result<Bytes, ClientError> {
    encode_subscription_at(CONSUMER_PROTOCOL_VERSION, topics, owned, generation, user_data, rack)
}

/// [`encode_subscription`] at `version` (0..=3): fields newer than `version` are left out.
pub(crate) fn encode_subscription_at(
    version: i16,
    topics: &[String],
    owned: &[TopicPartition],
    generation: i32,
    user_data: Option<Bytes>,
    rack: Option<&str>,
) -> Result<Bytes, ClientError> {
    let mut topics = topics.to_vec();
    topics.sort();
    topics.dedup();
    let mut message = ConsumerProtocolSubscription::default()
        .with_topics(topics.into_iter().map(StrBytes::from_string).collect())
        .with_user_data(user_data);
    if version >= 1 {
        message = message.with_owned_partitions(
            grouped(owned)
                .into_iter()
                .map(|(topic, partitions)| {
                    OwnedTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    }
    if version >= 2 {
        message = message.with_generation_id(generation);
    }
    if version >= 3 {
        message = message.with_rack_id(
            rack.filter(|r| !r.is_empty())
                .map(|r| StrBytes::from_string(r.to_owned())),
        );
    }
    encode(SUBSCRIPTION, version, &message)
}

/// Decodes the subscription `member_id` (with `group_instance_id`, both from the JoinGroup
/// response) sent as its protocol metadata. Accepts versions 0 to 3 and any newer version, whose
/// version 3 fields are read and the rest ignored. Fields the version lacks take their defaults:
/// no owned partitions, generation -1, no rack.
pub fn decode_subscription(
    member_id: &str,
    group_instance_id: Option<&str>,
    metadata: &[u8],
) -> Result<MemberSubscription, ClientError> {
    let message: ConsumerProtocolSubscription = decode(SUBSCRIPTION, Some(member_id), metadata)?;
    Ok(MemberSubscription {
        member_id: member_id.to_owned(),
        group_instance_id: group_instance_id.map(str::to_owned),
        topics: message.topics.into_iter().map(|t| t.to_string()).collect(),
        owned: message
            .owned_partitions
            .into_iter()
            .flat_map(|owned| {
                let topic = owned.topic.0.to_string();
                owned
                    .partitions
                    .into_iter()
                    .map(move |p| TopicPartition::new(topic.clone(), p))
            })
            .collect(),
        generation: message.generation_id,
        rack: message.rack_id.map(|r| r.to_string()).filter(|r| !r.is_empty()),
        user_data: message.user_data,
    })
}

/// Encodes an assignment at [`CONSUMER_PROTOCOL_VERSION`], its partitions grouped by topic.
///
/// Fails only when a topic name is longer than the protocol's 32,767 bytes.
pub fn encode_assignment(partitions: &[TopicPartition], user_data: Option<Bytes>) -> Result<Bytes, ClientError> {
    encode_assignment_at(CONSUMER_PROTOCOL_VERSION, partitions, user_data)
}

/// [`encode_assignment`] at `version` (0..=3; the layout is the same at all of them).
pub(crate) fn encode_assignment_at(
    version: i16,
    partitions: &[TopicPartition],
    user_data: Option<Bytes>,
) -> Result<Bytes, ClientError> {
    let message = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            grouped(partitions)
                .into_iter()
                .map(|(topic, partitions)| {
                    AssignedTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_user_data(user_data);
    encode(ASSIGNMENT, version, &message)
}

/// Decodes a SyncGroup assignment into its partitions (in wire order) and user data. An empty
/// payload, which the coordinator sends a member the leader gave nothing, is an empty
/// assignment. Accepts versions 0 to 3 and any newer version, like
/// [`decode_subscription`].
pub fn decode_assignment(bytes: &[u8]) -> Result<(Vec<TopicPartition>, Option<Bytes>), ClientError> {
    if bytes.is_empty() {
        return Ok((Vec::new(), None));
    }
    let message: ConsumerProtocolAssignment = decode(ASSIGNMENT, None, bytes)?;
    let partitions = message
        .assigned_partitions
        .into_iter()
        .flat_map(|assigned| {
            let topic = assigned.topic.0.to_string();
            assigned
                .partitions
                .into_iter()
                .map(move |p| TopicPartition::new(topic.clone(), p))
        })
        .collect();
    Ok((partitions, message.user_data))
}

/// The version header and the body after it.
/// Decodes a versioned consumer-protocol message (`what`, from `member` if known), reading a
/// version newer than ours as ours, as Java does.
fn decode<M: Decodable>(what: &'static str, member: Option<&str>, bytes: &[u8]) -> Result<M, ClientError> {
    let fail = |source| ClientError::ConsumerProtocol {
        what,
        member: member.map(str::to_owned),
        source,
    };
    let (version, mut body) = split_version(bytes).map_err(fail)?;
    let read_as = version.min(CONSUMER_PROTOCOL_VERSION);
    M::decode(&mut body, read_as).map_err(|e| {
        fail(ConsumerProtocolError::Malformed {
            version,
            read_as,
            source: e.into(),
        })
    })
}

fn split_version(mut bytes: &[u8]) -> Result<(i16, &[u8]), ConsumerProtocolError> {
    if bytes.len() < 2 {
        return Err(ConsumerProtocolError::MissingVersion { have: bytes.len() });
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(ConsumerProtocolError::BadVersion { version });
    }
    Ok((version, bytes))
}

fn encode(what: &'static str, version: i16, message: &impl Encodable) -> Result<Bytes, ClientError> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .map_err(|e| ClientError::ConsumerProtocol {
            what,
            member: None,
            source: ConsumerProtocolError::Unencodable {
                version,
                source: e.into(),
            },
        })?;
    Ok(buf.freeze())
}

/// `partitions` sorted and grouped by topic.
fn grouped(partitions: &[TopicPartition]) -> Vec<(&str, Vec<i32>)> {
    let mut sorted: Vec<&TopicPartition> = partitions.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut groups: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in sorted {
        match groups.last_mut() {
            Some((topic, list)) if *topic == tp.topic => list.push(tp.partition),
            _ => groups.push((&tp.topic, vec![tp.partition])),
        }
    }
    groups
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

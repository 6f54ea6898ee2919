//! Consumer groups over the wire: the join/sync/heartbeat cycle, committed offsets (also across
//! a restart), ListGroups/DescribeGroups, DeleteGroups and OffsetDelete.

mod common;

use bytes::Bytes;
use common::{create_topic, s};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use rill_broker::testing::TestBroker;
use rill_client::Connection;

fn gid(g: &str) -> GroupId {
    GroupId(s(g))
}

async fn start() -> TestBroker {
    TestBroker::start_with(|c| {
        c.group_initial_rebalance_delay_ms = 0;
        c.offsets_topic_num_partitions = 3;
    })
    .await
    .expect("broker")
}

fn join_request(group: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"subscription")),
        ])
}

/// Joins a one-member group the v4+ way and syncs; returns (member id, generation).
async fn join_alone(conn: &mut Connection, group: &str) -> (String, i32) {
    let first = conn.send(7, &join_request(group, "")).await.expect("join");
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let member_id = first.member_id.to_string();
    assert!(member_id.starts_with("rill-test-"), "client id prefix: {member_id}");
    let joined = conn.send(7, &join_request(group, &member_id)).await.expect("join");
    assert_eq!(
        (joined.error_code, joined.generation_id, joined.leader.as_str()),
        (0, 1, member_id.as_str())
    );
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, Bytes::from_static(b"subscription"));
    let sync = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(1)
        .with_member_id(s(&member_id))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(s(&member_id))
                .with_assignment(Bytes::from_static(b"all")),
        ]);
    let synced = conn.send(5, &sync).await.expect("sync");
    assert_eq!(
        (synced.error_code, synced.assignment.clone()),
        (0, Bytes::from_static(b"all"))
    );
    (member_id, 1)
}

fn commit_request(
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(common::name(topic))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|(p, o)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(*o)
                                .with_committed_metadata(Some(s("meta")))
                        })
                        .collect(),
                ),
        ])
}

async fn fetch_offsets(conn: &mut Connection, group: &str, topic: &str, partitions: &[i32]) -> Vec<(i32, i64, String)> {
    let request = OffsetFetchRequest::default()
        .with_group_id(gid(group))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(common::name(topic))
                .with_partition_indexes(partitions.to_vec()),
        ]));
    let response = conn.send(7, &request).await.expect("offset fetch");
    response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.metadata.as_deref().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn join_sync_heartbeat_commit_and_fetch() {
    let broker = start().await;
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 2, &[]).await;
    let (member, generation) = join_alone(&mut conn, "g").await;
    let heartbeat = |generation| {
        HeartbeatRequest::default()
            .with_group_id(gid("g"))
            .with_generation_id(generation)
            .with_member_id(s(&member))
    };
    assert_eq!(conn.send(4, &heartbeat(generation)).await.expect("hb").error_code, 0);
    assert_eq!(
        conn.send(4, &heartbeat(9)).await.expect("hb").error_code,
        22,
        "ILLEGAL_GENERATION"
    );
    let response = conn
        .send(8, &commit_request("g", &member, generation, "t", &[(0, 5), (1, 7)]))
        .await
        .expect("commit");
    assert!(response.topics[0].partitions.iter().all(|p| p.error_code == 0));
    let response = conn
        .send(8, &commit_request("g", &member, 99, "t", &[(0, 6)]))
        .await
        .expect("commit");
    assert_eq!(
        response.topics[0].partitions[0].error_code, 22,
        "a stale generation cannot commit"
    );
    let response = conn
        .send(8, &commit_request("g", &member, generation, "nope", &[(0, 6)]))
        .await
        .expect("commit");
    assert_eq!(response.topics[0].partitions[0].error_code, 3);
    assert_eq!(
        fetch_offsets(&mut conn, "g", "t", &[0, 1]).await,
        vec![(0, 5, "meta".into()), (1, 7, "meta".into())]
    );
    assert_eq!(
        fetch_offsets(&mut conn, "other", "t", &[0]).await,
        vec![(0, -1, String::new())],
        "no commit: -1"
    );
}

#[tokio::test]
async fn standalone_commits_and_offsets_survive_a_restart() {
    let broker = start().await;
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 3, &[]).await;
    // An assign() consumer commits with generation -1 and no member id.
    let response = conn
        .send(8, &commit_request("solo", "", -1, "t", &[(0, 11), (2, 22)]))
        .await
        .expect("commit");
    assert!(response.topics[0].partitions.iter().all(|p| p.error_code == 0));
    let (member, generation) = join_alone(&mut conn, "member-group").await;
    conn.send(8, &commit_request("member-group", &member, generation, "t", &[(1, 33)]))
        .await
        .expect("commit");
    let temp = broker.stop().await.expect("stop").expect("temp");
    for clean in [true, false] {
        if !clean {
            std::fs::remove_file(temp.path().join(".rill_cleanshutdown")).expect("marker");
        }
        let broker = TestBroker::start_in(temp.path(), |c| {
            c.group_initial_rebalance_delay_ms = 0;
            c.offsets_topic_num_partitions = 3;
        })
        .await
        .expect("restart");
        let mut conn = common::connect(&broker).await;
        assert_eq!(
            fetch_offsets(&mut conn, "solo", "t", &[0, 1, 2]).await,
            vec![(0, 11, "meta".into()), (1, -1, String::new()), (2, 22, "meta".into())],
            "clean={clean}"
        );
        assert_eq!(
            fetch_offsets(&mut conn, "member-group", "t", &[1]).await,
            vec![(1, 33, "meta".into())]
        );
        // The stored group comes back with its member, which may heartbeat on.
        let hb = HeartbeatRequest::default()
            .with_group_id(gid("member-group"))
            .with_generation_id(generation)
            .with_member_id(s(&member));
        assert_eq!(conn.send(4, &hb).await.expect("hb").error_code, 0, "clean={clean}");
        broker.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn list_describe_delete_and_offset_delete() {
    let broker = start().await;
    let mut conn = common::connect(&broker).await;
    create_topic(&mut conn, "t", 1, &[]).await;
    let (member, generation) = join_alone(&mut conn, "busy").await;
    conn.send(8, &commit_request("idle", "", -1, "t", &[(0, 3)]))
        .await
        .expect("commit");
    let listed = conn.send(4, &ListGroupsRequest::default()).await.expect("list");
    let mut names: Vec<(String, String)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.0.to_string(), g.group_state.to_string()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![("busy".into(), "Stable".into()), ("idle".into(), "Empty".into())]
    );
    let only_stable = conn
        .send(4, &ListGroupsRequest::default().with_states_filter(vec![s("Stable")]))
        .await
        .expect("list");
    assert_eq!(only_stable.groups.len(), 1);

    let described = conn
        .send(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![gid("busy"), gid("ghost")]),
        )
        .await
        .expect("describe");
    let busy = &described.groups[0];
    assert_eq!(
        (
            busy.group_state.as_str(),
            busy.protocol_type.as_str(),
            busy.protocol_data.as_str()
        ),
        ("Stable", "consumer", "range")
    );
    assert_eq!(busy.members.len(), 1);
    assert_eq!(busy.members[0].member_id.as_str(), member);
    assert_eq!(busy.members[0].client_id.as_str(), "rill-test");
    assert_eq!(busy.members[0].client_host.as_str(), "/127.0.0.1");
    assert_eq!(busy.members[0].member_assignment, Bytes::from_static(b"all"));
    assert_eq!(
        described.groups[1].group_state.as_str(),
        "Dead",
        "an unknown group is Dead, as in Kafka"
    );

    let delete =
        |groups: &[&str]| DeleteGroupsRequest::default().with_groups_names(groups.iter().map(|g| gid(g)).collect());
    let results = conn
        .send(2, &delete(&["busy", "idle", "ghost"]))
        .await
        .expect("delete")
        .results;
    assert_eq!(
        results.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        vec![68, 0, 69]
    );
    assert_eq!(
        fetch_offsets(&mut conn, "idle", "t", &[0]).await[0].1,
        -1,
        "deleted with its offsets"
    );

    conn.send(8, &commit_request("busy", &member, generation, "t", &[(0, 9)]))
        .await
        .expect("commit");
    let offset_delete = OffsetDeleteRequest::default()
        .with_group_id(gid("busy"))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(common::name("t"))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ]);
    let response = conn.send(0, &offset_delete).await.expect("offset delete");
    assert_eq!(
        response.topics[0].partitions[0].error_code, 0,
        "the subscription bytes here are not a consumer subscription"
    );
    assert_eq!(fetch_offsets(&mut conn, "busy", "t", &[0]).await[0].1, -1);
    let leave = LeaveGroupRequest::default()
        .with_group_id(gid("busy"))
        .with_members(vec![
            leave_group_request::MemberIdentity::default().with_member_id(s(&member)),
        ]);
    assert_eq!(conn.send(5, &leave).await.expect("leave").members[0].error_code, 0);
    let described = conn
        .send(5, &DescribeGroupsRequest::default().with_groups(vec![gid("busy")]))
        .await
        .expect("describe");
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
}

#[tokio::test]
async fn a_session_that_expires_removes_the_member() {
    let broker = TestBroker::start_with(|c| {
        c.group_initial_rebalance_delay_ms = 0;
        c.group_min_session_timeout_ms = 100;
        c.offsets_topic_num_partitions = 1;
    })
    .await
    .expect("broker");
    let mut conn = common::connect(&broker).await;
    let mut request = join_request("g", "");
    request.session_timeout_ms = 200;
    let member = conn.send(7, &request).await.expect("join").member_id;
    request.member_id = member.clone();
    assert_eq!(conn.send(7, &request).await.expect("join").error_code, 0);
    // No heartbeats: the coordinator's timer removes the member and the group empties.
    common::eventually(std::time::Duration::from_secs(10), "session expiry", || {
        let addr = broker.addr();
        async move {
            let mut conn = Connection::connect(addr, "poll").await.ok()?;
            let described = conn
                .send(5, &DescribeGroupsRequest::default().with_groups(vec![gid("g")]))
                .await
                .ok()?;
            (described.groups[0].group_state.as_str() == "Empty").then_some(())
        }
    })
    .await;
    let hb = HeartbeatRequest::default()
        .with_group_id(gid("g"))
        .with_generation_id(1)
        .with_member_id(member);
    assert_eq!(conn.send(4, &hb).await.expect("hb").error_code, 25, "UNKNOWN_MEMBER_ID");
}

#[tokio::test]
async fn bad_session_timeouts_and_group_ids_are_refused() {
    let broker = start().await;
    let mut conn = common::connect(&broker).await;
    let mut request = join_request("g", "");
    request.session_timeout_ms = 10;
    assert_eq!(
        conn.send(7, &request).await.expect("join").error_code,
        26,
        "INVALID_SESSION_TIMEOUT"
    );
    let request = join_request("", "");
    assert_eq!(
        conn.send(7, &request).await.expect("join").error_code,
        24,
        "INVALID_GROUP_ID"
    );
}

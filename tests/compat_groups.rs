//! Consumer groups with real clients (issue 3): confluent-kafka (librdkafka), kafka-python,
//! aiokafka and kcat as group members against an in-process broker.
//!
//! Each member is a long-running process (`tests/compat/kclient.py group-consume`, or
//! `kcat -G`) that prints its rebalance callbacks, records and commits as they happen; the tests
//! wait on those events with deadlines (`common::members`). Members commit synchronously after
//! each poll batch, so delivery is at least once: a killed member's last records may be read
//! again by its successor; such duplicates are counted and printed, never lost records.
//!
//! `RUST_LOG=rill_broker=debug` shows the broker's log, `RILL_TEST_CLIENT_DEBUG=1` the clients'
//! group logs (both in the output of failing tests).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::events::{Events, RebalanceKind, Tp, offsets, restrict, show_tps};
use common::kclient::{Client, KClient};
use common::ledger::Ledger;
use common::members::{GroupConsume, Member, Observer};
use common::tools::init_tracing;
use rill_broker::config::BrokerConfig;
use rill_broker::testing::TestBroker;

const PARTITIONS: i32 = 4;
/// Session timeout of members that get killed, and their heartbeat interval: short, so that a
/// dead member is noticed quickly (the test broker allows sessions down to 1 s).
const SESSION_MS: u64 = 3000;
const HEARTBEAT_MS: u64 = 300;
/// Session timeout of static members, which restart within it.
const STATIC_SESSION_MS: u64 = 10_000;
/// The longest one step may take: members joining, a rebalance, reading what was produced.
const STEP: Duration = Duration::from_secs(30);
/// How long after the session timeout a survivor may take to own a dead member's partitions:
/// its next heartbeat learns of the rebalance, then it rejoins and syncs.
const TAKEOVER_SLACK: Duration = Duration::from_secs(5);
/// In the kill test, the member that dies reads up to this offset of its partitions...
const B_READS: i64 = 110;
/// ...and commits only up to this one.
const B_COMMITS: i64 = 100;

fn configure(c: &mut BrokerConfig) {
    c.num_partitions = PARTITIONS;
    // A new group's first rebalance does not wait 3 s for more members.
    c.group_initial_rebalance_delay_ms = 0;
    c.group_min_session_timeout_ms = 1000;
    // Fewer partitions of __consumer_offsets than Kafka's 50: faster to create, and still
    // several coordinators' worth of groups.
    c.offsets_topic_num_partitions = 5;
}

async fn start_broker() -> TestBroker {
    init_tracing();
    TestBroker::start_with(configure).await.expect("start the broker")
}

/// Creates a 4-partition topic.
async fn create_topic(bootstrap: &str, topic: &str) -> Ledger {
    KClient::new(Client::Confluent, bootstrap)
        .create_topic(topic, PARTITIONS)
        .await;
    Ledger::new(topic, PARTITIONS)
}

/// Partition counts of the members' assignments, largest first.
fn shares(events: &Events, members: &[&str]) -> Vec<usize> {
    let mut sizes: Vec<usize> = members.iter().map(|m| events.assignment(m).len()).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

/// Stops members gracefully; each must exit 0 after reporting that its consumer closed.
async fn stop_all(obs: &Observer, members: &mut [&mut Member]) {
    for m in members.iter_mut() {
        let status = m.stop().await;
        let events = obs.snapshot();
        if !status.success() || !events.closed(&m.name) {
            obs.fail(&format!("member {} did not close cleanly: {status}", m.name), &events);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Two members split a topic; one is killed and the other takes over from the committed offsets;
// a third and a fourth join; a second group reads everything too.

async fn split_kill_join_two_groups(client: Client) {
    let started = Instant::now();
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let producer = KClient::new(Client::Confluent, &bootstrap);
    let topic = format!("orders-{client}");
    let mut ledger = create_topic(&bootstrap, &topic).await;
    let all = ledger.all();
    ledger.produce(&producer, "first", 50).await;

    let obs = Observer::new();
    let spec = GroupConsume::new(client, &bootstrap, "g1", &topic)
        .session(SESSION_MS, HEARTBEAT_MS)
        .debug_from_env();
    let mut a = obs.spawn("a", &spec);
    // b reads up to offset B_READS of each partition but commits only up to B_COMMITS: when
    // it dies, B_READS - B_COMMITS records per partition were read and not committed.
    let mut b = obs.spawn("b", &spec.clone().limit(None, B_READS).commit_cap(None, B_COMMITS));

    // 1. Two members split the partitions and read everything once.
    let events = obs
        .expect("a and b split the partitions", STEP, |e| e.split(&["a", "b"], &all))
        .await;
    assert_eq!(
        shares(&events, &["a", "b"]),
        [2, 2],
        "{client}: a owns {}, b owns {}",
        show_tps(&events.assignment("a")),
        show_tps(&events.assignment("b"))
    );
    obs.expect("a and b read and commit every record", STEP, |e| {
        ledger.all_read(e, &["a", "b"]) && e.committed(&["a", "b"]) == ledger.ends()
    })
    .await;

    // 2. b dies (SIGKILL: no LeaveGroup, no commit) having read up to B_READS of its partitions
    // and committed up to B_COMMITS.
    ledger.produce(&producer, "second", 100).await;
    let b_owned = obs.snapshot().assignment("b");
    let a_owned = obs.snapshot().assignment("a");
    obs.expect(
        "a reads its partitions, b reads to its limit and commits to its cap",
        STEP,
        |e| {
            restrict(e.read_ends("b"), &b_owned) == offsets(&b_owned, B_READS)
                && restrict(e.committed(&["b"]), &b_owned) == offsets(&b_owned, B_COMMITS)
                && restrict(e.committed(&["a"]), &a_owned) == restrict(ledger.ends(), &a_owned)
        },
    )
    .await;
    let kill_at = Instant::now();
    b.kill().await;
    let committed = KClient::new(Client::Confluent, &bootstrap).group_offsets("g1").await;
    let mut expected = restrict(ledger.ends(), &a_owned);
    expected.extend(offsets(&b_owned, B_COMMITS));
    assert_eq!(committed, expected, "{client}: committed offsets after b was killed");

    let events = obs
        .expect(
            "a owns every partition after b was killed",
            Duration::from_millis(SESSION_MS) + TAKEOVER_SLACK,
            |e| e.assignment("a") == all,
        )
        .await;
    let takeover_index = events.last_rebalance_index("a").expect("a rebalanced");
    let takeover = events.all[takeover_index].at - kill_at;
    let events = obs
        .expect("a reads what b left", STEP, |e| ledger.all_read(e, &["a", "b"]))
        .await;

    // a resumed each of b's partitions exactly at the committed offset: b's last
    // B_READS - B_COMMITS records of each are read twice, nothing else.
    assert_eq!(
        events.first_reads_after("a", takeover_index),
        offsets(&b_owned, B_COMMITS),
        "{client}: a's first reads after taking over b's partitions"
    );
    let delivery = ledger.check(&events, &["a", "b"]);
    delivery.assert_complete(&format!("{client}: after b was killed"), &events);
    let expected_duplicates: BTreeMap<i32, Vec<i64>> = b_owned
        .iter()
        .map(|tp| (tp.1, (B_COMMITS..B_READS).collect()))
        .collect();
    assert_eq!(
        delivery.duplicates, expected_duplicates,
        "{client}: records read twice after b was killed"
    );
    eprintln!(
        "{client}: a owned all partitions {takeover:?} after b was killed (session timeout {SESSION_MS} ms); {}",
        delivery.describe_duplicates()
    );

    // 3. A third member joins (a rebalance: a gives up half), then a fourth: three live members
    // share the partitions.
    let mut c = obs.spawn("c", &spec);
    let events = obs
        .expect("a and c split the partitions", STEP, |e| e.split(&["a", "c"], &all))
        .await;
    assert_eq!(shares(&events, &["a", "c"]), [2, 2], "{client}: a and c");
    let before_d = events.all.len();
    let mut d = obs.spawn("d", &spec);
    let events = obs
        .expect("a, c and d share the partitions", STEP, |e| {
            e.split(&["a", "c", "d"], &all)
        })
        .await;
    assert_eq!(shares(&events, &["a", "c", "d"]), [2, 1, 1], "{client}: a, c and d");
    // Eager: both existing members gave up everything they owned.
    let given_up = events.given_up_since(before_d, &["a", "c"]);
    assert_eq!(given_up, all, "{client}: partitions a and c revoked when d joined");

    // 4. A second group reads every record too; g1 does not notice it.
    let g1_rebalances: Vec<usize> = ["a", "c", "d"].iter().map(|m| events.rebalances(m).count()).collect();
    let mut e = obs.spawn("e", &spec.clone().group("g2"));
    ledger.produce(&producer, "third", 25).await;
    let events = obs
        .expect("g1 and g2 each read and commit every record", STEP, |ev| {
            ledger.all_read(ev, &["a", "b", "c", "d"])
                && ledger.all_read(ev, &["e"])
                && ev.committed(&["a", "b", "c", "d"]) == ledger.ends()
                && ev.committed(&["e"]) == ledger.ends()
        })
        .await;
    let now: Vec<usize> = ["a", "c", "d"].iter().map(|m| events.rebalances(m).count()).collect();
    assert_eq!(now, g1_rebalances, "{client}: g2's member made g1's members rebalance");
    let g2 = ledger.check(&events, &["e"]);
    g2.assert_complete(&format!("{client}: group g2"), &events);
    assert!(
        g2.duplicates.is_empty(),
        "{client}: g2's only member read records twice: {g2:?}"
    );
    ledger
        .check(&events, &["a", "b", "c", "d"])
        .assert_complete(&format!("{client}: group g1"), &events);

    stop_all(&obs, &mut [&mut a, &mut c, &mut d, &mut e]).await;
    obs.show(&format!("{client} split/kill/join"));
    let admin = KClient::new(client, &bootstrap);
    for g in ["g1", "g2"] {
        assert_eq!(
            admin.group_offsets(g).await,
            ledger.ends(),
            "{client}: committed offsets of {g}"
        );
        assert_eq!(
            admin.describe_group(g).await.state.as_deref(),
            Some("Empty"),
            "{client}: {g} after every member left"
        );
    }
    broker.stop().await.expect("stop the broker");
    eprintln!("{client}: split/kill/join/two groups took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_members_split_take_over_from_committed_offsets_and_rebalance() {
    split_kill_join_two_groups(Client::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_members_split_take_over_from_committed_offsets_and_rebalance() {
    split_kill_join_two_groups(Client::KafkaPython).await;
}

// ---------------------------------------------------------------------------------------------
// cooperative-sticky: partitions move one by one, the others are never revoked.

/// Every callback of every member is incremental: an assignment adds partitions the member did
/// not own, a revocation removes partitions it did.
fn assert_incremental(client: Client, obs: &Observer, events: &Events, members: &[&str]) {
    for m in members {
        let mut owned: BTreeSet<Tp> = BTreeSet::new();
        for (_, r) in events.rebalances(m) {
            let ok = r.incremental
                && match r.kind {
                    RebalanceKind::Assigned => r.partitions.is_disjoint(&owned),
                    RebalanceKind::Revoked | RebalanceKind::Lost => r.partitions.is_subset(&owned),
                };
            if !ok {
                obs.fail(
                    &format!(
                        "{client}: member {m} got a non-incremental {:?} of {} while owning {}",
                        r.kind,
                        show_tps(&r.partitions),
                        show_tps(&owned)
                    ),
                    events,
                );
            }
            match r.kind {
                RebalanceKind::Assigned => owned.extend(r.partitions.iter().cloned()),
                _ => owned.retain(|tp| !r.partitions.contains(tp)),
            }
        }
    }
}

async fn cooperative_sticky(client: Client) {
    let started = Instant::now();
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let producer = KClient::new(Client::Confluent, &bootstrap);
    let topic = format!("coop-{client}");
    let mut ledger = create_topic(&bootstrap, &topic).await;
    let all = ledger.all();
    ledger.produce(&producer, "first", 30).await;

    let obs = Observer::new();
    let spec = GroupConsume::new(client, &bootstrap, "coop", &topic)
        .session(SESSION_MS, HEARTBEAT_MS)
        .strategy("cooperative-sticky")
        .max_poll_records(5)
        .debug_from_env();
    let mut a = obs.spawn("a", &spec);
    obs.expect("a owns every partition", STEP, |e| e.assignment("a") == all)
        .await;

    // b joins: exactly two partitions move from a to b.
    let from = obs.snapshot().all.len();
    let mut b = obs.spawn("b", &spec);
    let events = obs
        .expect("a and b split the partitions", STEP, |e| e.split(&["a", "b"], &all))
        .await;
    let moved = events.given_up_since(from, &["a"]);
    assert_eq!(
        moved,
        events.assignment("b"),
        "{client}: b joining moved exactly b's partitions from a"
    );
    assert_eq!(moved.len(), 2, "{client}: b joining");

    // c joins: one partition moves.
    let from = events.all.len();
    let mut c = obs.spawn("c", &spec);
    let events = obs
        .expect("a, b and c share the partitions", STEP, |e| {
            e.split(&["a", "b", "c"], &all)
        })
        .await;
    let moved = events.given_up_since(from, &["a", "b"]);
    assert_eq!(
        moved,
        events.assignment("c"),
        "{client}: c joining moved exactly c's partition"
    );
    assert_eq!(moved.len(), 1, "{client}: c joining");
    ledger.produce(&producer, "second", 30).await;
    obs.expect("a, b and c read everything", STEP, |e| {
        ledger.all_read(e, &["a", "b", "c"])
    })
    .await;

    // b leaves (LeaveGroup): its partitions go to a and c, which keep theirs.
    let before = obs.snapshot();
    stop_all(&obs, &mut [&mut b]).await;
    let events = obs
        .expect("a and c take over b's partitions", STEP, |e| e.split(&["a", "c"], &all))
        .await;
    assert_eq!(
        events.given_up_since(before.all.len(), &["a", "c"]),
        BTreeSet::new(),
        "{client}: b leaving revoked partitions of a or c"
    );
    for m in ["a", "c"] {
        assert!(
            events.assignment(m).is_superset(&before.assignment(m)),
            "{client}: {m} kept its partitions when b left"
        );
    }

    // c dies: after its session expires a gets c's partitions, revoking nothing.
    let from = events.all.len();
    c.kill().await;
    let events = obs
        .expect(
            "a owns every partition after c was killed",
            Duration::from_millis(SESSION_MS) + TAKEOVER_SLACK,
            |e| e.assignment("a") == all,
        )
        .await;
    assert_eq!(
        events.given_up_since(from, &["a"]),
        BTreeSet::new(),
        "{client}: c's death revoked partitions of a"
    );

    ledger.produce(&producer, "third", 30).await;
    let events = obs
        .expect("a reads everything", STEP, |e| ledger.all_read(e, &["a", "b", "c"]))
        .await;
    assert_incremental(client, &obs, &events, &["a", "b", "c"]);
    let delivery = ledger.check(&events, &["a", "b", "c"]);
    delivery.assert_complete(&format!("{client}: cooperative-sticky"), &events);
    stop_all(&obs, &mut [&mut a]).await;
    obs.show(&format!("{client} cooperative-sticky"));
    broker.stop().await.expect("stop the broker");
    eprintln!(
        "{client}: cooperative-sticky took {:?}; {}",
        started.elapsed(),
        delivery.describe_duplicates()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_cooperative_sticky_moves_only_the_partitions_that_change_owner() {
    cooperative_sticky(Client::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_cooperative_sticky_moves_only_the_partitions_that_change_owner() {
    cooperative_sticky(Client::KafkaPython).await;
}

// ---------------------------------------------------------------------------------------------
// Static membership: a member restarted with the same group.instance.id within the session
// timeout gets its partitions back, and the other member sees no rebalance.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Restarting {
    /// The second member to join.
    Follower,
    /// The first member, which computed the assignment.
    Leader,
}

async fn static_restart(client: Client, restarting: Restarting, strategy: Option<&str>) {
    let started = Instant::now();
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let producer = KClient::new(Client::Confluent, &bootstrap);
    let topic = format!("static-{client}");
    let mut ledger = create_topic(&bootstrap, &topic).await;
    let all = ledger.all();
    ledger.produce(&producer, "first", 20).await;

    let obs = Observer::new();
    let mut spec = GroupConsume::new(client, &bootstrap, "static", &topic)
        .session(STATIC_SESSION_MS, 500)
        .debug_from_env();
    if let Some(strategy) = strategy {
        spec = spec.strategy(strategy);
    }
    // a joins alone and leads; b joins second.
    let a = obs.spawn("a", &spec.clone().instance_id("instance-a"));
    obs.expect("a owns every partition", STEP, |e| e.assignment("a") == all)
        .await;
    let b = obs.spawn("b", &spec.clone().instance_id("instance-b"));
    obs.expect("a and b split, read everything and finish rebalancing", STEP, |e| {
        e.split(&["a", "b"], &all)
            && ledger.all_read(e, &["a", "b"])
            && e.committed(&["a", "b"]) == ledger.ends()
            && e.settled_with("a", "b")
    })
    .await;

    let (mut stays, mut goes, instance) = match restarting {
        Restarting::Follower => (a, b, "instance-b"),
        Restarting::Leader => (b, a, "instance-a"),
    };
    let mut readers = vec!["a".to_owned(), "b".to_owned()];
    let base = goes.name.clone();
    // A graceful restart (a static member's close sends no LeaveGroup), then a crash (SIGKILL).
    for (round, crash) in [(2, false), (3, true)] {
        let before = obs.snapshot();
        let stays_rebalances = before.rebalances(&stays.name).count();
        let owned = before.assignment(&goes.name);
        let generation = before.rebalances(&goes.name).filter_map(|(_, r)| r.generation).last();
        if crash {
            goes.kill().await;
        } else {
            goes.stop().await;
        }
        let stopped_at = Instant::now();
        let name = format!("{base}{round}");
        goes = obs.spawn(&name, &spec.clone().instance_id(instance));
        readers.push(name.clone());
        let events = obs
            .expect(&format!("{name} gets {} back", show_tps(&owned)), STEP, |e| {
                e.assignment(&name) == owned
            })
            .await;
        let back_after = stopped_at.elapsed();
        assert!(
            back_after < Duration::from_millis(STATIC_SESSION_MS),
            "{client}: {name} was back after {back_after:?}, beyond the session timeout: the test proves nothing"
        );
        let rejoined_in = events.rebalances(&name).filter_map(|(_, r)| r.generation).last();
        if let (Some(before), Some(now)) = (generation, rejoined_in) {
            assert_eq!(
                now, before,
                "{client}: {name} rejoined in another generation: the group rebalanced"
            );
        }

        ledger.produce(&producer, &format!("after-{name}"), 10).await;
        let reader_refs: Vec<&str> = readers.iter().map(String::as_str).collect();
        let events = obs
            .expect("both members read the new records", STEP, |e| {
                ledger.all_read(e, &reader_refs) && e.committed(&reader_refs) == ledger.ends()
            })
            .await;
        if events.rebalances(&stays.name).count() != stays_rebalances {
            let how = if crash { "SIGKILL" } else { "graceful close" };
            obs.fail(
                &format!(
                    "{client}: restarting static member {instance} ({how}) made {} rebalance",
                    stays.name
                ),
                &events,
            );
        }
        // The restarted member resumed where its predecessor committed.
        let index = events.last_rebalance_index(&name).expect("rebalanced");
        assert_eq!(
            restrict(events.first_reads_after(&name, index), &owned),
            restrict(before.committed(&reader_refs), &owned),
            "{client}: {name}'s first reads vs the committed offsets"
        );
    }
    let events = obs.snapshot();
    let reader_refs: Vec<&str> = readers.iter().map(String::as_str).collect();
    ledger
        .check(&events, &reader_refs)
        .assert_complete(&format!("{client}: static"), &events);
    stop_all(&obs, &mut [&mut stays, &mut goes]).await;
    obs.show(&format!("{client} static {restarting:?}"));
    broker.stop().await.expect("stop the broker");
    eprintln!(
        "{client}: static {restarting:?} restarts ({}) took {:?}",
        strategy.unwrap_or("default assignors"),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_static_follower_restart_causes_no_rebalance() {
    static_restart(Client::Confluent, Restarting::Follower, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_static_leader_restart_causes_no_rebalance() {
    static_restart(Client::Confluent, Restarting::Leader, None).await;
}

/// With cooperative-sticky the member's subscription carries the partitions it owns, which a
/// restarted member no longer does: Kafka decides on the selected protocol, not on metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_static_cooperative_follower_restart_causes_no_rebalance() {
    static_restart(Client::Confluent, Restarting::Follower, Some("cooperative-sticky")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_static_follower_restart_causes_no_rebalance() {
    static_restart(Client::KafkaPython, Restarting::Follower, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_static_leader_restart_causes_no_rebalance() {
    static_restart(Client::KafkaPython, Restarting::Leader, None).await;
}

// ---------------------------------------------------------------------------------------------
// Committed offsets survive a clean and an unclean broker restart.

/// The marker a clean shutdown leaves in the data directory; without it the broker recovers.
const CLEAN_SHUTDOWN_MARKER: &str = ".rill_cleanshutdown";

async fn restart(broker: TestBroker, dir: &Path, clean: bool) -> TestBroker {
    broker.stop().await.expect("stop the broker");
    if !clean {
        std::fs::remove_file(dir.join(CLEAN_SHUTDOWN_MARKER))
            .unwrap_or_else(|e| panic!("removing {CLEAN_SHUTDOWN_MARKER} after a clean stop: {e}"));
    }
    TestBroker::start_in(dir, configure).await.expect("restart the broker")
}

/// Per-partition offsets `0:a, 1:b, ...` as a member's --limit list.
fn limited(spec: &GroupConsume, limits: &BTreeMap<Tp, i64>) -> GroupConsume {
    limits.iter().fold(spec.clone(), |s, (tp, o)| s.limit(Some(tp.1), *o))
}

/// Runs one member of `group` until it committed `target` (read up to there), stops it, and
/// checks it started each partition exactly at `start`.
async fn consume_to(
    obs: &Observer,
    name: &str,
    spec: &GroupConsume,
    target: &BTreeMap<Tp, i64>,
    start: &BTreeMap<Tp, i64>,
) {
    let mut m = obs.spawn(name, &limited(spec, target));
    let events = obs
        .expect(&format!("{name} commits {target:?}"), STEP, |e| {
            // A partition already at its target has nothing to read and nothing to commit.
            let committed = e.committed(&[name]);
            target
                .iter()
                .all(|(tp, o)| committed.get(tp) == Some(o) || start.get(tp) == Some(o))
        })
        .await;
    stop_all(obs, &mut [&mut m]).await;
    let first = events.first_reads_after(name, 0);
    for (tp, s) in start {
        if target[tp] > *s {
            assert_eq!(
                first.get(tp),
                Some(s),
                "{name}: first offset read from {}-{} (the committed offset)",
                tp.0,
                tp.1
            );
        }
    }
}

async fn offsets_survive_restarts(client: Client) {
    let started = Instant::now();
    init_tracing();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut broker = TestBroker::start_in(dir.path(), configure)
        .await
        .expect("start the broker");
    let topic = format!("durable-{client}");
    let mut ledger = create_topic(&broker.bootstrap(), &topic).await;
    ledger
        .produce(&KClient::new(Client::Confluent, &broker.bootstrap()), "first", 40)
        .await;
    let at = |offsets: [i64; 4]| -> BTreeMap<Tp, i64> {
        (0..4).map(|p| ((topic.clone(), p), offsets[p as usize])).collect()
    };
    let zero = at([0; 4]);

    let obs = Observer::new();
    let spec = |bootstrap: &str| GroupConsume::new(client, bootstrap, "durable", &topic).debug_from_env();
    let first = at([10, 20, 30, 35]);
    consume_to(&obs, "m1", &spec(&broker.bootstrap()), &first, &zero).await;

    // Clean restart: the offsets are back, and a new member resumes exactly there.
    broker = restart(broker, dir.path(), true).await;
    let admin = KClient::new(client, &broker.bootstrap());
    assert_eq!(
        admin.group_offsets("durable").await,
        first,
        "{client}: offsets after a clean restart"
    );
    ledger
        .produce(&KClient::new(Client::Confluent, &broker.bootstrap()), "second", 10)
        .await;
    let second = at([25, 30, 45, 50]);
    consume_to(&obs, "m2", &spec(&broker.bootstrap()), &second, &first).await;

    // Unclean restart (recovery): the same.
    broker = restart(broker, dir.path(), false).await;
    let admin = KClient::new(client, &broker.bootstrap());
    assert_eq!(
        admin.group_offsets("durable").await,
        second,
        "{client}: offsets after an unclean restart"
    );
    consume_to(&obs, "m3", &spec(&broker.bootstrap()), &ledger.ends(), &second).await;
    assert_eq!(
        admin.group_offsets("durable").await,
        ledger.ends(),
        "{client}: offsets at the end"
    );

    obs.show(&format!("{client} restarts"));
    let events = obs.snapshot();
    let delivery = ledger.check(&events, &["m1", "m2", "m3"]);
    delivery.assert_complete(&format!("{client}: across restarts"), &events);
    assert!(
        delivery.duplicates.is_empty(),
        "{client}: records read twice across restarts: {}",
        delivery.describe_duplicates()
    );
    broker.stop().await.expect("stop the broker");
    eprintln!("{client}: offsets across restarts took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_committed_offsets_survive_clean_and_unclean_restarts() {
    offsets_survive_restarts(Client::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_committed_offsets_survive_clean_and_unclean_restarts() {
    offsets_survive_restarts(Client::KafkaPython).await;
}

// ---------------------------------------------------------------------------------------------
// DescribeGroups, ListGroups, committed offsets and lag (kafka-consumer-groups --describe), and
// DeleteGroups, through each client's admin API.

async fn describe_list_lag_delete(client: Client) {
    let started = Instant::now();
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let topic = format!("lag-{client}");
    let mut ledger = create_topic(&bootstrap, &topic).await;
    let all = ledger.all();
    ledger
        .produce(&KClient::new(Client::Confluent, &bootstrap), "lag", 100)
        .await;
    let admin = KClient::new(client, &bootstrap);
    let group = "lagging";

    // Two members that stop at offset 60 of every partition.
    let obs = Observer::new();
    let spec = GroupConsume::new(client, &bootstrap, group, &topic)
        .limit(None, 60)
        .debug_from_env();
    let mut m1 = obs.spawn("m1", &spec.clone().client_id("describe-m1"));
    let mut m2 = obs.spawn("m2", &spec.clone().client_id("describe-m2"));
    let events = obs
        .expect("m1 and m2 split the partitions and commit 60 each", STEP, |e| {
            e.split(&["m1", "m2"], &all) && e.committed(&["m1", "m2"]) == offsets(&all, 60)
        })
        .await;

    let described = admin.describe_group(group).await;
    assert_eq!(described.error, None, "{client}: {described:?}");
    assert_eq!(described.state.as_deref(), Some("Stable"), "{client}: {described:?}");
    assert_eq!(
        described.protocol_type.as_deref(),
        Some("consumer"),
        "{client}: {described:?}"
    );
    assert_eq!(
        described.protocol.as_deref(),
        Some("range"),
        "{client}: the assignor both members prefer"
    );
    let mut members: Vec<(String, String, String, BTreeSet<Tp>)> = described
        .members
        .iter()
        .map(|m| {
            (
                m.client_id.clone(),
                m.member_id.clone(),
                m.host.clone(),
                m.assignment.clone(),
            )
        })
        .collect();
    members.sort();
    let expected: Vec<(String, String, String, BTreeSet<Tp>)> = [("describe-m1", "m1"), ("describe-m2", "m2")]
        .iter()
        .map(|(client_id, name)| {
            let member_id = events
                .member_id(name)
                .unwrap_or_else(|| panic!("{name} reported no member id"));
            (
                (*client_id).to_owned(),
                member_id,
                "/127.0.0.1".to_owned(),
                events.assignment(name),
            )
        })
        .collect();
    assert_eq!(
        members, expected,
        "{client}: members (client id, member id, host, assignment)"
    );
    assert!(
        described.members.iter().all(|m| m.instance_id.is_none()),
        "{client}: dynamic members"
    );

    let listed = admin.list_groups().await;
    let listing = listed
        .get(group)
        .unwrap_or_else(|| panic!("{client}: ListGroups lacks {group}: {listed:?}"));
    assert_eq!(listing.state.as_deref(), Some("Stable"), "{client}: {listing:?}");
    assert_eq!(
        listing.protocol_type.as_deref(),
        Some("consumer"),
        "{client}: {listing:?}"
    );

    let lag = |committed: &BTreeMap<(String, i32), i64>,
               ends: &BTreeMap<i32, (Option<i64>, Option<i64>)>|
     -> Vec<(i32, i64, i64, i64)> {
        (0..PARTITIONS)
            .map(|p| {
                let c = committed[&(topic.clone(), p)];
                let end = ends[&p].0.expect("end offset");
                (p, c, end, end - c)
            })
            .collect()
    };
    let ends = admin.list_offsets(&topic, "latest").await;
    let rows = lag(&admin.group_offsets(group).await, &ends);
    assert_eq!(
        rows,
        (0..PARTITIONS).map(|p| (p, 60, 100, 40)).collect::<Vec<_>>(),
        "{client}: (partition, committed, log end, lag)"
    );

    // DeleteGroups refuses a group with members.
    let deleted = admin.delete_groups(&[group]).await;
    assert_eq!(
        deleted.get(group),
        Some(&Some("NON_EMPTY_GROUP".to_owned())),
        "{client}: deleting a group with members"
    );

    // The members leave: Empty, no members, the same offsets and lag.
    stop_all(&obs, &mut [&mut m1, &mut m2]).await;
    obs.show(&format!("{client} describe"));
    let described = admin.describe_group(group).await;
    assert_eq!(
        (described.state.as_deref(), described.members.len()),
        (Some("Empty"), 0),
        "{client}: {described:?}"
    );
    assert_eq!(
        admin
            .list_groups()
            .await
            .get(group)
            .and_then(|l| l.state.clone())
            .as_deref(),
        Some("Empty")
    );
    assert_eq!(
        lag(&admin.group_offsets(group).await, &ends),
        rows,
        "{client}: lag after the members left"
    );

    // Now it can be deleted, with its offsets.
    let deleted = admin.delete_groups(&[group, "never-existed"]).await;
    assert_eq!(deleted.get(group), Some(&None), "{client}: deleting the empty group");
    assert_eq!(
        deleted.get("never-existed"),
        Some(&Some("GROUP_ID_NOT_FOUND".to_owned())),
        "{client}: deleting an unknown group"
    );
    assert!(
        !admin.list_groups().await.contains_key(group),
        "{client}: ListGroups after DeleteGroups"
    );
    assert_eq!(
        admin.describe_group(group).await.state.as_deref(),
        Some("Dead"),
        "{client}: DescribeGroups after DeleteGroups"
    );
    assert_eq!(
        admin.group_offsets(group).await,
        BTreeMap::new(),
        "{client}: offsets after DeleteGroups"
    );
    broker.stop().await.expect("stop the broker");
    eprintln!("{client}: describe/list/lag/delete took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_admin_describes_lists_measures_lag_and_deletes_groups() {
    describe_list_lag_delete(Client::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_admin_describes_lists_measures_lag_and_deletes_groups() {
    describe_list_lag_delete(Client::KafkaPython).await;
}

// ---------------------------------------------------------------------------------------------
// aiokafka and kcat as group members.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiokafka_members_split_and_hand_over_on_leave() {
    let started = Instant::now();
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let producer = KClient::new(Client::Confluent, &bootstrap);
    let mut ledger = create_topic(&bootstrap, "aio").await;
    let all = ledger.all();
    ledger.produce(&producer, "first", 30).await;

    let obs = Observer::new();
    let spec = GroupConsume::new(Client::AioKafka, &bootstrap, "aio", "aio")
        .session(SESSION_MS, HEARTBEAT_MS)
        .debug_from_env();
    let mut a = obs.spawn("a", &spec);
    let mut b = obs.spawn("b", &spec);
    let events = obs
        .expect("a and b split and read everything", STEP, |e| {
            e.split(&["a", "b"], &all) && ledger.all_read(e, &["a", "b"])
        })
        .await;
    assert_eq!(shares(&events, &["a", "b"]), [2, 2]);
    stop_all(&obs, &mut [&mut b]).await;
    obs.expect("a owns every partition after b left", STEP, |e| {
        e.assignment("a") == all
    })
    .await;
    ledger.produce(&producer, "second", 30).await;
    let events = obs
        .expect("a reads and commits everything", STEP, |e| {
            ledger.all_read(e, &["a", "b"]) && e.committed(&["a", "b"]) == ledger.ends()
        })
        .await;
    let delivery = ledger.check(&events, &["a", "b"]);
    delivery.assert_complete("aiokafka", &events);
    assert!(
        delivery.duplicates.is_empty(),
        "aiokafka: b left after committing; {}",
        delivery.describe_duplicates()
    );
    stop_all(&obs, &mut [&mut a]).await;
    assert_eq!(
        KClient::new(Client::Confluent, &bootstrap).group_offsets("aio").await,
        ledger.ends()
    );
    obs.show("aiokafka");
    broker.stop().await.expect("stop the broker");
    eprintln!("aiokafka: split and hand-over took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_balanced_consumer_shares_a_group_with_confluent() {
    let started = Instant::now();
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let producer = KClient::new(Client::Confluent, &bootstrap);
    let mut ledger = create_topic(&bootstrap, "kcat-group").await;
    let all = ledger.all();
    ledger.produce(&producer, "first", 30).await;

    let obs = Observer::new();
    let session = format!("session.timeout.ms={SESSION_MS}");
    let heartbeat = format!("heartbeat.interval.ms={HEARTBEAT_MS}");
    let mut k = obs.spawn_kcat("kcat", &bootstrap, "mixed", "kcat-group", &[&session, &heartbeat]);
    let mut c = obs.spawn(
        "confluent",
        &GroupConsume::new(Client::Confluent, &bootstrap, "mixed", "kcat-group")
            .session(SESSION_MS, HEARTBEAT_MS)
            .debug_from_env(),
    );
    let members = ["kcat", "confluent"];
    let events = obs
        .expect("kcat and confluent split and read everything", STEP, |e| {
            e.split(&members, &all) && ledger.all_read(e, &members)
        })
        .await;
    assert_eq!(shares(&events, &members), [2, 2]);

    // kcat stops (SIGTERM: it commits and leaves); confluent takes over where kcat committed.
    let kcat_owned = events.assignment("kcat");
    let status = k.stop().await;
    assert!(status.success(), "kcat -G exited with {status} after SIGTERM");
    let committed = KClient::new(Client::Confluent, &bootstrap).group_offsets("mixed").await;
    for tp in &kcat_owned {
        assert_eq!(
            committed.get(tp),
            ledger.ends().get(tp),
            "kcat committed {}-{} on close",
            tp.0,
            tp.1
        );
    }
    obs.expect("confluent owns every partition after kcat left", STEP, |e| {
        e.assignment("confluent") == all
    })
    .await;
    ledger.produce(&producer, "second", 30).await;
    let events = obs
        .expect("confluent reads the rest", STEP, |e| {
            ledger.all_read(e, &members) && e.committed(&["confluent"]).len() == all.len()
        })
        .await;
    let delivery = ledger.check(&events, &members);
    delivery.assert_complete("kcat + confluent", &events);
    assert!(
        delivery.duplicates.is_empty(),
        "kcat + confluent: {}",
        delivery.describe_duplicates()
    );
    stop_all(&obs, &mut [&mut c]).await;
    assert_eq!(
        KClient::new(Client::Confluent, &bootstrap).group_offsets("mixed").await,
        ledger.ends()
    );
    obs.show("kcat + confluent");
    broker.stop().await.expect("stop the broker");
    eprintln!("kcat: shared group took {:?}", started.elapsed());
}

//! The DSL's operators, each run through the in-memory test driver with exact expected output.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rill_streams::serde::{IntSerde, JsonSerde, Nullable, StringSerde};
use rill_streams::{
    Consumed, Grouped, Materialized, Produced, Record, StreamsBuilder, StreamsError, TestTopic, TopologyTestDriver,
};
use serde::{Deserialize, Serialize};

fn kv<K: Clone, V: Clone>(records: &[Record<K, V>]) -> Vec<(K, V)> {
    records.iter().map(|r| (r.key.clone(), r.value.clone())).collect()
}

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn word_count_repartitions_counts_and_logs_to_the_changelog() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream("lines", Consumed::with(Nullable(StringSerde), StringSerde))
        .flat_map_values(|line: String| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
        .group_by(|_, word: &String| word.clone(), Grouped::with(StringSerde, StringSerde))
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("word-counts", Produced::with(StringSerde, Nullable(IntSerde)));
    let topology = builder.build()?;
    assert_eq!(
        topology.describe(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [lines])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> KSTREAM-SINK-0000000003
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Sink: KSTREAM-SINK-0000000003 (topic: counts-repartition)
      <-- KSTREAM-KEY-SELECT-0000000002

   Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000004 (topics: [counts-repartition])
      --> KSTREAM-AGGREGATE-0000000005
    Processor: KSTREAM-AGGREGATE-0000000005 (stores: [counts])
      --> KTABLE-TOSTREAM-0000000006
      <-- KSTREAM-SOURCE-0000000004
    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-AGGREGATE-0000000005
    Sink: KSTREAM-SINK-0000000007 (topic: word-counts)
      <-- KTABLE-TOSTREAM-0000000006

"
    );
    assert_eq!(
        topology.subtopologies("wc"),
        vec![["lines".to_owned()].into(), ["wc-counts-repartition".to_owned()].into()]
    );
    assert_eq!(topology.changelog_topics("wc"), vec!["wc-counts-changelog"]);

    let mut driver = TopologyTestDriver::new(topology, "wc")?;
    let lines = TestTopic::new("lines", Nullable(StringSerde), StringSerde);
    let counts = TestTopic::new("word-counts", StringSerde, IntSerde);
    driver.pipe(&lines, None, s("to be or not to be"), 1_000)?;
    driver.pipe(&lines, Some(s("k")), s("To  BE"), 2_000)?;
    let out = driver.read(&counts)?;
    let expected: Vec<(String, i64)> = [
        ("to", 1),
        ("be", 1),
        ("or", 1),
        ("not", 1),
        ("to", 2),
        ("be", 2),
        ("to", 3),
        ("be", 3),
    ]
    .iter()
    .map(|(w, n)| (s(w), *n))
    .collect();
    assert_eq!(kv(&out), expected);
    let times: Vec<i64> = out.iter().map(|r| r.timestamp).collect();
    assert_eq!(times, [1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 2_000, 2_000]);
    assert_eq!(
        driver.key_value_store("counts", &StringSerde, &IntSerde)?,
        vec![(s("be"), 3i64), (s("not"), 1), (s("or"), 1), (s("to"), 3)]
    );
    let changelog = driver.read_raw("wc-counts-changelog");
    assert_eq!(changelog.len(), 8, "every update is logged");
    assert!(changelog.iter().all(|r| r.partition == Some(0)));
    assert_eq!(changelog[7].key.as_deref(), Some(&b"be"[..]));
    assert_eq!(changelog[7].value.as_deref(), Some(&3i64.to_be_bytes()[..]));
    assert_eq!(driver.unread_topics().len(), 0, "the repartition topic is read back");
    assert_eq!(driver.stream_time(), 2_000);
    Ok(())
}

#[test]
fn stateless_operators() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let input = builder.stream("in", Consumed::with(StringSerde, IntSerde));
    let out = |topic: &str| (topic.to_owned(), Produced::with(StringSerde, IntSerde));
    let evens = input.filter(|_, v: &i64| v % 2 == 0).map_values(|v| v * 10);
    let odds = input
        .filter_not(|_, v: &i64| v % 2 == 0)
        .map(|k: String, v| (format!("{k}!"), v + 1));
    let (t, p) = out("evens");
    evens.to(&t, p);
    let (t, p) = out("odds");
    odds.to(&t, p);
    let (t, p) = out("merged");
    evens.merge(&odds).to(&t, p);
    let (t, p) = out("flat");
    input
        .flat_map(|k: String, v: i64| (0..v.min(2)).map(move |i| (format!("{k}{i}"), i)))
        .to(&t, p);
    let (t, p) = out("flat-values");
    input.flat_map_values(|v: i64| [v, -v]).to(&t, p);
    let (t, p) = out("rekeyed");
    input.select_key(|_, v: &i64| format!("key-{v}")).to(&t, p);
    let (t, p) = out("values-with-keys");
    input
        .map_values_with_key(|k: &String, v: i64| v * 100 + k.len() as i64)
        .to(&t, p);
    let peeked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    {
        let peeked = Arc::clone(&peeked);
        let seen = Arc::clone(&seen);
        input
            .peek(move |k, v| peeked.lock().expect("lock").push((k.clone(), *v)))
            .filter(|_, v| *v > 2)
            .foreach(move |k, v| seen.lock().expect("lock").push((k.clone(), *v)));
    }
    let branches = input
        .split("size-")
        .branch("small", |_, v: &i64| *v < 2)
        .branch("mid", |_, v: &i64| *v < 4)
        .default_branch("big")
        .branches();
    assert_eq!(
        branches.keys().cloned().collect::<Vec<_>>(),
        ["size-big", "size-mid", "size-small"]
    );
    for (name, stream) in &branches {
        let (t, p) = out(name);
        stream.to(&t, p);
    }
    input.to_dynamic(
        |_, v: &i64| format!("parity-{}", v % 2),
        Produced::with(StringSerde, IntSerde),
    );

    let mut driver = TopologyTestDriver::new(builder.build()?, "app")?;
    let topic = TestTopic::new("in", StringSerde, IntSerde);
    for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
        driver.pipe(&topic, s(k), i as i64 + 1, 100 + i as i64)?;
    }
    let mut read = |name: &str| -> Result<Vec<(String, i64)>, StreamsError> {
        Ok(kv(&driver.read(&TestTopic::new(name, StringSerde, IntSerde))?))
    };
    let pairs = |items: &[(&str, i64)]| -> Vec<(String, i64)> { items.iter().map(|(k, v)| (s(k), *v)).collect() };
    assert_eq!(read("evens")?, pairs(&[("b", 20), ("d", 40)]));
    assert_eq!(read("odds")?, pairs(&[("a!", 2), ("c!", 4)]));
    assert_eq!(read("merged")?, pairs(&[("a!", 2), ("b", 20), ("c!", 4), ("d", 40)]));
    assert_eq!(
        read("flat")?,
        pairs(&[
            ("a0", 0),
            ("b0", 0),
            ("b1", 1),
            ("c0", 0),
            ("c1", 1),
            ("d0", 0),
            ("d1", 1)
        ])
    );
    assert_eq!(
        read("flat-values")?,
        pairs(&[
            ("a", 1),
            ("a", -1),
            ("b", 2),
            ("b", -2),
            ("c", 3),
            ("c", -3),
            ("d", 4),
            ("d", -4)
        ])
    );
    assert_eq!(
        read("rekeyed")?,
        pairs(&[("key-1", 1), ("key-2", 2), ("key-3", 3), ("key-4", 4)])
    );
    assert_eq!(
        read("values-with-keys")?,
        pairs(&[("a", 101), ("b", 201), ("c", 301), ("d", 401)])
    );
    assert_eq!(read("size-small")?, pairs(&[("a", 1)]));
    assert_eq!(read("size-mid")?, pairs(&[("b", 2), ("c", 3)]));
    assert_eq!(read("size-big")?, pairs(&[("d", 4)]));
    assert_eq!(read("parity-1")?, pairs(&[("a", 1), ("c", 3)]));
    assert_eq!(read("parity-0")?, pairs(&[("b", 2), ("d", 4)]));
    assert_eq!(
        *peeked.lock().expect("lock"),
        pairs(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)])
    );
    assert_eq!(*seen.lock().expect("lock"), pairs(&[("c", 3), ("d", 4)]));
    assert!(driver.unread_topics().is_empty(), "{:?}", driver.unread_topics());
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stats {
    count: u32,
    total: i64,
}

#[test]
fn aggregate_reduce_and_table_operators() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let orders = builder.stream("orders", Consumed::with(StringSerde, JsonSerde::<Order>::new()));
    // Grouping by the unchanged key does not repartition; the stream's serdes are used.
    orders
        .group_by_key(Grouped::default())
        .aggregate(
            || Stats { count: 0, total: 0 },
            |_, order: Order, stats: Stats| Stats {
                count: stats.count + 1,
                total: stats.total + order.amount,
            },
            Materialized::as_("stats").with_value_serde(JsonSerde::new()),
        )
        .filter(|_, stats| stats.total >= 100)
        .to_stream()
        .to("big-spenders", Produced::with(StringSerde, Nullable(JsonSerde::new())));
    // The latest amount per customer; a table filter turns a row that stops matching into a
    // deletion downstream.
    orders
        .map_values(|o: Order| o.amount)
        .group_by_key(Grouped::with(StringSerde, IntSerde))
        .reduce(|_, latest| latest, Materialized::as_("latest"))
        .filter(|_, amount| *amount >= 100)
        .map_values(|amount| amount * 2)
        .to_stream()
        .to("large-latest-doubled", Produced::with(StringSerde, Nullable(IntSerde)));
    let topology = builder.build()?;
    assert_eq!(topology.subtopologies("shop").len(), 1, "no repartition");
    let mut driver = TopologyTestDriver::new(topology, "shop")?;
    let input = TestTopic::new("orders", StringSerde, JsonSerde::<Order>::new());
    for (i, (customer, amount)) in [("alice", 60), ("bob", 150), ("alice", 50), ("carl", 120), ("carl", 20)]
        .into_iter()
        .enumerate()
    {
        driver.pipe(&input, s(customer), Order { amount }, i as i64)?;
    }
    let big = driver.read(&TestTopic::new(
        "big-spenders",
        StringSerde,
        Nullable(JsonSerde::<Stats>::new()),
    ))?;
    assert_eq!(
        kv(&big),
        vec![
            (s("bob"), Some(Stats { count: 1, total: 150 })),
            (s("alice"), Some(Stats { count: 2, total: 110 })),
            (s("carl"), Some(Stats { count: 1, total: 120 })),
            (s("carl"), Some(Stats { count: 2, total: 140 })),
        ]
    );
    let latest = driver.read(&TestTopic::new("large-latest-doubled", StringSerde, Nullable(IntSerde)))?;
    assert_eq!(
        kv(&latest),
        vec![(s("bob"), Some(300i64)), (s("carl"), Some(240)), (s("carl"), None)],
        "carl's 20 deletes the row"
    );
    assert_eq!(
        driver.key_value_store("latest", &StringSerde, &IntSerde)?,
        vec![(s("alice"), 50i64), (s("bob"), 150), (s("carl"), 20)]
    );
    Ok(())
}

#[test]
fn mistakes_are_reported_by_build_and_bad_records_by_the_driver() -> Result<(), StreamsError> {
    // Grouping after a key change needs serdes for the repartition topic.
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(StringSerde, IntSerde))
        .map(|k: String, v: i64| (v, k))
        .group_by_key(Grouped::default())
        .count(Materialized::default());
    let error = builder.build().expect_err("no serdes");
    assert!(
        error.to_string().contains("KSTREAM-MAP-0000000001") && error.to_string().contains("Grouped::with"),
        "{error}"
    );

    let builder = StreamsBuilder::new();
    builder.stream("in", Consumed::<String, i64>::with(StringSerde, IntSerde));
    builder.stream("in", Consumed::with(StringSerde, StringSerde));
    let error = builder.build().expect_err("two sources");
    assert!(error.to_string().contains("topic in is read by two sources"), "{error}");

    let error = StreamsBuilder::new().build().expect_err("empty");
    assert!(error.to_string().contains("reads no topic"), "{error}");

    // A value that is not 8 bytes fails the task, naming topic, offset and part...
    let builder = StreamsBuilder::new();
    builder
        .stream("numbers", Consumed::with(StringSerde, IntSerde))
        .map_values(|v: i64| v + 1)
        .to("plus-one", Produced::with(StringSerde, IntSerde));
    let topology = builder.build()?;
    let mut driver = TopologyTestDriver::new(topology.clone(), "app")?;
    let good = Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 7]));
    driver.pipe_raw("numbers", Some(Bytes::from_static(b"k")), good.clone(), 1, Vec::new())?;
    let error = driver
        .pipe_raw(
            "numbers",
            Some(Bytes::from_static(b"k")),
            Some(Bytes::from_static(b"abc")),
            2,
            Vec::new(),
        )
        .expect_err("bad value");
    assert!(
        error
            .to_string()
            .starts_with("cannot deserialize the value of numbers-0@1: i64: 3 bytes, expected 8"),
        "{error}"
    );
    // ...unless bad records are skipped, which counts them.
    let mut driver = TopologyTestDriver::new(topology, "app")?.skip_bad_records();
    driver.pipe_raw("numbers", None, good.clone(), 1, Vec::new())?;
    driver.pipe_raw("numbers", Some(Bytes::from_static(b"k")), None, 2, Vec::new())?;
    driver.pipe_raw("numbers", Some(Bytes::from_static(b"k")), good, 3, Vec::new())?;
    assert_eq!(driver.skipped_records(), 2, "a null key and a null value");
    let out = driver.read(&TestTopic::new("plus-one", StringSerde, IntSerde))?;
    assert_eq!(kv(&out), vec![(s("k"), 8i64)]);
    let error = driver
        .pipe_raw("elsewhere", None, None, 4, Vec::new())
        .expect_err("unknown topic");
    assert!(error.to_string().contains("does not read topic elsewhere"), "{error}");
    Ok(())
}

#[test]
fn tables_from_topics_and_stream_table_joins() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let customers = builder.table(
        "customers",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_("customers-store"),
    );
    let orders = builder.stream("orders", Consumed::<String, i64>::with(StringSerde, IntSerde));
    orders
        .join(&customers, |amount, name: &String| format!("{name}:{amount}"))
        .to("enriched", Produced::with(StringSerde, StringSerde));
    orders
        .left_join(&customers, |amount, name: Option<&String>| {
            format!("{}:{amount}", name.map_or("?", String::as_str))
        })
        .to("enriched-left", Produced::with(StringSerde, StringSerde));
    customers
        .to_stream()
        .to("customer-changes", Produced::with(StringSerde, Nullable(StringSerde)));
    let topology = builder.build()?;
    assert_eq!(
        topology.subtopologies("app").len(),
        1,
        "the joins share the table's store, so they run in its task:\n{}",
        topology.describe()
    );
    let mut driver = TopologyTestDriver::new(topology, "app")?;
    let customer = TestTopic::new("customers", StringSerde, Nullable(StringSerde));
    let order = TestTopic::<String, i64>::new("orders", StringSerde, IntSerde);
    driver.pipe(&order, s("c1"), 10, 1)?;
    driver.pipe(&customer, s("c1"), Some(s("Ann")), 2)?;
    driver.pipe(&order, s("c1"), 20, 3)?;
    driver.pipe(&customer, s("c1"), None, 4)?;
    driver.pipe(&customer, s("c2"), None, 5)?; // deleting an absent key changes nothing
    driver.pipe(&order, s("c1"), 30, 6)?;
    let read = |driver: &mut TopologyTestDriver, topic: &str| -> Result<Vec<(String, String)>, StreamsError> {
        Ok(kv(&driver.read(&TestTopic::new(topic, StringSerde, StringSerde))?))
    };
    assert_eq!(read(&mut driver, "enriched")?, vec![(s("c1"), s("Ann:20"))]);
    assert_eq!(
        read(&mut driver, "enriched-left")?,
        vec![(s("c1"), s("?:10")), (s("c1"), s("Ann:20")), (s("c1"), s("?:30"))]
    );
    let changes = driver.read(&TestTopic::new("customer-changes", StringSerde, Nullable(StringSerde)))?;
    assert_eq!(kv(&changes), vec![(s("c1"), Some(s("Ann"))), (s("c1"), None)]);
    assert_eq!(
        driver.read_raw("app-customers-store-changelog").len(),
        3,
        "the table's store logs its changes"
    );
    Ok(())
}

#[test]
fn table_table_joins_update_when_either_side_changes() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let users = builder.table(
        "users",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_("users"),
    );
    let scores = builder.table(
        "scores",
        Consumed::<String, i64>::with(StringSerde, IntSerde),
        Materialized::as_("scores"),
    );
    let out = || Produced::with(StringSerde, Nullable(StringSerde));
    users
        .join(&scores, |name, score| format!("{name}:{score}"))
        .to_stream()
        .to("inner", out());
    users
        .left_join(&scores, |name, score| {
            format!("{name}:{}", score.map_or("-".to_owned(), i64::to_string))
        })
        .to_stream()
        .to("left", out());
    users
        .outer_join(&scores, |name, score| {
            format!(
                "{}:{}",
                name.map_or("-", String::as_str),
                score.map_or("-".to_owned(), i64::to_string)
            )
        })
        .to_stream()
        .to("outer", out());
    let mut driver = TopologyTestDriver::new(builder.build()?, "app")?;
    let users_in = TestTopic::new("users", StringSerde, Nullable(StringSerde));
    let scores_in = TestTopic::new("scores", StringSerde, Nullable(IntSerde));
    driver.pipe(&users_in, s("u1"), Some(s("Ann")), 1)?;
    driver.pipe(&scores_in, s("u1"), Some(10i64), 2)?;
    driver.pipe(&scores_in, s("u2"), Some(5i64), 3)?;
    driver.pipe(&users_in, s("u1"), None, 4)?;
    let mut read = |topic: &str| -> Result<Vec<(String, Option<String>)>, StreamsError> {
        Ok(kv(&driver.read(&TestTopic::new(
            topic,
            StringSerde,
            Nullable(StringSerde),
        ))?))
    };
    assert_eq!(read("inner")?, vec![(s("u1"), Some(s("Ann:10"))), (s("u1"), None)]);
    assert_eq!(
        read("left")?,
        vec![
            (s("u1"), Some(s("Ann:-"))),
            (s("u1"), Some(s("Ann:10"))),
            (s("u1"), None)
        ]
    );
    assert_eq!(
        read("outer")?,
        vec![
            (s("u1"), Some(s("Ann:-"))),
            (s("u1"), Some(s("Ann:10"))),
            (s("u2"), Some(s("-:5"))),
            (s("u1"), Some(s("-:10"))),
        ]
    );
    Ok(())
}

#[test]
fn stream_global_table_joins_look_up_a_key_computed_from_each_record() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let products = builder.global_table(
        "products",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_("products"),
    );
    // Orders are keyed by order id; the value names the product: "product-id x quantity".
    let orders = builder.stream("orders", Consumed::with(StringSerde, StringSerde));
    let product_of = |_: &String, order: &String| order.split(' ').next().unwrap_or_default().to_owned();
    orders
        .join_global(&products, product_of, |order: &String, name: &String| {
            format!("{order} = {name}")
        })
        .to("named", Produced::with(StringSerde, StringSerde));
    orders
        .left_join_global(&products, product_of, |order: &String, name: Option<&String>| {
            format!("{order} = {}", name.map_or("?", String::as_str))
        })
        .to("named-left", Produced::with(StringSerde, StringSerde));
    let topology = builder.build()?;
    assert!(
        topology
            .describe()
            .contains("Sub-topology: 1 for global store (will not generate tasks)"),
        "{}",
        topology.describe()
    );
    let mut driver = TopologyTestDriver::new(topology, "app")?;
    let products_in = TestTopic::new("products", StringSerde, Nullable(StringSerde));
    let orders_in = TestTopic::new("orders", StringSerde, StringSerde);
    driver.pipe(&products_in, s("p1"), Some(s("lamp")), 1)?;
    driver.pipe(&orders_in, s("o1"), s("p1 x 2"), 2)?;
    driver.pipe(&orders_in, s("o2"), s("p9 x 1"), 3)?;
    driver.pipe(&products_in, s("p1"), None, 4)?;
    driver.pipe(&orders_in, s("o3"), s("p1 x 5"), 5)?;
    let mut read = |topic: &str| -> Result<Vec<(String, String)>, StreamsError> {
        Ok(kv(&driver.read(&TestTopic::new(topic, StringSerde, StringSerde))?))
    };
    assert_eq!(read("named")?, vec![(s("o1"), s("p1 x 2 = lamp"))]);
    assert_eq!(
        read("named-left")?,
        vec![
            (s("o1"), s("p1 x 2 = lamp")),
            (s("o2"), s("p9 x 1 = ?")),
            (s("o3"), s("p1 x 5 = ?"))
        ]
    );
    Ok(())
}

#[test]
fn the_record_cache_collapses_a_key_s_updates_between_commits() -> Result<(), StreamsError> {
    let counting = || -> Result<TopologyTestDriver, StreamsError> {
        let builder = StreamsBuilder::new();
        builder
            .stream("words", Consumed::with(StringSerde, StringSerde))
            .group_by_key(Grouped::default())
            .count(Materialized::as_("counts"))
            .to_stream()
            .to("counts", Produced::with(StringSerde, Nullable(IntSerde)));
        TopologyTestDriver::new(builder.build()?, "app")
    };
    let words = TestTopic::new("words", StringSerde, StringSerde);
    let counts = TestTopic::<String, i64>::new("counts", StringSerde, IntSerde);
    let mut driver = counting()?.with_record_cache(1 << 20);
    for (i, word) in ["a", "b", "a", "a", "c"].into_iter().enumerate() {
        driver.pipe(&words, s(word), s("x"), 1_000 + i as i64)?;
    }
    assert!(driver.read(&counts)?.is_empty(), "held until the commit");
    assert!(driver.read_raw("app-counts-changelog").is_empty());
    assert_eq!(
        driver.key_value_store("counts", &StringSerde, &IntSerde)?,
        vec![(s("a"), 3i64), (s("b"), 1), (s("c"), 1)],
        "the store is current"
    );
    driver.commit()?;
    let out = driver.read(&counts)?;
    assert_eq!(
        kv(&out),
        vec![(s("a"), 3), (s("b"), 1), (s("c"), 1)],
        "one update per key"
    );
    assert_eq!(
        out.iter().map(|r| r.timestamp).collect::<Vec<_>>(),
        [1_003, 1_001, 1_004]
    );
    let changelog = driver.read_raw("app-counts-changelog");
    assert_eq!(changelog.len(), 3, "one changelog record per key");
    assert_eq!(changelog[0].value.as_deref(), Some(&3i64.to_be_bytes()[..]));
    driver.pipe(&words, s("a"), s("x"), 2_000)?;
    driver.commit()?;
    assert_eq!(kv(&driver.read(&counts)?), vec![(s("a"), 4)]);
    driver.commit()?;
    assert!(driver.read(&counts)?.is_empty(), "nothing new, nothing flushed");

    // A cache over its budget flushes itself.
    let mut small = counting()?.with_record_cache(1);
    small.pipe(&words, s("a"), s("x"), 1)?;
    small.pipe(&words, s("a"), s("x"), 2)?;
    assert_eq!(kv(&small.read(&counts)?), vec![(s("a"), 1), (s("a"), 2)]);
    Ok(())
}

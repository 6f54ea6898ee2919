//! Windowed aggregations through the test driver: tumbling and hopping windows, out-of-order
//! and late records around the grace boundary, and suppression until windows close.

use rill_streams::serde::{IntSerde, StringSerde};
use rill_streams::{
    Consumed, Grouped, Materialized, Produced, StreamsBuilder, StreamsError, Suppressed, TestTopic, TimeWindows,
    TopologyTestDriver, Window, Windowed, WindowedSerde,
};

type Row = (String, i64, i64);

fn rows(records: Vec<rill_streams::Record<Windowed<String>, Option<i64>>>) -> Vec<Row> {
    records
        .into_iter()
        .map(|r| (r.key.key, r.key.window.start, r.value.expect("a count")))
        .collect()
}

fn expect(items: &[(&str, i64, i64)]) -> Vec<Row> {
    items.iter().map(|(k, s, n)| (k.to_string(), *s, *n)).collect()
}

#[test]
fn tumbling_counts_with_grace_drop_late_records_and_suppress_emits_final_counts() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let counts = builder
        .stream("clicks", Consumed::<String, String>::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(10_000, 5_000))
        .count(Materialized::as_("clicks-per-window"));
    let out = || {
        Produced::with(
            WindowedSerde::new(StringSerde, 10_000),
            rill_streams::serde::Nullable(IntSerde),
        )
    };
    counts.to_stream().to("updates", out());
    counts
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to("final", out());
    let mut driver = TopologyTestDriver::new(builder.build()?, "app")?;
    let clicks = TestTopic::new("clicks", StringSerde, StringSerde);
    let inputs = [
        ("a", 1_000),
        ("a", 9_999),
        ("b", 10_000),
        ("a", 3_000),  // out of order, its window still open
        ("a", 14_999), // stream time 14,999: [0, 10,000) is open until 15,000
        ("a", 2_000),  // accepted at the last moment
        ("c", 15_000), // stream time reaches 15,000: [0, 10,000) closes
        ("a", 5_000),  // late: dropped
        ("a", 30_000), // [10,000, 20,000) closes (20,000 + 5,000 <= 30,000)
    ];
    for (key, ts) in inputs {
        driver.pipe(&clicks, key.to_owned(), "click".to_owned(), ts)?;
    }
    let serde = || WindowedSerde::new(StringSerde, 10_000);
    let nullable = || rill_streams::serde::Nullable(IntSerde);
    let updates = driver.read(&TestTopic::new("updates", serde(), nullable()))?;
    assert_eq!(
        rows(updates.clone()),
        expect(&[
            ("a", 0, 1),
            ("a", 0, 2),
            ("b", 10_000, 1),
            ("a", 0, 3),
            ("a", 10_000, 1),
            ("a", 0, 4),
            ("c", 10_000, 1),
            ("a", 30_000, 1),
        ])
    );
    assert_eq!(
        updates[0].key.window,
        Window { start: 0, end: 10_000 },
        "windows are [start, start + size)"
    );
    assert_eq!(
        rows(driver.read(&TestTopic::new("final", serde(), nullable()))?),
        expect(&[("a", 0, 4), ("a", 10_000, 1), ("b", 10_000, 1), ("c", 10_000, 1)]),
        "one result per window, when it closes"
    );
    assert_eq!(driver.dropped_late_records(), 1);
    // The store keeps windows that started within size + grace (the retention) of stream time.
    let store = driver.key_value_store("clicks-per-window", &serde(), &IntSerde)?;
    let kept: Vec<(String, i64, i64)> = store.into_iter().map(|(k, n)| (k.key, k.window.start, n)).collect();
    assert_eq!(kept, expect(&[("a", 30_000, 1)]));
    Ok(())
}

#[test]
fn hopping_windows_count_a_record_in_every_window_that_contains_it() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_with_no_grace(10_000).advance_by(5_000);
    assert_eq!(
        windows.windows_for(7_000),
        vec![
            Window { start: 0, end: 10_000 },
            Window {
                start: 5_000,
                end: 15_000
            }
        ]
    );
    assert_eq!(windows.windows_for(2_000), vec![Window { start: 0, end: 10_000 }]);
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::<String, i64>::with(StringSerde, IntSerde))
        .group_by_key(Grouped::default())
        .windowed_by(windows)
        .reduce(|a, b| a + b, Materialized::as_("sums"))
        .to_stream()
        .to(
            "sums",
            Produced::with(
                WindowedSerde::new(StringSerde, 10_000),
                rill_streams::serde::Nullable(IntSerde),
            ),
        );
    let mut driver = TopologyTestDriver::new(builder.build()?, "app")?;
    let events = TestTopic::<String, i64>::new("events", StringSerde, IntSerde);
    driver.pipe(&events, "x".to_owned(), 1, 7_000)?;
    driver.pipe(&events, "x".to_owned(), 10, 12_000)?;
    driver.pipe(&events, "x".to_owned(), 100, 9_000)?; // [0, 10,000) closed at 12,000: late there
    let sums = driver.read(&TestTopic::new(
        "sums",
        WindowedSerde::new(StringSerde, 10_000),
        rill_streams::serde::Nullable(IntSerde),
    ))?;
    assert_eq!(
        rows(sums),
        expect(&[
            ("x", 0, 1),
            ("x", 5_000, 1),
            ("x", 5_000, 11),
            ("x", 10_000, 10),
            ("x", 5_000, 111)
        ])
    );
    assert_eq!(driver.dropped_late_records(), 1, "dropped from one of its two windows");
    Ok(())
}

#[test]
fn bad_windows_and_suppressing_a_plain_table_are_build_errors() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::<String, i64>::with(StringSerde, IntSerde))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(1_000).advance_by(2_000))
        .count(Materialized::as_("w"));
    let error = builder.build().expect_err("advance > size");
    assert!(
        error
            .to_string()
            .contains("window advance must be in (0, size = 1000], not 2000"),
        "{error}"
    );
}

#[test]
fn stream_stream_inner_left_and_outer_joins_within_the_time_difference() -> Result<(), StreamsError> {
    use rill_streams::{JoinWindows, StreamJoined};
    let builder = StreamsBuilder::new();
    let a = builder.stream("a", Consumed::<String, String>::with(StringSerde, StringSerde));
    let b = builder.stream("b", Consumed::<String, i64>::with(StringSerde, IntSerde));
    let windows = JoinWindows::of_time_difference_and_grace(10, 5);
    let out = || Produced::with(StringSerde, StringSerde);
    a.join_windowed(&b, |x, y| format!("{x}+{y}"), windows, StreamJoined::default())
        .to("inner", out());
    a.left_join_windowed(
        &b,
        |x, y| format!("{x}+{}", y.map_or("-".to_owned(), i64::to_string)),
        windows,
        StreamJoined::default(),
    )
    .to("left", out());
    a.outer_join_windowed(
        &b,
        |x, y| {
            format!(
                "{}+{}",
                x.map_or("-", String::as_str),
                y.map_or("-".to_owned(), i64::to_string)
            )
        },
        windows,
        StreamJoined::with(StringSerde, StringSerde, IntSerde),
    )
    .to("outer", out());
    let mut driver = TopologyTestDriver::new(builder.build()?, "app")?;
    let ta = TestTopic::new("a", StringSerde, StringSerde);
    let tb = TestTopic::<String, i64>::new("b", StringSerde, IntSerde);
    let k = || "k".to_owned();
    driver.pipe(&ta, k(), "a1".to_owned(), 100)?;
    driver.pipe(&tb, k(), 1, 105)?; // joins a1
    driver.pipe(&tb, k(), 2, 200)?; // no partner yet
    driver.pipe(&ta, k(), "a3".to_owned(), 130)?; // late: 130 + 10 + 5 < 200
    driver.pipe(&ta, "j".to_owned(), "a4".to_owned(), 195)?; // another key, no partner
    driver.pipe(&tb, k(), 3, 400)?; // closes the windows of a4 and b2
    driver.pipe(&ta, k(), "a5".to_owned(), 395)?; // joins b3
    let mut read = |topic: &str| -> Result<Vec<(String, String, i64)>, StreamsError> {
        Ok(driver
            .read(&TestTopic::new(topic, StringSerde, StringSerde))?
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect())
    };
    let rows = |items: &[(&str, &str, i64)]| -> Vec<(String, String, i64)> {
        items
            .iter()
            .map(|(k, v, t)| (k.to_string(), v.to_string(), *t))
            .collect()
    };
    assert_eq!(read("inner")?, rows(&[("k", "a1+1", 105), ("k", "a5+3", 400)]));
    assert_eq!(
        read("left")?,
        rows(&[("k", "a1+1", 105), ("j", "a4+-", 195), ("k", "a5+3", 400)]),
        "an unmatched left record is emitted when its window closes, once"
    );
    assert_eq!(
        read("outer")?,
        rows(&[
            ("k", "a1+1", 105),
            ("j", "a4+-", 195),
            ("k", "-+2", 200),
            ("k", "a5+3", 400)
        ])
    );
    assert_eq!(driver.dropped_late_records(), 3, "a3, at each of the three joins");
    Ok(())
}

#[test]
fn session_windows_grow_merge_and_drop_late_records() -> Result<(), StreamsError> {
    use rill_streams::{SessionWindowedSerde, SessionWindows};
    let builder = StreamsBuilder::new();
    builder
        .stream("clicks", Consumed::<String, String>::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(5, 10))
        .count(Materialized::as_("sessions"))
        .to_stream()
        .to(
            "sessions",
            Produced::with(
                SessionWindowedSerde::new(StringSerde),
                rill_streams::serde::Nullable(IntSerde),
            ),
        );
    let mut driver = TopologyTestDriver::new(builder.build()?, "app")?;
    let clicks = TestTopic::new("clicks", StringSerde, StringSerde);
    for (key, ts) in [("a", 0), ("a", 4), ("a", 20), ("a", 12), ("a", 16), ("b", 2)] {
        driver.pipe(&clicks, key.to_owned(), "click".to_owned(), ts)?;
    }
    let out = driver.read(&TestTopic::new(
        "sessions",
        SessionWindowedSerde::new(StringSerde),
        rill_streams::serde::Nullable(IntSerde),
    ))?;
    let got: Vec<(String, i64, i64, Option<i64>)> = out
        .into_iter()
        .map(|r| (r.key.key, r.key.window.start, r.key.window.end, r.value))
        .collect();
    let a = |start, end, n| ("a".to_owned(), start, end, n);
    assert_eq!(
        got,
        vec![
            a(0, 0, Some(1)),
            a(0, 0, None), // merged into [0, 4]
            a(0, 4, Some(2)),
            a(20, 20, Some(1)),
            a(12, 12, Some(1)), // out of order, 8 after [0, 4]: a session of its own
            a(12, 12, None),    // 16 bridges [12, 12] and [20, 20]
            a(20, 20, None),
            a(12, 20, Some(3)),
        ]
    );
    assert_eq!(
        driver.dropped_late_records(),
        1,
        "b at 2 ends before stream time 20 - grace 10"
    );
    Ok(())
}

#[test]
fn event_time_from_a_timestamp_extractor_and_an_explicit_repartition() -> Result<(), StreamsError> {
    use std::sync::Arc;
    let builder = StreamsBuilder::new();
    // The value is "user@time": the time is the event time; the record timestamp is ignored.
    let events = builder.stream(
        "events",
        Consumed::<String, String>::with(StringSerde, StringSerde)
            .with_timestamp_extractor(|_, v, _| v.split_once('@').and_then(|(_, t)| t.parse().ok()).unwrap_or(-1)),
    );
    events
        .select_key(|_, v: &String| v.split('@').next().unwrap_or_default().to_owned())
        .repartition(Some("by-user"), Some(Arc::new(StringSerde)), None)
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(100))
        .count(Materialized::as_("per-user"))
        .to_stream()
        .to(
            "counts",
            Produced::with(
                WindowedSerde::new(StringSerde, 100),
                rill_streams::serde::Nullable(IntSerde),
            ),
        );
    let topology = builder.build()?;
    assert_eq!(
        topology.subtopologies("app"),
        vec![
            ["events".to_owned()].into(),
            ["app-by-user-repartition".to_owned()].into()
        ],
        "{}",
        topology.describe()
    );
    let mut driver = TopologyTestDriver::new(topology.clone(), "app")?;
    let input = TestTopic::new("events", StringSerde, StringSerde);
    for v in ["ann@5", "bob@50", "ann@120", "ann@99"] {
        driver.pipe(&input, "ignored".to_owned(), v.to_owned(), 1_000_000)?;
    }
    let counts = driver.read(&TestTopic::new(
        "counts",
        WindowedSerde::new(StringSerde, 100),
        rill_streams::serde::Nullable(IntSerde),
    ))?;
    assert_eq!(
        rows(counts),
        expect(&[("ann", 0, 1), ("bob", 0, 1), ("ann", 100, 1)]),
        "windows by event time"
    );
    assert_eq!(driver.stream_time(), 120);
    assert_eq!(
        driver.dropped_late_records(),
        1,
        "ann@99: [0, 100) closed at stream time 120"
    );

    // A negative event time is an invalid record: an error, or skipped and counted.
    let error = driver
        .pipe(&input, "k".to_owned(), "no-time".to_owned(), 7)
        .expect_err("no time");
    assert!(
        error.to_string().contains("invalid timestamp -1 for events-0@4"),
        "{error}"
    );
    let mut driver = TopologyTestDriver::new(topology, "app")?.skip_bad_records();
    driver.pipe(&input, "k".to_owned(), "no-time".to_owned(), 7)?;
    assert_eq!(driver.skipped_records(), 1);
    Ok(())
}

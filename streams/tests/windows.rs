//! Windowed aggregations through the test driver: tumbling and hopping windows, out-of-order
//! sliding windows, out-of-order and late records around the grace boundary, and suppression
//! until windows close.

use rill_streams::serde::{IntSerde, StringSerde};
use rill_streams::{
    Consumed, Grouped, Materialized, Produced, SlidingWindows, StreamsBuilder, StreamsError, Suppressed, TestTopic,
    TimeWindows, TopologyTestDriver, Window, Windowed, WindowedSerde,
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

/// A topology counting `events` in sliding windows of `difference` ms, with every update on
/// `updates` and (when `final_results`) each window's final count on `final`.
fn sliding_counts(difference: i64, grace: i64, final_results: bool) -> Result<TopologyTestDriver, StreamsError> {
    let builder = StreamsBuilder::new();
    let counts = builder
        .stream("events", Consumed::<String, i64>::with(StringSerde, IntSerde))
        .group_by_key(Grouped::default())
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(difference, grace))
        .aggregate(
            || 0i64,
            |_, value, sum| sum + value,
            Materialized::as_("sliding").with_value_serde(IntSerde),
        );
    let out = || {
        Produced::with(
            WindowedSerde::new(StringSerde, difference),
            rill_streams::serde::Nullable(IntSerde),
        )
    };
    counts.to_stream().to("updates", out());
    if final_results {
        counts
            .suppress(Suppressed::until_window_closes())
            .to_stream()
            .to("final", out());
    }
    TopologyTestDriver::new(builder.build()?, "app")
}

fn sliding_topic(name: &str, difference: i64) -> TestTopic<Windowed<String>, Option<i64>> {
    TestTopic::new(
        name,
        WindowedSerde::new(StringSerde, difference),
        rill_streams::serde::Nullable(IntSerde),
    )
}

#[test]
fn sliding_windows_follow_the_records_in_and_out_of_order_and_close_after_grace() -> Result<(), StreamsError> {
    let mut driver = sliding_counts(10, 20, true)?;
    let events = TestTopic::<String, i64>::new("events", StringSerde, IntSerde);
    for ts in [
        15, // left window [5, 15]
        20, // left window [10, 20] holds 15 and 20; 15's right window [16, 26] holds 20
        18, // out of order: joins [10, 20] and [16, 26]; new left [8, 18], right [19, 29]
        3,  // within d of the epoch: the shared window [0, 10]
        50, // stream time 50 closes windows ending before 30
        19, // late: even its right window [20, 30] would be closed
        21, // 20's right window [21, 31] is still open; [11, 21], [16, 26] and [19, 29] are not
    ] {
        driver.pipe(&events, "a".to_owned(), 1, ts)?;
    }
    let updates = driver.read(&sliding_topic("updates", 10))?;
    assert_eq!(
        rows(updates.clone()),
        expect(&[
            ("a", 5, 1),
            ("a", 16, 1),
            ("a", 10, 2),
            ("a", 10, 3),
            ("a", 16, 2),
            ("a", 8, 2),
            ("a", 19, 1),
            ("a", 0, 1),
            ("a", 40, 1),
            ("a", 21, 1),
        ])
    );
    assert_eq!(
        updates[0].key.window,
        Window { start: 5, end: 15 },
        "both ends inclusive"
    );
    assert_eq!(
        updates.iter().map(|r| r.timestamp).collect::<Vec<_>>(),
        [15, 20, 20, 20, 20, 18, 20, 3, 50, 21],
        "an update carries its window's latest record time"
    );
    assert_eq!(
        driver.dropped_late_records(),
        4,
        "the record at 19, and 21 for three closed windows"
    );
    assert_eq!(
        rows(driver.read(&sliding_topic("final", 10))?),
        expect(&[
            ("a", 0, 1),
            ("a", 5, 1),
            ("a", 8, 2),
            ("a", 10, 3),
            ("a", 16, 2),
            ("a", 19, 1)
        ]),
        "windows close one ms after end + grace"
    );
    Ok(())
}

/// The sliding windows of `timestamps` by definition: each record's left window (the shared
/// `[0, d]` for records within `d` of the epoch), and the right window of each record that has
/// a later one within `d + 1`; each holds the sum of the values in it.
fn sliding_by_definition(records: &[(i64, i64)], d: i64) -> std::collections::BTreeMap<i64, i64> {
    let mut starts = std::collections::BTreeSet::new();
    for &(t, _) in records {
        starts.insert((t - d).max(0));
        if records.iter().any(|&(u, _)| u > t && u <= t + 1 + d) {
            starts.insert(t + 1);
        }
    }
    starts
        .into_iter()
        .map(|s| {
            let sum = records
                .iter()
                .filter(|&&(t, _)| t >= s && t <= s + d)
                .map(|&(_, v)| v)
                .sum();
            (s, sum)
        })
        .collect()
}

#[test]
fn sliding_windows_hold_exactly_the_records_within_their_span_whatever_the_arrival_order() -> Result<(), StreamsError> {
    // A fixed pseudo-random sequence (xorshift), out of order within the grace period.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for round in 0..20 {
        let d = 1 + next(12) as i64;
        let mut driver = sliding_counts(d, 1_000, false)?;
        let events = TestTopic::<String, i64>::new("events", StringSerde, IntSerde);
        let mut sent: std::collections::BTreeMap<String, Vec<(i64, i64)>> = Default::default();
        for i in 0..60 {
            let key = ["a", "b", "ab"][next(3) as usize].to_owned();
            let (ts, value) = (next(80) as i64, 1i64 << (i % 20));
            sent.entry(key.clone()).or_default().push((ts, value));
            driver.pipe(&events, key, value, ts)?;
        }
        let mut last = std::collections::BTreeMap::new();
        for r in driver.read(&sliding_topic("updates", d))? {
            last.insert((r.key.key, r.key.window.start), r.value.expect("a sum"));
        }
        for (key, records) in &sent {
            let got: std::collections::BTreeMap<i64, i64> = last
                .iter()
                .filter(|((k, _), _)| k == key)
                .map(|((_, s), n)| (*s, *n))
                .collect();
            assert_eq!(
                got,
                sliding_by_definition(records, d),
                "round {round}, d = {d}, key {key}: records {records:?}"
            );
        }
    }
    Ok(())
}

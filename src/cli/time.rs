//! Parsing the date-times Kafka's tools take (`--to-datetime 2024-01-31T10:00:00.000`).

use anyhow::{Context, bail};

/// Milliseconds since the epoch for `YYYY-MM-DDTHH:mm:SS[.sss][Z|±hh:mm]`; without a zone the
/// time is UTC.
pub(crate) fn parse_datetime(text: &str) -> anyhow::Result<i64> {
    let invalid = || format!("`{text}` is not YYYY-MM-DDTHH:mm:SS[.sss][Z|+hh:mm]");
    let (date, rest) = text.split_once('T').with_context(invalid)?;
    let (time, offset_minutes) = match rest.find(['Z', '+', '-']) {
        Some(at) => {
            let zone = &rest[at..];
            let minutes = if zone == "Z" {
                0
            } else {
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                let (h, m) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
                let h: i64 = h.parse().with_context(invalid)?;
                let m: i64 = m.parse().with_context(invalid)?;
                sign * (h * 60 + m)
            };
            (&rest[..at], minutes)
        }
        None => (rest, 0),
    };
    let numbers = |s: &str, n: usize| -> anyhow::Result<Vec<i64>> {
        let parts: Vec<i64> = s
            .split([':', '-'])
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(invalid)?;
        if parts.len() != n {
            bail!(invalid());
        }
        Ok(parts)
    };
    let d = numbers(date, 3)?;
    let (hms, millis) = match time.split_once('.') {
        Some((hms, frac)) => {
            let digits: String = frac.chars().chain("000".chars()).take(3).collect();
            (hms, digits.parse::<i64>().with_context(invalid)?)
        }
        None => (time, 0),
    };
    let t = numbers(hms, 3)?;
    if !(1..=12).contains(&d[1]) || !(1..=31).contains(&d[2]) || t[0] > 23 || t[1] > 59 || t[2] > 60 {
        bail!(invalid());
    }
    let days = days_from_civil(d[0], d[1], d[2]);
    let seconds = days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2] - offset_minutes * 60;
    Ok(seconds * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_datetimes() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00").expect("epoch"), 0);
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.000").expect("utc"),
            1_700_000_000_000
        );
        assert_eq!(parse_datetime("2023-11-14T22:13:20.5Z").expect("z"), 1_700_000_000_500);
        assert_eq!(
            parse_datetime("2023-11-15T00:13:20+02:00").expect("zone"),
            1_700_000_000_000
        );
        assert_eq!(
            parse_datetime("2024-02-29T12:00:00-01:30").expect("leap"),
            1_709_213_400_000
        );
        assert!(parse_datetime("2024-13-01T00:00:00").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }
}

/// `yyyy-MM-dd HH:mm:ss:SSS` in UTC, as `kafka-consumer-perf-test` prints times.
pub(crate) fn format_kafka_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}:{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// The date of a day count since 1970-01-01 (inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        assert_eq!(format_kafka_time(1_700_000_000_123), "2023-11-14 22:13:20:123");
        assert_eq!(format_kafka_time(0), "1970-01-01 00:00:00:000");
        for ms in [0, 951_782_400_000, 1_709_213_400_000, 4_102_444_800_999] {
            let text = format_kafka_time(ms).replacen(' ', "T", 1);
            let (head, millis) = text.rsplit_once(':').expect("millis");
            assert_eq!(parse_datetime(&format!("{head}.{millis}")).expect("parse"), ms);
        }
    }
}

//! Java `SimpleDateFormat` patterns (`yyyy-MM-dd'T'HH:mm:ss.SSSX`), as Kafka's `TimestampConverter`
//! and `TimestampRouter` take them, translated once into chrono format items, always in UTC.

use chrono::format::{Fixed, Item, Parsed, StrftimeItems};
use chrono::{DateTime, Utc};

/// A compiled date pattern.
#[derive(Debug, Clone)]
pub(crate) struct DateFormat {
    pattern: String,
    items: Vec<Item<'static>>,
}

impl DateFormat {
    /// Translates a `SimpleDateFormat` pattern; the error names the letter it does not support.
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        let mut literal = String::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    literal.push('\'');
                    continue;
                }
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated quote in date pattern `{pattern}`")),
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(q) => literal.push(q),
                    }
                }
            } else if c.is_ascii_alphabetic() {
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                flush_literal(&mut literal, &mut items);
                items.extend(letter_items(c, count).ok_or_else(|| {
                    format!(
                        "date pattern `{pattern}`: unsupported letter `{}`",
                        c.to_string().repeat(count)
                    )
                })?);
            } else {
                literal.push(c);
            }
        }
        flush_literal(&mut literal, &mut items);
        Ok(Self {
            pattern: pattern.to_owned(),
            items,
        })
    }

    pub(crate) fn format(&self, time: &DateTime<Utc>) -> String {
        time.format_with_items(self.items.iter()).to_string()
    }

    /// Parses `text`, all of it. As with `SimpleDateFormat`, fields the pattern lacks default to
    /// 1970-01-01 00:00:00 and a time without an offset is in UTC.
    pub(crate) fn parse(&self, text: &str) -> Result<DateTime<Utc>, String> {
        let failed = |e: chrono::ParseError| format!("cannot parse `{text}` with date pattern `{}`: {e}", self.pattern);
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, text, self.items.iter()).map_err(failed)?;
        fill_defaults(&mut parsed).map_err(failed)?;
        parsed.to_datetime().map(|t| t.with_timezone(&Utc)).map_err(failed)
    }
}

fn flush_literal(literal: &mut String, items: &mut Vec<Item<'static>>) {
    if literal.is_empty() {
        return;
    }
    let text = std::mem::take(literal).into_boxed_str();
    // Whitespace as `Space` so that parsing accepts any run of it, as `SimpleDateFormat` is lenient.
    if text.chars().all(char::is_whitespace) {
        items.push(Item::OwnedSpace(text));
    } else {
        items.push(Item::OwnedLiteral(text));
    }
}

/// The chrono items for `count` repetitions of pattern letter `letter`.
fn letter_items(letter: char, count: usize) -> Option<Vec<Item<'static>>> {
    let strftime: &'static str = match (letter, count) {
        ('y', 2) => "%y",
        ('y', _) => "%Y",
        ('Y', 2) => "%g",
        ('Y', _) => "%G",
        ('M' | 'L', 1) => "%-m",
        ('M' | 'L', 2) => "%m",
        ('M' | 'L', 3) => "%b",
        ('M' | 'L', _) => "%B",
        ('d', 1) => "%-d",
        ('d', _) => "%d",
        ('D', 1) => "%-j",
        ('D', _) => "%j",
        ('E', 1..=3) => "%a",
        ('E', _) => "%A",
        ('u', _) => "%u",
        ('a', _) => "%p",
        ('H', 1) => "%-H",
        ('H', _) => "%H",
        ('h', 1) => "%-I",
        ('h', _) => "%I",
        ('m', 1) => "%-M",
        ('m', _) => "%M",
        ('s', 1) => "%-S",
        ('s', _) => "%S",
        ('S', 1..=3) => "%3f",
        ('S', 6) => "%6f",
        ('S', 9) => "%9f",
        ('z', _) => "%Z",
        ('Z', _) => "%z",
        // `X`: "Z" for UTC, else an offset; with three, hours and minutes with a colon.
        ('X', 1 | 2) => return Some(vec![Item::Fixed(Fixed::TimezoneOffsetZ)]),
        ('X', 3) => return Some(vec![Item::Fixed(Fixed::TimezoneOffsetColonZ)]),
        _ => return None,
    };
    Some(StrftimeItems::new(strftime).collect())
}

/// Fills what the pattern did not give with 1970-01-01 00:00:00 UTC.
fn fill_defaults(parsed: &mut Parsed) -> chrono::ParseResult<()> {
    let has_year = parsed.year().is_some()
        || parsed.year_mod_100().is_some()
        || parsed.isoyear().is_some()
        || parsed.isoyear_mod_100().is_some();
    if !has_year {
        parsed.set_year(1970)?;
    }
    let by_week_or_ordinal = parsed.ordinal().is_some()
        || parsed.isoweek().is_some()
        || parsed.week_from_mon().is_some()
        || parsed.week_from_sun().is_some();
    if !by_week_or_ordinal {
        if parsed.month().is_none() {
            parsed.set_month(1)?;
        }
        if parsed.day().is_none() {
            parsed.set_day(1)?;
        }
    }
    match (parsed.hour_div_12(), parsed.hour_mod_12()) {
        (None, None) => parsed.set_hour(0)?,
        (Some(_), None) => parsed.set_hour12(12)?,
        (None, Some(_)) => parsed.set_ampm(false)?,
        (Some(_), Some(_)) => {}
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0)?;
    }
    if parsed.second().is_none() {
        parsed.set_second(0)?;
    }
    if parsed.offset().is_none() {
        parsed.set_offset(0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).expect("in range")
    }

    fn format(pattern: &str, millis: i64) -> String {
        DateFormat::new(pattern).expect("valid pattern").format(&at(millis))
    }

    fn parse(pattern: &str, text: &str) -> Result<i64, String> {
        DateFormat::new(pattern)
            .expect("valid pattern")
            .parse(text)
            .map(|t| t.timestamp_millis())
    }

    // 2024-03-05T07:08:09.012Z
    const T: i64 = 1_709_622_489_012;

    #[test]
    fn formats_like_simple_date_format() {
        assert_eq!(format("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", T), "2024-03-05T07:08:09.012Z");
        assert_eq!(format("yyyyMMdd", T), "20240305");
        assert_eq!(format("yy/M/d h:mm a", T), "24/3/5 7:08 AM");
        assert_eq!(
            format("EEE, d MMM yyyy HH:mm:ss Z", T),
            "Tue, 5 Mar 2024 07:08:09 +0000"
        );
        assert_eq!(format("EEEE MMMM X", T), "Tuesday March Z");
        assert_eq!(format("'at' HH 'o''clock' ''", T), "at 07 o'clock '");
    }

    #[test]
    fn parses_with_defaults_and_offsets() {
        assert_eq!(parse("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T07:08:09.012Z"), Ok(T));
        assert_eq!(
            parse("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T09:08:09.012+02:00"),
            Ok(T)
        );
        assert_eq!(parse("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 07:08:09.012"), Ok(T));
        assert_eq!(parse("yyyy-MM-dd", "2024-03-05"), Ok(1_709_596_800_000));
        assert_eq!(parse("HH:mm", "01:30"), Ok(5_400_000));
        assert_eq!(parse("dd/MM/yy hh:mm a", "05/03/24 07:08 PM"), Ok(1_709_665_680_000));
        assert_eq!(parse("yyyyMMddZ", "20240305+0100"), Ok(1_709_593_200_000));
        assert!(parse("yyyy-MM-dd", "2024-03-05x").is_err());
        assert!(parse("yyyy-MM-dd", "nope").is_err());
    }

    #[test]
    fn rejects_unsupported_letters_and_open_quotes() {
        assert_eq!(
            DateFormat::new("yyyy GG").map(|_| ()),
            Err("date pattern `yyyy GG`: unsupported letter `GG`".into())
        );
        assert!(DateFormat::new("yyyy 'open").is_err());
    }
}

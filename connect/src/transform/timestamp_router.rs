//! `TimestampRouter`: renames the topic after the record's timestamp, e.g. `logs-20240305`.

use chrono::DateTime;

use super::TransformError;
use super::date_format::DateFormat;
use super::settings::Settings;
use super::transformation::{Outcome, Transform};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct TimestampRouter {
    /// `topic.format` split at its `${topic}` and `${timestamp}` placeholders.
    parts: Vec<Part>,
    format: DateFormat,
}

#[derive(Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Topic,
    Timestamp,
}

impl TimestampRouter {
    pub(crate) fn new(settings: &Settings<'_>) -> Result<Self, TransformError> {
        let topic_format = settings.get("topic.format").unwrap_or("${topic}-${timestamp}");
        let format = DateFormat::new(settings.get("timestamp.format").unwrap_or("yyyyMMdd"))
            .map_err(|e| settings.error("timestamp.format", e))?;
        Ok(Self {
            parts: split_placeholders(topic_format),
            format,
        })
    }
}

fn split_placeholders(mut rest: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    loop {
        let next = [("${topic}", Part::Topic), ("${timestamp}", Part::Timestamp)]
            .into_iter()
            .filter_map(|(placeholder, part)| rest.find(placeholder).map(|at| (at, placeholder.len(), part)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, len, part)) = next else {
            if !rest.is_empty() {
                parts.push(Part::Literal(rest.to_owned()));
            }
            return parts;
        };
        if at > 0 {
            parts.push(Part::Literal(rest[..at].to_owned()));
        }
        parts.push(part);
        rest = &rest[at + len..];
    }
}

impl Transform for TimestampRouter {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let Some(millis) = record.timestamp else {
            return Err("the record has no timestamp to route by".into());
        };
        let time =
            DateTime::from_timestamp_millis(millis).ok_or_else(|| format!("timestamp {millis} is out of range"))?;
        let stamp = self.format.format(&time);
        let mut topic = String::with_capacity(record.topic.len() + stamp.len() + 8);
        for part in &self.parts {
            match part {
                Part::Literal(text) => topic.push_str(text),
                Part::Topic => topic.push_str(&record.topic),
                Part::Timestamp => topic.push_str(&stamp),
            }
        }
        record.topic = topic;
        Ok(Outcome::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_topic_format_at_placeholders() {
        assert_eq!(
            split_placeholders("${topic}-${timestamp}"),
            [Part::Topic, Part::Literal("-".into()), Part::Timestamp]
        );
        assert_eq!(
            split_placeholders("x${timestamp}${topic}y"),
            [
                Part::Literal("x".into()),
                Part::Timestamp,
                Part::Topic,
                Part::Literal("y".into())
            ]
        );
        assert_eq!(split_placeholders("fixed"), [Part::Literal("fixed".into())]);
    }
}

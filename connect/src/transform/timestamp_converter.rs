//! `TimestampConverter$Key` / `$Value`: converts a timestamp (a field, or the whole key or value)
//! between a formatted string, a Unix epoch number and Kafka's Timestamp, Date and Time types.
//!
//! JSON has no date type, so Timestamp, Date and Time come out as epoch milliseconds: Date is
//! midnight UTC of the day, Time the milliseconds since midnight. Number inputs are read as Unix
//! epochs at `unix.precision`; string inputs with `format`, or as RFC 3339 when there is none.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::TransformError;
use super::date_format::DateFormat;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform, object_mut, type_name};
use crate::record::ConnectRecord;

const MILLIS_PER_DAY: i64 = 86_400_000;

#[derive(Debug)]
pub(crate) struct TimestampConverter {
    part: Part,
    /// `None` converts the whole key or value.
    field: Option<String>,
    target: TargetType,
    format: Option<DateFormat>,
    precision: Precision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetType {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

impl TimestampConverter {
    pub(crate) fn new(settings: &Settings<'_>, part: Part) -> Result<Self, TransformError> {
        let target = settings.required("target.type")?;
        let target = match target.to_ascii_lowercase().as_str() {
            "string" => TargetType::String,
            "unix" => TargetType::Unix,
            "date" => TargetType::Date,
            "time" => TargetType::Time,
            "timestamp" => TargetType::Timestamp,
            _ => {
                return Err(settings.error(
                    "target.type",
                    format!("unknown timestamp type `{target}`: expected string, unix, Date, Time or Timestamp"),
                ));
            }
        };
        let precision = match settings.get("unix.precision").unwrap_or("milliseconds") {
            "seconds" => Precision::Seconds,
            "milliseconds" => Precision::Milliseconds,
            "microseconds" => Precision::Microseconds,
            "nanoseconds" => Precision::Nanoseconds,
            other => {
                return Err(settings.error(
                    "unix.precision",
                    format!("unknown precision `{other}`: expected seconds, milliseconds, microseconds or nanoseconds"),
                ));
            }
        };
        let format = settings
            .get("format")
            .map(DateFormat::new)
            .transpose()
            .map_err(|e| settings.error("format", e))?;
        Ok(Self {
            part,
            field: settings.get("field").map(str::to_owned),
            target,
            format,
            precision,
        })
    }

    fn convert(&self, value: &Value) -> Result<Value, String> {
        let time = match value {
            Value::Null => return Ok(Value::Null),
            Value::Number(n) => {
                let Some(epoch) = n.as_i64() else {
                    return Err(format!("the Unix timestamp {n} is not an integer"));
                };
                self.time_of(epoch)
                    .ok_or_else(|| format!("the Unix timestamp {n} is out of range"))?
            }
            Value::String(s) => match &self.format {
                Some(format) => format.parse(s)?,
                None => DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| format!("cannot parse `{s}` as an RFC 3339 timestamp (no `format` is set): {e}"))?,
            },
            other => {
                return Err(format!(
                    "expected a timestamp as a number or a string, found {}",
                    type_name(other)
                ));
            }
        };
        Ok(match self.target {
            TargetType::String => Value::String(match &self.format {
                Some(format) => format.format(&time),
                None => time.to_rfc3339_opts(SecondsFormat::Millis, true),
            }),
            TargetType::Unix => Value::from(
                self.epoch_of(&time)
                    .ok_or_else(|| format!("{} cannot be represented in Unix nanoseconds", time.to_rfc3339()))?,
            ),
            TargetType::Timestamp => Value::from(time.timestamp_millis()),
            TargetType::Date => Value::from(time.timestamp_millis().div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY),
            TargetType::Time => Value::from(time.timestamp_millis().rem_euclid(MILLIS_PER_DAY)),
        })
    }

    fn time_of(&self, epoch: i64) -> Option<DateTime<Utc>> {
        match self.precision {
            Precision::Seconds => DateTime::from_timestamp(epoch, 0),
            Precision::Milliseconds => DateTime::from_timestamp_millis(epoch),
            Precision::Microseconds => DateTime::from_timestamp_micros(epoch),
            Precision::Nanoseconds => Some(DateTime::from_timestamp_nanos(epoch)),
        }
    }

    fn epoch_of(&self, time: &DateTime<Utc>) -> Option<i64> {
        match self.precision {
            Precision::Seconds => Some(time.timestamp()),
            Precision::Milliseconds => Some(time.timestamp_millis()),
            Precision::Microseconds => Some(time.timestamp_micros()),
            Precision::Nanoseconds => time.timestamp_nanos_opt(),
        }
    }
}

impl Transform for TimestampConverter {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let slot = self.part.of(record);
        match &self.field {
            None => {
                if let Some(value) = slot {
                    *value = self.convert(value)?;
                }
            }
            Some(field) => {
                let Some(map) = object_mut(slot, self.part, "timestamp conversion")? else {
                    return Ok(Outcome::Keep);
                };
                if let Some(value) = map.get_mut(field) {
                    *value = self.convert(value).map_err(|e| format!("field `{field}`: {e}"))?;
                }
            }
        }
        Ok(Outcome::Keep)
    }
}

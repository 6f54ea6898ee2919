//! The predicates a transform can be made conditional on (`transforms.<alias>.predicate`):
//! `TopicNameMatches`, `HasHeaderKey` and `RecordIsTombstone`.

use regex::Regex;

use super::TransformError;
use super::regex_router::full_match;
use super::settings::Settings;
use super::transformation::is_null;
use crate::record::ConnectRecord;

/// Package of Kafka's predicate classes, which `predicates.<alias>.type` may start with.
pub(crate) const PACKAGE: &str = "org.apache.kafka.connect.transforms.predicates.";

/// The predicate types, by class name.
pub(crate) const CLASSES: &[&str] = &[
    "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
    "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
    "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
];

#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    /// The topic fully matches `pattern`.
    TopicNameMatches(Regex),
    /// The record has a header named `name`.
    HasHeaderKey(String),
    /// The value is null.
    RecordIsTombstone,
}

impl Predicate {
    /// The predicate configured under `settings`' prefix (`predicates.<alias>.`).
    pub(crate) fn from_settings(settings: &Settings<'_>) -> Result<Self, TransformError> {
        let class = settings.required("type")?;
        match class.strip_prefix(PACKAGE).unwrap_or(class) {
            "TopicNameMatches" => Ok(Self::TopicNameMatches(full_match(
                settings,
                "pattern",
                settings.required("pattern")?,
            )?)),
            "HasHeaderKey" => Ok(Self::HasHeaderKey(settings.required("name")?.to_owned())),
            "RecordIsTombstone" => Ok(Self::RecordIsTombstone),
            _ => Err(settings.error(
                "type",
                format!(
                    "unknown predicate type `{class}`: expected TopicNameMatches, HasHeaderKey or RecordIsTombstone"
                ),
            )),
        }
    }

    pub(crate) fn test(&self, record: &ConnectRecord) -> bool {
        match self {
            Self::TopicNameMatches(regex) => regex.is_match(&record.topic),
            Self::HasHeaderKey(name) => record.headers.iter().any(|(n, _)| n == name),
            Self::RecordIsTombstone => is_null(&record.value),
        }
    }
}

//! The transform types by class name, and building one from its config.

use std::sync::LazyLock;

use super::TransformError;
use super::cast::Cast;
use super::extract_field::ExtractField;
use super::filter::Filter;
use super::headers::{DropHeaders, HeaderFrom, InsertHeader};
use super::hoist_field::HoistField;
use super::insert_field::InsertField;
use super::mask_field::MaskField;
use super::predicate;
use super::regex_router::RegexRouter;
use super::replace_field::ReplaceField;
use super::rhai::Rhai;
use super::settings::Settings;
use super::timestamp_converter::TimestampConverter;
use super::timestamp_router::TimestampRouter;
use super::transformation::{Part, Transform};
use super::value_to_key::ValueToKey;

/// Package of Kafka's transform classes, which `transforms.<alias>.type` may start with.
const PACKAGE: &str = "org.apache.kafka.connect.transforms.";

type Build = fn(&Settings<'_>) -> Result<Box<dyn Transform>, TransformError>;

/// Each type's class name and how to build it.
const TYPES: &[(&str, Build)] = &[
    ("org.apache.kafka.connect.transforms.Cast$Key", |s| {
        Ok(Box::new(Cast::new(s, Part::Key)?))
    }),
    ("org.apache.kafka.connect.transforms.Cast$Value", |s| {
        Ok(Box::new(Cast::new(s, Part::Value)?))
    }),
    ("org.apache.kafka.connect.transforms.DropHeaders", |s| {
        Ok(Box::new(DropHeaders::new(s)?))
    }),
    ("org.apache.kafka.connect.transforms.ExtractField$Key", |s| {
        Ok(Box::new(ExtractField::new(s, Part::Key)?))
    }),
    ("org.apache.kafka.connect.transforms.ExtractField$Value", |s| {
        Ok(Box::new(ExtractField::new(s, Part::Value)?))
    }),
    ("org.apache.kafka.connect.transforms.Filter", |_| Ok(Box::new(Filter))),
    ("org.apache.kafka.connect.transforms.HeaderFrom$Key", |s| {
        Ok(Box::new(HeaderFrom::new(s, Part::Key)?))
    }),
    ("org.apache.kafka.connect.transforms.HeaderFrom$Value", |s| {
        Ok(Box::new(HeaderFrom::new(s, Part::Value)?))
    }),
    ("org.apache.kafka.connect.transforms.HoistField$Key", |s| {
        Ok(Box::new(HoistField::new(s, Part::Key)?))
    }),
    ("org.apache.kafka.connect.transforms.HoistField$Value", |s| {
        Ok(Box::new(HoistField::new(s, Part::Value)?))
    }),
    ("org.apache.kafka.connect.transforms.InsertField$Key", |s| {
        Ok(Box::new(InsertField::new(s, Part::Key)?))
    }),
    ("org.apache.kafka.connect.transforms.InsertField$Value", |s| {
        Ok(Box::new(InsertField::new(s, Part::Value)?))
    }),
    ("org.apache.kafka.connect.transforms.InsertHeader", |s| {
        Ok(Box::new(InsertHeader::new(s)?))
    }),
    ("org.apache.kafka.connect.transforms.MaskField$Key", |s| {
        Ok(Box::new(MaskField::new(s, Part::Key)?))
    }),
    ("org.apache.kafka.connect.transforms.MaskField$Value", |s| {
        Ok(Box::new(MaskField::new(s, Part::Value)?))
    }),
    ("org.apache.kafka.connect.transforms.RegexRouter", |s| {
        Ok(Box::new(RegexRouter::new(s)?))
    }),
    ("org.apache.kafka.connect.transforms.ReplaceField$Key", |s| {
        Ok(Box::new(ReplaceField::new(s, Part::Key)?))
    }),
    ("org.apache.kafka.connect.transforms.ReplaceField$Value", |s| {
        Ok(Box::new(ReplaceField::new(s, Part::Value)?))
    }),
    ("org.apache.kafka.connect.transforms.TimestampConverter$Key", |s| {
        Ok(Box::new(TimestampConverter::new(s, Part::Key)?))
    }),
    ("org.apache.kafka.connect.transforms.TimestampConverter$Value", |s| {
        Ok(Box::new(TimestampConverter::new(s, Part::Value)?))
    }),
    ("org.apache.kafka.connect.transforms.TimestampRouter", |s| {
        Ok(Box::new(TimestampRouter::new(s)?))
    }),
    ("org.apache.kafka.connect.transforms.ValueToKey", |s| {
        Ok(Box::new(ValueToKey::new(s)?))
    }),
    // Rill's own: a rhai script.
    ("rhai", |s| Ok(Box::new(Rhai::new(s)?))),
];

/// The transform types Rill Connect runs, by Kafka class name
/// (`org.apache.kafka.connect.transforms.Cast$Value`, …); `transforms.<alias>.type` takes these
/// or the short names after the package (`Cast$Value`).
pub fn transform_types() -> &'static [&'static str] {
    static CLASSES: LazyLock<Vec<&'static str>> = LazyLock::new(|| TYPES.iter().map(|(class, _)| *class).collect());
    &CLASSES
}

/// The predicate types, by Kafka class name
/// (`org.apache.kafka.connect.transforms.predicates.TopicNameMatches`, …).
pub fn predicate_types() -> &'static [&'static str] {
    predicate::CLASSES
}

/// Builds the transform configured under `settings`' prefix (`transforms.<alias>.`), with its
/// short type name.
pub(crate) fn build(settings: &Settings<'_>) -> Result<(&'static str, Box<dyn Transform>), TransformError> {
    let class = settings.required("type")?;
    let short = class.strip_prefix(PACKAGE).unwrap_or(class);
    let Some((name, build)) = TYPES
        .iter()
        .map(|(c, build)| (short_name(c), build))
        .find(|(name, _)| *name == short)
    else {
        let known: Vec<&str> = TYPES.iter().map(|(class, _)| short_name(class)).collect();
        return Err(settings.error(
            "type",
            format!("unknown transform type `{class}`: expected one of {}", known.join(", ")),
        ));
    };
    Ok((name, build(settings)?))
}

fn short_name(class: &'static str) -> &'static str {
    class.strip_prefix(PACKAGE).unwrap_or(class)
}

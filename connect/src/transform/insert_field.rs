//! `InsertField$Key` / `$Value`: adds the record's topic, partition, offset, timestamp or a static
//! value as fields of an object key or value.

use serde_json::Value;

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform, object_mut, strip_optionality};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct InsertField {
    part: Part,
    topic: Option<String>,
    partition: Option<String>,
    offset: Option<String>,
    timestamp: Option<String>,
    static_field: Option<(String, Value)>,
}

impl InsertField {
    pub(crate) fn new(settings: &Settings<'_>, part: Part) -> Result<Self, TransformError> {
        let field = |name: &str| settings.get(name).map(|f| strip_optionality(f).to_owned());
        Ok(Self {
            part,
            topic: field("topic.field"),
            partition: field("partition.field"),
            offset: field("offset.field"),
            timestamp: field("timestamp.field"),
            static_field: field("static.field").map(|f| {
                let value = settings
                    .get("static.value")
                    .map_or(Value::Null, |v| Value::String(v.to_owned()));
                (f, value)
            }),
        })
    }
}

impl Transform for InsertField {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let ConnectRecord {
            topic,
            partition,
            key,
            value,
            timestamp,
            origin,
            ..
        } = record;
        let slot = match self.part {
            Part::Key => key,
            Part::Value => value,
        };
        let Some(map) = object_mut(slot, self.part, "field insertion")? else {
            return Ok(Outcome::Keep);
        };
        if let Some(field) = &self.topic {
            map.insert(field.clone(), Value::String(topic.clone()));
        }
        if let Some(field) = &self.partition {
            let partition = partition.or(origin.as_ref().map(|o| o.partition));
            map.insert(field.clone(), partition.map_or(Value::Null, Value::from));
        }
        if let (Some(field), Some(origin)) = (&self.offset, origin.as_ref()) {
            map.insert(field.clone(), Value::from(origin.offset));
        }
        if let Some(field) = &self.timestamp {
            map.insert(field.clone(), timestamp.map_or(Value::Null, Value::from));
        }
        if let Some((field, value)) = &self.static_field {
            map.insert(field.clone(), value.clone());
        }
        Ok(Outcome::Keep)
    }
}

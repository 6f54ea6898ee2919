//! `ValueToKey`: replaces the key with an object of some of the value's fields.

use serde_json::{Map, Value};

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform, not_an_object};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct ValueToKey {
    fields: Vec<String>,
}

impl ValueToKey {
    pub(crate) fn new(settings: &Settings<'_>) -> Result<Self, TransformError> {
        Ok(Self {
            fields: settings.required_list("fields")?,
        })
    }
}

impl Transform for ValueToKey {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let value = match &record.value {
            Some(Value::Object(map)) => map,
            None | Some(Value::Null) => return Err("the value is null: there are no fields to copy to the key".into()),
            Some(other) => return Err(not_an_object(other, Part::Value, "copying fields from value to key")),
        };
        let mut key = Map::with_capacity(self.fields.len());
        for field in &self.fields {
            let Some(v) = value.get(field) else {
                return Err(format!("field `{field}` is missing from the value"));
            };
            key.insert(field.clone(), v.clone());
        }
        record.key = Some(Value::Object(key));
        Ok(Outcome::Keep)
    }
}

//! `HoistField$Key` / `$Value`: wraps the whole key or value in an object of one field.

use serde_json::{Map, Value};

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct HoistField {
    part: Part,
    field: String,
}

impl HoistField {
    pub(crate) fn new(settings: &Settings<'_>, part: Part) -> Result<Self, TransformError> {
        Ok(Self {
            part,
            field: settings.required("field")?.to_owned(),
        })
    }
}

impl Transform for HoistField {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let slot = self.part.of(record);
        let mut map = Map::with_capacity(1);
        map.insert(self.field.clone(), slot.take().unwrap_or(Value::Null));
        *slot = Some(Value::Object(map));
        Ok(Outcome::Keep)
    }
}

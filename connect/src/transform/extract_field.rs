//! `ExtractField$Key` / `$Value`: replaces an object key or value with one of its fields (a nested
//! one with `field.syntax.version=V2`).

use serde_json::Value;

use super::TransformError;
use super::field_path::FieldPath;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform, not_an_object};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct ExtractField {
    part: Part,
    path: FieldPath,
}

impl ExtractField {
    pub(crate) fn new(settings: &Settings<'_>, part: Part) -> Result<Self, TransformError> {
        Ok(Self {
            part,
            path: FieldPath::from_settings(settings, "field")?,
        })
    }
}

impl Transform for ExtractField {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let slot = self.part.of(record);
        match slot.take() {
            None | Some(Value::Null) => {}
            Some(whole @ Value::Object(_)) => *slot = Some(self.path.take(whole)).filter(|v| !v.is_null()),
            Some(other) => {
                let reason = not_an_object(&other, self.part, "field extraction");
                *slot = Some(other);
                return Err(reason);
            }
        }
        Ok(Outcome::Keep)
    }
}

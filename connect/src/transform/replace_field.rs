//! `ReplaceField$Key` / `$Value`: keeps (`include`), drops (`exclude`) and renames fields of an
//! object key or value.

use serde_json::Map;

use super::TransformError;
use super::settings::Settings;
use super::transformation::{Outcome, Part, Transform, object_mut};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct ReplaceField {
    part: Part,
    exclude: Vec<String>,
    include: Vec<String>,
    renames: Vec<(String, String)>,
}

impl ReplaceField {
    pub(crate) fn new(settings: &Settings<'_>, part: Part) -> Result<Self, TransformError> {
        let list_or_legacy = |name: &str, legacy: &str| {
            let list = settings.list(name);
            if list.is_empty() { settings.list(legacy) } else { list }
        };
        let mut renames = Vec::new();
        for entry in settings.list("renames") {
            match entry.split_once(':') {
                Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                    renames.push((from.trim().to_owned(), to.trim().to_owned()));
                }
                _ => {
                    return Err(settings.error(
                        "renames",
                        format!("invalid rename mapping `{entry}`: expected `old:new` pairs separated by commas"),
                    ));
                }
            }
        }
        Ok(Self {
            part,
            exclude: list_or_legacy("exclude", "blacklist"),
            include: list_or_legacy("include", "whitelist"),
            renames,
        })
    }

    fn keeps(&self, field: &str) -> bool {
        !self.exclude.iter().any(|f| f == field) && (self.include.is_empty() || self.include.iter().any(|f| f == field))
    }

    fn renamed(&self, field: String) -> String {
        match self.renames.iter().find(|(from, _)| *from == field) {
            Some((_, to)) => to.clone(),
            None => field,
        }
    }
}

impl Transform for ReplaceField {
    fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, String> {
        let Some(map) = object_mut(self.part.of(record), self.part, "field replacement")? else {
            return Ok(Outcome::Keep);
        };
        let old = std::mem::take(map);
        let mut new = Map::with_capacity(old.len());
        for (field, value) in old {
            if self.keeps(&field) {
                new.insert(self.renamed(field), value);
            }
        }
        *map = new;
        Ok(Outcome::Keep)
    }
}

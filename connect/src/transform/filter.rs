//! `Filter`: drops every record it is applied to; with a predicate, the ones that match.

use super::transformation::{Outcome, Transform};
use crate::record::ConnectRecord;

#[derive(Debug)]
pub(crate) struct Filter;

impl Transform for Filter {
    fn apply(&self, _record: &mut ConnectRecord) -> Result<Outcome, String> {
        Ok(Outcome::Drop)
    }
}

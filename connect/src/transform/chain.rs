//! [`TransformChain`]: a connector's transforms, built once from its config and run on every
//! record.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::TransformError;
use super::predicate::Predicate;
use super::settings::{Settings, split_list};
use super::transformation::{Outcome, Transform};
use super::types;
use crate::record::ConnectRecord;

/// A connector's transforms in order, each maybe conditional on a predicate, as its config
/// (`transforms`, `transforms.<alias>.*`, `predicates`, `predicates.<alias>.*`) describes them.
/// Cloning is cheap: the transforms are shared.
#[derive(Debug, Clone, Default)]
pub struct TransformChain {
    steps: Arc<[Step]>,
}

#[derive(Debug)]
struct Step {
    alias: String,
    /// The short type name, e.g. `MaskField$Value`.
    kind: &'static str,
    transform: Box<dyn Transform>,
    /// Applies only when the predicate's result differs from `negate`.
    condition: Option<(Predicate, bool)>,
}

impl TransformChain {
    /// From a connector's flat config (`transforms`, `transforms.<alias>.*`, `predicates`,
    /// `predicates.<alias>.*`). Every predicate listed is checked, used or not.
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<Self, TransformError> {
        let mut predicates = HashMap::new();
        for alias in aliases(config, "predicates")? {
            let prefix = format!("predicates.{alias}.");
            let predicate = Predicate::from_settings(&Settings::new(config, &prefix))?;
            predicates.insert(alias, predicate);
        }
        let mut steps = Vec::new();
        for alias in aliases(config, "transforms")? {
            let prefix = format!("transforms.{alias}.");
            let settings = Settings::new(config, &prefix);
            let (kind, transform) = types::build(&settings)?;
            let condition = match settings.get("predicate") {
                None => None,
                Some(name) => {
                    let predicate = predicates.get(name).ok_or_else(|| {
                        settings.error(
                            "predicate",
                            format!("unknown predicate `{name}`: it is not among the aliases in `predicates`"),
                        )
                    })?;
                    Some((predicate.clone(), settings.bool("negate", false)?))
                }
            };
            steps.push(Step {
                alias,
                kind,
                transform,
                condition,
            });
        }
        Ok(Self { steps: steps.into() })
    }

    /// Whether there are no transforms (records pass through unchanged).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the transforms in order; `Ok(None)` when one dropped the record (`Filter`).
    pub fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, TransformError> {
        for step in self.steps.iter() {
            let applies = match &step.condition {
                Some((predicate, negate)) => predicate.test(&record) != *negate,
                None => true,
            };
            if !applies {
                continue;
            }
            match step.transform.apply(&mut record) {
                Ok(Outcome::Keep) => {}
                Ok(Outcome::Drop) => return Ok(None),
                Err(reason) => {
                    return Err(TransformError::Record {
                        alias: step.alias.clone(),
                        kind: step.kind.to_owned(),
                        reason,
                    });
                }
            }
        }
        Ok(Some(record))
    }
}

/// The aliases listed in `key` (`transforms` or `predicates`), each once.
fn aliases(config: &BTreeMap<String, String>, key: &str) -> Result<Vec<String>, TransformError> {
    let aliases = config.get(key).map(|v| split_list(v)).unwrap_or_default();
    for (i, alias) in aliases.iter().enumerate() {
        if aliases[..i].contains(alias) {
            return Err(TransformError::Config {
                key: key.to_owned(),
                reason: format!("duplicate alias `{alias}`"),
            });
        }
    }
    Ok(aliases)
}

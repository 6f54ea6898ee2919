//! `PUT /connector-plugins/{type}/config/validate`: a config checked key by key, in Kafka
//! Connect's `ConfigInfos` shape.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::plugin::Plugin;
use super::spec::{Config, Spec};
use crate::error::ConnectError;

/// The config key an error is about, if it names one.
fn key_of(error: &ConnectError) -> Option<String> {
    match error {
        ConnectError::Config { key, .. } => Some(key.clone()),
        ConnectError::Transform(crate::transform::TransformError::Config { key, .. }) => Some(key.clone()),
        ConnectError::Db(e) => e.config_key().map(str::to_owned),
        _ => None,
    }
}

/// Checks `config` for `plugin`: every key's value and errors, and the error count.
pub fn validate(plugin: Plugin, config: &Config) -> Value {
    let definitions = plugin.definitions();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for def in &definitions {
        if def.required && config.get(def.name).is_none_or(|v| v.trim().is_empty()) && def.name != "name" {
            errors.entry(def.name.to_owned()).or_default().push(format!(
                "Missing required configuration \"{}\" which has no default value.",
                def.name
            ));
        }
    }
    if errors.is_empty() {
        let mut full = config.clone();
        full.entry("name".to_owned()).or_insert_with(|| "validate".to_owned());
        full.entry("connector.class".to_owned())
            .or_insert_with(|| plugin.class().to_owned());
        if let Err(e) = Spec::parse(&full) {
            let key = key_of(&e).unwrap_or_else(|| "connector.class".to_owned());
            errors.entry(key).or_default().push(e.to_string());
        }
    }
    let mut groups: Vec<&str> = Vec::new();
    let mut configs = Vec::new();
    for def in &definitions {
        if !groups.contains(&def.group) {
            groups.push(def.group);
        }
        configs.push(json!({
            "definition": def,
            "value": {
                "name": def.name,
                "value": config.get(def.name).cloned().or(def.default_value.map(str::to_owned)),
                "recommended_values": [],
                "errors": errors.remove(def.name).unwrap_or_default(),
                "visible": true,
            }
        }));
    }
    // Errors on keys outside the plugin's own (transforms.*, predicates.*, converters' settings).
    for (name, errs) in errors {
        configs.push(json!({
            "definition": {
                "name": name, "type": "STRING", "required": false, "default_value": null,
                "importance": "LOW", "documentation": "", "group": "Transforms", "order_in_group": 0,
                "width": "NONE", "display_name": name, "dependents": [],
            },
            "value": {
                "name": name,
                "value": config.get(&name),
                "recommended_values": [],
                "errors": errs,
                "visible": true,
            }
        }));
    }
    let error_count: usize = configs
        .iter()
        .map(|c| c["value"]["errors"].as_array().map_or(0, Vec::len))
        .sum();
    json!({
        "name": plugin.class(),
        "error_count": error_count,
        "groups": groups,
        "configs": configs,
    })
}

//! Helpers shared by the test modules.

use std::collections::BTreeMap;

use lookout_model::Labels;
use lookout_relabel::{Action, RelabelConfig};
use serde_json::Value;

/// A label set as a map, for comparisons that ignore order.
pub(crate) fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// A JSON object of strings as labels.
pub(crate) fn labels_of(v: &Value) -> Labels {
    let obj = v.as_object().expect("label object");
    Labels::from_pairs(
        obj.iter()
            .map(|(k, v)| (k.as_str(), v.as_str().expect("string value"))),
    )
}

/// A JSON object of strings as a map.
pub(crate) fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .expect("label object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_string()))
        .collect()
}

/// A rule from the conformance JSON, where every field is present and already defaulted.
/// A regex of `(.*)` stands for the default regex, as in the upstream harness, which fills in
/// `DefaultRelabelConfig.Regex` when a test gives none.
pub(crate) fn config_of(v: &Value) -> RelabelConfig {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let action = Action::parse(&s("action")).expect("known action");
    let mut c = RelabelConfig::new(action)
        .source_labels(
            v.get("source_labels")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .separator(s("separator"))
        .modulus(v.get("modulus").and_then(Value::as_u64).unwrap_or(0))
        .target_label(s("target_label"))
        .replacement(s("replacement"));
    if s("regex") != "(.*)" {
        c = c.regex(s("regex"));
    }
    c
}

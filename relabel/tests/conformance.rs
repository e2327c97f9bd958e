//! Data-driven runs of `shared/conformance/relabel`: every TestRelabel case (cases.json), the
//! validation cases (validate.json) and the three benchmark pipelines (bench.json).

use lookout_model::NameValidation;
use lookout_relabel::{Action, Options, RelabelConfig, Relabeler};
use serde_json::Value;

use crate::common::{config_of, labels_of, map_of, to_map};

fn load(name: &str) -> Option<Value> {
    let p = lookout_testkit::shared_path(&format!("conformance/relabel/{name}"))?;
    Some(serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
}

struct Tally {
    what: &'static str,
    passed: usize,
    failed: Vec<String>,
}

impl Tally {
    fn new(what: &'static str) -> Tally {
        Tally {
            what,
            passed: 0,
            failed: Vec::new(),
        }
    }
    fn check(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(e) => {
                eprintln!("FAIL {}: {name}: {e}", self.what);
                self.failed.push(name.to_string());
            }
        }
    }
    fn finish(self) {
        println!(
            "{}: {} passed, {} failed, 0 skipped",
            self.what,
            self.passed,
            self.failed.len()
        );
        assert!(self.failed.is_empty(), "failing cases: {:?}", self.failed);
    }
}

/// Runs one case (input, configs, expected output or null) in both entry points.
fn run_case(case: &Value) -> Result<(), String> {
    let configs: Vec<RelabelConfig> = case["configs"]
        .as_array()
        .ok_or("no configs")?
        .iter()
        .map(config_of)
        .collect();
    let r = Relabeler::new(&configs, Options::PROMETHEUS).map_err(|e| e.to_string())?;
    let input = labels_of(&case["input"]);
    let want = match &case["output"] {
        Value::Null => None,
        v => Some(map_of(v)),
    };
    let got = r.process(&input).map(|l| to_map(&l));
    if got != want {
        return Err(format!("process: got {got:?}, want {want:?}"));
    }
    let pairs: Vec<(&str, &str)> = input.iter().map(|l| (l.name, l.value)).collect();
    let got_view = r.process_view(pairs.as_slice()).map(|l| to_map(&l));
    if got_view != want {
        return Err(format!("process_view: got {got_view:?}, want {want:?}"));
    }
    Ok(())
}

#[test]
fn relabel_cases() {
    let Some(cases) = load("cases.json") else {
        return;
    };
    let mut t = Tally::new("cases.json");
    for case in cases.as_array().unwrap() {
        t.check(case["name"].as_str().unwrap(), run_case(case));
    }
    assert_eq!(t.passed + t.failed.len(), 34);
    t.finish();
}

#[test]
fn bench_pipelines() {
    let Some(cases) = load("bench.json") else {
        return;
    };
    let mut t = Tally::new("bench.json");
    for case in cases.as_array().unwrap() {
        t.check(case["name"].as_str().unwrap(), run_case(case));
    }
    t.finish();
}

/// A validate.json config: absent fields are Go zero values, not YAML defaults.
fn zero_config(v: &Value) -> RelabelConfig {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut c = RelabelConfig::default()
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
    c.action = v
        .get("action")
        .and_then(Value::as_str)
        .and_then(Action::parse);
    if let Some(re) = v.get("regex").and_then(Value::as_str) {
        c = c.regex(re);
    }
    c
}

fn scheme_of(s: &str) -> NameValidation {
    match s {
        "legacy" => NameValidation::Legacy,
        _ => NameValidation::Utf8,
    }
}

#[test]
fn validate_cases() {
    let Some(doc) = load("validate.json") else {
        return;
    };
    let mut t = Tally::new("validate.json");
    for case in doc["validate"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let cfg = zero_config(&case["config"]);
        let opts = Options::PROMETHEUS
            .with_name_validation(scheme_of(case["name_validation_scheme"].as_str().unwrap()));
        let got = Relabeler::new(&[cfg], opts).err().map(|e| e.to_string());
        let result = match (case["error_contains"].as_str(), got) {
            (None, None) => Ok(()),
            (Some(want), Some(got)) if got.contains(want) => Ok(()),
            (want, got) => Err(format!("want error {want:?}, got {got:?}")),
        };
        t.check(name, result);
    }
    for case in doc["legacy_target_label_cases"].as_array().unwrap() {
        let target = case["target_label"].as_str().unwrap();
        let want = case["valid"].as_bool().unwrap();
        let cfg = RelabelConfig::new(Action::Replace).target_label(target);
        let got = cfg.validate(NameValidation::Legacy).is_ok();
        let result = if got == want {
            Ok(())
        } else {
            Err(format!("valid: got {got}, want {want}"))
        };
        t.check(&format!("legacy target {target:?}"), result);
    }
    t.finish();
}

/// The validation messages of Prometheus, through YAML.
#[test]
fn yaml_validation_messages() {
    let cases = [
        ("- action: hashmod\n  target_label: x\n", "relabel configuration for hashmod requires non-zero modulus"),
        ("- action: replace\n", "relabel configuration for replace action requires 'target_label' value"),
        ("- action:\n", "relabel action cannot be empty"),
        ("- action: Frob\n", "unknown relabel action \"Frob\""),
        ("- target_label: 1a\n", "\"1a\" is invalid 'target_label' for replace action"),
        ("- action: labeldrop\n  regex: a\n  separator: ','\n", "labeldrop action requires only 'regex', and no other fields"),
        ("- action: keepequal\n  target_label: a\n  regex: (.*)\n", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("- action: lowercase\n  target_label: a\n  replacement: x\n", "'replacement' can not be set for lowercase action"),
        ("- action: labelmap\n  replacement: 1$1\n", "\"1$1\" is invalid 'replacement' for labelmap action"),
        ("- source_labels: [a]\n  regex: '(a'\n  target_label: b\n", "invalid regex \"(a\""),
        ("- source_labels: [a]\n  regex: 'a{1001}'\n  target_label: b\n", "invalid repeat count"),
    ];
    let mut t = Tally::new("yaml validation");
    for (yaml, want) in cases {
        let opts = if want.contains("1a") || want.contains("1$1") {
            Options::PROMETHEUS2
        } else {
            Options::PROMETHEUS
        };
        let got = Relabeler::from_yaml(yaml, opts)
            .err()
            .map(|e| e.to_string());
        let result = match got {
            Some(g) if g.contains(want) => Ok(()),
            other => Err(format!("got {other:?}")),
        };
        t.check(yaml.trim(), result);
    }
    t.finish();
}

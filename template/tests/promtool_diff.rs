//! Differential test: alert annotations rendered by the real Prometheus (`promtool test rules`)
//! must equal what our engine renders for the same templates and data.
//!
//! We render every template for every series with our engine and write the results as the
//! expected annotations of a promtool rule unit test; promtool evaluates the same templates with
//! Prometheus' own code and fails the unit test on any difference. Only functions whose
//! behaviour Prometheus 2.42 shares with 3.x are used here.

use std::process::Command;

use lookout_template::{Funcs, MissingKey, Template, Value};

const TEMPLATES: &[&str] = &[
    "{{ $value }}",
    "{{ humanize $value }}",
    "{{ humanize1024 $value }}",
    "{{ humanizeDuration $value }}",
    "{{ humanizePercentage $value }}",
    "{{ printf \"%.2f\" $value }}",
    "{{ printf \"%g|%e|%.3g|%8.2f|%-6.1f|%+.1e|%v\" $value $value $value $value $value $value $value }}",
    "{{ $labels.instance | stripPort }}",
    "{{ reReplaceAll \"(.*):([0-9]+)\" \"host=$1 port=${2}x $$\" $labels.instance }}",
    "{{ toUpper $labels.job }} {{ toLower \"MiXeD\" }} {{ title \"hello wide-world\" }}",
    "{{ if gt $value 100.0 }}big{{ else if lt $value 0.0 }}neg{{ else }}small{{ end }}",
    "{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}",
    "{{ len $labels }} {{ index $labels \"job\" }}",
    "{{ match \"^db\" $labels.instance }} {{ match \"^[0-9.]+:\" $labels.instance }}",
    "[{{ $labels.missing }}]",
    "{{ with $labels.instance }}<{{ . }}>{{ end }}",
    "{{ printf \"%q %5s %x %-4s|\" $labels.job $labels.job $labels.job $labels.job }}",
    "{{ $x := 0 }}{{ range $i, $c := (args 1 2 3) }}{{ $x = $i }}{{ end }}{{ $x }}",
    "{{ html \"<a & 'b'>\" }} {{ js \"x'<\" }} {{ urlquery \"a b/c\" }}",
    "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" $labels.job }}",
    "{{- /* trimmed */ -}}  {{ len \"héllo\" }}  {{- \" x\" }}",
    "{{ and $value 7 }} {{ or 0 $labels.job }} {{ not 0 }}",
    "{{ eq $labels.job \"node\" \"api\" }} {{ ne $value 1.0 }} {{ le 1 2 }}",
];

const SERIES: &[(&str, &str, f64)] = &[
    ("db1.example.com:9100", "node", 1234567.0),
    ("[::1]:9090", "api", 0.5),
    ("10.0.0.1:80", "node", 0.0),
    ("db2:1", "x", -3.25),
    ("host", "api", 0.0001234),
    ("h:2", "api", 86461.5),
    ("h:3", "api", 123456789012.0),
    ("h:4", "api", 1e-9),
    ("h:5", "api", 1.0),
    ("h:6", "api", 2048.0),
];

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[test]
fn annotations_match_promtool() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let funcs = Funcs::prometheus("http://localhost:9090");
    // Prometheus prepends these definitions to every alert template.
    let defs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

    let mut rules =
        String::from("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: m\n    annotations:\n");
    for (i, t) in TEMPLATES.iter().enumerate() {
        rules.push_str(&format!("      t{i}: {}\n", yaml_quote(t)));
    }
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();

    let mut test = String::from(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n",
    );
    for (i, (inst, job, v)) in SERIES.iter().enumerate() {
        test.push_str(&format!(
            "  - series: {}\n    values: '{}'\n",
            yaml_quote(&format!(
                "m{{instance=\"{inst}\", job=\"{job}\", idx=\"{i}\"}}"
            )),
            v
        ));
    }
    test.push_str("  alert_rule_test:\n  - eval_time: 0m\n    alertname: A\n    exp_alerts:\n");
    for (i, (inst, job, v)) in SERIES.iter().enumerate() {
        let labels = Value::map([
            ("__name__", Value::str("m")),
            ("instance", Value::str(*inst)),
            ("job", Value::str(*job)),
            ("idx", Value::str(i.to_string())),
        ]);
        let data = Value::map([
            ("Labels", labels),
            ("ExternalLabels", Value::map::<String>([])),
            ("ExternalURL", Value::str("http://localhost:9090")),
            ("Value", Value::Float(*v)),
        ]);
        test.push_str(&format!(
            "    - exp_labels: {{instance: {}, job: {}, idx: {}}}\n      exp_annotations:\n",
            yaml_quote(inst),
            yaml_quote(job),
            yaml_quote(&i.to_string())
        ));
        for (k, t) in TEMPLATES.iter().enumerate() {
            let tmpl = Template::parse(&format!("t{k}"), &format!("{defs}{t}"), funcs.clone())
                .unwrap()
                .missing_key(MissingKey::Zero);
            let out = tmpl
                .execute(&data)
                .unwrap_or_else(|e| panic!("template {t:?}: {e}"));
            test.push_str(&format!("        t{k}: {}\n", yaml_quote(&out)));
        }
    }
    std::fs::write(dir.path().join("test.yml"), &test).unwrap();
    // Negative control: the same test with one expectation altered must fail, or promtool is
    // not really comparing annotations and this test proves nothing.
    let altered = test.replacen("        t1: '1.235M'", "        t1: '1.235X'", 1);
    assert_ne!(altered, test, "control substitution did not apply");
    std::fs::write(dir.path().join("control.yml"), &altered).unwrap();
    let control = Command::new(&promtool)
        .args(["test", "rules", "control.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !control.status.success(),
        "promtool accepted a wrong annotation"
    );

    let out = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg("test.yml")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let cases = TEMPLATES.len() * SERIES.len();
    if out.status.success() {
        println!("{cases} passed, 0 failed, 0 skipped");
    }
    assert!(
        out.status.success(),
        "promtool disagrees with our rendering:\n{report}\n--- test.yml ---\n{test}"
    );
}

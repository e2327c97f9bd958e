//! Differential test: `lookout rules test` / `lookout rules check` against the real `promtool
//! test rules` / `promtool check rules` of Prometheus 2.42.
//!
//! Every case is a rule file plus a unit-test file; both tools run it and must agree on the
//! exit code and, for failures, on which checks failed (the `name:`, `alertname: …, time: …`,
//! `expr: …, time: …` and `rule: …, time: …` headers promtool prints). For `check rules`, the
//! exit code and the error lines must agree (template parse messages are compared up to the
//! template position: the wording of Go's parser is the template crate's business).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const RULES: &str = r#"
groups:
- name: rec
  rules:
  - record: job:req:rate1m
    expr: sum by (job) (rate(req_total[1m]))
  - record: job:req:rate1m_x2
    expr: job:req:rate1m * 2
    labels: {scaled: "yes"}
  - record: instance:up
    expr: up{instance="a:1"}
    labels: {instance: ""}
- name: alerts
  rules:
  - alert: InstanceDown
    expr: up == 0
    for: 2m
    labels: {severity: page, team: "{{ $labels.job }}"}
    annotations:
      summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
      value: "{{ $value }} / {{ humanize $value }}"
  - alert: HighRate
    expr: job:req:rate1m > 1
    keep_firing_for: 3m
    annotations:
      desc: "{{ $labels.job }} at {{ printf \"%.2f\" $value }} ext={{ $externalLabels.region }} url={{ $externalURL }}"
  - alert: Always
    expr: vector(1)
  - alert: NoFor
    expr: absent(nothing)
    labels: {x: "{{ $value }}"}
- name: flappy
  rules:
  - alert: Flap
    expr: flap > 0
    for: 2m
    keep_firing_for: 1m
    annotations: {v: "{{ $value | humanize }}", since: "{{ $labels.k }}"}
  - record: flap:sub
    expr: max_over_time(flap[3m:])
  - alert: Ratio
    expr: sum(flap) / count(flap) > 0.3
    labels: {pct: "{{ humanizePercentage $value }}"}
- name: queries
  rules:
  - alert: Queried
    expr: up{instance="a:1"} == 1
    annotations:
      total: '{{ with query "sum(up)" }}{{ . | first | value }}{{ end }}'
      peers: '{{ range sortByLabel "instance" (query (printf "up{job=%q}" $labels.job)) }}{{ .Labels.instance }};{{ end }}'
      sorted: '{{ range sortByLabel "instance" (query "req_total") }}{{ label "job" . }}={{ .Value }} {{ end }}'
  - alert: ValueLabel
    expr: req_total{job="db"} > 20
    labels: {v: "{{ $value }}", empty: "{{ $labels.nothing }}", job: "{{ $labels.nothing }}"}
  - alert: QueryError
    expr: vector(1)
    annotations:
      broken: '{{ query "sum(" }}'
"#;

/// A rule whose output collides with itself: evaluating it fails.
const DUP_RULES: &str = "groups:\n- name: dup\n  rules:\n  - record: dup:up\n    expr: up\n    labels: {instance: ''}\n";

const INPUT: &str = r#"
  input_series:
  - series: 'up{job="api", instance="a:1"}'
    values: '1 1 0 0 0 0 0 1 1 1 1 1'
  - series: 'up{job="api", instance="b:2"}'
    values: '1x3 stale _ 0 0 0 0 0 0 0'
  - series: 'req_total{job="api", instance="a:1"}'
    values: '0+30x5 150+300x8'
  - series: 'req_total{job="db", instance="c:3"}'
    values: '0+10x15'
  - series: 'flap{k="1"}'
    values: '1 1 1 0 1 1 1 1 0 0 0 0 1 _x3 1 1 1 1'
  - series: 'flap{k="2"}'
    values: '-1+0.5x6 stale 2x4'
"#;

/// (name, test group body after `input_series`) — each becomes one unit-test file.
fn cases() -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = Vec::new();
    let mut add = |name: &'static str, body: &str| v.push((name, body.to_string()));
    add(
        "pending_not_firing",
        "  alert_rule_test:\n  - eval_time: 3m\n    alertname: InstanceDown\n    exp_alerts: []\n",
    );
    add(
        "firing_after_for",
        "  alert_rule_test:\n  - eval_time: 4m\n    alertname: InstanceDown\n    exp_alerts:\n    - exp_labels: {severity: page, team: api, instance: 'a:1', job: api}\n      exp_annotations: {summary: 'a:1 of api is down', value: '0 / 0'}\n",
    );
    add(
        "firing_wrong_annotation",
        "  alert_rule_test:\n  - eval_time: 4m\n    alertname: InstanceDown\n    exp_alerts:\n    - exp_labels: {severity: page, team: api, instance: 'a:1', job: api}\n      exp_annotations: {summary: 'a:1 is down', value: '0 / 0'}\n",
    );
    add(
        "firing_missing_annotations",
        "  alert_rule_test:\n  - eval_time: 4m\n    alertname: InstanceDown\n    exp_alerts:\n    - exp_labels: {severity: page, team: api, instance: 'a:1', job: api}\n",
    );
    add(
        "resolved_after_recovery",
        "  alert_rule_test:\n  - eval_time: 7m\n    alertname: InstanceDown\n    exp_alerts:\n    - exp_labels: {severity: page, team: api, instance: 'b:2', job: api}\n      exp_annotations: {summary: 'b:2 of api is down', value: '0 / 0'}\n",
    );
    add(
        "both_firing",
        "  alert_rule_test:\n  - eval_time: 6m\n    alertname: InstanceDown\n    exp_alerts:\n    - exp_labels: {severity: page, team: api, instance: 'b:2', job: api}\n      exp_annotations: {summary: 'b:2 of api is down', value: '0 / 0'}\n    - exp_labels: {severity: page, team: api, instance: 'a:1', job: api}\n      exp_annotations: {summary: 'a:1 of api is down', value: '0 / 0'}\n",
    );
    add(
        "stale_gap_not_firing",
        "  alert_rule_test:\n  - eval_time: 5m\n    alertname: InstanceDown\n    exp_alerts:\n    - exp_labels: {severity: page, team: api, instance: 'a:1', job: api}\n      exp_annotations: {summary: 'a:1 of api is down', value: '0 / 0'}\n",
    );
    add(
        "eval_time_between_steps",
        "  alert_rule_test:\n  - eval_time: 270s\n    alertname: InstanceDown\n    exp_alerts:\n    - exp_labels: {severity: page, team: api, instance: 'a:1', job: api}\n      exp_annotations: {summary: 'a:1 of api is down', value: '0 / 0'}\n",
    );
    add(
        "always_fires",
        "  alert_rule_test:\n  - eval_time: 0m\n    alertname: Always\n    exp_alerts:\n    - {}\n  - eval_time: 10m\n    alertname: Always\n    exp_alerts:\n    - exp_labels: {}\n",
    );
    add(
        "value_template_label",
        "  alert_rule_test:\n  - eval_time: 1m\n    alertname: NoFor\n    exp_alerts:\n    - exp_labels: {x: '1'}\n",
    );
    add(
        "value_template_label_wrong",
        "  alert_rule_test:\n  - eval_time: 1m\n    alertname: NoFor\n    exp_alerts:\n    - exp_labels: {x: '1.0'}\n",
    );
    add(
        "high_rate_fires",
        "  external_labels: {region: eu}\n  external_url: 'http://prom.example:9090'\n  alert_rule_test:\n  - eval_time: 7m\n    alertname: HighRate\n    exp_alerts:\n    - exp_labels: {job: api}\n      exp_annotations: {desc: 'api at 5.00 ext=eu url=http://prom.example:9090'}\n",
    );
    add(
        "keep_firing_for_holds",
        "  alert_rule_test:\n  - eval_time: 15m\n    alertname: HighRate\n    exp_alerts:\n    - exp_labels: {job: api}\n      exp_annotations: {desc: 'api at 5.00 ext= url='}\n",
    );
    add(
        "keep_firing_for_ends",
        "  alert_rule_test:\n  - eval_time: 19m\n    alertname: HighRate\n    exp_alerts: []\n",
    );
    add(
        "keep_firing_for_edge",
        "  alert_rule_test:\n  - eval_time: 16m\n    alertname: HighRate\n    exp_alerts: []\n  - eval_time: 17m\n    alertname: HighRate\n    exp_alerts: []\n",
    );
    add(
        "recording_rate",
        "  promql_expr_test:\n  - expr: job:req:rate1m\n    eval_time: 2m\n    exp_samples:\n    - labels: 'job:req:rate1m{job=\"api\"}'\n      value: 0.5\n    - labels: 'job:req:rate1m{job=\"db\"}'\n      value: 0.16666666666666666\n",
    );
    add(
        "recording_chain",
        "  promql_expr_test:\n  - expr: job:req:rate1m_x2\n    eval_time: 2m\n    exp_samples:\n    - labels: 'job:req:rate1m_x2{job=\"api\", scaled=\"yes\"}'\n      value: 1\n    - labels: 'job:req:rate1m_x2{job=\"db\", scaled=\"yes\"}'\n      value: 0.3333333333333333\n",
    );
    add(
        "recording_chain_wrong",
        "  promql_expr_test:\n  - expr: job:req:rate1m_x2\n    eval_time: 2m\n    exp_samples:\n    - labels: 'job:req:rate1m_x2{job=\"api\"}'\n      value: 1\n",
    );
    add(
        "recording_label_removed",
        "  promql_expr_test:\n  - expr: instance:up\n    eval_time: 0m\n    exp_samples:\n    - labels: 'instance:up{job=\"api\"}'\n      value: 1\n",
    );
    add(
        "recording_dup_fails",
        "  promql_expr_test:\n  - expr: dup:up\n    eval_time: 1m\n    exp_samples:\n    - labels: 'instance:up{job=\"api\"}'\n      value: 1\n",
    );
    add(
        "recorded_series_goes_stale",
        "  promql_expr_test:\n  - expr: count(instance:up)\n    eval_time: 4m\n    exp_samples:\n    - labels: '{}'\n      value: 1\n",
    );
    add(
        "alerts_series",
        "  promql_expr_test:\n  - expr: ALERTS{alertname=\"InstanceDown\"}\n    eval_time: 3m\n    exp_samples:\n    - labels: 'ALERTS{alertname=\"InstanceDown\", alertstate=\"pending\", instance=\"a:1\", job=\"api\", severity=\"page\", team=\"api\"}'\n      value: 1\n",
    );
    add(
        "alerts_for_state",
        "  promql_expr_test:\n  - expr: ALERTS_FOR_STATE{alertname=\"InstanceDown\"}\n    eval_time: 5m\n    exp_samples:\n    - labels: 'ALERTS_FOR_STATE{alertname=\"InstanceDown\", instance=\"a:1\", job=\"api\", severity=\"page\", team=\"api\"}'\n      value: 120\n    - labels: 'ALERTS_FOR_STATE{alertname=\"InstanceDown\", instance=\"b:2\", job=\"api\", severity=\"page\", team=\"api\"}'\n      value: 300\n",
    );
    add(
        "alerts_firing_series",
        "  promql_expr_test:\n  - expr: count by (alertstate) (ALERTS{alertname=\"InstanceDown\"})\n    eval_time: 6m\n    exp_samples:\n    - labels: '{alertstate=\"firing\"}'\n      value: 1\n    - labels: '{alertstate=\"pending\"}'\n      value: 1\n",
    );
    add(
        "alerts_series_gone_after_resolve",
        "  promql_expr_test:\n  - expr: ALERTS{alertname=\"InstanceDown\", instance=\"a:1\"}\n    eval_time: 8m\n    exp_samples: []\n",
    );
    add(
        "scalar_expr",
        "  promql_expr_test:\n  - expr: scalar(sum(up))\n    eval_time: 0m\n    exp_samples:\n    - labels: '{}'\n      value: 2\n",
    );
    add(
        "closed_window_rate",
        "  promql_expr_test:\n  - expr: count_over_time(req_total[1m])\n    eval_time: 2m\n    exp_samples:\n    - labels: '{job=\"api\", instance=\"a:1\"}'\n      value: 2\n    - labels: '{job=\"db\", instance=\"c:3\"}'\n      value: 2\n",
    );
    add(
        "bad_expected_labels",
        "  promql_expr_test:\n  - expr: up\n    eval_time: 0m\n    exp_samples:\n    - labels: 'up{job=}'\n      value: 1\n",
    );
    add(
        "bad_expr",
        "  promql_expr_test:\n  - expr: sum(up\n    eval_time: 0m\n    exp_samples: []\n",
    );
    add(
        "multiple_mixed",
        "  alert_rule_test:\n  - eval_time: 3m\n    alertname: InstanceDown\n    exp_alerts: []\n  - eval_time: 3m\n    alertname: Always\n    exp_alerts: []\n  promql_expr_test:\n  - expr: up\n    eval_time: 11m\n    exp_samples:\n    - labels: 'up{job=\"api\", instance=\"a:1\"}'\n      value: 1\n",
    );
    add(
        "flap_pending_reset",
        "  alert_rule_test:\n  - eval_time: 5m\n    alertname: Flap\n    exp_alerts: []\n  - eval_time: 6m\n    alertname: Flap\n    exp_alerts:\n    - exp_labels: {k: '1'}\n      exp_annotations: {v: '1', since: '1'}\n",
    );
    add(
        "flap_keep_firing",
        "  alert_rule_test:\n  - eval_time: 8m\n    alertname: Flap\n    exp_alerts:\n    - exp_labels: {k: '1'}\n      exp_annotations: {v: '1', since: '1'}\n  - eval_time: 9m\n    alertname: Flap\n    exp_alerts: []\n",
    );
    add(
        "flap_second_series",
        "  alert_rule_test:\n  - eval_time: 6m\n    alertname: Flap\n    exp_alerts:\n    - exp_labels: {k: '1'}\n      exp_annotations: {v: '1', since: '1'}\n    - exp_labels: {k: '2'}\n      exp_annotations: {v: '2', since: '2'}\n",
    );
    add(
        "flap_after_stale",
        "  alert_rule_test:\n  - eval_time: 10m\n    alertname: Flap\n    exp_alerts:\n    - exp_labels: {k: '2'}\n      exp_annotations: {v: '2', since: '2'}\n",
    );
    add(
        "flap_gap_lookback",
        "  alert_rule_test:\n  - eval_time: 15m\n    alertname: Flap\n    exp_alerts: []\n  - eval_time: 17m\n    alertname: Flap\n    exp_alerts:\n    - exp_labels: {k: '1'}\n      exp_annotations: {v: '1', since: '1'}\n",
    );
    add(
        "ratio_percentage",
        "  alert_rule_test:\n  - eval_time: 3m\n    alertname: Ratio\n    exp_alerts:\n    - exp_labels: {pct: '50%'}\n",
    );
    add(
        "ratio_for_state_series",
        "  promql_expr_test:\n  - expr: ALERTS_FOR_STATE{alertname=\"Flap\"}\n    eval_time: 9m\n    exp_samples:\n    - labels: 'ALERTS_FOR_STATE{alertname=\"Flap\", k=\"2\"}'\n      value: 180\n",
    );
    add(
        "subquery_recording",
        "  promql_expr_test:\n  - expr: flap:sub\n    eval_time: 4m\n    exp_samples:\n    - labels: 'flap:sub{k=\"1\"}'\n      value: 1\n    - labels: 'flap:sub{k=\"2\"}'\n      value: 1\n",
    );
    add(
        "negative_and_nan_expectation",
        "  promql_expr_test:\n  - expr: flap{k=\"2\"} / 0\n    eval_time: 0m\n    exp_samples:\n    - labels: '{k=\"2\"}'\n      value: -.inf\n  - expr: flap{k=\"2\"} * 0 / 0\n    eval_time: 0m\n    exp_samples:\n    - labels: '{k=\"2\"}'\n      value: .nan\n",
    );
    add(
        "second_test_group_fails",
        "  alert_rule_test:\n  - eval_time: 0m\n    alertname: Always\n    exp_alerts: [{}]\n- name: second\n  interval: 30s\n  input_series:\n  - series: 'up{job=\"x\", instance=\"y\"}'\n    values: '0x20'\n  alert_rule_test:\n  - eval_time: 150s\n    alertname: InstanceDown\n    exp_alerts: []\n",
    );
    add(
        "unnamed_second_group",
        "  promql_expr_test:\n  - expr: vector(1)\n    eval_time: 0m\n    exp_samples: [{labels: '{}', value: 1}]\n- interval: 2m\n  input_series:\n  - series: 'up{job=\"x\", instance=\"y\"}'\n    values: '0 0 0'\n  alert_rule_test:\n  - eval_time: 2m\n    alertname: InstanceDown\n    exp_alerts: []\n",
    );
    add(
        "resolved_refires_new_active_at",
        "  promql_expr_test:\n  - expr: ALERTS_FOR_STATE{alertname=\"Flap\", k=\"1\"}\n    eval_time: 6m\n    exp_samples:\n    - labels: 'ALERTS_FOR_STATE{alertname=\"Flap\", k=\"1\"}'\n      value: 240\n",
    );
    add(
        "template_queries",
        "  alert_rule_test:\n  - eval_time: 1m\n    alertname: Queried\n    exp_alerts:\n    - exp_labels: {instance: 'a:1', job: api}\n      exp_annotations:\n        total: '2'\n        peers: 'a:1;b:2;'\n        sorted: 'api=30 db=10 '\n",
    );
    add(
        "template_query_error",
        "  alert_rule_test:\n  - eval_time: 1m\n    alertname: QueryError\n    exp_alerts:\n    - exp_annotations:\n        broken: 'see promtool'\n",
    );
    add(
        "value_label_changes_identity",
        "  alert_rule_test:\n  - eval_time: 4m\n    alertname: ValueLabel\n    exp_alerts:\n    - exp_labels: {v: '40', instance: 'c:3'}\n  promql_expr_test:\n  - expr: count(ALERTS{alertname=\"ValueLabel\"})\n    eval_time: 4m\n    exp_samples: [{labels: '{}', value: 1}]\n  - expr: count(ALERTS_FOR_STATE{alertname=\"ValueLabel\"})\n    eval_time: 5m\n    exp_samples: [{labels: '{}', value: 1}]\n",
    );
    add(
        "empty_template_label_in_alerts_series",
        "  promql_expr_test:\n  - expr: ALERTS{alertname=\"ValueLabel\"}\n    eval_time: 3m\n    exp_samples: []\n  - expr: ALERTS_FOR_STATE{alertname=\"ValueLabel\"}\n    eval_time: 3m\n    exp_samples: []\n",
    );
    add(
        "lookback_expiry",
        "  promql_expr_test:\n  - expr: up\n    eval_time: 16m\n    exp_samples:\n    - labels: 'up{job=\"api\", instance=\"a:1\"}'\n      value: 1\n  - expr: up\n    eval_time: 17m\n    exp_samples: []\n  - expr: count(ALERTS)\n    eval_time: 17m\n    exp_samples: [{labels: '{}', value: 3}]\n",
    );
    add(
        "yaml_type_error",
        "  promql_expr_test:\n  - expr: up\n    eval_time: 0m\n    exp_samples: [{labels: '{}', value: abc}]\n",
    );
    v
}

/// Cases whose verdict and headers agree but whose report text differs in a known way (none
/// today; template error positions once differed).
const KNOWN_TEXT_DIFFS: &[&str] = &[];

/// Rule files `promtool check rules` must judge as we do.
const CHECK_CASES: &[(&str, &str)] = &[
    ("valid", RULES),
    ("empty", ""),
    ("no_groups", "groups: []\n"),
    (
        "bad_expr",
        "groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(up\n",
    ),
    (
        "bad_record_name",
        "groups:\n- name: g\n  rules:\n  - record: 'a-b'\n    expr: up\n",
    ),
    (
        "record_and_alert",
        "groups:\n- name: g\n  rules:\n  - record: a\n    alert: B\n    expr: up\n",
    ),
    (
        "neither_record_nor_alert",
        "groups:\n- name: g\n  rules:\n  - expr: up\n",
    ),
    (
        "missing_expr",
        "groups:\n- name: g\n  rules:\n  - alert: A\n",
    ),
    (
        "for_on_record",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    for: 1m\n",
    ),
    (
        "keep_firing_for_on_record",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    keep_firing_for: 1m\n",
    ),
    (
        "annotations_on_record",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    annotations: {x: y}\n",
    ),
    (
        "bad_label_name",
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: {'a-b': c}\n",
    ),
    (
        "name_label",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    labels: {__name__: c}\n",
    ),
    (
        "bad_annotation_name",
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations: {'a b': c}\n",
    ),
    (
        "bad_template",
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations: {s: '{{ $labels.x '}\n",
    ),
    (
        "unknown_template_function",
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: {s: '{{ nosuchfunc 1 }}'}\n",
    ),
    (
        "duplicate_group",
        "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
    ),
    (
        "empty_group_name",
        "groups:\n- rules:\n  - record: a\n    expr: up\n",
    ),
    (
        "bad_duration",
        "groups:\n- name: g\n  rules:\n  - alert: a\n    expr: up\n    for: 5x\n",
    ),
    (
        "unknown_field",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    bogus: 1\n",
    ),
    (
        "duplicate_rules_lint",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n  - record: a\n    expr: up\n",
    ),
    (
        "group_labels_unknown_in_2x",
        "groups:\n- name: g\n  interval: 1m\n  labels:\n    a: b\n  rules: []\n",
    ),
    (
        "second_group_query_offset",
        "groups:\n- name: g\n  rules: []\n- name: h\n  query_offset: 1m\n  rules: []\n",
    ),
    (
        "limit_and_interval",
        "groups:\n- name: g\n  interval: 15s\n  limit: 3\n  rules:\n  - record: a\n    expr: up\n",
    ),
    (
        "bad_interval",
        "groups:\n- name: g\n  interval: soon\n  rules: []\n",
    ),
    (
        "yaml_syntax",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n   oops\n",
    ),
    (
        "labels_not_a_map",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    labels: [a, b]\n",
    ),
    (
        "utf8_record_name_in_2x",
        "groups:\n- name: g\n  rules:\n  - record: 'métrique'\n    expr: up\n",
    ),
    (
        "several_errors_in_order",
        "groups:\n- name: g\n  rules:\n  - record: 'a b'\n    expr: 'x +'\n    for: 1m\n    annotations: {s: t}\n  - alert: X\n    record: y\n  - alert: Y\n    expr: up\n    annotations: {ok: '{{ .Labels.job }}'}\n- name: ''\n  rules: []\n- name: ''\n  rules: []\n",
    ),
    (
        "triplicate_rules_lint",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n  - record: a\n    expr: up\n- name: h\n  rules:\n  - record: a\n    expr: up + 1\n  - alert: a\n    expr: up\n    labels: {x: y}\n  - record: a\n    expr: up\n    labels: {x: y}\n",
    ),
    (
        "scalars_as_strings",
        "groups:\n- name: 1\n  interval: 1m\n  limit: 2\n  rules:\n  - record: x\n    expr: 1\n    labels: {a: 1, b: true, c: 1.5}\n  - alert: Y\n    expr: 2\n    for: 0\n    annotations: {n: 0x10}\n",
    ),
    (
        "null_values",
        "groups:\n- name: g\n  rules:\n  - record: x\n    expr: up\n    labels: {a: null, b: ~}\n  - alert: Y\n    expr: up\n    for: null\n",
    ),
    (
        "query_template_ok",
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations: {s: '{{ with query \"up\" }}{{ . | first | value }}{{ end }}'}\n",
    ),
];

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run command")
}

fn text_of(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The failure headers of a `test rules` report.
fn headers(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let t = l.trim_start();
            if t.starts_with("name: ")
                || t.starts_with("alertname: ")
                || t.starts_with("expr: ")
                || t.starts_with("rule: ")
            {
                let cut = t
                    .find(", err:")
                    .or_else(|| t.find(",\u{20}\n"))
                    .unwrap_or(t.len());
                Some(t[..cut].trim_end_matches([',', ' ']).to_string())
            } else {
                None
            }
        })
        .collect()
}

/// The error lines of a `check rules` report.
fn check_lines(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && l.trim() != "FAILED:")
        .map(str::to_string)
        .collect()
}

fn lookout(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("rules")
        .args(args)
        .arg("--compat")
        .arg("prometheus2")
        .current_dir(dir))
}

#[test]
fn unit_tests_agree_with_promtool() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("dup.yml"), DUP_RULES).unwrap();
    let mut disagreements = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    let cases = cases();
    for (name, body) in &cases {
        let file = format!("{name}.test.yml");
        let test = format!(
            "rule_files: [rules.yml{}]\nevaluation_interval: 1m\ngroup_eval_order: [rec, alerts]\ntests:\n- name: {name}\n  interval: 1m\n{INPUT}{body}",
            if name.contains("dup") { ", dup.yml" } else { "" }
        );
        std::fs::write(dir.path().join(&file), &test).unwrap();
        let theirs = run(Command::new(&promtool)
            .args(["test", "rules", &file])
            .current_dir(dir.path()));
        let ours = lookout(dir.path(), &["test", &file]);
        let ((_, terr), (_, oerr)) = (text_of(&theirs), text_of(&ours));
        println!(
            "{name}: {} {:?}",
            if theirs.status.success() {
                "pass"
            } else {
                "FAIL"
            },
            headers(&terr)
        );
        if theirs.status.success() {
            passed += 1;
        } else {
            failed += 1;
        }
        // Beyond the verdict, the whole report must match, error texts of failed queries aside.
        let strip = |s: &str| -> String {
            s.lines()
                .map(|l| l.find(", err: ").map_or(l, |p| &l[..p]))
                .collect::<Vec<_>>()
                .join("\n")
        };
        if theirs.status.code() != ours.status.code()
            || headers(&terr) != headers(&oerr)
            || (!terr.contains("yaml:")
                && !KNOWN_TEXT_DIFFS.contains(name)
                && strip(&terr) != strip(&oerr))
        {
            disagreements.push(format!(
                "{name}: promtool exit {:?}, lookout exit {:?}\n--- promtool ---\n{terr}\n--- lookout ---\n{oerr}",
                theirs.status.code(),
                ours.status.code()
            ));
        }
    }
    println!(
        "{} of {} unit-test files agree ({passed} pass, {failed} fail in promtool)",
        cases.len() - disagreements.len(),
        cases.len()
    );
    assert!(
        passed >= 10 && failed >= 5,
        "cases should both pass and fail"
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
}

#[test]
fn check_agrees_with_promtool() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let mut disagreements = Vec::new();
    for (name, yaml) in CHECK_CASES {
        let file = format!("{name}.yml");
        std::fs::write(dir.path().join(&file), yaml).unwrap();
        let theirs = run(Command::new(&promtool)
            .args(["check", "rules", &file])
            .current_dir(dir.path()));
        let ours = lookout(dir.path(), &["check", &file]);
        let ((tout, terr), (oout, oerr)) = (text_of(&theirs), text_of(&ours));
        // YAML syntax and type errors are worded by each YAML library its own way (and yaml.v3
        // repeats them); unknown fields are worded as yaml.v3 does and compared.
        let yaml_only = terr.contains("yaml:") && !terr.contains("not found in type");
        let same = theirs.status.code() == ours.status.code()
            && tout == oout
            && if yaml_only {
                oerr.contains(": yaml: ")
            } else {
                check_lines(&terr) == check_lines(&oerr)
            };
        if !same {
            disagreements.push(format!(
                "{name}: promtool exit {:?}, lookout exit {:?}\n--- promtool ---\n{tout}{terr}\n--- lookout ---\n{oout}{oerr}",
                theirs.status.code(),
                ours.status.code()
            ));
        }
    }
    println!(
        "{} of {} rule files agree",
        CHECK_CASES.len() - disagreements.len(),
        CHECK_CASES.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
}

#[test]
fn unit_test_output_format() {
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let test = format!(
        "rule_files: [rules.yml]\ngroup_eval_order: [rec, alerts]\ntests:\n- name: t\n  interval: 1m\n{INPUT}  promql_expr_test:\n  - expr: up\n    eval_time: 0m\n    exp_samples: []\n"
    );
    std::fs::write(dir.path().join("t.yml"), test).unwrap();
    let o = lookout(dir.path(), &["test", "t.yml"]);
    let (out, err) = text_of(&o);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out, "Unit Testing:  t.yml\n\n\n");
    assert_eq!(
        err,
        "  FAILED:\n    expr: \"up\", time: 0s,\n        exp: nil\n        got: {__name__=\"up\", instance=\"a:1\", job=\"api\"} 1E+00, {__name__=\"up\", instance=\"b:2\", job=\"api\"} 1E+00\n"
    );
}

/// Standalone unit-test files with their own rule files: group order, globs, missing files,
/// input notation, evaluation intervals.
#[test]
fn standalone_files_agree_with_promtool() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "order_rules.yml",
        "groups:\n- name: a\n  rules:\n  - record: a_out\n    expr: b_out + 1\n- name: b\n  rules:\n  - record: b_out\n    expr: vector(1)\n",
    );
    write(
        "glob_1.rules.yml",
        "groups:\n- name: g1\n  rules:\n  - record: g1\n    expr: vector(1)\n",
    );
    write(
        "glob_2.rules.yml",
        "groups:\n- name: g2\n  rules:\n  - record: g2\n    expr: g1 + 1\n",
    );
    let order_test = |order: &str| {
        format!("rule_files: [order_rules.yml]\ngroup_eval_order: {order}\ntests:\n- name: x\n  promql_expr_test:\n  - expr: a_out\n    eval_time: 0m\n    exp_samples:\n    - labels: 'a_out'\n      value: 2\n")
    };
    let files: Vec<(&str, String)> = vec![
        ("order_ab", order_test("[a, b]")),
        ("order_ba", order_test("[b, a]")),
        ("order_bac", order_test("[b, a, c]")),
        ("order_repeated", order_test("[b, b]")),
        (
            "glob",
            "rule_files: ['glob_*.rules.yml']\ngroup_eval_order: [g1, g2]\ntests:\n- promql_expr_test:\n  - expr: g2\n    eval_time: 1m\n    exp_samples: [{labels: 'g2', value: 2}]\n".into(),
        ),
        (
            "missing_rule_file",
            "rule_files: [nope.yml]\ntests:\n- input_series:\n  - series: 'x'\n    values: '1'\n  promql_expr_test:\n  - expr: x\n    eval_time: 0m\n    exp_samples: [{labels: 'x', value: 1}]\n".into(),
        ),
        (
            "invalid_rule_file",
            "rule_files: [bad_rules.yml]\ntests:\n- promql_expr_test:\n  - expr: vector(1)\n    eval_time: 0m\n    exp_samples: [{labels: '{}', value: 1}]\n".into(),
        ),
        (
            "eval_interval_30s",
            "rule_files: [order_rules.yml]\nevaluation_interval: 30s\ngroup_eval_order: [b, a]\ntests:\n- interval: 1m\n  input_series:\n  - series: 'x{a=\"1\"}'\n    values: '1+1x4 _x2 stale 7'\n  promql_expr_test:\n  - expr: x\n    eval_time: 90s\n    exp_samples: [{labels: 'x{a=\"1\"}', value: 2}]\n  - expr: count_over_time(a_out[2m])\n    eval_time: 2m\n    exp_samples: [{labels: '{}', value: 5}]\n  - expr: x\n    eval_time: 7m30s\n    exp_samples: []\n  - expr: x\n    eval_time: 8m\n    exp_samples: [{labels: 'x{a=\"1\"}', value: 7}]\n".into(),
        ),
        (
            "bad_series",
            "tests:\n- input_series:\n  - series: 'x{'\n    values: '1'\n  promql_expr_test:\n  - expr: vector(1)\n    eval_time: 0m\n    exp_samples: [{labels: '{}', value: 1}]\n".into(),
        ),
        (
            "bad_values",
            "tests:\n- input_series:\n  - series: 'x'\n    values: '1 two'\n  promql_expr_test:\n  - expr: vector(1)\n    eval_time: 0m\n    exp_samples: [{labels: '{}', value: 1}]\n".into(),
        ),
        (
            "missing_alertname",
            "tests:\n- name: grp\n  alert_rule_test:\n  - eval_time: 1m\n    exp_alerts: []\n".into(),
        ),
        (
            "interval_unset",
            "evaluation_interval: 2m\ntests:\n- input_series:\n  - series: 'y'\n    values: '5 6 _ 7'\n  promql_expr_test:\n  - expr: y\n    eval_time: 4m\n    exp_samples: [{labels: 'y', value: 5}]\n  - expr: timestamp(y)\n    eval_time: 1m\n    exp_samples: [{labels: '{}', value: 0}]\n".into(),
        ),
        (
            "no_tests",
            "rule_files: [order_rules.yml]\n".into(),
        ),
        (
            "unknown_field",
            "tests:\n- name: grp\n  bogus: 1\n".into(),
        ),
    ];
    let limit_test = |group: &str| {
        format!("rule_files: [only_{group}.yml]\ngroup_eval_order: [{group}]\ntests:\n- name: lim\n  input_series:\n  - series: 'x{{a=\"1\"}}'\n    values: '1 1'\n  - series: 'x{{a=\"2\"}}'\n    values: '_ 1'\n  promql_expr_test:\n  - expr: vector(1)\n    eval_time: 1m\n    exp_samples: [{{labels: '{{}}', value: 1}}]\n")
    };
    let files: Vec<(&str, String)> = files
        .into_iter()
        .chain([
            ("limit_recording", limit_test("rec_limit")),
            ("limit_alerting", limit_test("alert_limit")),
            ("alert_labels_collide", limit_test("collide")),
            ("string_result", limit_test("string")),
        ])
        .collect();
    write(
        "bad_rules.yml",
        "groups:\n- name: g\n  rules:\n  - record: 'a b'\n    expr: up\n",
    );
    for (group, body) in [
        (
            "rec_limit",
            "  limit: 1\n  rules:\n  - record: r\n    expr: x\n",
        ),
        (
            "alert_limit",
            "  limit: 1\n  rules:\n  - alert: L\n    expr: x > 0\n",
        ),
        (
            "collide",
            "  rules:\n  - alert: C\n    expr: x\n    labels: {a: same}\n",
        ),
        ("string", "  rules:\n  - record: s\n    expr: '\"text\"'\n"),
    ] {
        write(
            &format!("only_{group}.yml"),
            &format!("groups:\n- name: {group}\n{body}"),
        );
    }
    let mut disagreements = Vec::new();
    for (name, text) in &files {
        let file = format!("{name}.test.yml");
        write(&file, text);
        let theirs = run(Command::new(&promtool)
            .args(["test", "rules", &file])
            .current_dir(dir.path()));
        let ours = lookout(dir.path(), &["test", &file]);
        let ((tout, terr), (oout, oerr)) = (text_of(&theirs), text_of(&ours));
        println!(
            "{name}: {}",
            if theirs.status.success() {
                "pass"
            } else {
                "FAIL"
            }
        );
        if theirs.status.code() != ours.status.code() || headers(&terr) != headers(&oerr) {
            disagreements.push(format!(
                "{name}: promtool exit {:?}, lookout exit {:?}\n--- promtool ---\n{tout}{terr}\n--- lookout ---\n{oout}{oerr}",
                theirs.status.code(),
                ours.status.code()
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
}

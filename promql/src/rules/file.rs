//! Rule files: Prometheus' YAML format, read and validated as `rulefmt` does.

use std::collections::BTreeMap;
use std::fmt;

use lookout_model::{go_quote, parse_duration, Labels, NameValidation};
use lookout_template::{Funcs, Template};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::ast::Expr;
use crate::parser::{parse_with, ParseOptions};

/// The most YAML we read from one rule file.
const MAX_YAML: usize = 32 << 20;

/// How rule files are read and checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuleFileOptions {
    /// Which names are valid for records and labels (Prometheus 2: legacy; 3: UTF-8).
    pub names: NameValidation,
    /// How expressions are parsed.
    pub parse: ParseOptions,
    /// The URL the template function `externalURL` returns while templates are parse-checked.
    pub external_url: String,
    /// Accept `labels` and `query_offset` on groups (Prometheus 3); off, they are unknown
    /// fields as in Prometheus 2.
    pub group_labels: bool,
}

impl Default for RuleFileOptions {
    fn default() -> Self {
        RuleFileOptions {
            names: NameValidation::Utf8,
            parse: ParseOptions::default(),
            external_url: String::new(),
            group_labels: true,
        }
    }
}

impl RuleFileOptions {
    /// What Prometheus 2.42 accepts: legacy names, its PromQL dialect.
    pub fn prometheus2() -> RuleFileOptions {
        RuleFileOptions {
            names: NameValidation::Legacy,
            parse: ParseOptions::prometheus2(),
            external_url: String::new(),
            group_labels: false,
        }
    }
}

/// A line and column (1-based) in a rule file; `0:0` where the YAML node is absent, as
/// Prometheus prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line (0: unknown).
    pub line: u64,
    /// 1-based column (0: unknown).
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem with a rule file, worded as Prometheus' `rulefmt` words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleFileError {
    /// The file is not YAML of the expected shape (`yaml: ...` in Prometheus).
    #[error("{message}")]
    Yaml {
        /// Where, when known.
        pos: Option<Pos>,
        /// What is wrong (Prometheus' wording where it has one).
        message: String,
    },
    /// A problem with a group as a whole.
    #[error("{pos}: {message}")]
    Group {
        /// Where the group starts.
        pos: Pos,
        /// What is wrong.
        message: String,
    },
    /// A problem with a group's labels (Prometheus 3), reported without a position.
    #[error("{message}")]
    GroupLabel {
        /// What is wrong.
        message: String,
    },
    /// A problem with one rule.
    #[error(
        "{}group {}, rule {index}, {}: {message}",
        fmt_pos(pos, alt),
        go_quote(group),
        go_quote(name)
    )]
    Rule {
        /// The group's name.
        group: String,
        /// The rule's 1-based index in the group.
        index: usize,
        /// The rule's name (`alert` or else `record`).
        name: String,
        /// The YAML node at fault, if the message names one.
        pos: Option<Pos>,
        /// A second node (both `record` and `alert` set).
        alt: Option<Pos>,
        /// What is wrong.
        message: String,
    },
}

fn fmt_pos(pos: &Option<Pos>, alt: &Option<Pos>) -> String {
    match (pos, alt) {
        (Some(p), Some(a)) => format!("{p}: {a}: "),
        (Some(p), None) => format!("{p}: "),
        _ => String::new(),
    }
}

/// A validated rule file: its groups in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// The groups.
    pub groups: Vec<GroupSpec>,
}

impl RuleFile {
    /// The number of rules in all groups (what `promtool check rules` reports).
    pub fn num_rules(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// One rule group as written.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GroupSpec {
    /// The group's name, unique in its file.
    pub name: String,
    /// Evaluation interval (ms); `None` uses the caller's default.
    pub interval: Option<i64>,
    /// How far back of the evaluation time rules query (ms).
    pub query_offset: Option<i64>,
    /// The most series a recording rule, or alerts an alerting rule, may produce (0: no limit).
    pub limit: usize,
    /// Labels added to every rule of the group (rule labels take precedence).
    pub labels: Labels,
    /// The rules in evaluation order.
    pub rules: Vec<RuleSpec>,
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RuleKind {
    /// A recording rule writing series named `record`.
    Record {
        /// The metric name of the output.
        record: String,
    },
    /// An alerting rule.
    Alert {
        /// The alert name (`alertname` label).
        alert: String,
        /// How long the condition must hold before the alert fires (ms).
        for_ms: i64,
        /// How long a firing alert keeps firing after the condition is gone (ms).
        keep_firing_for_ms: i64,
        /// Annotations (templates), sorted by name; empty values are kept, as Prometheus does.
        annotations: Vec<(String, String)>,
    },
}

/// One rule as written, its expression parsed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RuleSpec {
    /// Recording or alerting.
    pub kind: RuleKind,
    /// The expression as written.
    pub expr_text: String,
    /// The parsed expression.
    pub expr: Expr,
    /// Labels set on the output (templates for alerts), sorted by name; an empty value removes
    /// the label from the output.
    pub labels: Vec<(String, String)>,
}

impl RuleSpec {
    /// The rule's name: the record or the alert name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Record { record } => record,
            RuleKind::Alert { alert, .. } => alert,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Option<Vec<Spanned<RawGroup>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    query_offset: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    rules: Option<Vec<Spanned<RawRule>>>,
    #[serde(default, deserialize_with = "string_map")]
    labels: Option<BTreeMap<String, String>>,
}

/// The file as Prometheus 2 reads it, rules unread.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile2 {
    #[serde(default)]
    #[allow(dead_code)]
    groups: Option<Vec<RawGroup2>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawGroup2 {
    #[serde(default)]
    name: serde::de::IgnoredAny,
    #[serde(default)]
    interval: serde::de::IgnoredAny,
    #[serde(default)]
    limit: serde::de::IgnoredAny,
    #[serde(default)]
    rules: serde::de::IgnoredAny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    #[serde(default)]
    expr: Option<Spanned<String>>,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "string_map")]
    annotations: Option<BTreeMap<String, String>>,
}

/// A YAML map of strings as Go reads it into `map[string]string`: a null value is `""`.
pub(crate) fn string_map<'de, D>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let m: Option<BTreeMap<String, Option<String>>> = Option::deserialize(d)?;
    Ok(m.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }))
}

fn loc(l: &serde_saphyr::Location) -> Pos {
    Pos {
        line: l.line(),
        column: l.column(),
    }
}

fn spanned_pos<T>(s: &Option<Spanned<T>>) -> Pos {
    s.as_ref().map(|s| loc(&s.referenced)).unwrap_or_default()
}

fn sval(s: &Option<Spanned<String>>) -> &str {
    s.as_ref().map_or("", |s| s.value.as_str())
}

/// Prometheus' `model.Duration` YAML form; the error is Prometheus' message.
fn duration(s: &Option<String>) -> Result<i64, String> {
    match s.as_deref() {
        None | Some("") => Ok(0),
        Some(d) => {
            parse_duration(d).map_err(|_| format!("not a valid duration string: {}", go_quote(d)))
        }
    }
}

/// Words a YAML error as Prometheus' yaml.v3 does: `yaml: unmarshal errors:\n  line 3: field foo
/// not found in type rulefmt.RuleGroup` for unknown fields, `yaml: line L: MESSAGE` otherwise.
pub(crate) fn yaml_message(e: &serde_saphyr::Error, types: [&str; 3]) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let mut msg = match first.strip_prefix("line ") {
        Some(rest) => match rest.find(": ") {
            Some(p) => &rest[p + 2..],
            None => first,
        },
        None => first,
    };
    if let Some(p) = msg.rfind(" at line ") {
        msg = &msg[..p];
    }
    let line = e.location().map_or(0, |l| l.line());
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        let ty = if msg.contains("expected one of record") || msg.contains("expected one of series")
        {
            types[2]
        } else if msg.contains("expected one of name") || msg.contains("expected one of interval") {
            types[1]
        } else {
            types[0]
        };
        return format!(
            "yaml: unmarshal errors:\n  line {line}: field {field} not found in type {ty}"
        );
    }
    format!("yaml: line {line}: {msg}")
}

/// The definitions Prometheus puts in front of every alert template.
pub(crate) const TEMPLATE_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Prometheus' template functions plus a `query` stub: rule templates may call `query`, which
/// needs an engine at expansion time.
pub(crate) fn template_funcs(external_url: &str) -> Funcs {
    let mut f = Funcs::prometheus(external_url);
    f.insert("query", |_| {
        Err("the query template function is not supported".to_string())
    });
    f
}

/// A Go-worded template parse error (Go prints the line only).
pub(crate) fn template_parse_error(e: &lookout_template::Error) -> String {
    match e {
        lookout_template::Error::Parse {
            name,
            line,
            message,
            ..
        } => format!("template: {name}:{line}: {message}"),
        other => other.to_string(),
    }
}

/// Reads and validates a rule file. On failure, every problem found, in Prometheus' order and
/// wording (as `promtool check rules` prints them after the file name).
///
/// ```
/// use lookout_promql::rules::{parse_rule_file, RuleFileOptions};
/// let f = parse_rule_file("groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n", &RuleFileOptions::default()).unwrap();
/// assert_eq!(f.num_rules(), 1);
/// let errs = parse_rule_file("groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(\n", &RuleFileOptions::default()).unwrap_err();
/// assert_eq!(errs[0].to_string(), "5:11: group \"g\", rule 1, \"x\": could not parse expression: 1:5: parse error: unclosed left parenthesis");
/// ```
pub fn parse_rule_file(text: &str, opts: &RuleFileOptions) -> Result<RuleFile, Vec<RuleFileError>> {
    if text.len() > MAX_YAML {
        return Err(vec![RuleFileError::Yaml {
            pos: None,
            message: format!(
                "input of {} bytes exceeds the limit of {MAX_YAML}",
                text.len()
            ),
        }]);
    }
    if text.trim().is_empty() {
        return Ok(RuleFile { groups: Vec::new() });
    }
    let mut yopts = serde_saphyr::Options::default();
    yopts.with_snippet = false;
    const TYPES: [&str; 3] = [
        "rulefmt.RuleGroups",
        "rulefmt.RuleGroup",
        "rulefmt.RuleNode",
    ];
    if !opts.group_labels {
        // Prometheus 2 knows neither `labels` nor `query_offset` on groups: read the file once
        // with its group fields to report them as it does.
        let r: Result<Option<RawFile2>, _> =
            serde_saphyr::from_str_with_options(text, yopts.clone());
        if let Err(e) = r {
            if e.to_string().contains("unknown field") {
                return Err(vec![RuleFileError::Yaml {
                    pos: e.location().map(|l| loc(&l)),
                    message: yaml_message(&e, TYPES),
                }]);
            }
        }
    }
    let raw: Option<RawFile> = serde_saphyr::from_str_with_options(text, yopts).map_err(|e| {
        vec![RuleFileError::Yaml {
            pos: e.location().map(|l| loc(&l)),
            message: yaml_message(&e, TYPES),
        }]
    })?;
    let groups = raw.and_then(|r| r.groups).unwrap_or_default();

    let mut errs = Vec::new();
    // Durations are decoded before validation in Prometheus: a bad one stops everything.
    for g in &groups {
        for d in [&g.value.interval, &g.value.query_offset] {
            if let Err(message) = duration(d) {
                return Err(vec![RuleFileError::Yaml { pos: None, message }]);
            }
        }
        for r in g.value.rules.iter().flatten() {
            for d in [&r.value.for_, &r.value.keep_firing_for] {
                if let Err(message) = duration(d) {
                    return Err(vec![RuleFileError::Yaml { pos: None, message }]);
                }
            }
        }
    }

    let funcs = template_funcs(&opts.external_url);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(groups.len());
    for g in &groups {
        let gpos = loc(&g.referenced);
        let rg = &g.value;
        let name = rg.name.clone().unwrap_or_default();
        if name.is_empty() {
            errs.push(RuleFileError::Group {
                pos: gpos,
                message: "Groupname must not be empty".into(),
            });
        }
        if !seen.insert(name.clone()) {
            errs.push(RuleFileError::Group {
                pos: gpos,
                message: format!("groupname: \"{name}\" is repeated in the same file"),
            });
        }
        let glabels = rg.labels.clone().unwrap_or_default();
        // Values need no check: Rust strings are valid UTF-8.
        for k in glabels.keys() {
            if !opts.names.is_valid_label_name(k) || k == "__name__" {
                errs.push(RuleFileError::GroupLabel {
                    message: format!("invalid label name: {k}"),
                });
            }
        }
        let mut rules = Vec::new();
        for (i, r) in rg.rules.iter().flatten().enumerate() {
            let (spec, problems) = validate_rule(&r.value, opts, &funcs);
            let rname = if sval(&r.value.alert).is_empty() {
                sval(&r.value.record)
            } else {
                sval(&r.value.alert)
            };
            for (pos, alt, message) in problems {
                errs.push(RuleFileError::Rule {
                    group: name.clone(),
                    index: i + 1,
                    name: rname.to_string(),
                    pos,
                    alt,
                    message,
                });
            }
            if let Some(s) = spec {
                rules.push(s);
            }
        }
        out.push(GroupSpec {
            name,
            interval: rg
                .interval
                .as_ref()
                .and_then(|d| parse_duration(d).ok())
                .filter(|d| *d > 0),
            query_offset: rg
                .query_offset
                .as_ref()
                .and_then(|d| parse_duration(d).ok()),
            limit: rg.limit.unwrap_or(0).max(0) as usize,
            labels: Labels::from_pairs(glabels.iter()),
            rules,
        });
    }
    if errs.is_empty() {
        Ok(RuleFile { groups: out })
    } else {
        Err(errs)
    }
}

type Problem = (Option<Pos>, Option<Pos>, String);

fn validate_rule(
    r: &RawRule,
    opts: &RuleFileOptions,
    funcs: &Funcs,
) -> (Option<RuleSpec>, Vec<Problem>) {
    let mut p: Vec<Problem> = Vec::new();
    let record = sval(&r.record);
    let alert = sval(&r.alert);
    let (rpos, apos, epos) = (
        spanned_pos(&r.record),
        spanned_pos(&r.alert),
        spanned_pos(&r.expr),
    );
    if !record.is_empty() && !alert.is_empty() {
        p.push((
            Some(rpos),
            Some(apos),
            "only one of 'record' and 'alert' must be set".into(),
        ));
    }
    if record.is_empty() && alert.is_empty() {
        p.push((
            Some(rpos),
            None,
            "one of 'record' or 'alert' must be set".into(),
        ));
    }
    let expr_text = sval(&r.expr);
    let mut expr = None;
    if expr_text.is_empty() {
        p.push((Some(epos), None, "field 'expr' must be set in rule".into()));
    } else {
        match parse_with(expr_text, &opts.parse) {
            Ok(e) => expr = Some(e),
            Err(e) => p.push((
                Some(epos),
                None,
                format!("could not parse expression: {}", e),
            )),
        }
    }
    let for_ms = duration(&r.for_).unwrap_or(0);
    let kff_ms = duration(&r.keep_firing_for).unwrap_or(0);
    let annotations = r.annotations.clone().unwrap_or_default();
    let labels = r.labels.clone().unwrap_or_default();
    if !record.is_empty() {
        if !annotations.is_empty() {
            p.push((
                Some(rpos),
                None,
                "invalid field 'annotations' in recording rule".into(),
            ));
        }
        if for_ms != 0 {
            p.push((
                Some(rpos),
                None,
                "invalid field 'for' in recording rule".into(),
            ));
        }
        if kff_ms != 0 {
            p.push((
                Some(rpos),
                None,
                "invalid field 'keep_firing_for' in recording rule".into(),
            ));
        }
        if !opts.names.is_valid_metric_name(record) {
            p.push((
                Some(rpos),
                None,
                format!("invalid recording rule name: {record}"),
            ));
        } else if record.contains(['{', '}']) {
            p.push((
                Some(rpos),
                None,
                format!(
                    "braces present in the recording rule name; should it be in expr?: {record}"
                ),
            ));
        }
    }
    for k in labels.keys() {
        if !opts.names.is_valid_label_name(k) || k == "__name__" {
            p.push((None, None, format!("invalid label name: {k}")));
        }
    }
    for k in annotations.keys() {
        if !opts.names.is_valid_label_name(k) {
            p.push((None, None, format!("invalid annotation name: {k}")));
        }
    }
    if !alert.is_empty() {
        let tname = format!("__alert_{alert}");
        for (what, map) in [("label", &labels), ("annotation", &annotations)] {
            for (k, v) in map {
                if let Err(e) =
                    Template::parse(&tname, &format!("{TEMPLATE_DEFS}{v}"), funcs.clone())
                {
                    p.push((
                        None,
                        None,
                        format!("{what} {}: {}", go_quote(k), template_parse_error(&e)),
                    ));
                }
            }
        }
    }
    let spec = match (p.is_empty(), expr) {
        (true, Some(expr)) => Some(RuleSpec {
            kind: if record.is_empty() {
                RuleKind::Alert {
                    alert: alert.to_string(),
                    for_ms,
                    keep_firing_for_ms: kff_ms,
                    annotations: annotations.into_iter().collect(),
                }
            } else {
                RuleKind::Record {
                    record: record.to_string(),
                }
            },
            expr_text: expr_text.to_string(),
            expr,
            labels: labels.into_iter().collect(),
        }),
        _ => None,
    };
    (spec, p)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Expected messages as `promtool check rules` of Prometheus 2.42 prints them for this file
    /// (the template line is the template crate's wording).
    #[test]
    fn messages_match_promtool_2_42() {
        let text = "groups:\n- name: g\n  rules:\n  - record: \"bad name\"\n    expr: up\n    for: 5m\n  - alert: A\n    record: b\n    expr: sum(\n    labels:\n      \"0x\": y\n    annotations:\n      s: \"{{ $labels.x }\"\n  - expr: up\n- name: g\n  rules: []\n";
        let errs = parse_rule_file(text, &RuleFileOptions::prometheus2()).unwrap_err();
        let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let want = [
            "4:13: group \"g\", rule 1, \"bad name\": invalid field 'for' in recording rule",
            "4:13: group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name",
            "8:13: 7:12: group \"g\", rule 2, \"A\": only one of 'record' and 'alert' must be set",
            "9:11: group \"g\", rule 2, \"A\": could not parse expression: 1:5: parse error: unclosed left parenthesis",
            "8:13: group \"g\", rule 2, \"A\": invalid field 'annotations' in recording rule",
            "group \"g\", rule 2, \"A\": invalid label name: 0x",
        ];
        assert_eq!(&got[..6], &want[..]);
        assert!(got[6]
            .starts_with("group \"g\", rule 2, \"A\": annotation \"s\": template: __alert_A:1: "));
        assert_eq!(
            &got[7..],
            [
                "0:0: group \"g\", rule 3, \"\": one of 'record' or 'alert' must be set",
                "15:3: groupname: \"g\" is repeated in the same file",
            ]
        );
    }

    #[test]
    fn unknown_fields_are_named_as_yaml_v3_does() {
        let e = parse_rule_file(
            "groups:\n- name: g\n  foo: 1\n  rules: []\n",
            &RuleFileOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "yaml: unmarshal errors:\n  line 3: field foo not found in type rulefmt.RuleGroup"
        );
        // Group labels are Prometheus 3 only.
        let text = "groups:\n- name: g\n  labels: {a: b}\n  rules:\n  - record: r\n    expr: up\n";
        assert!(parse_rule_file(text, &RuleFileOptions::prometheus2()).is_err());
        let f = parse_rule_file(text, &RuleFileOptions::default()).unwrap();
        assert_eq!(f.groups[0].labels.get("a"), Some("b"));
    }

    #[test]
    fn names_follow_the_scheme() {
        let text = "groups:\n- name: g\n  rules:\n  - record: 'métrique'\n    expr: up\n";
        assert!(parse_rule_file(text, &RuleFileOptions::prometheus2()).is_err());
        assert!(parse_rule_file(text, &RuleFileOptions::default()).is_ok());
        let braces = "groups:\n- name: g\n  rules:\n  - record: 'up{a=\"b\"}'\n    expr: up\n";
        let e = parse_rule_file(braces, &RuleFileOptions::default()).unwrap_err();
        assert!(e[0]
            .to_string()
            .contains("braces present in the recording rule name"));
    }

    #[test]
    fn hostile_input_is_an_error() {
        for text in [
            "groups: 5",
            "groups:\n- rules: {a: b}",
            "{{{",
            "groups:\n- name: [x]\n",
            "\u{0}",
        ] {
            assert!(
                parse_rule_file(text, &RuleFileOptions::default()).is_err(),
                "{text:?}"
            );
        }
        let bomb = format!(
            "a: &a [{}]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b]\n",
            "x,".repeat(100)
        );
        assert!(parse_rule_file(&bomb, &RuleFileOptions::default()).is_err());
    }

    const SEED: &str = "groups:\n- name: g\n  interval: 30s\n  limit: 5\n  labels: {team: x}\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: Down\n    expr: job:up:sum == 0\n    for: 1m\n    keep_firing_for: 2m\n    labels: {sev: '{{ $value }}'}\n    annotations: {s: '{{ $labels.job }} {{ with query \"up\" }}{{ len . }}{{ end }}'}\n";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Damaged rule files never panic, whether they load or not, and what loads evaluates.
        #[test]
        fn mutated_files_never_panic(pos in 0usize..400, len in 0usize..8, ins in "[ -~\n]{0,6}") {
            let mut text = SEED.to_string();
            let start = pos.min(text.len());
            let end = (start + len).min(text.len());
            text.replace_range(start..end, &ins);
            for opts in [RuleFileOptions::default(), RuleFileOptions::prometheus2()] {
                if let Ok(f) = parse_rule_file(&text, &opts) {
                    let mut db = lookout_model::MemStorage::new();
                    db.append(&"up{job=\"a\"}".parse().unwrap(), 0, 0.0);
                    for g in f.groups {
                        let mut g = crate::rules::RuleGroup::new(g, &Default::default());
                        g.eval(&crate::engine::Engine::default(), &mut db, 0);
                        g.eval(&crate::engine::Engine::default(), &mut db, 60_000);
                    }
                }
            }
        }
    }
}

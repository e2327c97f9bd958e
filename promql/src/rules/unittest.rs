//! `promtool test rules`: rule unit-test files, run as Prometheus runs them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use lookout_model::{
    format_duration, go_quote, parse_duration, Labels, Matcher, MemStorage, Querier, SelectHints,
    SeriesSet,
};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::eval::{AlertState, Appender, GroupOptions, RuleGroup};
use super::file::{parse_rule_file, string_map, RuleFileOptions};
use crate::engine::{Engine, EngineOptions, Value};
use crate::promqltest::{parse_values, SeqValue};

/// The test storage: like Prometheus' head, it takes a series' samples in time order only, so
/// a second sample at the same timestamp (a duplicate rule output, input at interval 0) is
/// dropped and the first one stays.
#[derive(Debug, Default)]
struct TestStorage {
    db: MemStorage,
    last: HashMap<Labels, i64>,
}

impl Appender for TestStorage {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        match self.last.get_mut(labels) {
            Some(last) if t <= *last => {}
            Some(last) => {
                *last = t;
                self.db.append(labels, t, v);
            }
            None => {
                self.last.insert(labels.clone(), t);
                self.db.append(labels, t, v);
            }
        }
    }
}

impl Querier for TestStorage {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<SeriesSet<'a>, lookout_model::Error> {
        self.db.select(mint, maxt, matchers, hints)
    }

    fn label_names(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, lookout_model::Error> {
        self.db.label_names(mint, maxt, matchers)
    }

    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, lookout_model::Error> {
        self.db.label_values(mint, maxt, name, matchers)
    }
}

/// How unit tests run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UnitTestOptions {
    /// The engine's semantics (use [`EngineOptions::prometheus2`] to agree with Prometheus 2.x).
    pub engine: EngineOptions,
    /// How rule files are read.
    pub rule_files: RuleFileOptions,
    /// Prometheus 3's unit-test format: a test group without `interval` spaces its input by
    /// `evaluation_interval`, and `fuzzy_compare` and `start_timestamp` are known. Off, as in
    /// Prometheus 2.42: input of a group without `interval` is spaced by zero (every sample
    /// lands at time 0, the first of a series wins) and those fields are unknown.
    pub prometheus3_format: bool,
}

impl Default for UnitTestOptions {
    fn default() -> Self {
        UnitTestOptions {
            engine: EngineOptions::default(),
            rule_files: RuleFileOptions::default(),
            prometheus3_format: true,
        }
    }
}

impl UnitTestOptions {
    /// Prometheus 2.42's semantics throughout.
    pub fn prometheus2() -> UnitTestOptions {
        UnitTestOptions {
            engine: EngineOptions::prometheus2(),
            rule_files: RuleFileOptions::prometheus2(),
            prometheus3_format: false,
        }
    }
}

/// The result of one unit-test file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnitTestOutcome {
    /// Failures, each worded and indented as `promtool test rules` prints it (may span lines).
    pub failures: Vec<String>,
    /// Warnings (rule-file patterns that match nothing).
    pub warnings: Vec<String>,
}

impl UnitTestOutcome {
    /// Whether every test passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    S(String),
    I(i64),
    F(f64),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::S(s) => s.clone(),
            Scalar::I(i) => i.to_string(),
            Scalar::F(f) => f.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule_files: Option<Vec<String>>,
    #[serde(default)]
    evaluation_interval: Option<Scalar>,
    #[serde(default)]
    group_eval_order: Option<Vec<String>>,
    #[serde(default)]
    tests: Option<Vec<RawGroup>>,
    #[serde(default)]
    fuzzy_compare: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    interval: Option<Scalar>,
    #[serde(default)]
    input_series: Option<Vec<RawSeries>>,
    #[serde(default)]
    alert_rule_test: Option<Vec<RawAlertTest>>,
    #[serde(default)]
    promql_expr_test: Option<Vec<RawExprTest>>,
    #[serde(default, deserialize_with = "string_map")]
    external_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    external_url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    start_timestamp: Option<Spanned<Scalar>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    #[serde(default)]
    series: Option<String>,
    #[serde(default)]
    values: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertTest {
    #[serde(default)]
    eval_time: Option<Scalar>,
    #[serde(default)]
    alertname: Option<String>,
    #[serde(default)]
    exp_alerts: Option<Vec<RawExpAlert>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpAlert {
    #[serde(default, deserialize_with = "string_map")]
    exp_labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "string_map")]
    exp_annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExprTest {
    #[serde(default)]
    expr: Option<String>,
    #[serde(default)]
    eval_time: Option<Scalar>,
    #[serde(default)]
    exp_samples: Option<Vec<RawSample>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSample {
    #[serde(default)]
    labels: Option<String>,
    #[serde(default)]
    value: Option<f64>,
}

fn dur(s: &Option<Scalar>) -> Result<i64, String> {
    match s {
        None => Ok(0),
        Some(s) => {
            let t = s.text();
            parse_duration(&t).map_err(|_| format!("not a valid duration string: {}", go_quote(&t)))
        }
    }
}

/// Equality as promtool compares values: exact (NaN equals nothing), or with `fuzzy_compare`
/// also the neighbouring floats.
fn float_eq(a: f64, b: f64, fuzzy: bool) -> bool {
    a == b
        || (fuzzy && (next_toward(a, f64::NEG_INFINITY) == b || next_toward(a, f64::INFINITY) == b))
}

/// Go's `math.Nextafter(x, y)` for y = ±Inf.
fn next_toward(x: f64, y: f64) -> f64 {
    if x.is_nan() || x == y {
        return x;
    }
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if y > 0.0 { tiny } else { -tiny };
    }
    let bits = x.to_bits();
    let up = (y > x) == (x > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn go_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:E}");
    match s.split_once('E') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}E{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Go's `time.Duration.String()` of milliseconds.
fn go_dur(ms: i64) -> String {
    lookout_template::go_duration_string(ms as f64 / 1000.0)
}

type Pairs = Vec<(String, String)>;

/// The most rule evaluations one test group may ask for (`eval_time` / `evaluation_interval`).
const MAX_EVAL_STEPS: i64 = 1_000_000;

fn pairs_string(p: &Pairs) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in p.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(k);
        s.push('=');
        s.push_str(&go_quote(v));
    }
    s.push('}');
    s
}

fn indent_lines(lines: &str, indent: &str) -> String {
    let parts: Vec<&str> = lines.split('\n').collect();
    let mut out = String::new();
    for (i, l) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(indent);
        }
        out.push_str(l);
        if i != parts.len() - 1 {
            out.push('\n');
        }
    }
    out
}

fn alerts_string(list: &[(Pairs, Pairs)]) -> String {
    if list.is_empty() {
        return "[]".into();
    }
    let one = |(l, a): &(Pairs, Pairs)| {
        format!(
            "Labels:{}\nAnnotations:{}",
            pairs_string(l),
            pairs_string(a)
        )
    };
    let mut s = format!(
        "[\n0:{}",
        indent_lines(&format!("\n{}", one(&list[0])), "  ")
    );
    for (i, x) in list.iter().enumerate().skip(1) {
        s.push_str(&format!(
            ",\n{i}:{}",
            indent_lines(&format!("\n{}", one(x)), "  ")
        ));
    }
    s.push_str("\n]");
    s
}

fn samples_string(list: &[(Labels, f64)]) -> String {
    if list.is_empty() {
        return "nil".into();
    }
    list.iter()
        .map(|(l, v)| {
            let p: Pairs = l
                .iter()
                .map(|x| (x.name.to_string(), x.value.to_string()))
                .collect();
            format!("{} {}", pairs_string(&p), go_e(*v))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Expands `rule_files` entries: relative to `base`, with `*`, `?` globs in the file name.
fn resolve(base: &Path, files: &[String], warnings: &mut Vec<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in files {
        let p = if f.is_empty() || Path::new(f).is_absolute() {
            PathBuf::from(f)
        } else {
            base.join(f)
        };
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut found = Vec::new();
        if name.contains(['*', '?']) {
            let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            let list = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            if let Ok(rd) = std::fs::read_dir(list) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if wildcard(name.as_bytes(), n.as_bytes()) {
                        found.push(dir.join(n));
                    }
                }
            }
            found.sort();
        } else if p.exists() {
            found.push(p.clone());
        }
        if found.is_empty() {
            warnings.push(format!("  WARNING: no file match pattern {}", p.display()));
        }
        out.extend(found);
    }
    out
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Runs a `promtool test rules` file: rule files are resolved relative to it. The outcome
/// lists failures as promtool words them (an unreadable file is one failure).
pub fn run_unit_test_file(path: &Path, opts: &UnitTestOptions) -> UnitTestOutcome {
    let mut out = UnitTestOutcome::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            out.failures.push(format!("open {}: {e}", path.display()));
            return out;
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    run_unit_test_text(&text, base, opts, &mut out);
    out
}

fn run_unit_test_text(text: &str, base: &Path, opts: &UnitTestOptions, out: &mut UnitTestOutcome) {
    let mut yopts = serde_saphyr::Options::default();
    yopts.with_snippet = false;
    let raw: Option<RawFile> = match serde_saphyr::from_str_with_options(text, yopts) {
        Ok(r) => r,
        Err(e) => {
            out.failures.push(super::file::yaml_message(
                &e,
                ["main.unitTestFile", "main.testGroup", "main.series"],
            ));
            return;
        }
    };
    let Some(raw) = raw else { return };
    if !opts.prometheus3_format {
        let unknown = |field: &str, line: u64, ty: &str| {
            format!("yaml: unmarshal errors:\n  line {line}: field {field} not found in type {ty}")
        };
        if let Some(f) = &raw.fuzzy_compare {
            out.failures.push(unknown(
                "fuzzy_compare",
                f.referenced.line(),
                "main.unitTestFile",
            ));
            return;
        }
        for tg in raw.tests.iter().flatten() {
            if let Some(f) = &tg.start_timestamp {
                out.failures.push(unknown(
                    "start_timestamp",
                    f.referenced.line(),
                    "main.testGroup",
                ));
                return;
            }
        }
    }
    let fuzzy = raw.fuzzy_compare.as_ref().is_some_and(|f| f.value);
    let files = resolve(
        base,
        raw.rule_files.as_deref().unwrap_or(&[]),
        &mut out.warnings,
    );
    let eval_interval = match dur(&raw.evaluation_interval) {
        Ok(0) => 60_000,
        Ok(d) => d,
        Err(e) => {
            out.failures.push(e);
            return;
        }
    };
    let mut order: HashMap<String, usize> = HashMap::new();
    for (i, g) in raw.group_eval_order.iter().flatten().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            out.failures
                .push(format!("group name repeated in evaluation order: {g}"));
            return;
        }
    }
    for tg in raw.tests.iter().flatten() {
        out.failures
            .extend(run_group(tg, eval_interval, &order, &files, opts, fuzzy));
    }
}

fn run_group(
    tg: &RawGroup,
    eval_interval: i64,
    order: &HashMap<String, usize>,
    files: &[PathBuf],
    opts: &UnitTestOptions,
    fuzzy: bool,
) -> Vec<String> {
    let start = match &tg.start_timestamp {
        None => 0,
        Some(s) => {
            let text = s.value.text();
            match lookout_model::parse_timestamp(&text) {
                Ok(t) => t,
                Err(e) => return vec![e.to_string()],
            }
        }
    };
    let interval = match dur(&tg.interval) {
        Ok(0) if opts.prometheus3_format => eval_interval,
        Ok(d) => d,
        Err(e) => return vec![e],
    };
    // Input series.
    let mut db = TestStorage::default();
    for s in tg.input_series.iter().flatten() {
        let desc = s.series.as_deref().unwrap_or("");
        let labels: Labels = match desc.parse() {
            Ok(l) => l,
            Err(e) => return vec![format!("error parsing series {desc:?}: {e}")],
        };
        let values = s.values.as_ref().map(Scalar::text).unwrap_or_default();
        let vals = match parse_values(&values, 1) {
            Ok(v) => v,
            Err(e) => return vec![format!("error parsing values {values:?}: {e}")],
        };
        for (i, v) in vals.iter().enumerate() {
            match v {
                SeqValue::Gap => {}
                SeqValue::Float(f) => db.append(
                    &labels,
                    start.saturating_add((i as i64).saturating_mul(interval)),
                    *f,
                ),
                SeqValue::Histogram(_) => {
                    return vec!["native histograms in input_series are not supported".into()]
                }
            }
        }
    }
    // Rule groups.
    let gopts = GroupOptions::default()
        .with_default_interval(interval.max(1))
        .with_external_url(tg.external_url.clone().unwrap_or_default())
        .with_external_labels(Labels::from_pairs(tg.external_labels.iter().flatten()));
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                errs.push(format!("{}: {e}", f.display()));
                continue;
            }
        };
        match parse_rule_file(&text, &opts.rule_files) {
            Ok(rf) => groups.extend(rf.groups.into_iter().map(|g| RuleGroup::new(g, &gopts))),
            Err(es) => errs.extend(es.iter().map(|e| format!("{}: {e}", f.display()))),
        }
    }
    if !errs.is_empty() {
        return errs;
    }
    groups.sort_by_key(|g| order.get(g.name()).copied().unwrap_or(0));

    let mut engine_opts = opts.engine.clone();
    engine_opts.default_subquery_step = eval_interval;
    let engine = Engine::new(engine_opts);

    let group_name = tg.name.clone().unwrap_or_default();
    let mut alert_times: Vec<i64> = Vec::new();
    let mut alert_tests: BTreeMap<i64, Vec<&RawAlertTest>> = BTreeMap::new();
    let mut max_t = 0;
    for a in tg.alert_rule_test.iter().flatten() {
        let t = match dur(&a.eval_time) {
            Ok(t) => t,
            Err(e) => return vec![e],
        };
        if a.alertname.as_deref().unwrap_or("").is_empty() {
            let log = if group_name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {group_name})")
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{log}",
                format_duration(t)
            )];
        }
        max_t = max_t.max(t);
        alert_times.push(t);
        alert_tests.entry(t).or_default().push(a);
    }
    alert_times.sort_unstable();
    alert_times.dedup();
    let mut expr_tests = Vec::new();
    for e in tg.promql_expr_test.iter().flatten() {
        let t = match dur(&e.eval_time) {
            Ok(t) => t,
            Err(e) => return vec![e],
        };
        max_t = max_t.max(t);
        expr_tests.push((t, e));
    }

    if max_t / eval_interval > MAX_EVAL_STEPS {
        return vec![format!(
            "evaluating every {} up to {} takes more than {MAX_EVAL_STEPS} steps",
            format_duration(eval_interval),
            format_duration(max_t)
        )];
    }
    let mut errs = Vec::new();
    let mut curr = 0;
    let mut ts = 0i64;
    while ts <= max_t {
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(&engine, &mut db, start.saturating_add(ts));
            for r in g.rules() {
                if let Some(e) = r.last_error() {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name(),
                        go_dur(start.saturating_add(ts))
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return errs;
        }
        while curr < alert_times.len()
            && ts <= alert_times[curr]
            && alert_times[curr] < ts.saturating_add(eval_interval)
        {
            let t = alert_times[curr];
            let cases = alert_tests.get(&t).map(Vec::as_slice).unwrap_or(&[]);
            for case in cases {
                let name = case.alertname.as_deref().unwrap_or("");
                let mut got: Vec<(Pairs, Pairs)> = Vec::new();
                for g in &groups {
                    for r in g.rules() {
                        if !r.is_alerting() || r.name() != name {
                            continue;
                        }
                        for a in r.active_alerts() {
                            if a.state == AlertState::Firing {
                                got.push((
                                    a.labels
                                        .iter()
                                        .map(|l| (l.name.to_string(), l.value.to_string()))
                                        .collect(),
                                    a.annotations.clone(),
                                ));
                            }
                        }
                    }
                }
                let mut exp: Vec<(Pairs, Pairs)> = case
                    .exp_alerts
                    .iter()
                    .flatten()
                    .map(|a| {
                        let mut l = a.exp_labels.clone().unwrap_or_default();
                        l.insert("alertname".into(), name.to_string());
                        (
                            l.into_iter().collect(),
                            a.exp_annotations
                                .clone()
                                .unwrap_or_default()
                                .into_iter()
                                .collect(),
                        )
                    })
                    .collect();
                got.sort();
                exp.sort();
                if got != exp {
                    let test_name = if group_name.is_empty() {
                        String::new()
                    } else {
                        format!("    name: {group_name},\n")
                    };
                    let ind = "            ";
                    errs.push(format!(
                        "{test_name}    alertname: {name}, time: {}, \n        exp:{}, \n        got:{}",
                        format_duration(t),
                        indent_lines(&alerts_string(&exp), ind),
                        indent_lines(&alerts_string(&got), ind)
                    ));
                }
            }
            curr += 1;
        }
        ts += eval_interval;
    }

    'outer: for (t, case) in expr_tests {
        let expr = case.expr.as_deref().unwrap_or("");
        let when = format_duration(t);
        let got = match engine.instant_query(&db, expr, start.saturating_add(t)) {
            Ok(r) => match r.value {
                Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
                Value::Scalar { v, .. } => vec![(Labels::empty(), v)],
                _ => {
                    errs.push(format!(
                        "    expr: {}, time: {when}, err: rule result is not a vector or scalar",
                        go_quote(expr)
                    ));
                    continue;
                }
            },
            Err(e) => {
                errs.push(format!(
                    "    expr: {}, time: {when}, err: {e}",
                    go_quote(expr)
                ));
                continue;
            }
        };
        let mut got: Vec<(Labels, f64)> = got;
        let mut exp = Vec::new();
        for s in case.exp_samples.iter().flatten() {
            let text = s.labels.as_deref().unwrap_or("");
            match text.parse::<Labels>() {
                Ok(l) => exp.push((l, s.value.unwrap_or(0.0))),
                Err(e) => {
                    errs.push(format!(
                        "    expr: {}, time: {when}, err: labels {}: {e}",
                        go_quote(expr),
                        go_quote(text)
                    ));
                    continue 'outer;
                }
            }
        }
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        got.sort_by(|a, b| a.0.cmp(&b.0));
        // Exact comparison, as Prometheus' reflect.DeepEqual: NaN equals nothing.
        let same = exp.len() == got.len()
            && exp
                .iter()
                .zip(&got)
                .all(|(a, b)| a.0 == b.0 && float_eq(a.1, b.1, fuzzy));
        if !same {
            errs.push(format!(
                "    expr: {}, time: {when},\n        exp: {}\n        got: {}",
                go_quote(expr),
                samples_string(&exp),
                samples_string(&got)
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_e_format() {
        assert_eq!(go_e(1.0), "1E+00");
        assert_eq!(go_e(0.0), "0E+00");
        assert_eq!(go_e(1.0 / 3.0), "3.333333333333333E-01");
        assert_eq!(go_e(-1234.5), "-1.2345E+03");
        assert_eq!(go_e(1e100), "1E+100");
    }

    #[test]
    fn fuzzy_equality() {
        assert!(float_eq(0.1 + 0.2, 0.30000000000000004, false));
        assert!(!float_eq(0.1 + 0.2, 0.3, false));
        assert!(float_eq(0.1 + 0.2, 0.3, true));
        assert!(!float_eq(f64::NAN, f64::NAN, true));
        assert!(float_eq(0.0, f64::from_bits(1), true));
    }

    #[test]
    fn prometheus3_fields() {
        let dir = std::env::temp_dir().join(format!("lookout-rules-p3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let test = "fuzzy_compare: true\ntests:\n- start_timestamp: 1700000000\n  input_series:\n  - series: 'x'\n    values: '0.1 0.2'\n  promql_expr_test:\n  - expr: sum_over_time(x[2m]) + 0 * timestamp(x)\n    eval_time: 1m\n    exp_samples: [{labels: '{}', value: 0.3}]\n  - expr: timestamp(x)\n    eval_time: 1m\n    exp_samples: [{labels: '{}', value: 1700000060}]\n";
        std::fs::write(dir.join("t.yml"), test).expect("write");
        let o = run_unit_test_file(&dir.join("t.yml"), &UnitTestOptions::default());
        assert!(o.passed(), "{:?}", o.failures);
        let o = run_unit_test_file(&dir.join("t.yml"), &UnitTestOptions::prometheus2());
        assert_eq!(
            o.failures,
            ["yaml: unmarshal errors:\n  line 1: field fuzzy_compare not found in type main.unitTestFile"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.yml", b"a.yml"));
        assert!(!wildcard(b"*.yml", b"a.yaml"));
        assert!(wildcard(b"r?.yml", b"r1.yml"));
    }

    #[test]
    fn passing_and_failing_file() {
        let dir = std::env::temp_dir().join(format!("lookout-rules-ut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("r.yml"),
            "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.job }} down'}\n",
        )
        .expect("write");
        let test = "rule_files: [r.yml]\ntests:\n- interval: 1m\n  input_series:\n  - series: 'up{job=\"a\", instance=\"i1\"}'\n    values: '1 1 0x10'\n  alert_rule_test:\n  - eval_time: 8m\n    alertname: Down\n    exp_alerts:\n    - exp_labels: {severity: page, job: a, instance: i1}\n      exp_annotations: {summary: a down}\n  - eval_time: 5m\n    alertname: Down\n    exp_alerts: []\n  promql_expr_test:\n  - expr: job:up:sum\n    eval_time: 1m\n    exp_samples:\n    - labels: 'job:up:sum{job=\"a\"}'\n      value: 1\n";
        std::fs::write(dir.join("t.yml"), test).expect("write");
        let o = run_unit_test_file(&dir.join("t.yml"), &UnitTestOptions::default());
        assert!(o.passed(), "{:?}", o.failures);
        std::fs::write(dir.join("bad.yml"), test.replace("value: 1", "value: 2")).expect("write");
        let o = run_unit_test_file(&dir.join("bad.yml"), &UnitTestOptions::default());
        assert_eq!(
            o.failures,
            ["    expr: \"job:up:sum\", time: 1m,\n        exp: {__name__=\"job:up:sum\", job=\"a\"} 2E+00\n        got: {__name__=\"job:up:sum\", job=\"a\"} 1E+00"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Evaluating rule groups: recording rules write series, alerting rules run Prometheus' alert
//! state machine.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use lookout_model::{stale_nan, Alert, Labels, LabelsBuilder, MemStorage, Querier};
use lookout_template::{Funcs, MissingKey, Template, Value as TValue};

use super::file::{
    template_funcs, template_parse_error, GroupSpec, RuleKind, RuleSpec, TEMPLATE_DEFS,
};
use crate::engine::{eval_err, Engine, Value};
use crate::error::Error;

/// How long a resolved alert is kept (and re-sent as resolved), as in Prometheus.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

/// Where rule output goes: the series a group's later rules (and later evaluations) read back.
///
/// Samples the store rejects (out of order, duplicates) are its own business: Prometheus only
/// counts and logs them.
pub trait Appender {
    /// Appends one sample (stale markers included).
    fn append(&mut self, labels: &Labels, t: i64, v: f64);
}

impl Appender for MemStorage {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        MemStorage::append(self, labels, t, v);
    }
}

/// The state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// Resolved (kept for a while so it is sent as resolved).
    Inactive,
    /// Active, waiting for `for` to pass.
    Pending,
    /// Firing.
    Firing,
}

impl AlertState {
    /// Prometheus' name: `inactive`, `pending`, `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule, as the rule tracks it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActiveAlert {
    /// Identifying labels: the series' labels without `__name__`, the rule's expanded labels,
    /// `alertname`.
    pub labels: Labels,
    /// Expanded annotations, sorted by name (empty values kept).
    pub annotations: Vec<(String, String)>,
    /// The state.
    pub state: AlertState,
    /// The expression's value at the last evaluation that returned the series.
    pub value: f64,
    /// When the alert became pending (ms).
    pub active_at: i64,
    /// When it started firing (ms).
    pub fired_at: Option<i64>,
    /// When it was resolved (ms).
    pub resolved_at: Option<i64>,
    /// When it was last handed out by [`RuleGroup::alerts_to_send`] (ms).
    pub last_sent_at: Option<i64>,
    /// Until when the last sent firing alert is valid (ms).
    pub valid_until: i64,
    /// Since when a firing alert is kept firing by `keep_firing_for` (ms).
    pub keep_firing_since: Option<i64>,
}

impl ActiveAlert {
    /// The alert as Alertmanager receives it: starts when it fired, ends when resolved (or, once
    /// handed out by [`RuleGroup::alerts_to_send`], when its validity runs out).
    pub fn to_alert(&self, generator_url: &str) -> Alert {
        let mut a = Alert::new(self.labels.clone(), self.fired_at.unwrap_or(self.active_at));
        a.annotations = Labels::from_pairs(self.annotations.iter().map(|(k, v)| (k, v)));
        a.ends_at = match self.resolved_at {
            Some(r) => Some(r),
            None if self.valid_until > 0 => Some(self.valid_until),
            None => None,
        };
        a.generator_url = generator_url.to_string();
        a
    }

    fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let last = self.last_sent_at.unwrap_or(i64::MIN);
        if self.resolved_at.is_some_and(|r| r > last) {
            return true;
        }
        last.saturating_add(resend_delay) < ts
    }
}

/// Options of a rule group.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupOptions {
    /// Interval of groups that set none (ms, default 1 m).
    pub default_interval: i64,
    /// `$externalLabels` in templates.
    pub external_labels: Labels,
    /// `$externalURL` in templates and the base of generator URLs.
    pub external_url: String,
    /// Write `ALERTS`/`ALERTS_FOR_STATE` series (Prometheus writes them once alert state was
    /// restored after start-up; default on).
    pub write_alert_series: bool,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            default_interval: 60_000,
            external_labels: Labels::empty(),
            external_url: String::new(),
            write_alert_series: true,
        }
    }
}

impl GroupOptions {
    /// Sets [`GroupOptions::external_labels`].
    pub fn with_external_labels(mut self, l: Labels) -> Self {
        self.external_labels = l;
        self
    }

    /// Sets [`GroupOptions::external_url`].
    pub fn with_external_url(mut self, u: impl Into<String>) -> Self {
        self.external_url = u.into();
        self
    }

    /// Sets [`GroupOptions::default_interval`] (ms).
    pub fn with_default_interval(mut self, ms: i64) -> Self {
        self.default_interval = ms;
        self
    }
}

/// Results of the `query` template function for one evaluation. Templates are expanded with
/// what is known; queries not yet run read as empty and are recorded, run, and the template
/// expanded again (templates are deterministic, so each round resolves every query it reached;
/// only queries whose text depends on earlier query results need more rounds).
#[derive(Debug, Default)]
struct QueryCache {
    results: HashMap<String, Result<TValue, String>>,
    missing: Vec<String>,
}

type SharedCache = Arc<Mutex<QueryCache>>;

fn lock(c: &SharedCache) -> std::sync::MutexGuard<'_, QueryCache> {
    // A poisoned cache only holds query results; they are still usable.
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prometheus' template functions with a `query` that reads from `cache`.
fn rule_funcs(url: &str, cache: &SharedCache) -> Funcs {
    let mut f = template_funcs(url);
    let cache = Arc::clone(cache);
    f.insert("query", move |a| {
        let q = match a {
            [TValue::String(q)] => q.to_string(),
            [other] => {
                return Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.kind()
                ))
            }
            _ => {
                return Err(format!(
                    "wrong number of args for query: want 1 got {}",
                    a.len()
                ))
            }
        };
        let mut c = lock(&cache);
        match c.results.get(&q) {
            Some(r) => r.clone(),
            None => {
                // An empty result for now lets the expansion go on and collect every query
                // it reaches in this round; the round's output is discarded.
                c.missing.push(q);
                Ok(TValue::list(Vec::new()))
            }
        }
    });
    f
}

/// The most rounds of template expansion (queries resolved one round at a time).
const MAX_QUERY_ROUNDS: usize = 16;

/// A compiled label or annotation template: parsed once, or the parse error Prometheus would
/// hit at every expansion.
#[derive(Debug, Clone)]
struct Tmpl {
    name: String,
    value: Result<Template, String>,
}

/// One rule with its evaluation state. A clone shares the template query cache with the
/// original, so evaluate clones one at a time.
#[derive(Debug, Clone)]
pub struct Rule {
    spec: RuleSpec,
    labels: Vec<(String, String)>,
    label_tmpls: Vec<Tmpl>,
    annotation_tmpls: Vec<Tmpl>,
    active: BTreeMap<Labels, ActiveAlert>,
    last_error: Option<Error>,
    /// Results of `query` calls in this rule's templates, for the current evaluation.
    cache: SharedCache,
    /// Series written by the last successful evaluation (stale-marked when they vanish).
    prev_series: HashSet<Labels>,
}

impl Rule {
    /// The rule as written.
    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// The rule's name (record or alert).
    pub fn name(&self) -> &str {
        self.spec.name()
    }

    /// Whether this is an alerting rule.
    pub fn is_alerting(&self) -> bool {
        matches!(self.spec.kind, RuleKind::Alert { .. })
    }

    /// The error of the last evaluation, if it failed.
    pub fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }

    /// Pending, firing and recently resolved alerts, by labels (alerting rules only).
    pub fn alerts(&self) -> impl Iterator<Item = &ActiveAlert> + '_ {
        self.active.values()
    }

    /// Pending and firing alerts (Prometheus' `ActiveAlerts`).
    pub fn active_alerts(&self) -> impl Iterator<Item = &ActiveAlert> + '_ {
        self.active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
    }
}

/// A rule group ready to evaluate: rules run in order, each seeing what earlier ones wrote at
/// the same timestamp.
///
/// ```
/// use lookout_model::MemStorage;
/// use lookout_promql::engine::Engine;
/// use lookout_promql::rules::{parse_rule_file, GroupOptions, RuleFileOptions, RuleGroup};
///
/// let file = parse_rule_file(r#"
/// groups:
/// - name: g
///   rules:
///   - record: job:up:sum
///     expr: sum by (job) (up)
///   - alert: JobDown
///     expr: job:up:sum == 0
///     labels: {severity: page}
///     annotations: {summary: "{{ $labels.job }} is down"}
/// "#, &RuleFileOptions::default()).unwrap();
/// let mut db = MemStorage::new();
/// db.append(&r#"up{job="api",instance="a"}"#.parse().unwrap(), 0, 0.0);
/// let mut g = RuleGroup::new(file.groups[0].clone(), &GroupOptions::default());
/// g.eval(&Engine::default(), &mut db, 0);
/// let alert = g.rules()[1].active_alerts().next().unwrap();
/// assert_eq!(alert.annotations[0].1, "api is down");
/// ```
#[derive(Debug, Clone)]
pub struct RuleGroup {
    name: String,
    interval: i64,
    query_offset: i64,
    limit: usize,
    rules: Vec<Rule>,
    opts: GroupOptions,
}

fn compile(alert: &str, pairs: &[(String, String)], url: &str, cache: &SharedCache) -> Vec<Tmpl> {
    let name = format!("__alert_{alert}");
    let funcs = rule_funcs(url, cache);
    pairs
        .iter()
        .map(|(k, v)| Tmpl {
            name: k.clone(),
            value: Template::parse(&name, &format!("{TEMPLATE_DEFS}{v}"), funcs.clone())
                .map(|t| t.missing_key(MissingKey::Zero))
                .map_err(|e| {
                    format!(
                        "error parsing template {name}: {}",
                        template_parse_error(&e)
                    )
                }),
        })
        .collect()
}

impl RuleGroup {
    /// Builds a group from its specification.
    pub fn new(spec: GroupSpec, opts: &GroupOptions) -> RuleGroup {
        let rules = spec
            .rules
            .into_iter()
            .map(|r| {
                let mut labels: BTreeMap<String, String> = spec
                    .labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                labels.extend(r.labels.iter().cloned());
                let labels: Vec<(String, String)> = labels.into_iter().collect();
                let cache = SharedCache::default();
                let (label_tmpls, annotation_tmpls) = match &r.kind {
                    RuleKind::Alert {
                        alert, annotations, ..
                    } => (
                        compile(alert, &labels, &opts.external_url, &cache),
                        compile(alert, annotations, &opts.external_url, &cache),
                    ),
                    RuleKind::Record { .. } => (Vec::new(), Vec::new()),
                };
                Rule {
                    spec: r,
                    labels,
                    label_tmpls,
                    annotation_tmpls,
                    active: BTreeMap::new(),
                    last_error: None,
                    cache,
                    prev_series: HashSet::new(),
                }
            })
            .collect();
        RuleGroup {
            name: spec.name,
            interval: spec.interval.unwrap_or(opts.default_interval).max(1),
            query_offset: spec.query_offset.unwrap_or(0),
            limit: spec.limit,
            rules,
            opts: opts.clone(),
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The evaluation interval (ms).
    pub fn interval(&self) -> i64 {
        self.interval
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Evaluates every rule at `ts` (ms) in order, appending recording output, `ALERTS` and
    /// `ALERTS_FOR_STATE` samples and stale markers for series that vanished to `storage`. A
    /// failing rule records its error ([`Rule::last_error`]) and the others still run. Returns
    /// how many rules failed.
    pub fn eval<S: Querier + Appender>(
        &mut self,
        engine: &Engine,
        storage: &mut S,
        ts: i64,
    ) -> usize {
        let t = ts.saturating_sub(self.query_offset);
        let mut failed = 0;
        for i in 0..self.rules.len() {
            let res = eval_rule(
                &mut self.rules[i],
                engine,
                &*storage,
                ts,
                self.query_offset,
                self.limit,
                &self.opts,
            );
            let rule = &mut self.rules[i];
            match res {
                Err(e) => {
                    rule.last_error = Some(e);
                    failed += 1;
                }
                Ok(samples) => {
                    rule.last_error = None;
                    let mut now = HashSet::with_capacity(samples.len());
                    for (ls, v) in samples {
                        storage.append(&ls, t, v);
                        now.insert(ls);
                    }
                    for old in &rule.prev_series {
                        if !now.contains(old) {
                            storage.append(old, t, stale_nan());
                        }
                    }
                    rule.prev_series = now;
                }
            }
        }
        failed
    }

    /// The alerts to hand to Alertmanager after an evaluation at `ts`: firing ones not sent
    /// within `resend_delay` (ms), and resolved ones, as Prometheus sends them.
    pub fn alerts_to_send(&mut self, ts: i64, resend_delay: i64) -> Vec<Alert> {
        let delta = resend_delay.max(self.interval);
        let mut out = Vec::new();
        for r in &mut self.rules {
            let url = format!(
                "{}{}",
                self.opts.external_url,
                table_link(&r.spec.expr.to_string())
            );
            for a in r.active.values_mut() {
                if a.needs_sending(ts, resend_delay) {
                    a.last_sent_at = Some(ts);
                    a.valid_until = ts.saturating_add(delta.saturating_mul(4));
                    out.push(a.to_alert(&url));
                }
            }
        }
        out
    }
}

/// Prometheus' link to an expression in the table view.
fn table_link(expr: &str) -> String {
    let mut out = String::from("/graph?g0.expr=");
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out.push_str("&g0.tab=1");
    out
}

fn query(
    engine: &Engine,
    q: &dyn Querier,
    spec: &RuleSpec,
    t: i64,
) -> Result<Vec<(Labels, f64)>, Error> {
    let res = engine.eval_instant(q, &spec.expr, &spec.expr_text, t, None)?;
    match res.value {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Scalar { v, .. } => Ok(vec![(Labels::empty(), v)]),
        _ => Err(eval_err("rule result is not a vector or scalar")),
    }
}

/// Expands a template as Prometheus does: errors become the text of the result. `query` calls
/// run against `q` at `ts`.
fn expand(
    t: &Tmpl,
    data: &TValue,
    cache: &SharedCache,
    engine: &Engine,
    q: &dyn Querier,
    ts: i64,
) -> String {
    let tmpl = match &t.value {
        Err(e) => return format!("<error expanding template: {e}>"),
        Ok(tmpl) => tmpl,
    };
    let mut round = 0;
    loop {
        lock(cache).missing.clear();
        let res = tmpl.execute(data);
        let missing = std::mem::take(&mut lock(cache).missing);
        round += 1;
        if !missing.is_empty() && round >= MAX_QUERY_ROUNDS {
            return format!(
                "<error expanding template: error executing template {}: queries still unresolved after {MAX_QUERY_ROUNDS} rounds>",
                tmpl.name()
            );
        }
        if missing.is_empty() {
            return match res {
                Ok(s) => s,
                Err(e) => format!(
                    "<error expanding template: error executing template {}: {e}>",
                    tmpl.name()
                ),
            };
        }
        for text in missing {
            let r = template_query(engine, q, &text, ts);
            lock(cache).results.insert(text, r);
        }
    }
}

/// Prometheus' `query` template function: a list of samples with `Labels` and `Value`.
fn template_query(engine: &Engine, q: &dyn Querier, text: &str, ts: i64) -> Result<TValue, String> {
    let expr =
        crate::parser::parse_with(text, &engine.options().parse).map_err(|e| e.to_string())?;
    let res = engine
        .eval_instant(q, &expr, text, ts, None)
        .map_err(|e| e.to_string())?;
    let samples = match res.value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
        Value::Scalar { v, .. } => vec![(Labels::empty(), v)],
        _ => return Err("rule result is not a vector or scalar".into()),
    };
    Ok(TValue::list(
        samples
            .into_iter()
            .map(|(l, v)| {
                TValue::map([
                    ("Labels", TValue::from_labels(&l)),
                    ("Value", TValue::Float(v)),
                ])
            })
            .collect(),
    ))
}

/// Evaluates one rule: queries at `ts - offset` (the time its output is written at); the alert
/// state machine runs on `ts`, as Prometheus' does.
#[allow(clippy::too_many_arguments)]
fn eval_rule(
    rule: &mut Rule,
    engine: &Engine,
    q: &dyn Querier,
    ts: i64,
    offset: i64,
    limit: usize,
    opts: &GroupOptions,
) -> Result<Vec<(Labels, f64)>, Error> {
    let qt = ts.saturating_sub(offset);
    let vector = query(engine, q, &rule.spec, qt)?;
    match &rule.spec.kind {
        RuleKind::Record { record } => {
            let mut out = Vec::with_capacity(vector.len());
            let mut seen = HashSet::with_capacity(vector.len());
            for (ls, v) in vector {
                let mut b = LabelsBuilder::new(ls);
                b.set("__name__", record);
                for (k, val) in &rule.labels {
                    b.set(k, val);
                }
                let ls = b.labels();
                if !seen.insert(ls.clone()) {
                    return Err(eval_err(
                        "vector contains metrics with the same labelset after applying rule labels",
                    ));
                }
                out.push((ls, v));
            }
            if limit > 0 && out.len() > limit {
                return Err(eval_err(format!(
                    "exceeded limit of {limit} with {} series",
                    out.len()
                )));
            }
            Ok(out)
        }
        RuleKind::Alert {
            alert,
            for_ms,
            keep_firing_for_ms,
            ..
        } => {
            let (alert, for_ms, kff) = (alert.clone(), *for_ms, *keep_firing_for_ms);
            let ext = TValue::from_labels(&opts.external_labels);
            let url = TValue::str(opts.external_url.as_str());
            lock(&rule.cache).results.clear();
            let mut fresh: BTreeMap<Labels, ActiveAlert> = BTreeMap::new();
            for (ls, v) in &vector {
                let data = TValue::map([
                    ("Labels", TValue::from_labels(ls)),
                    ("ExternalLabels", ext.clone()),
                    ("ExternalURL", url.clone()),
                    ("Value", TValue::Float(*v)),
                ]);
                let mut b = LabelsBuilder::new(ls.clone());
                b.del("__name__");
                for t in &rule.label_tmpls {
                    let val = expand(t, &data, &rule.cache, engine, q, qt);
                    b.set(&t.name, &val);
                }
                b.set("alertname", &alert);
                let labels = b.labels();
                let annotations: Vec<(String, String)> = rule
                    .annotation_tmpls
                    .iter()
                    .map(|t| (t.name.clone(), expand(t, &data, &rule.cache, engine, q, qt)))
                    .collect();
                if fresh.contains_key(&labels) {
                    rule.active.clear();
                    return Err(eval_err(
                        "vector contains metrics with the same labelset after applying alert labels",
                    ));
                }
                fresh.insert(
                    labels.clone(),
                    ActiveAlert {
                        labels,
                        annotations,
                        state: AlertState::Pending,
                        value: *v,
                        active_at: ts,
                        fired_at: None,
                        resolved_at: None,
                        last_sent_at: None,
                        valid_until: 0,
                        keep_firing_since: None,
                    },
                );
            }
            let returned: HashSet<Labels> = fresh.keys().cloned().collect();
            for (k, a) in fresh {
                match rule.active.get_mut(&k) {
                    Some(old) if old.state != AlertState::Inactive => {
                        old.value = a.value;
                        old.annotations = a.annotations;
                    }
                    _ => {
                        rule.active.insert(k, a);
                    }
                }
            }
            let mut out = Vec::new();
            let mut num_active = 0usize;
            let mut remove = Vec::new();
            for (k, a) in rule.active.iter_mut() {
                if !returned.contains(k) {
                    let mut keep_firing = false;
                    if a.state == AlertState::Firing && kff > 0 {
                        let since = *a.keep_firing_since.get_or_insert(ts);
                        keep_firing = ts.saturating_sub(since) < kff;
                    }
                    if a.state == AlertState::Pending
                        || a.resolved_at
                            .is_some_and(|r| ts.saturating_sub(r) > RESOLVED_RETENTION_MS)
                    {
                        remove.push(k.clone());
                    }
                    if a.state != AlertState::Inactive && !keep_firing {
                        a.state = AlertState::Inactive;
                        a.resolved_at = Some(ts);
                    }
                    if !keep_firing {
                        continue;
                    }
                } else {
                    a.keep_firing_since = None;
                }
                num_active += 1;
                if a.state == AlertState::Pending && ts.saturating_sub(a.active_at) >= for_ms {
                    a.state = AlertState::Firing;
                    a.fired_at = Some(ts);
                }
                if opts.write_alert_series {
                    // Prometheus starts these series from the rule's labels as written and sets
                    // the alert's labels over them, so a label whose template expanded to
                    // nothing keeps its template text here.
                    let series = |name: &str, state: Option<&str>| {
                        let mut b = LabelsBuilder::new(a.labels.clone());
                        for (k, v) in &rule.labels {
                            if !a.labels.contains(k) {
                                b.set(k, v);
                            }
                        }
                        b.set("__name__", name);
                        b.set("alertname", &alert);
                        if let Some(s) = state {
                            b.set("alertstate", s);
                        }
                        b.labels()
                    };
                    out.push((series("ALERTS", Some(a.state.as_str())), 1.0));
                    out.push((
                        series("ALERTS_FOR_STATE", None),
                        a.active_at.div_euclid(1000) as f64,
                    ));
                }
            }
            for k in remove {
                rule.active.remove(&k);
            }
            if limit > 0 && num_active > limit {
                rule.active.clear();
                return Err(eval_err(format!(
                    "exceeded limit of {limit} with {num_active} alerts"
                )));
            }
            lock(&rule.cache).results.clear();
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{parse_rule_file, RuleFileOptions};

    fn group(yaml: &str) -> RuleGroup {
        let f = parse_rule_file(yaml, &RuleFileOptions::default()).expect("valid");
        RuleGroup::new(f.groups[0].clone(), &GroupOptions::default())
    }

    #[test]
    fn alert_goes_pending_firing_resolved() {
        let mut g =
            group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 0\n    for: 2m\n");
        let mut db = MemStorage::new();
        let ls: Labels = "x{i=\"1\"}".parse().expect("labels");
        let engine = Engine::default();
        let mut states = Vec::new();
        for step in 0..8 {
            let t = step * 60_000;
            db.append(&ls, t, if step < 5 { 1.0 } else { 0.0 });
            g.eval(&engine, &mut db, t);
            states.push(g.rules()[0].alerts().next().map(|a| a.state));
        }
        use AlertState::*;
        assert_eq!(
            states,
            [
                Some(Pending),
                Some(Pending),
                Some(Firing),
                Some(Firing),
                Some(Firing),
                Some(Inactive),
                Some(Inactive),
                Some(Inactive)
            ]
        );
        let a = g.rules()[0].alerts().next().expect("kept");
        assert_eq!(
            (a.active_at, a.fired_at, a.resolved_at),
            (0, Some(120_000), Some(300_000))
        );
        let sent = g.alerts_to_send(420_000, 60_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].ends_at, Some(300_000));
        assert!(sent[0]
            .generator_url
            .ends_with("/graph?g0.expr=x+%3E+0&g0.tab=1"));
    }

    #[test]
    fn keep_firing_for_holds_the_alert() {
        let mut g = group(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 0\n    keep_firing_for: 2m\n",
        );
        let mut db = MemStorage::new();
        let ls: Labels = "x".parse().expect("labels");
        let engine = Engine::default();
        let mut firing = Vec::new();
        for step in 0..5 {
            let t = step * 60_000;
            db.append(&ls, t, if step < 1 { 1.0 } else { 0.0 });
            g.eval(&engine, &mut db, t);
            firing.push(g.rules()[0].active_alerts().count());
        }
        assert_eq!(firing, [1, 1, 1, 0, 0]);
    }

    #[test]
    fn recording_chain_and_staleness() {
        let mut g = group("groups:\n- name: g\n  rules:\n  - record: a\n    expr: x * 2\n    labels: {k: v}\n  - record: b\n    expr: a + 1\n");
        let mut db = MemStorage::new();
        let ls: Labels = "x{i=\"1\"}".parse().expect("labels");
        db.append(&ls, 0, 1.0);
        let engine = Engine::default();
        assert_eq!(g.eval(&engine, &mut db, 0), 0);
        let r = engine.instant_query(&db, "b", 0).expect("query");
        match r.value {
            Value::Vector(v) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].v, 3.0);
                assert_eq!(
                    v[0].labels.to_string(),
                    "{__name__=\"b\", i=\"1\", k=\"v\"}"
                );
            }
            other => panic!("{other:?}"),
        }
        // The input vanishes: both outputs get stale markers and disappear at once.
        db.append(&ls, 60_000, stale_nan());
        g.eval(&engine, &mut db, 60_000);
        let r = engine.instant_query(&db, "a", 60_000).expect("query");
        assert_eq!(r.value, Value::Vector(vec![]));
    }

    #[test]
    fn template_errors_become_text() {
        let mut g = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n    annotations:\n      s: '{{ humanize \"x\" }}'\n");
        let mut db = MemStorage::new();
        g.eval(&Engine::default(), &mut db, 0);
        let a = g.rules()[0].active_alerts().next().expect("alert");
        assert!(
            a.annotations[0].1.starts_with("<error expanding template: error executing template __alert_A: template: __alert_A:1:"),
            "{}",
            a.annotations[0].1
        );
    }

    #[test]
    fn templates_can_query() {
        let mut g = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    annotations:\n      n: '{{ with query \"count(x)\" }}{{ . | first | value }}{{ end }}/{{ with query (printf \"x{i=%q} * 10\" $labels.i) }}{{ . | first | value }}{{ end }}'\n      e: '{{ query \"sum(\" }}'\n");
        let mut db = MemStorage::new();
        db.append(&"x{i=\"1\"}".parse().expect("l"), 0, 5.0);
        db.append(&"x{i=\"2\"}".parse().expect("l"), 0, 1.0);
        g.eval(&Engine::default(), &mut db, 0);
        let a = g.rules()[0].active_alerts().next().expect("alert");
        assert_eq!(a.annotations[1], ("n".to_string(), "2/50".to_string()));
        assert!(a.annotations[0]
            .1
            .contains("error calling query: 1:5: parse error"));
    }

    #[test]
    fn query_offset_shifts_queries_and_output() {
        let mut g =
            group("groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - record: r\n    expr: x\n");
        let mut db = MemStorage::new();
        db.append(&"x".parse().expect("l"), 0, 7.0);
        db.append(&"x".parse().expect("l"), 60_000, 8.0);
        g.eval(&Engine::default(), &mut db, 60_000);
        let r = Engine::default()
            .instant_query(&db, "timestamp(r) + r", 60_000)
            .expect("q");
        match r.value {
            Value::Vector(v) => assert_eq!(v[0].v, 7.0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn many_queries_in_one_template() {
        let mut text = String::from("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n    annotations:\n      n: '");
        for i in 0..40 {
            text.push_str(&format!(
                "{{{{ with query \"vector({i})\" }}}}{{{{ . | first | value }}}}{{{{ end }}}},"
            ));
        }
        // A query whose text comes from another query's result needs a second round.
        text.push_str("{{ with query \"vector(7)\" }}{{ with query (printf \"vector(%v) * 2\" (. | first | value)) }}{{ . | first | value }}{{ end }}{{ end }}'\n");
        let mut g = group(&text);
        let mut db = MemStorage::new();
        g.eval(&Engine::default(), &mut db, 0);
        let a = g.rules()[0].active_alerts().next().expect("alert");
        let want: String = (0..40).map(|i| format!("{i},")).collect::<String>() + "14";
        assert_eq!(a.annotations[0].1, want);
    }

    #[test]
    fn duplicate_output_is_an_error() {
        let mut g = group(
            "groups:\n- name: g\n  rules:\n  - record: r\n    expr: x\n    labels: {i: same}\n",
        );
        let mut db = MemStorage::new();
        db.append(&"x{i=\"1\"}".parse().expect("l"), 0, 1.0);
        db.append(&"x{i=\"2\"}".parse().expect("l"), 0, 1.0);
        assert_eq!(g.eval(&Engine::default(), &mut db, 0), 1);
        assert!(g.rules()[0]
            .last_error()
            .is_some_and(|e| e.to_string().contains("same labelset")));
    }
}

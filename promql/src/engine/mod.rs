//! Evaluating PromQL over any [`Querier`]: instant and range queries with Prometheus' semantics.
//!
//! ```
//! use lookout_model::MemStorage;
//! use lookout_promql::engine::{Engine, EngineOptions, Value};
//!
//! let mut db = MemStorage::new();
//! let ls = r#"http_requests_total{job="api"}"#.parse().unwrap();
//! for i in 0..=10 {
//!     db.append(&ls, i * 60_000, (i * 60) as f64);
//! }
//! let engine = Engine::new(EngineOptions::default());
//! let res = engine.instant_query(&db, "rate(http_requests_total[5m])", 600_000)?;
//! match res.value {
//!     Value::Vector(v) => assert_eq!(v[0].v, 1.0),
//!     _ => unreachable!(),
//! }
//! # Ok::<(), lookout_promql::Error>(())
//! ```

mod aggregate;
mod binary;
mod functions;
mod value;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lookout_model::{Labels, Querier, RegexOptions, Sample, SelectHints, ValueKind};

use crate::ast::{AtModifier, DurationValue, Expr, UnaryOp, VectorSelector};
use crate::error::Error;
use crate::parser::{parse_with, ParseOptions};

pub use self::value::{QueryResult, RangeSeries, Value, VectorSample};

/// Which window boundaries range selectors and the lookback use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowSemantics {
    /// Prometheus 3: left-open windows `(t - range, t]`.
    #[default]
    Prometheus3,
    /// Prometheus 2.x: closed windows `[t - range, t]`.
    Prometheus2,
}

/// How the engine evaluates queries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample, in milliseconds (default 5 m).
    pub lookback_delta: i64,
    /// The step of subqueries written without one (`x[5m:]`), in milliseconds (default 1 m).
    pub default_subquery_step: i64,
    /// Window boundaries (default Prometheus 3).
    pub window: WindowSemantics,
    /// The most points a single step of evaluation may hold (Prometheus'
    /// `--query.max-samples`, default 50,000,000).
    pub max_samples: usize,
    /// Abort queries that run longer (default 2 minutes).
    pub timeout: Option<Duration>,
    /// Keep `__name__` on results of functions and operators until the end of the query
    /// (Prometheus 3's delayed name removal); off, it is removed at once as Prometheus 2 does.
    pub delayed_name_removal: bool,
    /// Accept any UTF-8 label name as the target of `label_replace`/`label_join` (Prometheus 3);
    /// off, only legacy names `[a-zA-Z_][a-zA-Z0-9_]*` (Prometheus 2).
    pub utf8_names: bool,
    /// How query strings are parsed (experimental syntax, regex flavour).
    pub parse: ParseOptions,
    /// How `label_replace` compiles its regex.
    pub regex: RegexOptions,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60_000,
            default_subquery_step: 60_000,
            window: WindowSemantics::Prometheus3,
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            delayed_name_removal: true,
            utf8_names: true,
            parse: ParseOptions::all(),
            regex: RegexOptions::PROMETHEUS,
        }
    }
}

impl EngineOptions {
    /// Sets [`EngineOptions::lookback_delta`] (ms).
    pub fn with_lookback_delta(mut self, ms: i64) -> Self {
        self.lookback_delta = ms;
        self
    }

    /// Sets [`EngineOptions::default_subquery_step`] (ms).
    pub fn with_default_subquery_step(mut self, ms: i64) -> Self {
        self.default_subquery_step = ms;
        self
    }

    /// Sets [`EngineOptions::max_samples`].
    pub fn with_max_samples(mut self, n: usize) -> Self {
        self.max_samples = n;
        self
    }

    /// Sets [`EngineOptions::timeout`].
    pub fn with_timeout(mut self, t: Option<Duration>) -> Self {
        self.timeout = t;
        self
    }

    /// Sets [`EngineOptions::window`].
    pub fn with_window(mut self, w: WindowSemantics) -> Self {
        self.window = w;
        self
    }

    /// Prometheus 2.x semantics: closed windows, immediate `__name__` removal, `.` in regexes
    /// not matching newlines, `holt_winters`.
    pub fn prometheus2() -> EngineOptions {
        EngineOptions {
            window: WindowSemantics::Prometheus2,
            delayed_name_removal: false,
            utf8_names: false,
            parse: ParseOptions::prometheus2(),
            regex: RegexOptions::PROMETHEUS2,
            ..EngineOptions::default()
        }
    }
}

/// A flag that cancels the queries it is passed to when set.
#[derive(Debug, Default)]
pub struct CancelToken(AtomicBool);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every query using this token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](CancelToken::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The PromQL engine: stateless apart from its options; share it between threads freely.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Parses and evaluates `query` at time `t` (ms).
    pub fn instant_query(
        &self,
        q: &dyn Querier,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, Error> {
        let expr = parse_with(query, &self.opts.parse).map_err(Error::from)?;
        self.eval_instant(q, &expr, query, t, None)
    }

    /// Parses and evaluates `query` from `start` to `end` every `step` (all ms).
    pub fn range_query(
        &self,
        q: &dyn Querier,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, Error> {
        let expr = parse_with(query, &self.opts.parse).map_err(Error::from)?;
        self.eval_range(q, &expr, query, start, end, step, None)
    }

    /// Evaluates a parsed expression at time `t` (ms). `text` is the query string annotations
    /// point into (may be empty); `cancel` aborts the query when set.
    pub fn eval_instant(
        &self,
        q: &dyn Querier,
        expr: &Expr,
        text: &str,
        t: i64,
        cancel: Option<&CancelToken>,
    ) -> Result<QueryResult, Error> {
        let mut ev = Evaluator::new(self, q, text, t, t, 1, 0, cancel);
        let val = ev.eval(expr)?;
        let value = match val {
            Val::Scalar(v) => Value::Scalar {
                t,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Val::Str(s) => Value::String { t, s },
            Val::Vector(series) => {
                let series = ev.finish(series)?;
                let mut out: Vec<VectorSample> = Vec::with_capacity(series.len());
                for s in series {
                    if let Some(p) = s.points.first() {
                        out.push(VectorSample {
                            labels: s.labels,
                            t,
                            v: p.v,
                        });
                    }
                }
                if !ev.ordered {
                    // Prometheus' order for unsorted results is unspecified; we use label order.
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                Value::Vector(out)
            }
            Val::Matrix(m) => {
                let (lo, hi) = m.window(t);
                let left_open = ev.left_open();
                let mut series = m.series;
                for s in &mut series {
                    s.points
                        .retain(|p| p.t <= hi && (p.t > lo || (!left_open && p.t == lo)));
                }
                let series = ev.finish(series)?;
                Value::Matrix(to_range_series(series))
            }
        };
        Ok(QueryResult {
            value,
            warnings: ev.warnings,
            infos: ev.infos,
        })
    }

    /// Evaluates a parsed expression as a range query (`step` > 0, all ms).
    #[allow(clippy::too_many_arguments)]
    pub fn eval_range(
        &self,
        q: &dyn Querier,
        expr: &Expr,
        text: &str,
        start: i64,
        end: i64,
        step: i64,
        cancel: Option<&CancelToken>,
    ) -> Result<QueryResult, Error> {
        if step <= 0 {
            return Err(eval_err(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if end < start {
            return Err(eval_err("end timestamp must not be before start time"));
        }
        match expr.value_type() {
            crate::ValueType::Scalar | crate::ValueType::Vector => {}
            other => {
                return Err(eval_err(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                other.documented_name()
            )))
            }
        }
        if end.saturating_sub(start) / step >= self.opts.max_samples as i64 {
            return Err(eval_err(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        let mut ev = Evaluator::new(self, q, text, start, end, step, step, cancel);
        let val = ev.eval(expr)?;
        let series = match val {
            Val::Scalar(vals) => {
                let points = vals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Sample::new(start + i as i64 * step, *v))
                    .collect();
                vec![Series {
                    labels: Labels::empty(),
                    drop_name: false,
                    points,
                }]
            }
            Val::Vector(s) => s,
            Val::Str(_) | Val::Matrix(_) => {
                return Err(eval_err("invalid expression type for range query"))
            }
        };
        let series = ev.finish(series)?;
        Ok(QueryResult {
            value: Value::Matrix(to_range_series(series)),
            warnings: ev.warnings,
            infos: ev.infos,
        })
    }
}

fn to_range_series(mut series: Vec<Series>) -> Vec<RangeSeries> {
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    series
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .map(|s| RangeSeries {
            labels: s.labels,
            points: s.points,
        })
        .collect()
}

pub(crate) fn eval_err(message: impl Into<String>) -> Error {
    Error::Eval {
        message: message.into(),
    }
}

/// A series during evaluation: labels, whether `__name__` is to be dropped at the end, points.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) labels: Labels,
    pub(crate) drop_name: bool,
    pub(crate) points: Vec<Sample>,
}

/// A range vector during evaluation: raw points plus the window geometry.
#[derive(Debug)]
pub(crate) struct MatrixVal {
    pub(crate) series: Vec<Series>,
    /// Window length, ms.
    pub(crate) range: i64,
    pub(crate) offset: i64,
    pub(crate) at: Option<i64>,
    /// The `anchored` modifier: windows start with the last sample before them.
    pub(crate) anchored: bool,
    /// The `smoothed` modifier: windows are bounded by values interpolated at their edges.
    pub(crate) smoothed: bool,
}

/// An intermediate value over all steps of the current grid.
#[derive(Debug)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    Str(String),
    /// Points at step times.
    Vector(Vec<Series>),
    Matrix(MatrixVal),
}

pub(crate) struct Evaluator<'a> {
    pub(crate) opts: &'a EngineOptions,
    q: &'a dyn Querier,
    text: &'a str,
    /// The current grid.
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
    /// The top-level query (for `@ start()`, `@ end()` and duration expressions).
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    pub(crate) query_step: i64,
    deadline: Option<Instant>,
    cancel: Option<&'a CancelToken>,
    pub(crate) warnings: Vec<String>,
    pub(crate) infos: Vec<String>,
    /// The top-level result is in a meaningful order (sort functions, topk).
    pub(crate) ordered: bool,
    /// Times already checked for deadline/cancellation.
    ticks: u32,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("step", &self.step)
            .finish()
    }
}

impl<'a> Evaluator<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        engine: &'a Engine,
        q: &'a dyn Querier,
        text: &'a str,
        start: i64,
        end: i64,
        step: i64,
        query_step: i64,
        cancel: Option<&'a CancelToken>,
    ) -> Evaluator<'a> {
        Evaluator {
            opts: &engine.opts,
            q,
            text,
            start,
            end,
            step,
            query_start: start,
            query_end: end,
            query_step,
            deadline: engine.opts.timeout.map(|d| Instant::now() + d),
            cancel,
            warnings: Vec::new(),
            infos: Vec::new(),
            ordered: false,
            ticks: 0,
        }
    }

    /// The number of steps of the current grid.
    pub(crate) fn steps(&self) -> usize {
        (self.end.saturating_sub(self.start) / self.step + 1).max(0) as usize
    }

    /// The step index of a grid time.
    pub(crate) fn step_index(&self, t: i64) -> usize {
        ((t - self.start) / self.step) as usize
    }

    pub(crate) fn left_open(&self) -> bool {
        self.opts.window == WindowSemantics::Prometheus3
    }

    /// Fails when the query was cancelled or ran out of time.
    pub(crate) fn check(&mut self) -> Result<(), Error> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % 64 != 1 {
            return Ok(());
        }
        if let Some(c) = self.cancel {
            if c.is_cancelled() {
                return Err(eval_err("query was canceled in query execution"));
            }
        }
        if let Some(d) = self.deadline {
            if Instant::now() > d {
                return Err(eval_err("query timed out in query execution"));
            }
        }
        Ok(())
    }

    pub(crate) fn check_samples(&self, n: usize) -> Result<(), Error> {
        if n > self.opts.max_samples {
            return Err(eval_err(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }

    /// Records an annotation about the expression at `span`.
    pub(crate) fn annotate(&mut self, warning: bool, span: crate::Span, text: &str) {
        let before = self
            .text
            .get(..span.start.min(self.text.len()))
            .unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let col = span.start - before.rfind('\n').map_or(0, |p| p + 1) + 1;
        let (kind, list) = if warning {
            ("warning", &mut self.warnings)
        } else {
            ("info", &mut self.infos)
        };
        let msg = format!("PromQL {kind}: {text} ({line}:{col})");
        if !list.contains(&msg) {
            list.push(msg);
        }
    }

    fn duration(&self, d: &DurationValue) -> i64 {
        d.resolve(
            self.query_step,
            self.query_end.saturating_sub(self.query_start),
        )
    }

    fn offset(&self, d: &Option<DurationValue>) -> i64 {
        d.as_ref().map_or(0, |d| self.duration(d))
    }

    fn at(&self, at: Option<AtModifier>) -> Option<i64> {
        at.map(|a| match a {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        })
    }

    /// Removes `__name__` where flagged and rejects duplicate label sets at equal times.
    fn finish(&mut self, series: Vec<Series>) -> Result<Vec<Series>, Error> {
        let mut series = series;
        for s in &mut series {
            if s.drop_name {
                s.labels = strip_name(&s.labels);
                s.drop_name = false;
            }
        }
        dedup(series)
    }

    /// Drops the name now (Prometheus 2) or flags it (Prometheus 3).
    pub(crate) fn drop_name(&self, s: &mut Series) {
        if self.opts.delayed_name_removal {
            s.drop_name = true;
        } else if s.labels.metric_name().is_some() {
            s.labels = strip_name(&s.labels);
        }
    }

    /// After dropping names: merges series that now share labels, rejecting collisions.
    pub(crate) fn dedup_if_eager(&self, series: Vec<Series>) -> Result<Vec<Series>, Error> {
        if self.opts.delayed_name_removal {
            Ok(series)
        } else {
            dedup(series)
        }
    }

    pub(crate) fn eval(&mut self, e: &Expr) -> Result<Val, Error> {
        self.check()?;
        match e {
            Expr::Number(n) => Ok(Val::Scalar(vec![n.value; self.steps()])),
            Expr::String(s) => Ok(Val::Str(s.value.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Vector(vs) => Ok(Val::Vector(self.vector_selector(vs, false)?)),
            Expr::Matrix(_) | Expr::Subquery(_) => Ok(Val::Matrix(self.matrix(e)?)),
            Expr::Unary(u) => {
                let v = self.eval(&u.expr)?;
                if u.op == UnaryOp::Pos {
                    return Ok(v);
                }
                match v {
                    Val::Scalar(mut xs) => {
                        for x in &mut xs {
                            *x = -*x;
                        }
                        Ok(Val::Scalar(xs))
                    }
                    Val::Vector(mut series) => {
                        for s in &mut series {
                            for p in &mut s.points {
                                p.v = -p.v;
                            }
                            self.drop_name(s);
                        }
                        Ok(Val::Vector(self.dedup_if_eager(series)?))
                    }
                    _ => Err(eval_err("unary expression only allowed on expressions of type scalar or instant vector")),
                }
            }
            Expr::Binary(b) => self.binary(b),
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Call(c) => self.call(c),
        }
    }

    pub(crate) fn eval_scalar(&mut self, e: &Expr) -> Result<Vec<f64>, Error> {
        match self.eval(e)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(eval_err("expected a scalar")),
        }
    }

    pub(crate) fn eval_vector(&mut self, e: &Expr) -> Result<Vec<Series>, Error> {
        match self.eval(e)? {
            Val::Vector(v) => Ok(v),
            _ => Err(eval_err("expected an instant vector")),
        }
    }

    fn load(
        &mut self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        range: i64,
        keep_stale: bool,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, Error> {
        let set = self.select_range(vs, mint, maxt, range)?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for s in set {
            let s = s.map_err(|e| eval_err(e.to_string()))?;
            read_samples(&*s, mint, maxt, keep_stale, &mut buf)?;
            self.check()?;
            // Copied out of the reused buffer: one exact allocation per series.
            out.push((s.labels().clone(), buf.as_slice().to_vec()));
        }
        Ok(out)
    }

    /// The series of a range selector over `[mint, maxt]`, unread.
    fn select_range(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        range: i64,
    ) -> Result<lookout_model::SeriesSet<'a>, Error> {
        let mut hints = SelectHints::default();
        hints.step = self.step;
        hints.range = range;
        let q = self.q;
        q.select(mint, maxt, &vs.matchers, &hints)
            .map_err(|e| eval_err(e.to_string()))
    }

    /// A plain matrix selector as a stream: the window geometry (no series), the unread series
    /// and the time range to read them over with [`read_samples`]. Functions over range
    /// selectors use this to hold one series' samples at a time instead of all of them.
    pub(crate) fn matrix_stream(
        &mut self,
        ms: &crate::ast::MatrixSelector,
    ) -> Result<(MatrixVal, lookout_model::SeriesSet<'a>, i64, i64), Error> {
        let range = self.duration(&ms.range);
        let off = self.offset(&ms.vector.offset);
        let at = self.at(ms.vector.at);
        let (rmin, rmax) = match at {
            Some(a) => (a.saturating_sub(off), a.saturating_sub(off)),
            None => (self.start.saturating_sub(off), self.end.saturating_sub(off)),
        };
        let extended = ms.vector.anchored || ms.vector.smoothed;
        let pad = if extended {
            self.opts.lookback_delta
        } else {
            0
        };
        let (mint, maxt) = (
            rmin.saturating_sub(range).saturating_sub(pad),
            rmax.saturating_add(pad),
        );
        let set = self.select_range(&ms.vector, mint, maxt, range)?;
        let geometry = MatrixVal {
            series: Vec::new(),
            range,
            offset: off,
            at,
            anchored: ms.vector.anchored,
            smoothed: ms.vector.smoothed,
        };
        Ok((geometry, set, mint, maxt))
    }

    /// An instant selector on the current grid. With `want_ts`, values are the sample times
    /// in seconds (for `timestamp()`).
    pub(crate) fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        want_ts: bool,
    ) -> Result<Vec<Series>, Error> {
        let off = self.offset(&vs.offset);
        let at = self.at(vs.at);
        let lookback = self.opts.lookback_delta;
        let (rmin, rmax) = match at {
            Some(a) => (a.saturating_sub(off), a.saturating_sub(off)),
            None => (self.start.saturating_sub(off), self.end.saturating_sub(off)),
        };
        let n = self.steps();
        let left_open = self.left_open();
        let mint = rmin.saturating_sub(lookback);
        // `smoothed` interpolates towards the next sample, up to a lookback period later.
        let maxt = if vs.smoothed {
            rmax.saturating_add(lookback)
        } else {
            rmax
        };
        let mut hints = SelectHints::default();
        hints.step = self.step;
        let q = self.q;
        let set = q
            .select(mint, maxt, &vs.matchers, &hints)
            .map_err(|e| eval_err(e.to_string()))?;
        let mut out = Vec::new();
        let mut total = 0usize;
        for series in set {
            let series = series.map_err(|e| eval_err(e.to_string()))?;
            self.check()?;
            // Stream the samples alongside the steps (reference times never decrease), keeping
            // only the latest sample at or before each step's reference time.
            let mut it = series.iter();
            let mut next = match it.seek(mint) {
                ValueKind::Float => Some(it.at()),
                _ => None,
            };
            let mut last: Option<Sample> = None;
            let mut points = Vec::new();
            for i in 0..n {
                let ts = self.start + i as i64 * self.step;
                let r = at.unwrap_or(ts).saturating_sub(off);
                while let Some(p) = next {
                    if p.t > r {
                        break;
                    }
                    last = Some(p);
                    next = match it.next() {
                        ValueKind::Float => Some(it.at()),
                        _ => None,
                    };
                }
                let Some(mut s) = last else {
                    continue;
                };
                let inside = if left_open {
                    s.t > r.saturating_sub(lookback)
                } else {
                    s.t >= r.saturating_sub(lookback)
                };
                if vs.smoothed && s.t < r && !s.is_stale() {
                    // `smoothed`: interpolate towards the next sample, if there is one.
                    if let Some(nx) = next.filter(|p| !p.is_stale() && p.t - r < lookback) {
                        s.v += (nx.v - s.v) * ((r - s.t) as f64 / (nx.t - s.t) as f64);
                    }
                }
                if inside && !s.is_stale() {
                    if points.is_empty() {
                        points.reserve_exact(n - i);
                    }
                    let v = if want_ts { s.t as f64 / 1000.0 } else { s.v };
                    points.push(Sample::new(ts, v));
                }
            }
            if let Some(e) = it.err() {
                return Err(eval_err(e.to_string()));
            }
            if !points.is_empty() {
                total += points.len();
                out.push(Series {
                    labels: series.labels().clone(),
                    drop_name: false,
                    points,
                });
            }
        }
        // Like Prometheus, count every point a range evaluation holds.
        self.check_samples(total)?;
        Ok(out)
    }

    /// A matrix selector or subquery: raw points and window geometry.
    pub(crate) fn matrix(&mut self, e: &Expr) -> Result<MatrixVal, Error> {
        match e {
            Expr::Paren(p) => self.matrix(&p.expr),
            Expr::Matrix(ms) => {
                let range = self.duration(&ms.range);
                let off = self.offset(&ms.vector.offset);
                let at = self.at(ms.vector.at);
                let (rmin, rmax) = match at {
                    Some(a) => (a.saturating_sub(off), a.saturating_sub(off)),
                    None => (self.start.saturating_sub(off), self.end.saturating_sub(off)),
                };
                let extended = ms.vector.anchored || ms.vector.smoothed;
                // Extended windows look one lookback period beyond their edges.
                let pad = if extended {
                    self.opts.lookback_delta
                } else {
                    0
                };
                let loaded = self.load(
                    &ms.vector,
                    rmin.saturating_sub(range).saturating_sub(pad),
                    rmax.saturating_add(pad),
                    range,
                    false,
                )?;
                self.check_samples(loaded.iter().map(|(_, s)| s.len()).sum())?;
                let series = loaded
                    .into_iter()
                    .map(|(labels, points)| Series {
                        labels,
                        drop_name: false,
                        points,
                    })
                    .collect();
                Ok(MatrixVal {
                    series,
                    range,
                    offset: off,
                    at,
                    anchored: ms.vector.anchored,
                    smoothed: ms.vector.smoothed,
                })
            }
            Expr::Subquery(sq) => {
                let range = self.duration(&sq.range);
                let step = match &sq.step {
                    Some(s) => self.duration(s),
                    None => self.opts.default_subquery_step,
                };
                if step <= 0 {
                    return Err(eval_err("subquery step must be positive"));
                }
                let off = self.offset(&sq.offset);
                let at = self.at(sq.at);
                let (rs, re) = match at {
                    Some(a) => (a.saturating_sub(off), a.saturating_sub(off)),
                    None => (self.start.saturating_sub(off), self.end.saturating_sub(off)),
                };
                let lo = rs.saturating_sub(range);
                let mut inner_start = step.saturating_mul(lo / step);
                if (self.left_open() && inner_start <= lo)
                    || (!self.left_open() && inner_start < lo)
                {
                    inner_start = inner_start.saturating_add(step);
                }
                if inner_start <= re
                    && re.saturating_sub(inner_start) / step >= self.opts.max_samples as i64
                {
                    return Err(eval_err(
                        "query processing would load too many samples into memory in query execution",
                    ));
                }
                let saved = (self.start, self.end, self.step, self.ordered);
                self.start = inner_start;
                self.end = re;
                self.step = step;
                let res = if inner_start > re {
                    Ok(Val::Vector(Vec::new()))
                } else {
                    self.eval(&sq.expr)
                };
                let inner_steps = self.steps();
                (self.start, self.end, self.step, self.ordered) = saved;
                let series = match res? {
                    Val::Vector(v) => {
                        let mut v = v;
                        for s in &mut v {
                            if s.drop_name {
                                // Names flagged for removal inside are gone for good.
                                s.labels = strip_name(&s.labels);
                                s.drop_name = false;
                            }
                        }
                        dedup(v)?
                    }
                    Val::Scalar(vals) => vec![Series {
                        labels: Labels::empty(),
                        drop_name: false,
                        points: vals
                            .iter()
                            .enumerate()
                            .take(inner_steps)
                            .map(|(i, v)| Sample::new(inner_start + i as i64 * step, *v))
                            .collect(),
                    }],
                    _ => return Err(eval_err("subquery is only allowed on instant vector")),
                };
                Ok(MatrixVal {
                    series,
                    range,
                    offset: off,
                    at,
                    anchored: false,
                    smoothed: false,
                })
            }
            _ => Err(eval_err("expected a range vector")),
        }
    }
}

impl MatrixVal {
    /// The window `(lo, hi]` (or `[lo, hi]`) of a step time.
    pub(crate) fn window(&self, ts: i64) -> (i64, i64) {
        let hi = self.at.unwrap_or(ts).saturating_sub(self.offset);
        (hi.saturating_sub(self.range), hi)
    }
}

/// How many samples [`read_samples`] asks its iterator for at a time.
const READ_BATCH: usize = 256;

/// Reads the samples of `s` in `[mint, maxt]` into `buf` (cleared first), stale markers only
/// with `keep_stale`.
pub(crate) fn read_samples(
    s: &dyn lookout_model::Series,
    mint: i64,
    maxt: i64,
    keep_stale: bool,
    buf: &mut Vec<Sample>,
) -> Result<(), Error> {
    buf.clear();
    let mut it = s.iter();
    if it.seek(mint) == ValueKind::Float && it.at().t <= maxt {
        buf.push(it.at());
        // Runs of samples at a time (iterators over decoded chunks copy them whole); the
        // last run may overshoot `maxt` and is cut back.
        loop {
            let from = buf.len();
            let kind = it.next_batch(buf, READ_BATCH);
            if let Some(past) = buf
                .get(from..)
                .and_then(|r| r.iter().position(|p| p.t > maxt))
            {
                buf.truncate(from + past);
                break;
            }
            if kind != ValueKind::Float {
                break;
            }
        }
        if !keep_stale {
            buf.retain(|p| !p.is_stale());
        }
    }
    match it.err() {
        Some(e) => Err(eval_err(e.to_string())),
        None => Ok(()),
    }
}

/// `__name__` and the labels that go with it (`__type__`, `__unit__`).
pub(crate) fn is_name_like(n: &str) -> bool {
    matches!(n, "__name__" | "__type__" | "__unit__")
}

/// The labels without `__name__`, `__type__` and `__unit__`.
pub(crate) fn strip_name(l: &Labels) -> Labels {
    if !l.iter().any(|x| is_name_like(x.name)) {
        return l.clone();
    }
    filtered_labels(l, |n| !is_name_like(n))
}

thread_local! {
    /// Scratch space for building label sets with one allocation each.
    static LABELS_SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The labels of `l` whose names pass `keep`, built with one allocation (a subset of a valid
/// label set is sorted, unique and has non-empty values).
pub(crate) fn filtered_labels(l: &Labels, keep: impl Fn(&str) -> bool) -> Labels {
    let pairs = l.iter().filter(|x| keep(x.name)).map(|x| (x.name, x.value));
    LABELS_SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => Labels::from_sorted_unchecked_in(pairs, &mut buf),
        Err(_) => Labels::from_sorted_unchecked(pairs),
    })
}

/// Merges series with equal labels; two points at one time are an error.
pub(crate) fn dedup(series: Vec<Series>) -> Result<Vec<Series>, Error> {
    let mut seen: rustc_hash::FxHashMap<Labels, usize> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(series.len(), Default::default());
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    let mut merged = false;
    for s in series {
        match seen.get(&s.labels) {
            Some(&i) => {
                let o = &mut out[i];
                if o.drop_name != s.drop_name {
                    o.drop_name = o.drop_name && s.drop_name;
                }
                o.points.extend(s.points);
                merged = true;
            }
            None => {
                seen.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    if merged {
        for o in &mut out {
            o.points.sort_by_key(|p| p.t);
            if o.points.windows(2).any(|w| w[0].t == w[1].t) {
                return Err(eval_err(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
        }
    }
    Ok(out)
}

/// Walks the steps of a vector value, giving the (series index, value) pairs present at each.
#[derive(Debug)]
pub(crate) struct Stepper {
    cursors: Vec<usize>,
    pub(crate) buf: Vec<(u32, f64)>,
}

impl Stepper {
    pub(crate) fn new(n: usize) -> Stepper {
        Stepper {
            cursors: vec![0; n],
            buf: Vec::with_capacity(n),
        }
    }

    /// Fills `buf` with the samples at `ts`; steps must be visited in increasing order.
    pub(crate) fn at(&mut self, series: &[Series], ts: i64) {
        self.buf.clear();
        for (i, (s, c)) in series.iter().zip(self.cursors.iter_mut()).enumerate() {
            if let Some(p) = s.points.get(*c) {
                if p.t == ts {
                    self.buf.push((i as u32, p.v));
                    *c += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_model::MemStorage;

    fn db() -> MemStorage {
        let mut db = MemStorage::new();
        let a: Labels = r#"m{i="a"}"#.parse().unwrap();
        let b: Labels = r#"m{i="b"}"#.parse().unwrap();
        for k in 0..=10 {
            db.append(&a, k * 10_000, k as f64);
            db.append(&b, k * 10_000, 2.0 * k as f64);
        }
        db
    }

    fn vector(r: QueryResult) -> Vec<(String, f64)> {
        match r.value {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
            other => panic!("not a vector: {other:?}"),
        }
    }

    #[test]
    fn window_semantics() {
        let db = db();
        let e3 = Engine::default();
        let e2 = Engine::new(EngineOptions::prometheus2());
        // Samples at 0s, 10s, 20s; the window (0, 20] drops the one at 0s in Prometheus 3.
        let q = "count_over_time(m[20s])";
        assert_eq!(vector(e3.instant_query(&db, q, 20_000).unwrap())[0].1, 2.0);
        assert_eq!(vector(e2.instant_query(&db, q, 20_000).unwrap())[0].1, 3.0);
        // Lookback: a sample exactly 5m old is out in Prometheus 3, in in Prometheus 2.
        let t = 100_000 + 300_000;
        assert!(vector(e3.instant_query(&db, "m", t).unwrap()).is_empty());
        assert_eq!(vector(e2.instant_query(&db, "m", t).unwrap()).len(), 2);
    }

    #[test]
    fn range_query_and_json() {
        let db = db();
        let r = Engine::default()
            .range_query(&db, "sum(m) * 2", 0, 20_000, 10_000)
            .unwrap();
        assert_eq!(
            r.value.to_json(),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"0"],[10,"6"],[20,"12"]]}]}"#
        );
        let r = Engine::default()
            .instant_query(&db, "scalar(m{i=\"a\"})", 50_000)
            .unwrap();
        assert_eq!(r.value, Value::Scalar { t: 50_000, v: 5.0 });
    }

    #[test]
    fn limits_are_errors() {
        let db = db();
        let e = Engine::new(EngineOptions::default().with_max_samples(3));
        let err = e
            .instant_query(&db, "sum_over_time(m[1m])", 100_000)
            .unwrap_err();
        assert!(err.to_string().contains("too many samples"), "{err}");
        let err = e.range_query(&db, "m", 0, 100_000, 1_000).unwrap_err();
        assert!(err.to_string().contains("too many samples"), "{err}");

        let opts = EngineOptions::default().with_timeout(Some(Duration::ZERO));
        let err = Engine::new(opts)
            .range_query(&db, "sum(m)", 0, 1_000_000, 1_000)
            .unwrap_err();
        assert_eq!(err.to_string(), "query timed out in query execution");

        let cancel = CancelToken::new();
        cancel.cancel();
        let expr = crate::parse("rate(m[1m])").unwrap();
        let err = Engine::default()
            .eval_range(&db, &expr, "", 0, 1_000_000, 1_000, Some(&cancel))
            .unwrap_err();
        assert_eq!(err.to_string(), "query was canceled in query execution");
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let db = db();
        let e = Engine::new(EngineOptions::default().with_max_samples(100_000));
        for q in [
            "m offset 200000000y",
            "m offset -200000000y",
            "sum_over_time(m[200000000y])",
            "m @ 9223372036854775",
            "m @ -9223372036854775",
            "max_over_time(m[200000000y:1ms])",
            "rate(m[1m:1ms] @ 9223372036854775)",
        ] {
            let _ = e.instant_query(&db, q, 60_000);
            let _ = e.range_query(&db, q, i64::MIN / 2, i64::MAX / 2, i64::MAX / 4);
        }
    }

    #[test]
    fn matching_errors() {
        let db = db();
        let err = Engine::default()
            .instant_query(&db, "m + on() m", 10_000)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("found duplicate series for the match group {}"),
            "{err}"
        );
        let ok = Engine::default()
            .instant_query(&db, r#"m / on() group_left m{i="a"}"#, 10_000)
            .unwrap();
        assert_eq!(vector(ok).len(), 2);
    }
}

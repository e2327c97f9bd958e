//! Function calls.

use std::collections::HashMap;

use lookout_model::{GoRegex, Labels, Sample};

use super::{eval_err, Evaluator, MatrixVal, Series, Stepper, Val};
use crate::ast::{Call, Expr};
use crate::error::Error;

/// Kahan–Neumaier summation step, as Prometheus' `kahanSumInc`.
#[inline]
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus' `quantile`: NaN sorts first, linear interpolation between closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(go_float_order);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    let lv = values.get(lower as usize).copied().unwrap_or(f64::NAN);
    let uv = values.get(upper as usize).copied().unwrap_or(f64::NAN);
    lv * (1.0 - weight) + uv * weight
}

/// Go's `sort.Float64s` order: NaN before everything.
fn go_float_order(a: &f64, b: &f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Go's `math.Max`.
fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        return f64::INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`.
fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b {
        a
    } else {
        b
    }
}

/// Least-squares fit of the samples against time (seconds relative to `intercept_t`), with
/// Kahan summation, as Prometheus' `linearRegression`.
fn linear_regression(s: &[Sample], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = s.first().map_or(0.0, |p| p.v);
    let mut const_y = true;
    for (i, p) in s.iter().enumerate() {
        if const_y && i > 0 && p.v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// Which per-window computation a range function does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Resets,
    Changes,
    Deriv,
    PredictLinear,
    Avg,
    Sum,
    Count,
    Min,
    Max,
    Last,
    First,
    Present,
    Stddev,
    Stdvar,
    Quantile,
    Mad,
    HoltWinters,
    TsFirst,
    TsLast,
    TsMin,
    TsMax,
}

impl RangeFn {
    fn by_name(n: &str) -> Option<RangeFn> {
        Some(match n {
            "rate" => RangeFn::Rate,
            "increase" => RangeFn::Increase,
            "delta" => RangeFn::Delta,
            "irate" => RangeFn::Irate,
            "idelta" => RangeFn::Idelta,
            "resets" => RangeFn::Resets,
            "changes" => RangeFn::Changes,
            "deriv" => RangeFn::Deriv,
            "predict_linear" => RangeFn::PredictLinear,
            "avg_over_time" => RangeFn::Avg,
            "sum_over_time" => RangeFn::Sum,
            "count_over_time" => RangeFn::Count,
            "min_over_time" => RangeFn::Min,
            "max_over_time" => RangeFn::Max,
            "last_over_time" => RangeFn::Last,
            "first_over_time" => RangeFn::First,
            "present_over_time" => RangeFn::Present,
            "stddev_over_time" => RangeFn::Stddev,
            "stdvar_over_time" => RangeFn::Stdvar,
            "quantile_over_time" => RangeFn::Quantile,
            "mad_over_time" => RangeFn::Mad,
            "holt_winters" | "double_exponential_smoothing" => RangeFn::HoltWinters,
            "ts_of_first_over_time" => RangeFn::TsFirst,
            "ts_of_last_over_time" => RangeFn::TsLast,
            "ts_of_min_over_time" => RangeFn::TsMin,
            "ts_of_max_over_time" => RangeFn::TsMax,
            _ => return None,
        })
    }
}

impl Evaluator<'_> {
    pub(crate) fn call(&mut self, c: &Call) -> Result<Val, Error> {
        let name = c.func.name;
        for a in &c.args {
            if let Expr::Matrix(ms) = a.unparen() {
                if ms.vector.smoothed && !matches!(name, "delta" | "increase" | "rate") {
                    return Err(eval_err(format!(
                        "smoothed modifier can only be used with: delta, increase, rate - not with {name}"
                    )));
                }
                if ms.vector.anchored
                    && !matches!(name, "changes" | "delta" | "increase" | "rate" | "resets")
                {
                    return Err(eval_err(format!(
                        "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with {name}"
                    )));
                }
            }
        }
        if let Some(f) = RangeFn::by_name(name) {
            return self.range_function(c, f);
        }
        match name {
            "time" => {
                let n = self.steps();
                let (s, st) = (self.start, self.step);
                Ok(Val::Scalar(
                    (0..n)
                        .map(|i| (s + i as i64 * st) as f64 / 1000.0)
                        .collect(),
                ))
            }
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; self.steps()])),
            "step" | "range" | "start" | "end" => {
                let v = match name {
                    "step" => self.query_step,
                    "range" => self.query_end - self.query_start,
                    "start" => self.query_start,
                    _ => self.query_end,
                } as f64
                    / 1000.0;
                Ok(Val::Scalar(vec![v; self.steps()]))
            }
            "min_of" | "max_of" => {
                let a = self.eval_scalar(arg(c, 0)?)?;
                let b = self.eval_scalar(arg(c, 1)?)?;
                let f = if name == "min_of" { go_min } else { go_max };
                Ok(Val::Scalar(
                    a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect(),
                ))
            }
            "vector" => {
                let v = self.eval_scalar(arg(c, 0)?)?;
                let (s, st) = (self.start, self.step);
                Ok(Val::Vector(vec![Series {
                    labels: Labels::empty(),
                    drop_name: false,
                    points: v
                        .iter()
                        .enumerate()
                        .map(|(i, v)| Sample::new(s + i as i64 * st, *v))
                        .collect(),
                }]))
            }
            "scalar" => {
                let v = self.eval_vector(arg(c, 0)?)?;
                let mut out = vec![f64::NAN; self.steps()];
                let mut count = vec![0u32; self.steps()];
                for s in &v {
                    for p in &s.points {
                        let i = self.step_index(p.t);
                        if let (Some(o), Some(n)) = (out.get_mut(i), count.get_mut(i)) {
                            *o = p.v;
                            *n += 1;
                        }
                    }
                }
                for (o, n) in out.iter_mut().zip(count) {
                    if n != 1 {
                        *o = f64::NAN;
                    }
                }
                Ok(Val::Scalar(out))
            }
            "timestamp" => {
                let inner = arg(c, 0)?.unparen();
                let mut v = match inner {
                    Expr::Vector(vs) => self.vector_selector(vs, true)?,
                    other => {
                        let mut v = self.eval_vector(other)?;
                        for s in &mut v {
                            for p in &mut s.points {
                                p.v = p.t as f64 / 1000.0;
                            }
                        }
                        v
                    }
                };
                for s in &mut v {
                    self.drop_name(s);
                }
                Ok(Val::Vector(self.dedup_if_eager(v)?))
            }
            "absent" => {
                let v = self.eval_vector(arg(c, 0)?)?;
                let n = self.steps();
                let mut present = vec![false; n];
                for s in &v {
                    for p in &s.points {
                        if let Some(x) = present.get_mut(self.step_index(p.t)) {
                            *x = true;
                        }
                    }
                }
                let points: Vec<Sample> = (0..n)
                    .filter(|i| !present[*i])
                    .map(|i| Sample::new(self.start + i as i64 * self.step, 1.0))
                    .collect();
                Ok(Val::Vector(absent_series(arg(c, 0)?, points)))
            }
            "absent_over_time" => {
                let a = arg(c, 0)?;
                let m = self.matrix(a)?;
                let n = self.steps();
                let left_open = self.left_open();
                let mut points = Vec::new();
                let mut cursors = vec![(0usize, 0usize); m.series.len()];
                for i in 0..n {
                    let ts = self.start + i as i64 * self.step;
                    let (lo, hi) = m.window(ts);
                    let mut any = false;
                    for (s, cur) in m.series.iter().zip(cursors.iter_mut()) {
                        if !window(&s.points, cur, lo, hi, left_open).is_empty() {
                            any = true;
                        }
                    }
                    if !any {
                        points.push(Sample::new(ts, 1.0));
                    }
                }
                Ok(Val::Vector(absent_series(a, points)))
            }
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
                let mut v = self.eval_vector(arg(c, 0)?)?;
                let mut names = Vec::new();
                for a in c.args.iter().skip(1) {
                    if let Val::Str(s) = self.eval(a)? {
                        names.push(s);
                    }
                }
                if self.query_step > 0 {
                    self.annotate(
                        true,
                        c.span,
                        "sort is ineffective for range queries since results are always ordered by labels",
                    );
                }
                if self.steps() == 1 {
                    self.ordered = true;
                    let key = |s: &Series| s.points.first().map_or(f64::NAN, |p| p.v);
                    match name {
                        "sort" => v.sort_by(|a, b| nan_last(key(a), key(b), false)),
                        "sort_desc" => v.sort_by(|a, b| nan_last(key(a), key(b), true)),
                        _ => {
                            let desc = name == "sort_by_label_desc";
                            v.sort_by(|a, b| {
                                for n in &names {
                                    let x = a.labels.get(n).unwrap_or("");
                                    let y = b.labels.get(n).unwrap_or("");
                                    if x != y {
                                        let o = natural_cmp(x, y);
                                        return if desc { o.reverse() } else { o };
                                    }
                                }
                                let o = a.labels.cmp(&b.labels);
                                if desc {
                                    o.reverse()
                                } else {
                                    o
                                }
                            });
                        }
                    }
                }
                Ok(Val::Vector(v))
            }
            "label_replace" => self.label_replace(c),
            "label_join" => self.label_join(c),
            "histogram_quantile" | "histogram_quantiles" => self.histogram_quantile(c),
            "clamp" | "clamp_min" | "clamp_max" | "round" => self.clamp_round(c),
            "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour"
            | "minute" | "month" | "year" => self.date_function(c),
            _ => {
                let f = simple_fn(name)
                    .ok_or_else(|| eval_err(format!("function {name:?} is not supported")))?;
                let mut v = self.eval_vector(arg(c, 0)?)?;
                for s in &mut v {
                    for p in &mut s.points {
                        p.v = f(p.v);
                    }
                    self.drop_name(s);
                }
                Ok(Val::Vector(self.dedup_if_eager(v)?))
            }
        }
    }

    fn clamp_round(&mut self, c: &Call) -> Result<Val, Error> {
        let name = c.func.name;
        let mut v = self.eval_vector(arg(c, 0)?)?;
        let mut params = Vec::new();
        for a in c.args.iter().skip(1) {
            params.push(self.eval_scalar(a)?);
        }
        let get = |p: &[Vec<f64>], k: usize, i: usize, d: f64| {
            p.get(k).and_then(|x| x.get(i)).copied().unwrap_or(d)
        };
        for s in &mut v {
            let (start, step) = (self.start, self.step);
            s.points.retain_mut(|p| {
                let i = ((p.t - start) / step) as usize;
                match name {
                    "clamp" => {
                        let (lo, hi) = (get(&params, 0, i, f64::NAN), get(&params, 1, i, f64::NAN));
                        if hi < lo {
                            return false;
                        }
                        p.v = go_max(lo, go_min(hi, p.v));
                    }
                    "clamp_min" => p.v = go_max(get(&params, 0, i, f64::NAN), p.v),
                    "clamp_max" => p.v = go_min(get(&params, 0, i, f64::NAN), p.v),
                    _ => {
                        let inv = 1.0 / get(&params, 0, i, 1.0);
                        p.v = (p.v * inv + 0.5).floor() / inv;
                    }
                }
                true
            });
            self.drop_name(s);
        }
        v.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(self.dedup_if_eager(v)?))
    }

    fn date_function(&mut self, c: &Call) -> Result<Val, Error> {
        let f: fn(i64) -> f64 = match c.func.name {
            "days_in_month" => |t| {
                let (y, m, _) = civil(t);
                lookout_model::days_in_month(y, m) as f64
            },
            "day_of_month" => |t| civil(t).2 as f64,
            "day_of_week" => |t| (t.div_euclid(86_400) + 4).rem_euclid(7) as f64,
            "day_of_year" => |t| {
                let (y, m, d) = civil(t);
                ((1..m)
                    .map(|mm| lookout_model::days_in_month(y, mm))
                    .sum::<i64>()
                    + d) as f64
            },
            "hour" => |t| t.rem_euclid(86_400).div_euclid(3600) as f64,
            "minute" => |t| t.rem_euclid(3600).div_euclid(60) as f64,
            "month" => |t| civil(t).1 as f64,
            _ => |t| civil(t).0 as f64,
        };
        if c.args.is_empty() {
            let n = self.steps();
            let (s, st) = (self.start, self.step);
            return Ok(Val::Vector(vec![Series {
                labels: Labels::empty(),
                drop_name: false,
                points: (0..n)
                    .map(|i| {
                        let t = s + i as i64 * st;
                        Sample::new(t, f(t.div_euclid(1000)))
                    })
                    .collect(),
            }]));
        }
        let mut v = self.eval_vector(arg(c, 0)?)?;
        for s in &mut v {
            for p in &mut s.points {
                p.v = if p.v.is_finite() {
                    f(p.v as i64)
                } else {
                    f64::NAN
                };
            }
            self.drop_name(s);
        }
        Ok(Val::Vector(self.dedup_if_eager(v)?))
    }

    fn label_replace(&mut self, c: &Call) -> Result<Val, Error> {
        let mut v = self.eval_vector(arg(c, 0)?)?;
        let dst = self.string_arg(c, 1)?;
        let repl = self.string_arg(c, 2)?;
        let src = self.string_arg(c, 3)?;
        let re_src = self.string_arg(c, 4)?;
        let re = GoRegex::with_options(&re_src, self.opts.regex).map_err(|e| {
            eval_err(format!(
                "invalid regular expression in label_replace(): {re_src}: {e}"
            ))
        })?;
        if !valid_label_name(&dst, self.opts.utf8_names) {
            return Err(eval_err(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut buf = String::new();
        for s in &mut v {
            let sv = s.labels.get(&src).unwrap_or("").to_string();
            if let Some(caps) = re.regex().captures(&sv) {
                buf.clear();
                caps.expand(&repl, &mut buf);
                let mut b = s.labels.builder();
                if buf.is_empty() {
                    b.del(&dst);
                } else {
                    b.set(&dst, &buf);
                }
                s.labels = b.labels();
                if dst == "__name__" {
                    s.drop_name = false;
                }
            }
        }
        Ok(Val::Vector(super::dedup(v)?))
    }

    fn label_join(&mut self, c: &Call) -> Result<Val, Error> {
        let mut v = self.eval_vector(arg(c, 0)?)?;
        let dst = self.string_arg(c, 1)?;
        let sep = self.string_arg(c, 2)?;
        let mut srcs = Vec::new();
        for i in 3..c.args.len() {
            srcs.push(self.string_arg(c, i)?);
        }
        if !valid_label_name(&dst, self.opts.utf8_names) {
            return Err(eval_err(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        for s in &mut v {
            let joined = srcs
                .iter()
                .map(|n| s.labels.get(n).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(&sep);
            let mut b = s.labels.builder();
            if joined.is_empty() {
                b.del(&dst);
            } else {
                b.set(&dst, &joined);
            }
            s.labels = b.labels();
            if dst == "__name__" {
                s.drop_name = false;
            }
        }
        Ok(Val::Vector(super::dedup(v)?))
    }

    fn string_arg(&mut self, c: &Call, i: usize) -> Result<String, Error> {
        match self.eval(arg(c, i)?)? {
            Val::Str(s) => Ok(s),
            _ => Err(eval_err(format!(
                "argument {i} of {} must be a string",
                c.func.name
            ))),
        }
    }

    /// `histogram_quantile(q, v)`, and `histogram_quantiles(v, label, q...)` (one output series
    /// per quantile, labelled `label="q"`).
    fn histogram_quantile(&mut self, c: &Call) -> Result<Val, Error> {
        let plural = c.func.name == "histogram_quantiles";
        let (v_idx, q_idxs, label) = if plural {
            (
                0,
                (2..c.args.len()).collect::<Vec<_>>(),
                Some(self.string_arg(c, 1)?),
            )
        } else {
            (1, vec![0], None)
        };
        let mut qs = Vec::with_capacity(q_idxs.len());
        for &i in &q_idxs {
            qs.push(self.eval_scalar(arg(c, i)?)?);
        }
        let v = self.eval_vector(arg(c, v_idx)?)?;
        // Group the bucket series by their labels without `le` and `__name__`.
        let mut groups: HashMap<Labels, usize> = HashMap::new();
        let mut group_labels: Vec<Labels> = Vec::new();
        let mut member: Vec<Option<(usize, f64)>> = Vec::with_capacity(v.len());
        let mut bad_le: Option<(String, String)> = None;
        for s in &v {
            let le = s.labels.get("le");
            let Some(ub) = le.and_then(parse_go_float) else {
                if bad_le.is_none() {
                    bad_le = Some((
                        le.unwrap_or("").to_string(),
                        s.labels.metric_name().unwrap_or("").to_string(),
                    ));
                }
                member.push(None);
                continue;
            };
            let mut b = s.labels.builder();
            b.del("le");
            let l = b.labels();
            let g = *groups.entry(l.clone()).or_insert_with(|| {
                group_labels.push(l);
                group_labels.len() - 1
            });
            member.push(Some((g, ub)));
        }
        if let Some((le, name)) = bad_le {
            self.annotate(
                true,
                arg(c, v_idx)?.span(),
                &format!("bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"),
            );
        }
        // Output series `g * qs.len() + k` is group `g` at quantile `k`.
        let mut out: Vec<Series> = Vec::with_capacity(group_labels.len() * qs.len());
        for labels in &group_labels {
            for q in &qs {
                let labels = match &label {
                    Some(l) => {
                        let mut b = labels.builder();
                        b.set(l, &quantile_label(q.first().copied().unwrap_or(f64::NAN)));
                        b.labels()
                    }
                    None => labels.clone(),
                };
                let mut s = Series {
                    labels,
                    drop_name: false,
                    points: Vec::new(),
                };
                self.drop_name(&mut s);
                out.push(s);
            }
        }
        let nq = qs.len();
        let mut buckets: Vec<Vec<(f64, f64)>> = vec![Vec::new(); group_labels.len()];
        let mut stepper = Stepper::new(v.len());
        let mut warned_q = false;
        let mut fixed = false;
        for i in 0..self.steps() {
            self.check()?;
            let ts = self.start + i as i64 * self.step;
            stepper.at(&v, ts);
            for (k, q) in qs.iter().enumerate() {
                let qv = q.get(i).copied().unwrap_or(f64::NAN);
                if !(0.0..=1.0).contains(&qv) && !warned_q {
                    warned_q = true;
                    let mut s = String::new();
                    lookout_model::format_go_g(qv, &mut s);
                    self.annotate(
                        true,
                        arg(c, q_idxs[k])?.span(),
                        &format!("quantile value should be between 0 and 1, got {s}"),
                    );
                }
            }
            if stepper.buf.is_empty() {
                continue;
            }
            for b in buckets.iter_mut() {
                b.clear();
            }
            for &(si, val) in &stepper.buf {
                if let Some(Some((g, ub))) = member.get(si as usize) {
                    buckets[*g].push((*ub, val));
                }
            }
            let legacy = !self.left_open();
            for (g, b) in buckets.iter_mut().enumerate() {
                if b.is_empty() {
                    continue;
                }
                for (k, q) in qs.iter().enumerate() {
                    let qv = q.get(i).copied().unwrap_or(f64::NAN);
                    let (val, forced) = bucket_quantile(qv, b, legacy);
                    fixed |= forced;
                    out[g * nq + k].points.push(Sample::new(ts, val));
                }
            }
        }
        if fixed {
            let name = v
                .first()
                .and_then(|s| s.labels.metric_name())
                .unwrap_or("")
                .to_string();
            self.annotate(
                false,
                arg(c, v_idx)?.span(),
                &format!("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"),
            );
        }
        out.retain(|s| !s.points.is_empty());
        if plural {
            // The quantile label may collide with existing labels.
            return Ok(Val::Vector(super::dedup(out)?));
        }
        Ok(Val::Vector(self.dedup_if_eager(out)?))
    }

    fn range_function(&mut self, c: &Call, f: RangeFn) -> Result<Val, Error> {
        // Scalar parameters come first (quantile_over_time) or after the range vector.
        let (mut scalars, mat_idx) = (Vec::new(), if f == RangeFn::Quantile { 1 } else { 0 });
        for (i, a) in c.args.iter().enumerate() {
            if i != mat_idx {
                scalars.push(self.eval_scalar(a)?);
            }
        }
        // A plain range selector is read one series at a time into a reused buffer, as
        // Prometheus' evaluator does; subqueries are evaluated whole first.
        let mut mat_expr = arg(c, mat_idx)?;
        while let Expr::Paren(p) = mat_expr {
            mat_expr = &p.expr;
        }
        let (m, mut source) = match mat_expr {
            Expr::Matrix(ms) => {
                let (geometry, set, mint, maxt) = self.matrix_stream(ms)?;
                (geometry, MatrixSource::Stream { set, mint, maxt })
            }
            e => {
                let mut m = self.matrix(e)?;
                let series = std::mem::take(&mut m.series);
                (m, MatrixSource::Loaded(series.into_iter()))
            }
        };
        let mut buf: Vec<Sample> = Vec::new();
        let mut loaded = 0usize;
        let keep_name = matches!(f, RangeFn::Last | RangeFn::First);
        let range_secs = m.range as f64 / 1000.0;
        let left_open = self.left_open();
        let n = self.steps();
        let mut out = Vec::new();
        let mut scratch: Vec<f64> = Vec::new();
        let geometry: MatrixVal = m;
        let lookback = self.opts.lookback_delta;
        let mut ext: Vec<Sample> = Vec::new();
        let check_counter = matches!(f, RangeFn::Rate | RangeFn::Increase) && self.left_open();
        let mut non_counter: Option<String> = None;
        loop {
            let (labels, drop_name) = match &mut source {
                MatrixSource::Loaded(it) => match it.next() {
                    Some(s) => {
                        buf = s.points;
                        (s.labels, s.drop_name)
                    }
                    None => break,
                },
                MatrixSource::Stream { set, mint, maxt } => match set.next() {
                    Some(s) => {
                        let s = s.map_err(|e| eval_err(e.to_string()))?;
                        super::read_samples(&*s, *mint, *maxt, false, &mut buf)?;
                        loaded += buf.len();
                        self.check_samples(loaded)?;
                        (s.labels().clone(), false)
                    }
                    None => break,
                },
            };
            let s = SeriesView {
                labels,
                drop_name,
                points: &buf,
            };
            let m = &geometry;
            let mut cur = (0usize, 0usize);
            let mut points = Vec::new();
            for i in 0..n {
                self.check()?;
                let ts = self.start + i as i64 * self.step;
                let (lo, hi) = m.window(ts);
                let w = window(s.points, &mut cur, lo, hi, left_open);
                if m.anchored || m.smoothed {
                    let prev = cur
                        .0
                        .checked_sub(1)
                        .and_then(|k| s.points.get(k))
                        .filter(|p| p.t > lo.saturating_sub(lookback));
                    let next = s
                        .points
                        .get(cur.1)
                        .filter(|p| p.t < hi.saturating_add(lookback));
                    let counter = matches!(f, RangeFn::Rate | RangeFn::Increase);
                    if !extend_window(&mut ext, w, prev, next, lo, hi, m.smoothed, counter) {
                        continue;
                    }
                    let (first, last) = match (ext.first(), ext.last()) {
                        (Some(a), Some(b)) => (a.v, b.v),
                        _ => continue,
                    };
                    let v = match f {
                        RangeFn::Rate | RangeFn::Increase => {
                            let mut inc = last - first;
                            for x in ext.windows(2) {
                                if x[1].v < x[0].v {
                                    inc += x[0].v;
                                }
                            }
                            if f == RangeFn::Rate {
                                inc / range_secs
                            } else {
                                inc
                            }
                        }
                        RangeFn::Delta => last - first,
                        RangeFn::Resets => {
                            ext.windows(2).filter(|x| x[1].v < x[0].v).count() as f64
                        }
                        _ => ext
                            .windows(2)
                            .filter(|x| x[1].v != x[0].v && !(x[1].v.is_nan() && x[0].v.is_nan()))
                            .count() as f64,
                    };
                    points.push(Sample::new(ts, v));
                    continue;
                }
                if w.is_empty() {
                    continue;
                }
                if check_counter && non_counter.is_none() {
                    // Prometheus 3 flags rates of series whose names do not look like counters.
                    if let Some(name) = s.labels.metric_name() {
                        let counter = ["_total", "_sum", "_count", "_bucket"]
                            .iter()
                            .any(|suf| name.ends_with(suf));
                        if !counter {
                            non_counter = Some(name.to_string());
                        }
                    }
                }
                let p = |k: usize| {
                    scalars
                        .get(k)
                        .and_then(|x| x.get(i))
                        .copied()
                        .unwrap_or(f64::NAN)
                };
                let v = match f {
                    RangeFn::Rate => {
                        extrapolated_rate(w, lo, hi, true, true, range_secs, left_open)
                    }
                    RangeFn::Increase => {
                        extrapolated_rate(w, lo, hi, true, false, range_secs, left_open)
                    }
                    RangeFn::Delta => {
                        extrapolated_rate(w, lo, hi, false, false, range_secs, left_open)
                    }
                    RangeFn::Irate | RangeFn::Idelta => instant_value(w, f == RangeFn::Irate),
                    RangeFn::Resets => {
                        Some(w.windows(2).filter(|x| x[1].v < x[0].v).count() as f64)
                    }
                    RangeFn::Changes => Some(
                        w.windows(2)
                            .filter(|x| x[1].v != x[0].v && !(x[1].v.is_nan() && x[0].v.is_nan()))
                            .count() as f64,
                    ),
                    RangeFn::Deriv => {
                        if w.len() < 2 {
                            None
                        } else {
                            Some(linear_regression(w, w[0].t).0)
                        }
                    }
                    RangeFn::PredictLinear => {
                        if w.len() < 2 {
                            None
                        } else {
                            let (slope, icpt) = linear_regression(w, ts);
                            Some(slope * p(0) + icpt)
                        }
                    }
                    RangeFn::Sum => {
                        let (mut sum, mut comp) = (0.0, 0.0);
                        for x in w {
                            (sum, comp) = kahan_inc(x.v, sum, comp);
                        }
                        Some(if sum.is_infinite() { sum } else { sum + comp })
                    }
                    RangeFn::Avg => Some(avg_over(w)),
                    RangeFn::Count => Some(w.len() as f64),
                    RangeFn::Present => Some(1.0),
                    RangeFn::Last => w.last().map(|x| x.v),
                    RangeFn::First => w.first().map(|x| x.v),
                    RangeFn::TsLast => w.last().map(|x| x.t as f64 / 1000.0),
                    RangeFn::TsFirst => w.first().map(|x| x.t as f64 / 1000.0),
                    RangeFn::Max | RangeFn::TsMax => {
                        let mut best = w[0];
                        for x in w {
                            if x.v > best.v || best.v.is_nan() {
                                best = *x;
                            }
                        }
                        Some(if f == RangeFn::Max {
                            best.v
                        } else {
                            best.t as f64 / 1000.0
                        })
                    }
                    RangeFn::Min | RangeFn::TsMin => {
                        let mut best = w[0];
                        for x in w {
                            if x.v < best.v || best.v.is_nan() {
                                best = *x;
                            }
                        }
                        Some(if f == RangeFn::Min {
                            best.v
                        } else {
                            best.t as f64 / 1000.0
                        })
                    }
                    RangeFn::Stddev | RangeFn::Stdvar => {
                        let (mut count, mut mean, mut cmean, mut aux, mut caux) =
                            (0.0, 0.0, 0.0, 0.0, 0.0);
                        for x in w {
                            count += 1.0;
                            let delta = x.v - (mean + cmean);
                            (mean, cmean) = kahan_inc(delta / count, mean, cmean);
                            (aux, caux) = kahan_inc(delta * (x.v - (mean + cmean)), aux, caux);
                        }
                        let var = (aux + caux) / count;
                        Some(if f == RangeFn::Stddev {
                            var.sqrt()
                        } else {
                            var
                        })
                    }
                    RangeFn::Quantile => {
                        scratch.clear();
                        scratch.extend(w.iter().map(|x| x.v));
                        let q = p(0);
                        if !(0.0..=1.0).contains(&q) {
                            let mut t = String::new();
                            lookout_model::format_go_g(q, &mut t);
                            self.annotate(
                                true,
                                arg(c, 0)?.span(),
                                &format!("quantile value should be between 0 and 1, got {t}"),
                            );
                        }
                        Some(quantile(q, &mut scratch))
                    }
                    RangeFn::Mad if w.iter().any(|x| x.v.is_nan()) => Some(f64::NAN),
                    RangeFn::Mad => {
                        scratch.clear();
                        scratch.extend(w.iter().map(|x| x.v));
                        let med = quantile(0.5, &mut scratch);
                        for x in scratch.iter_mut() {
                            *x = (*x - med).abs();
                        }
                        Some(quantile(0.5, &mut scratch))
                    }
                    RangeFn::HoltWinters => {
                        let (sf, tf) = (p(0), p(1));
                        if !(sf > 0.0 && sf < 1.0) {
                            return Err(eval_err(format!(
                                "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                            )));
                        }
                        if !(tf > 0.0 && tf < 1.0) {
                            return Err(eval_err(format!(
                                "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                            )));
                        }
                        holt_winters(w, sf, tf)
                    }
                };
                if let Some(v) = v {
                    points.push(Sample::new(ts, v));
                }
            }
            if !points.is_empty() {
                let mut o = Series {
                    labels: s.labels,
                    drop_name: s.drop_name,
                    points,
                };
                if !keep_name {
                    self.drop_name(&mut o);
                }
                out.push(o);
            }
        }
        if let Some(name) = non_counter {
            self.annotate(
                false,
                arg(c, mat_idx)?.span(),
                &format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"),
            );
        }
        self.check_samples(out.iter().map(|s| s.points.len()).sum())?;
        Ok(Val::Vector(self.dedup_if_eager(out)?))
    }
}

/// Where a range function's series come from.
enum MatrixSource<'a> {
    /// A subquery's (or other expression's) evaluated series.
    Loaded(std::vec::IntoIter<Series>),
    /// A range selector's series, read one at a time over `[mint, maxt]`.
    Stream {
        set: lookout_model::SeriesSet<'a>,
        mint: i64,
        maxt: i64,
    },
}

/// One input series of a range function.
struct SeriesView<'b> {
    labels: Labels,
    drop_name: bool,
    points: &'b [Sample],
}

fn arg(c: &Call, i: usize) -> Result<&Expr, Error> {
    c.args
        .get(i)
        .ok_or_else(|| eval_err(format!("missing argument {i} of {}", c.func.name)))
}

/// The points of `pts` in the window, advancing the cursors (windows move forward).
pub(crate) fn window<'p>(
    pts: &'p [Sample],
    cur: &mut (usize, usize),
    lo: i64,
    hi: i64,
    left_open: bool,
) -> &'p [Sample] {
    // Windows of pinned (@) selectors do not move; reset when a window moves back.
    if cur.0 > 0
        && pts
            .get(cur.0 - 1)
            .is_some_and(|p| p.t > lo || (!left_open && p.t == lo))
    {
        *cur = (0, 0);
    }
    while cur.0 < pts.len() && (pts[cur.0].t < lo || (left_open && pts[cur.0].t == lo)) {
        cur.0 += 1;
    }
    if cur.1 < cur.0 {
        cur.1 = cur.0;
    }
    if cur.1 > cur.0 && pts.get(cur.1 - 1).is_some_and(|p| p.t > hi) {
        cur.1 = cur.0;
    }
    while cur.1 < pts.len() && pts[cur.1].t <= hi {
        cur.1 += 1;
    }
    pts.get(cur.0..cur.1).unwrap_or(&[])
}

fn extrapolated_rate(
    w: &[Sample],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
    range_secs: f64,
    prom3: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for x in &w[1..] {
            if x.v < prev {
                result += prev;
            }
            prev = x.v;
        }
    }
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (w.len() - 1) as f64;
    let threshold = avg * 1.1;
    if prom3 {
        if to_start >= threshold {
            to_start = avg / 2.0;
        }
        if is_counter {
            let mut to_zero = to_start;
            if result > 0.0 && first.v >= 0.0 {
                to_zero = sampled * (first.v / result);
            }
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
        if to_end >= threshold {
            to_end = avg / 2.0;
        }
        let mut factor = (sampled + to_start + to_end) / sampled;
        if is_rate {
            factor /= range_secs;
        }
        Some(result * factor)
    } else {
        if is_counter && result > 0.0 && first.v >= 0.0 {
            let to_zero = sampled * (first.v / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
        let mut interval = sampled;
        interval += if to_start < threshold {
            to_start
        } else {
            avg / 2.0
        };
        interval += if to_end < threshold {
            to_end
        } else {
            avg / 2.0
        };
        // One factor, as Prometheus 2.40+ computes it (`result * (interval / sampled) / range`
        // differs in the last bit, which decides ties in `topk`).
        let mut factor = interval / sampled;
        if is_rate {
            factor /= range_secs;
        }
        Some(result * factor)
    }
}

/// Builds the window of an `anchored` or `smoothed` range selector in `ext`: the samples in
/// `(lo, hi]` preceded by a point at `lo` (anchored: the last sample before the window, else
/// the first in it; smoothed: interpolated between the samples around `lo`) and, when
/// smoothed, followed by a point interpolated at `hi`. Counter interpolation across a reset
/// starts from zero. Returns false when there is nothing to compute.
#[allow(clippy::too_many_arguments)]
fn extend_window(
    ext: &mut Vec<Sample>,
    w: &[Sample],
    prev: Option<&Sample>,
    next: Option<&Sample>,
    lo: i64,
    hi: i64,
    smoothed: bool,
    counter: bool,
) -> bool {
    ext.clear();
    let interp = |a: &Sample, b: &Sample, t: i64| -> f64 {
        let frac = (t - a.t) as f64 / (b.t - a.t) as f64;
        if counter && b.v < a.v {
            b.v * frac
        } else {
            a.v + (b.v - a.v) * frac
        }
    };
    if !smoothed {
        let Some(first) = w.first() else {
            return false;
        };
        ext.push(Sample::new(lo, prev.unwrap_or(first).v));
        ext.extend_from_slice(w);
        return true;
    }
    if w.is_empty() && (prev.is_none() || next.is_none()) {
        // Data only before or only after the window.
        return false;
    }
    let after_lo = w.first().or(next);
    let v_lo = match (prev, after_lo) {
        (Some(a), Some(b)) => interp(a, b, lo),
        (Some(a), None) => a.v,
        (None, Some(b)) => b.v,
        (None, None) => return false,
    };
    let before_hi = w.last().or(prev);
    let v_hi = match (before_hi, next) {
        (Some(a), Some(b)) if a.t < hi => interp(a, b, hi),
        (Some(a), _) => a.v,
        (None, Some(b)) => b.v,
        (None, None) => return false,
    };
    ext.push(Sample::new(lo, v_lo));
    ext.extend_from_slice(w);
    if w.last().is_none_or(|p| p.t < hi) {
        ext.push(Sample::new(hi, v_hi));
    }
    true
}

fn instant_value(w: &[Sample], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (prev, last) = (w[w.len() - 2], w[w.len() - 1]);
    let mut r = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let dt = last.t - prev.t;
    if dt == 0 {
        return None;
    }
    if is_rate {
        r /= dt as f64 / 1000.0;
    }
    Some(r)
}

fn avg_over(w: &[Sample]) -> f64 {
    let (mut sum, mut mean, mut count, mut c) = (0.0, 0.0, 0.0, 0.0);
    let mut incremental = false;
    for x in w {
        count += 1.0;
        if !incremental {
            let (ns, nc) = kahan_inc(x.v, sum, c);
            if count == 1.0 || !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(x.v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

fn holt_winters(w: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, w[0].v);
    let mut b = w[1].v - w[0].v;
    for (i, x) in w.iter().enumerate().skip(1) {
        let xs = sf * x.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = xs + y;
    }
    Some(s1)
}

/// Prometheus' `BucketQuantile` over (upper bound, cumulative count) pairs. Returns the value
/// and whether the counts had to be made monotonic.
fn bucket_quantile(q: f64, b: &mut Vec<(f64, f64)>, legacy: bool) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if b.last().is_none_or(|x| x.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    // Coalesce equal bounds.
    let mut j = 0;
    for i in 1..b.len() {
        if b[i].0 == b[j].0 {
            b[j].1 += b[i].1;
        } else {
            j += 1;
            b[j] = b[i];
        }
    }
    b.truncate(j + 1);
    let mut forced = false;
    if legacy {
        let mut max = f64::NEG_INFINITY;
        for x in b.iter_mut() {
            if x.1 > max {
                max = x.1;
            } else if x.1 < max {
                x.1 = max;
                forced = true;
            }
        }
    } else {
        let mut prev = b[0].1;
        for x in b.iter_mut().skip(1) {
            let curr = x.1;
            if curr == prev {
                continue;
            }
            if almost_equal_tol(prev, curr, 1e-12) {
                x.1 = prev;
                continue;
            }
            if curr < prev {
                x.1 = prev;
                forced = true;
                continue;
            }
            prev = curr;
        }
    }
    if b.len() < 2 {
        return (f64::NAN, forced);
    }
    let obs = b[b.len() - 1].1;
    if obs == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * obs;
    let n = b.len() - 1;
    let idx = b[..n].partition_point(|x| x.1 < rank);
    if idx == n {
        return (b[n - 1].0, forced);
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return (b[0].0, forced);
    }
    let (mut start, end, mut count) = (0.0, b[idx].0, b[idx].1);
    if idx > 0 {
        start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// A quantile as the label value of `histogram_quantiles`: shortest decimal, with `.0` added
/// to whole numbers (`0.0`, `0.25`, `1.0`).
fn quantile_label(q: f64) -> String {
    let mut s = String::new();
    lookout_model::format_api_float(q, &mut s);
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        s.push_str(".0");
    }
    s
}

fn almost_equal_tol(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || a.abs() + b.abs() < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / (a.abs() + b.abs()).min(f64::MAX) < eps
}

/// Go's `strconv.ParseFloat` for the forms label values use.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

fn valid_label_name(n: &str, utf8: bool) -> bool {
    if utf8 {
        !n.is_empty() && !n.contains('\u{fffd}')
    } else {
        lookout_model::is_legacy_label_name(n)
    }
}

fn absent_series(e: &Expr, points: Vec<Sample>) -> Vec<Series> {
    if points.is_empty() {
        return Vec::new();
    }
    let matchers = match e.unparen() {
        Expr::Vector(vs) => Some(&vs.matchers),
        Expr::Matrix(ms) => Some(&ms.vector.matchers),
        _ => None,
    };
    let mut b = Labels::empty().builder();
    if let Some(ms) = matchers {
        let mut has: Vec<&str> = Vec::new();
        for m in ms {
            if m.name() == "__name__" {
                continue;
            }
            if m.match_type() == lookout_model::MatchType::Equal && !has.contains(&m.name()) {
                b.set(m.name(), m.value());
                has.push(m.name());
            } else {
                b.del(m.name());
            }
        }
    }
    vec![Series {
        labels: b.labels(),
        drop_name: false,
        points,
    }]
}

fn nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// Natural order: runs of digits compare by numeric value.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..nx], &y[..ny]);
                let tx = dx.iter().skip_while(|c| **c == b'0').count();
                let ty = dy.iter().skip_while(|c| **c == b'0').count();
                let o = tx.cmp(&ty).then_with(|| dx[nx - tx..].cmp(&dy[ny - ty..]));
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// (year, month, day) of a Unix time in seconds, UTC.
fn civil(t: i64) -> (i64, i64, i64) {
    lookout_model::civil_from_days(t.div_euclid(86_400))
}

fn simple_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(1_230_767_999), (2008, 12, 31));
        assert_eq!(civil(1_230_768_000), (2009, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
    }

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a10", "a9"), std::cmp::Ordering::Greater);
        assert_eq!(natural_cmp("a09", "a9"), std::cmp::Ordering::Equal);
        assert_eq!(natural_cmp("b", "a9"), std::cmp::Ordering::Greater);
    }

    #[test]
    fn quantiles() {
        assert_eq!(quantile(0.5, &mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(quantile(0.25, &mut [1.0, 2.0, 3.0]), 1.5);
        assert!(quantile(0.5, &mut []).is_nan());
    }
}

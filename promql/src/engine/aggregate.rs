//! Aggregation operators.

use std::collections::HashMap;

use lookout_model::{format_go_g, Labels, Sample};
use rustc_hash::FxHashMap;

use super::functions::{kahan_inc, quantile};
use super::{eval_err, Evaluator, Series, Stepper, Val};
use crate::ast::{AggregateExpr, AggregateOp};
use crate::error::Error;

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    seen: bool,
    value: f64,
    comp: f64,
    mean: f64,
    count: f64,
    incremental: bool,
}

impl Acc {
    /// Adds a sample, as Prometheus' aggregation loop does for each operator.
    #[inline]
    fn add(&mut self, op: AggregateOp, v: f64) {
        if !self.seen {
            *self = Acc {
                seen: true,
                value: v,
                comp: 0.0,
                mean: v,
                count: 1.0,
                incremental: false,
            };
            match op {
                AggregateOp::Stddev | AggregateOp::Stdvar => {
                    self.value = if v.is_finite() { 0.0 } else { f64::NAN };
                }
                AggregateOp::Count | AggregateOp::Group => self.value = 1.0,
                _ => {}
            }
            return;
        }
        match op {
            AggregateOp::Sum => (self.value, self.comp) = kahan_inc(v, self.value, self.comp),
            AggregateOp::Avg => {
                self.count += 1.0;
                if !self.incremental {
                    let (nv, nc) = kahan_inc(v, self.value, self.comp);
                    if !nv.is_infinite() {
                        self.value = nv;
                        self.comp = nc;
                        return;
                    }
                    // The sum would overflow: continue with an incremental mean.
                    self.incremental = true;
                    self.mean = self.value / (self.count - 1.0);
                    self.comp /= self.count - 1.0;
                }
                let q = (self.count - 1.0) / self.count;
                (self.mean, self.comp) = kahan_inc(v / self.count, q * self.mean, q * self.comp);
            }
            AggregateOp::Count => self.value += 1.0,
            AggregateOp::Max if self.value < v || self.value.is_nan() => self.value = v,
            AggregateOp::Min if self.value > v || self.value.is_nan() => self.value = v,
            AggregateOp::Stddev | AggregateOp::Stdvar => {
                self.count += 1.0;
                let delta = v - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (v - self.mean);
            }
            _ => {}
        }
    }

    /// The aggregated value.
    #[inline]
    fn value(&self, op: AggregateOp) -> f64 {
        match op {
            AggregateOp::Sum if self.value.is_infinite() => self.value,
            AggregateOp::Sum => self.value + self.comp,
            AggregateOp::Avg if self.incremental => self.mean + self.comp,
            AggregateOp::Avg => self.value / self.count + self.comp / self.count,
            AggregateOp::Stdvar => self.value / self.count,
            AggregateOp::Stddev => (self.value / self.count).sqrt(),
            _ => self.value,
        }
    }
}

impl Evaluator<'_> {
    pub(crate) fn aggregate(&mut self, a: &AggregateExpr) -> Result<Val, Error> {
        let param = match (&a.param, a.op) {
            (Some(p), AggregateOp::CountValues) => match self.eval(p)? {
                Val::Str(s) => Some(Param::Str(s)),
                _ => return Err(eval_err("count_values needs a string parameter")),
            },
            (Some(p), _) => Some(Param::Scalar(self.eval_scalar(p)?)),
            (None, _) => None,
        };
        let input = self.eval_vector(&a.expr)?;
        match a.op {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                let Some(Param::Scalar(k)) = param else {
                    return Err(eval_err("missing parameter"));
                };
                self.topk(a, input, &k)
            }
            AggregateOp::CountValues => {
                let Some(Param::Str(label)) = param else {
                    return Err(eval_err("missing parameter"));
                };
                self.count_values(a, input, &label)
            }
            AggregateOp::LimitRatio => {
                let Some(Param::Scalar(r)) = param else {
                    return Err(eval_err("missing parameter"));
                };
                self.limit_ratio(a, input, &r)
            }
            _ => {
                let q = match param {
                    Some(Param::Scalar(q)) => Some(q),
                    _ => None,
                };
                self.simple_aggregate(a, input, q.as_deref())
            }
        }
    }

    /// The group of each input series and the output labels of each group.
    fn groups(&self, a: &AggregateExpr, input: &[Series]) -> (Vec<usize>, Vec<Labels>) {
        let keep = |n: &str| {
            if a.without {
                !super::is_name_like(n) && !a.grouping.iter().any(|g| g == n)
            } else {
                a.grouping.iter().any(|g| g == n)
            }
        };
        // Keyed by the kept pairs written into a reused buffer (`0xff` cannot occur in UTF-8),
        // so only a new group allocates.
        let mut index: FxHashMap<Box<[u8]>, usize> = FxHashMap::default();
        let mut key: Vec<u8> = Vec::new();
        let mut labels = Vec::new();
        let mut of = Vec::with_capacity(input.len());
        for s in input {
            key.clear();
            for l in s.labels.iter().filter(|l| keep(l.name)) {
                key.extend_from_slice(l.name.as_bytes());
                key.push(0xff);
                key.extend_from_slice(l.value.as_bytes());
                key.push(0xff);
            }
            let g = match index.get(key.as_slice()) {
                Some(&g) => g,
                None => {
                    labels.push(super::filtered_labels(&s.labels, keep));
                    index.insert(key.as_slice().into(), labels.len() - 1);
                    labels.len() - 1
                }
            };
            of.push(g);
        }
        (of, labels)
    }

    fn simple_aggregate(
        &mut self,
        a: &AggregateExpr,
        input: Vec<Series>,
        param: Option<&[f64]>,
    ) -> Result<Val, Error> {
        let (of, labels) = self.groups(a, &input);
        let mut out: Vec<Series> = labels
            .into_iter()
            .map(|labels| Series {
                labels,
                drop_name: false,
                points: Vec::new(),
            })
            .collect();
        if !a.without && a.grouping.iter().any(|g| g == "__name__") {
            // Delayed name removal: a group drops its name if any member does.
            for (s, g) in input.iter().zip(&of) {
                if s.drop_name {
                    out[*g].drop_name = true;
                }
            }
        }
        let n = self.steps();
        if a.op != AggregateOp::Quantile && out.len().saturating_mul(n) <= 1 << 20 {
            // Series by series into per-(group, step) accumulators: each accumulator still sees
            // its samples in series order, as Prometheus' step-by-step loop does.
            let mut accs = vec![Acc::default(); out.len() * n];
            for (si, s) in input.iter().enumerate() {
                self.check()?;
                let base = of[si] * n;
                for p in &s.points {
                    let i = ((p.t - self.start) / self.step) as usize;
                    if let Some(acc) = accs.get_mut(base + i) {
                        acc.add(a.op, p.v);
                    }
                }
            }
            for (g, o) in out.iter_mut().enumerate() {
                for (i, acc) in accs[g * n..(g + 1) * n].iter().enumerate() {
                    if acc.seen {
                        let ts = self.start + i as i64 * self.step;
                        o.points.push(Sample::new(ts, acc.value(a.op)));
                    }
                }
            }
            out.retain(|s| !s.points.is_empty());
            return Ok(Val::Vector(out));
        }
        let mut accs = vec![Acc::default(); out.len()];
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); out.len()];
        let mut stepper = Stepper::new(input.len());
        let mut warned = false;
        for i in 0..n {
            self.check()?;
            let ts = self.start + i as i64 * self.step;
            stepper.at(&input, ts);
            let q = param.and_then(|p| p.get(i)).copied().unwrap_or(f64::NAN);
            if a.op == AggregateOp::Quantile && !(0.0..=1.0).contains(&q) && !warned {
                warned = true;
                let mut s = String::new();
                format_go_g(q, &mut s);
                let span = a.param.as_ref().map_or(a.span, |p| p.span());
                self.annotate(
                    true,
                    span,
                    &format!("quantile value should be between 0 and 1, got {s}"),
                );
            }
            if stepper.buf.is_empty() {
                continue;
            }
            for acc in accs.iter_mut() {
                acc.seen = false;
            }
            for v in values.iter_mut() {
                v.clear();
            }
            for &(si, v) in &stepper.buf {
                let g = of[si as usize];
                if a.op == AggregateOp::Quantile {
                    values[g].push(v);
                }
                accs[g].add(a.op, v);
            }
            for (g, acc) in accs.iter().enumerate() {
                if !acc.seen {
                    continue;
                }
                let v = if a.op == AggregateOp::Quantile {
                    quantile(q, &mut values[g])
                } else {
                    acc.value(a.op)
                };
                out[g].points.push(Sample::new(ts, v));
            }
        }
        out.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(out))
    }

    /// `limit_ratio(r, v)`: keeps a sample when its label hash, scaled to [0, 1), is below `r`
    /// (or, for negative `r`, at least `1 + r`), as Prometheus' `HashRatioSampler`.
    fn limit_ratio(
        &mut self,
        a: &AggregateExpr,
        input: Vec<Series>,
        r: &[f64],
    ) -> Result<Val, Error> {
        let mut out = input;
        let (start, step) = (self.start, self.step);
        let mut warned = false;
        for ratio in r {
            if ratio.is_nan() {
                return Err(eval_err("Ratio value is NaN"));
            }
            if !(-1.0..=1.0).contains(ratio) && !warned {
                warned = true;
                let capped = ratio.clamp(-1.0, 1.0);
                let span = a.param.as_ref().map_or(a.span, |p| p.span());
                self.annotate(
                    true,
                    span,
                    &format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        go_float(*ratio),
                        go_float(capped)
                    ),
                );
            }
        }
        for s in &mut out {
            let offset = s.labels.stable_hash() as f64 / u64::MAX as f64;
            s.points.retain(|p| {
                let i = ((p.t - start) / step) as usize;
                let ratio = r.get(i).copied().unwrap_or(f64::NAN).clamp(-1.0, 1.0);
                (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
            });
        }
        out.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(out))
    }

    fn count_values(
        &mut self,
        a: &AggregateExpr,
        input: Vec<Series>,
        label: &str,
    ) -> Result<Val, Error> {
        let valid = if self.opts.utf8_names {
            !label.is_empty() && !label.contains('\u{fffd}')
        } else {
            lookout_model::is_legacy_label_name(label)
        };
        if !valid {
            return Err(eval_err(format!("invalid label name {label:?}")));
        }
        let (of, labels) = self.groups(a, &input);
        let mut out: Vec<Series> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut stepper = Stepper::new(input.len());
        let mut counts: HashMap<(usize, u64), (usize, f64)> = HashMap::new();
        let mut text = String::new();
        for i in 0..self.steps() {
            self.check()?;
            let ts = self.start + i as i64 * self.step;
            stepper.at(&input, ts);
            counts.clear();
            for &(si, v) in &stepper.buf {
                let g = of[si as usize];
                let e = counts.entry((g, v.to_bits())).or_insert((si as usize, 0.0));
                e.1 += 1.0;
            }
            let mut entries: Vec<_> = counts.iter().collect();
            entries.sort_by_key(|(k, (si, _))| (*si, k.1));
            for ((g, bits), (_, n)) in entries {
                text.clear();
                format_plain(f64::from_bits(*bits), &mut text);
                let mut b = labels[*g].builder();
                b.set(label, &text);
                let l = b.labels();
                let oi = match index.get(&l) {
                    Some(&o) => o,
                    None => {
                        index.insert(l.clone(), out.len());
                        out.push(Series {
                            labels: l,
                            drop_name: false,
                            points: Vec::new(),
                        });
                        out.len() - 1
                    }
                };
                let pts = &mut out[oi].points;
                match pts.last_mut() {
                    Some(p) if p.t == ts => p.v += n,
                    _ => pts.push(Sample::new(ts, *n)),
                }
            }
        }
        Ok(Val::Vector(out))
    }

    fn topk(&mut self, a: &AggregateExpr, input: Vec<Series>, k: &[f64]) -> Result<Val, Error> {
        let (of, labels) = self.groups(a, &input);
        let ngroups = labels.len();
        let mut heaps: Vec<Vec<(u32, f64)>> = vec![Vec::new(); ngroups];
        let mut order: Vec<usize> = Vec::new();
        let mut stepper = Stepper::new(input.len());
        let mut out_points: Vec<Vec<Sample>> = vec![Vec::new(); input.len()];
        let bottom = a.op == AggregateOp::Bottomk;
        let pop_push = self.opts.window == super::WindowSemantics::Prometheus2;
        let mut last_order: Vec<u32> = Vec::new();
        for i in 0..self.steps() {
            self.check()?;
            let ts = self.start + i as i64 * self.step;
            stepper.at(&input, ts);
            let kf = k.get(i).copied().unwrap_or(f64::NAN);
            if kf.is_nan() {
                return Err(eval_err("Parameter value is NaN"));
            }
            if kf.abs() >= 9.223_372_036_854_776e18 {
                return Err(eval_err(format!(
                    "Scalar value {} overflows int64",
                    go_float(kf)
                )));
            }
            if stepper.buf.is_empty() {
                continue;
            }
            let kk = (kf as i64).min(input.len() as i64);
            if kk < 1 {
                continue;
            }
            let kk = kk as usize;
            for h in heaps.iter_mut() {
                h.clear();
            }
            order.clear();
            for &(si, v) in &stepper.buf {
                let g = of[si as usize];
                let h = &mut heaps[g];
                if h.is_empty() {
                    order.push(g);
                }
                if a.op == AggregateOp::Limitk {
                    if h.len() < kk {
                        h.push((si, v));
                    }
                    continue;
                }
                let less = |x: f64, y: f64| {
                    if bottom {
                        x.is_nan() || x > y
                    } else {
                        x.is_nan() || x < y
                    }
                };
                if h.len() < kk {
                    h.push((si, v));
                    let last = h.len() - 1;
                    heap_up(h, last, &less);
                } else {
                    let top = h[0].1;
                    let replace = if bottom {
                        top > v || (top.is_nan() && !v.is_nan())
                    } else {
                        top < v || (top.is_nan() && !v.is_nan())
                    };
                    if replace && pop_push {
                        // Prometheus 2.42 replaces the root as heap.Pop then heap.Push, which
                        // settles ties differently from fixing the root in place (checked
                        // against it on hundreds of tied topk/bottomk evaluations).
                        let last = h.len() - 1;
                        h.swap(0, last);
                        heap_down(&mut h[..last], 0, &less);
                        h[last] = (si, v);
                        heap_up(h, last, &less);
                    } else if replace {
                        h[0] = (si, v);
                        if kk > 1 {
                            heap_fix(h, 0, &less);
                        }
                    }
                }
            }
            last_order.clear();
            for &g in &order {
                let h = &mut heaps[g];
                if a.op != AggregateOp::Limitk {
                    // Largest first for topk, smallest first for bottomk; NaN last.
                    h.sort_by(|x, y| {
                        let (xn, yn) = (x.1.is_nan(), y.1.is_nan());
                        match (xn, yn) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ => {
                                if bottom {
                                    x.1.total_cmp(&y.1)
                                } else {
                                    y.1.total_cmp(&x.1)
                                }
                            }
                        }
                    });
                }
                for &(si, v) in h.iter() {
                    out_points[si as usize].push(Sample::new(ts, v));
                    last_order.push(si);
                }
            }
        }
        let mut out: Vec<Series> = Vec::new();
        if self.steps() == 1 {
            // Instant evaluation: keep the operator's order.
            self.ordered = true;
            let mut input = input;
            for &si in &last_order {
                let s = &mut input[si as usize];
                out.push(Series {
                    labels: s.labels.clone(),
                    drop_name: s.drop_name,
                    points: std::mem::take(&mut out_points[si as usize]),
                });
            }
        } else {
            for (s, pts) in input.into_iter().zip(out_points) {
                if !pts.is_empty() {
                    out.push(Series {
                        labels: s.labels,
                        drop_name: s.drop_name,
                        points: pts,
                    });
                }
            }
        }
        Ok(Val::Vector(out))
    }
}

enum Param {
    Scalar(Vec<f64>),
    Str(String),
}

fn go_float(v: f64) -> String {
    let mut s = String::new();
    format_go_g(v, &mut s);
    s
}

fn heap_up(h: &mut [(u32, f64)], mut j: usize, less: &impl Fn(f64, f64) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h[j].1, h[i].1) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [(u32, f64)], i0: usize, less: &impl Fn(f64, f64) -> bool) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(h[j2].1, h[j1].1) {
            j = j2;
        }
        if !less(h[j].1, h[i].1) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

fn heap_fix(h: &mut [(u32, f64)], i: usize, less: &impl Fn(f64, f64) -> bool) {
    if !heap_down(h, i, less) {
        heap_up(h, i, less);
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest digits, never an exponent.
fn format_plain(v: f64, out: &mut String) {
    use std::fmt::Write;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

//! Binary operators: arithmetic, comparisons, set operators and vector matching.

use lookout_model::{Labels, LabelsBuilder, Sample};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{eval_err, Evaluator, Series, Stepper, Val};
use crate::ast::{BinaryExpr, BinaryOp, Cardinality, VectorMatching};
use crate::error::Error;

/// Applies an arithmetic or comparison operator to two floats: the value and whether to keep
/// the sample (comparisons).
pub(crate) fn apply(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Pow => (go_pow(l, r), true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        _ => (l, true),
    }
}

/// Go's `math.Pow`, which differs from C's `pow` only in `Pow(-1, ±Inf) = 1` (both agree) and
/// `Pow(x, NaN)`: NaN except `Pow(1, NaN) = 1`. Rust's `powf` follows C, where `pow(1, NaN)` is 1
/// too; kept as one place to adjust.
fn go_pow(l: f64, r: f64) -> f64 {
    if r == 0.0 {
        return 1.0;
    }
    if l == 1.0 {
        return 1.0;
    }
    l.powf(r)
}

/// Stands for the missing side of a filled match.
const FILLED: u32 = u32::MAX;

fn drops_name(op: BinaryOp, return_bool: bool, prom2: bool) -> bool {
    if prom2 && op == BinaryOp::Atan2 {
        // Prometheus 2 kept the name for atan2.
        return return_bool;
    }
    !op.is_comparison() || return_bool
}

impl Evaluator<'_> {
    pub(crate) fn binary(&mut self, b: &BinaryExpr) -> Result<Val, Error> {
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let out = l
                    .iter()
                    .zip(r.iter())
                    .map(|(a, c)| {
                        let (v, keep) = apply(b.op, *a, *c);
                        if b.op.is_comparison() {
                            if keep {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect();
                Ok(Val::Scalar(out))
            }
            (Val::Vector(v), Val::Scalar(s)) => self.vector_scalar(b, v, &s, false),
            (Val::Scalar(s), Val::Vector(v)) => self.vector_scalar(b, v, &s, true),
            (Val::Vector(l), Val::Vector(r)) => {
                let default = VectorMatching {
                    card: if b.op.is_set() {
                        Cardinality::ManyToMany
                    } else {
                        Cardinality::OneToOne
                    },
                    matching_labels: Vec::new(),
                    on: false,
                    include: Vec::new(),
                    fill: Default::default(),
                };
                let m = b.matching.as_ref().unwrap_or(&default);
                match b.op {
                    BinaryOp::And | BinaryOp::Unless => self.and_unless(b.op, l, r, m),
                    BinaryOp::Or => self.or(l, r, m),
                    _ => self.vector_vector(b, l, r, m),
                }
            }
            _ => Err(eval_err(format!(
                "operator {} not allowed on these operand types",
                b.op.as_str()
            ))),
        }
    }

    fn vector_scalar(
        &mut self,
        b: &BinaryExpr,
        mut v: Vec<Series>,
        s: &[f64],
        swap: bool,
    ) -> Result<Val, Error> {
        let drop = drops_name(b.op, b.return_bool, !self.opts.delayed_name_removal);
        for series in &mut v {
            let start = self.start;
            let step = self.step;
            series.points.retain_mut(|p| {
                let sv = s
                    .get(((p.t - start) / step) as usize)
                    .copied()
                    .unwrap_or(f64::NAN);
                let (l, r) = if swap { (sv, p.v) } else { (p.v, sv) };
                let (mut val, mut keep) = apply(b.op, l, r);
                if b.op.is_comparison() && swap {
                    val = r;
                }
                if b.return_bool {
                    val = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                p.v = val;
                keep
            });
            if drop {
                self.drop_name(series);
            }
        }
        v.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(self.dedup_if_eager(v)?))
    }

    fn vector_vector(
        &mut self,
        b: &BinaryExpr,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        m: &VectorMatching,
    ) -> Result<Val, Error> {
        let (many, one) = if m.card == Cardinality::OneToMany {
            (&rhs, &lhs)
        } else {
            (&lhs, &rhs)
        };
        let many_sigs: Vec<u64> = many.iter().map(|s| signature(&s.labels, m)).collect();
        let one_sigs: Vec<u64> = one.iter().map(|s| signature(&s.labels, m)).collect();
        let drop = drops_name(b.op, b.return_bool, !self.opts.delayed_name_removal);
        let mut out: Vec<Series> = Vec::new();
        let mut out_index: FxHashMap<(u32, u32), usize> = FxHashMap::default();
        // The label hash of each output series (for group_left/right's uniqueness check).
        let mut out_hash: Vec<u64> = Vec::new();
        let mut one_by_sig: FxHashMap<u64, (u32, f64)> = FxHashMap::default();
        // Match groups seen at this step, and (group, output series hash) pairs.
        let mut matched: FxHashSet<u64> = FxHashSet::default();
        let mut matched_out: FxHashSet<(u64, u64)> = FxHashSet::default();
        let mut s_many = Stepper::new(many.len());
        let mut s_one = Stepper::new(one.len());
        let mut lb = LabelsBuilder::new(Labels::empty());
        for i in 0..self.steps() {
            self.check()?;
            let ts = self.start + i as i64 * self.step;
            s_one.at(one, ts);
            if s_one.buf.is_empty() && m.fill.rhs.is_none() {
                s_many.at(many, ts);
                continue;
            }
            s_many.at(many, ts);
            one_by_sig.clear();
            for &(ri, rv) in &s_one.buf {
                let sig = one_sigs[ri as usize];
                if let Some(&(prev, _)) = one_by_sig.get(&sig) {
                    let side = if m.card == Cardinality::OneToMany {
                        "left"
                    } else {
                        "right"
                    };
                    let a = &one[ri as usize].labels;
                    let c = &one[prev as usize].labels;
                    let (x, y) = if a <= c { (a, c) } else { (c, a) };
                    return Err(eval_err(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{x}, {y}];many-to-many matching not allowed: matching labels must be unique on one side",
                        match_labels(a, m),
                    )));
                }
                one_by_sig.insert(sig, (ri, rv));
            }
            matched.clear();
            matched_out.clear();
            for bi in 0..s_many.buf.len() {
                let (li, lv) = s_many.buf[bi];
                let sig = many_sigs[li as usize];
                // A missing "one" side may be filled (`fill_right`, or `fill_left` for
                // group_right, whose sides Prometheus swaps first).
                let (ri, rv) = match (one_by_sig.get(&sig), m.fill.rhs) {
                    (Some(&x), _) => x,
                    (None, Some(f)) => (FILLED, f),
                    (None, None) => continue,
                };
                let (fl, fr) = if m.card == Cardinality::OneToMany {
                    (rv, lv)
                } else {
                    (lv, rv)
                };
                let key = (li, ri);
                let oi = match out_index.get(&key) {
                    Some(&o) => o,
                    None => {
                        let ms = &many[li as usize];
                        let empty = Labels::empty();
                        let one_labels = one.get(ri as usize).map_or(&empty, |s| &s.labels);
                        let labels = result_labels(
                            &mut lb,
                            &ms.labels,
                            one_labels,
                            m,
                            drop && !self.opts.delayed_name_removal,
                        );
                        let mut s = Series {
                            labels,
                            drop_name: ms.drop_name,
                            points: Vec::new(),
                        };
                        if drop && self.opts.delayed_name_removal {
                            s.drop_name = true;
                        }
                        out_hash.push(if m.card == Cardinality::OneToOne {
                            0
                        } else {
                            s.labels.stable_hash()
                        });
                        out.push(s);
                        out_index.insert(key, out.len() - 1);
                        out.len() - 1
                    }
                };
                let first = matched.insert(sig);
                if ri == FILLED {
                    // Filled samples take part in no duplicate checks.
                } else if m.card == Cardinality::OneToOne {
                    if !first {
                        return Err(eval_err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"));
                    }
                } else if !matched_out.insert((sig, out_hash[oi])) {
                    return Err(eval_err(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
                let (mut val, keep) = apply(b.op, fl, fr);
                if b.return_bool {
                    val = if keep { 1.0 } else { 0.0 };
                } else if !keep {
                    continue;
                }
                out[oi].points.push(Sample::new(ts, val));
            }
            // A missing "many" side may be filled too: the result takes the match group's labels.
            if let Some(f) = m.fill.lhs {
                for &(ri, rv) in &s_one.buf {
                    if matched.contains(&one_sigs[ri as usize]) {
                        continue;
                    }
                    let (fl, fr) = if m.card == Cardinality::OneToMany {
                        (rv, f)
                    } else {
                        (f, rv)
                    };
                    let (mut val, keep) = apply(b.op, fl, fr);
                    if b.return_bool {
                        val = if keep { 1.0 } else { 0.0 };
                    } else if !keep {
                        continue;
                    }
                    let key = (FILLED, ri);
                    let oi = match out_index.get(&key) {
                        Some(&o) => o,
                        None => {
                            let os = &one[ri as usize];
                            let base = match_labels(&os.labels, m);
                            let labels = result_labels(&mut lb, &base, &os.labels, m, false);
                            out_hash.push(0);
                            out.push(Series {
                                labels,
                                drop_name: false,
                                points: Vec::new(),
                            });
                            out_index.insert(key, out.len() - 1);
                            out.len() - 1
                        }
                    };
                    out[oi].points.push(Sample::new(ts, val));
                }
            }
        }
        out.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(super::dedup(out)?))
    }

    fn and_unless(
        &mut self,
        op: BinaryOp,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        m: &VectorMatching,
    ) -> Result<Val, Error> {
        let rsigs: Vec<u64> = rhs.iter().map(|s| signature(&s.labels, m)).collect();
        let lsigs: Vec<u64> = lhs.iter().map(|s| signature(&s.labels, m)).collect();
        let mut present: std::collections::HashSet<u64> = Default::default();
        let mut sr = Stepper::new(rhs.len());
        let mut out = lhs;
        let mut cursors = vec![0usize; out.len()];
        let mut kept: Vec<Vec<Sample>> = vec![Vec::new(); out.len()];
        for i in 0..self.steps() {
            self.check()?;
            let ts = self.start + i as i64 * self.step;
            sr.at(&rhs, ts);
            present.clear();
            present.extend(sr.buf.iter().map(|(ri, _)| rsigs[*ri as usize]));
            for (li, s) in out.iter().enumerate() {
                let c = &mut cursors[li];
                if let Some(p) = s.points.get(*c) {
                    if p.t == ts {
                        *c += 1;
                        let hit = present.contains(&lsigs[li]);
                        if hit == (op == BinaryOp::And) {
                            kept[li].push(*p);
                        }
                    }
                }
            }
        }
        for (s, k) in out.iter_mut().zip(kept) {
            s.points = k;
        }
        out.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(out))
    }

    fn or(&mut self, lhs: Vec<Series>, rhs: Vec<Series>, m: &VectorMatching) -> Result<Val, Error> {
        let lsigs: Vec<u64> = lhs.iter().map(|s| signature(&s.labels, m)).collect();
        let rsigs: Vec<u64> = rhs.iter().map(|s| signature(&s.labels, m)).collect();
        let mut present: std::collections::HashSet<u64> = Default::default();
        let mut sl = Stepper::new(lhs.len());
        let mut rcur = vec![0usize; rhs.len()];
        let mut rkept: Vec<Vec<Sample>> = vec![Vec::new(); rhs.len()];
        for i in 0..self.steps() {
            self.check()?;
            let ts = self.start + i as i64 * self.step;
            sl.at(&lhs, ts);
            present.clear();
            present.extend(sl.buf.iter().map(|(li, _)| lsigs[*li as usize]));
            for (ri, s) in rhs.iter().enumerate() {
                let c = &mut rcur[ri];
                if let Some(p) = s.points.get(*c) {
                    if p.t == ts {
                        *c += 1;
                        if !present.contains(&rsigs[ri]) {
                            rkept[ri].push(*p);
                        }
                    }
                }
            }
        }
        let mut out = lhs;
        for (mut s, k) in rhs.into_iter().zip(rkept) {
            if !k.is_empty() {
                s.points = k;
                out.push(s);
            }
        }
        Ok(Val::Vector(super::dedup(out)?))
    }
}

/// The matching signature: a hash of the `on` labels, or of all labels but the `ignoring`
/// ones and `__name__`.
pub(crate) fn signature(l: &Labels, m: &VectorMatching) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash_like();
    for lab in l.iter() {
        let take = if m.on {
            m.matching_labels.iter().any(|n| n == lab.name)
        } else {
            lab.name != "__name__" && !m.matching_labels.iter().any(|n| n == lab.name)
        };
        if take {
            lab.name.hash(&mut h);
            0xffu8.hash(&mut h);
            lab.value.hash(&mut h);
            0xfeu8.hash(&mut h);
        }
    }
    h.finish()
}

fn rustc_hash_like() -> std::collections::hash_map::DefaultHasher {
    std::collections::hash_map::DefaultHasher::new()
}

fn match_labels(l: &Labels, m: &VectorMatching) -> Labels {
    let mut b = l.builder();
    if m.on {
        b.retain(|n| m.matching_labels.iter().any(|x| x == n));
    } else {
        b.retain(|n| n != "__name__" && !m.matching_labels.iter().any(|x| x == n));
    }
    b.labels()
}

fn result_labels(
    lb: &mut LabelsBuilder,
    many: &Labels,
    one: &Labels,
    m: &VectorMatching,
    drop_name_now: bool,
) -> Labels {
    lb.reset(many.clone());
    if drop_name_now {
        lb.retain(|n| !super::is_name_like(n));
    }
    if m.card == Cardinality::OneToOne {
        if m.on {
            lb.retain(|n| m.matching_labels.iter().any(|x| x == n));
        } else {
            for n in &m.matching_labels {
                lb.del(n);
            }
        }
    }
    for n in &m.include {
        match one.get(n) {
            Some(v) if !v.is_empty() => {
                lb.set(n, v);
            }
            _ => {
                lb.del(n);
            }
        }
    }
    lb.labels()
}

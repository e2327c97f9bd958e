//! The PromQL syntax tree.
//!
//! Every node carries its byte range in the query ([`Span`]). Equality ignores spans, so two
//! trees compare equal when they mean the same expression (`parse(print(e)) == e`).

use lookout_model::{Matcher, SmallStr};

use crate::functions::Function;

/// A byte range `start..end` in the query text.
///
/// Spans never take part in equality: `Span::new(0, 1) == Span::new(5, 9)`, so that trees
/// compare structurally whatever text they were parsed from.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

/// The type of a PromQL value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// No value (never the type of a valid expression).
    None,
    /// A single number.
    Scalar,
    /// An instant vector.
    Vector,
    /// A range vector.
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// The name Prometheus' error messages use (`scalar`, `instant vector`, `range vector`,
    /// `string`).
    pub fn documented_name(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }

    /// The name Prometheus' API uses (`scalar`, `vector`, `matrix`, `string`).
    pub fn api_name(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `1`, `0x1f`, `Inf`, `5m` (a duration used as a number of seconds).
    Number(NumberLiteral),
    /// `"text"`.
    String(StringLiteral),
    /// `metric{label="value"}`.
    Vector(Box<VectorSelector>),
    /// `metric[5m]`.
    Matrix(Box<MatrixSelector>),
    /// `expr[1h:5m]`.
    Subquery(Box<SubqueryExpr>),
    /// `(expr)`.
    Paren(Box<ParenExpr>),
    /// `-expr`, `+expr`.
    Unary(Box<UnaryExpr>),
    /// `a + on(x) b`.
    Binary(Box<BinaryExpr>),
    /// `sum by (job) (expr)`.
    Aggregate(Box<AggregateExpr>),
    /// `rate(x[5m])`.
    Call(Box<Call>),
}

impl Expr {
    /// The byte range of the expression in the query.
    pub fn span(&self) -> Span {
        match self {
            Expr::Number(n) => n.span,
            Expr::String(s) => s.span,
            Expr::Vector(v) => v.span,
            Expr::Matrix(m) => m.span,
            Expr::Subquery(s) => s.span,
            Expr::Paren(p) => p.span,
            Expr::Unary(u) => u.span,
            Expr::Binary(b) => b.span,
            Expr::Aggregate(a) => a.span,
            Expr::Call(c) => c.span,
        }
    }

    /// The type of value the expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::Vector(_) => ValueType::Vector,
            Expr::Matrix(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Aggregate(_) => ValueType::Vector,
            Expr::Call(c) => c.func.return_type,
        }
    }

    /// The expression with any enclosing parentheses removed.
    pub fn unparen(&self) -> &Expr {
        let mut e = self;
        while let Expr::Paren(p) = e {
            e = &p.expr;
        }
        e
    }
}

/// A number literal.
#[derive(Debug, Clone)]
pub struct NumberLiteral {
    /// The value (seconds when written as a duration).
    pub value: f64,
    /// Written as a duration (`5m`), so printed as one.
    pub duration: bool,
    /// Where it was written.
    pub span: Span,
}

fn same_f64(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

impl PartialEq for NumberLiteral {
    fn eq(&self, o: &Self) -> bool {
        same_f64(self.value, o.value) && self.duration == o.duration
    }
}

/// A string literal (the unquoted value).
#[derive(Debug, Clone, PartialEq)]
pub struct StringLiteral {
    /// The value, escapes resolved.
    pub value: String,
    /// Where it was written.
    pub span: Span,
}

/// The `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtModifier {
    /// `@ 1700000000.123`: a Unix time in milliseconds.
    Timestamp(i64),
    /// `@ start()`: the start of the range query.
    Start,
    /// `@ end()`: the end of the range query.
    End,
}

/// A range, step or offset: a fixed duration or a duration expression to evaluate per query.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationValue {
    /// A fixed number of milliseconds.
    Fixed(i64),
    /// An expression such as `step() * 2` or `(5m + 1s)`.
    Expr(DurationExpr),
}

impl DurationValue {
    /// The fixed duration in milliseconds, if it is one.
    pub fn fixed(&self) -> Option<i64> {
        match self {
            DurationValue::Fixed(ms) => Some(*ms),
            DurationValue::Expr(_) => None,
        }
    }

    /// The duration in milliseconds for a query with the given step and range (both in
    /// milliseconds; for an instant query the step is 0 and the range 0).
    pub fn resolve(&self, step_ms: i64, range_ms: i64) -> i64 {
        match self {
            DurationValue::Fixed(ms) => *ms,
            DurationValue::Expr(e) => seconds_to_ms(e.evaluate(step_ms, range_ms)),
        }
    }
}

/// Seconds as a float to whole milliseconds, as Prometheus converts durations (rounding to
/// nanoseconds first, then truncating to milliseconds).
pub(crate) fn seconds_to_ms(s: f64) -> i64 {
    let ns = (s * 1e9).round();
    if !ns.is_finite() {
        return 0;
    }
    (ns as i64) / 1_000_000
}

/// An arithmetic operator in a duration expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
}

impl DurationOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationOp::Add => "+",
            DurationOp::Sub => "-",
            DurationOp::Mul => "*",
            DurationOp::Div => "/",
            DurationOp::Mod => "%",
            DurationOp::Pow => "^",
        }
    }
}

/// A duration expression (experimental in Prometheus: `promql-duration-expr`), found in ranges,
/// subquery steps and offsets. Values are seconds.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A number or duration literal.
    Number(NumberLiteral),
    /// `step()`: the query step.
    Step(Span),
    /// `range()`: the query range (end minus start).
    Range(Span),
    /// `-expr`.
    Neg(Box<DurationExpr>, Span),
    /// `(expr)`.
    Paren(Box<DurationExpr>, Span),
    /// `a op b`.
    Binary(DurationOp, Box<DurationExpr>, Box<DurationExpr>),
    /// `min_of(a, b)`.
    MinOf(Box<DurationExpr>, Box<DurationExpr>, Span),
    /// `max_of(a, b)`.
    MaxOf(Box<DurationExpr>, Box<DurationExpr>, Span),
}

impl DurationExpr {
    /// The byte range of the expression.
    pub fn span(&self) -> Span {
        match self {
            DurationExpr::Number(n) => n.span,
            DurationExpr::Step(s) | DurationExpr::Range(s) => *s,
            DurationExpr::Neg(_, s) | DurationExpr::Paren(_, s) => *s,
            DurationExpr::Binary(_, a, b) => a.span().to(b.span()),
            DurationExpr::MinOf(_, _, s) | DurationExpr::MaxOf(_, _, s) => *s,
        }
    }

    /// Evaluates to seconds, given the query step and range in milliseconds.
    pub fn evaluate(&self, step_ms: i64, range_ms: i64) -> f64 {
        let ev = |e: &DurationExpr| e.evaluate(step_ms, range_ms);
        match self {
            DurationExpr::Number(n) => n.value,
            DurationExpr::Step(_) => step_ms as f64 / 1000.0,
            DurationExpr::Range(_) => range_ms as f64 / 1000.0,
            DurationExpr::Neg(e, _) => -ev(e),
            DurationExpr::Paren(e, _) => ev(e),
            DurationExpr::Binary(op, a, b) => {
                let (a, b) = (ev(a), ev(b));
                match op {
                    DurationOp::Add => a + b,
                    DurationOp::Sub => a - b,
                    DurationOp::Mul => a * b,
                    DurationOp::Div => a / b,
                    DurationOp::Mod => a % b,
                    DurationOp::Pow => a.powf(b),
                }
            }
            DurationExpr::MinOf(a, b, _) => ev(a).min(ev(b)),
            DurationExpr::MaxOf(a, b, _) => ev(a).max(ev(b)),
        }
    }
}

/// The matchers of a selector: a list that keeps a single matcher (a bare metric name, the
/// most common selector) without an allocation of its own. It dereferences to a slice, and
/// converts from and into a `Vec<Matcher>`.
///
/// ```
/// use lookout_model::Matcher;
/// use lookout_promql::Matchers;
/// let mut ms = Matchers::new();
/// ms.push(Matcher::equal("job", "api"));
/// ms.push(Matcher::equal("__name__", "up"));
/// assert_eq!(ms.len(), 2);
/// ms.retain(|m| m.name() != "job");
/// assert_eq!(ms[0].value(), "up");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Matchers(MatchersRepr);

#[derive(Debug, Clone, Default)]
enum MatchersRepr {
    #[default]
    Empty,
    One(Matcher),
    Many(Vec<Matcher>),
}

impl Matchers {
    /// No matchers.
    pub fn new() -> Matchers {
        Matchers(MatchersRepr::Empty)
    }

    /// Just `m`.
    pub fn one(m: Matcher) -> Matchers {
        Matchers(MatchersRepr::One(m))
    }

    /// Appends a matcher.
    pub fn push(&mut self, m: Matcher) {
        match &mut self.0 {
            MatchersRepr::Many(v) => v.push(m),
            MatchersRepr::Empty => self.0 = MatchersRepr::One(m),
            MatchersRepr::One(_) => {
                if let MatchersRepr::One(first) = std::mem::take(&mut self.0) {
                    let mut v = Vec::with_capacity(4);
                    v.push(first);
                    v.push(m);
                    self.0 = MatchersRepr::Many(v);
                }
            }
        }
    }

    /// Keeps the matchers for which `keep` holds, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&Matcher) -> bool) {
        match &mut self.0 {
            MatchersRepr::Empty => {}
            MatchersRepr::One(m) => {
                if !keep(m) {
                    self.0 = MatchersRepr::Empty;
                }
            }
            MatchersRepr::Many(v) => v.retain(|m| keep(m)),
        }
    }

    /// The matchers as a vector.
    pub fn into_vec(self) -> Vec<Matcher> {
        match self.0 {
            MatchersRepr::Empty => Vec::new(),
            MatchersRepr::One(m) => vec![m],
            MatchersRepr::Many(v) => v,
        }
    }
}

impl std::ops::Deref for Matchers {
    type Target = [Matcher];

    fn deref(&self) -> &[Matcher] {
        match &self.0 {
            MatchersRepr::Empty => &[],
            MatchersRepr::One(m) => std::slice::from_ref(m),
            MatchersRepr::Many(v) => v,
        }
    }
}

impl std::ops::DerefMut for Matchers {
    fn deref_mut(&mut self) -> &mut [Matcher] {
        match &mut self.0 {
            MatchersRepr::Empty => &mut [],
            MatchersRepr::One(m) => std::slice::from_mut(m),
            MatchersRepr::Many(v) => v,
        }
    }
}

impl From<Vec<Matcher>> for Matchers {
    fn from(mut v: Vec<Matcher>) -> Matchers {
        match v.len() {
            0 => Matchers::new(),
            1 => match v.pop() {
                Some(m) => Matchers(MatchersRepr::One(m)),
                None => Matchers::new(),
            },
            _ => Matchers(MatchersRepr::Many(v)),
        }
    }
}

impl From<Matchers> for Vec<Matcher> {
    fn from(m: Matchers) -> Vec<Matcher> {
        m.into_vec()
    }
}

impl FromIterator<Matcher> for Matchers {
    fn from_iter<I: IntoIterator<Item = Matcher>>(iter: I) -> Matchers {
        Matchers::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a Matchers {
    type Item = &'a Matcher;
    type IntoIter = std::slice::Iter<'a, Matcher>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// An instant vector selector. Equality ignores the order of matchers.
#[derive(Debug, Clone)]
pub struct VectorSelector {
    /// The metric name when written before the braces (`up{...}`).
    pub name: Option<SmallStr>,
    /// All matchers; a name written before the braces is the last one (`__name__="up"`).
    pub matchers: Matchers,
    /// `offset`, if any (a zero offset is stored as `None`).
    pub offset: Option<DurationValue>,
    /// `@`, if any.
    pub at: Option<AtModifier>,
    /// The `anchored` range modifier (experimental).
    pub anchored: bool,
    /// The `smoothed` range modifier (experimental).
    pub smoothed: bool,
    /// Skip the "at least one non-empty matcher" check (the second argument of `info()`).
    pub bypass_empty_matcher_check: bool,
    /// Where it was written, including modifiers.
    pub span: Span,
}

impl PartialEq for VectorSelector {
    fn eq(&self, o: &Self) -> bool {
        let sorted = |v: &VectorSelector| {
            let mut m: Vec<String> = v.matchers.iter().map(|m| m.to_string()).collect();
            m.sort_unstable();
            m
        };
        self.name == o.name
            && self.offset == o.offset
            && self.at == o.at
            && self.anchored == o.anchored
            && self.smoothed == o.smoothed
            && self.bypass_empty_matcher_check == o.bypass_empty_matcher_check
            && sorted(self) == sorted(o)
    }
}

/// A range vector selector. Its `offset`, `@`, `anchored` and `smoothed` live on the inner
/// vector selector, as in Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    /// The selector and its modifiers.
    pub vector: VectorSelector,
    /// The range.
    pub range: DurationValue,
    /// Where it was written.
    pub span: Span,
}

/// A subquery `expr[range:step]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    /// The inner expression (an instant vector).
    pub expr: Expr,
    /// The range.
    pub range: DurationValue,
    /// The step; `None` means the global evaluation interval.
    pub step: Option<DurationValue>,
    /// `offset`, if any.
    pub offset: Option<DurationValue>,
    /// `@`, if any.
    pub at: Option<AtModifier>,
    /// Where it was written.
    pub span: Span,
}

/// `(expr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParenExpr {
    /// The inner expression.
    pub expr: Expr,
    /// Where it was written.
    pub span: Span,
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Pos,
}

/// `-expr` or `+expr` (a sign on a number literal is folded into the literal).
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Expr,
    /// Where it was written.
    pub span: Span,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `</`: trims the upper part of native histograms above a value.
    TrimUpper,
    /// `>/`: trims the lower part of native histograms below a value.
    TrimLower,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `>`
    Gtr,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `<=`
    Lte,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// The operator as Prometheus prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// `==`, `!=`, `>`, `<`, `>=`, `<=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Gtr
                | BinaryOp::Lss
                | BinaryOp::Gte
                | BinaryOp::Lte
        )
    }

    /// `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// Binding strength: 1 (`or`) to 6 (`^`).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Atan2
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Only `^` is right-associative.
    pub fn is_right_assoc(self) -> bool {
        self == BinaryOp::Pow
    }
}

/// How the two sides of a vector/vector binary operation match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// Each series matches at most one on the other side.
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// Values to fill in for missing series (`fill`, `fill_left`, `fill_right`; experimental).
#[derive(Debug, Clone, Copy, Default)]
pub struct FillValues {
    /// Value for a series missing on the left.
    pub lhs: Option<f64>,
    /// Value for a series missing on the right.
    pub rhs: Option<f64>,
}

impl PartialEq for FillValues {
    fn eq(&self, o: &Self) -> bool {
        let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => same_f64(a, b),
            (None, None) => true,
            _ => false,
        };
        same(self.lhs, o.lhs) && same(self.rhs, o.rhs)
    }
}

/// Vector matching of a binary expression between two instant vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// The cardinality.
    pub card: Cardinality,
    /// The labels of `on(...)` or `ignoring(...)`.
    pub matching_labels: Vec<SmallStr>,
    /// `on` (true) or `ignoring` (false).
    pub on: bool,
    /// The extra labels of `group_left(...)`/`group_right(...)`.
    pub include: Vec<SmallStr>,
    /// Fill values for missing series.
    pub fill: FillValues,
}

/// A binary expression.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// The `bool` modifier.
    pub return_bool: bool,
    /// Matching; `None` unless both sides are instant vectors.
    pub matching: Option<VectorMatching>,
    /// Where it was written.
    pub span: Span,
}

/// An aggregation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `count_values`
    CountValues,
    /// `quantile`
    Quantile,
    /// `limitk` (experimental)
    Limitk,
    /// `limit_ratio` (experimental)
    LimitRatio,
}

impl AggregateOp {
    /// Looks an operator up by name, case-insensitively as Prometheus does.
    pub fn from_name(s: &str) -> Option<AggregateOp> {
        const ALL: [(&str, AggregateOp); 14] = [
            ("sum", AggregateOp::Sum),
            ("avg", AggregateOp::Avg),
            ("count", AggregateOp::Count),
            ("min", AggregateOp::Min),
            ("max", AggregateOp::Max),
            ("group", AggregateOp::Group),
            ("stddev", AggregateOp::Stddev),
            ("stdvar", AggregateOp::Stdvar),
            ("topk", AggregateOp::Topk),
            ("bottomk", AggregateOp::Bottomk),
            ("count_values", AggregateOp::CountValues),
            ("quantile", AggregateOp::Quantile),
            ("limitk", AggregateOp::Limitk),
            ("limit_ratio", AggregateOp::LimitRatio),
        ];
        if s.len() > 12 {
            return None;
        }
        ALL.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, op)| *op)
    }

    /// The operator's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Takes a parameter before the expression (`topk(3, x)`).
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Gated behind the experimental-functions option.
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

/// An aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggregateOp,
    /// The aggregated expression.
    pub expr: Expr,
    /// The parameter of `topk`, `quantile`, `count_values`, ...
    pub param: Option<Expr>,
    /// The labels of `by (...)` or `without (...)`.
    pub grouping: Vec<SmallStr>,
    /// `without` (true) or `by` (false).
    pub without: bool,
    /// Where it was written.
    pub span: Span,
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function.
    pub func: &'static Function,
    /// The arguments.
    pub args: Vec<Expr>,
    /// Where it was written.
    pub span: Span,
}

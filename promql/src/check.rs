//! The type checks Prometheus runs after parsing (`checkAST`).

use lookout_model::{go_quote, METRIC_NAME};

use crate::ast::*;
use crate::error::ParseError;

type CResult<T> = Result<T, Box<ParseError>>;

#[cold]
fn err<T>(span: Span, msg: impl Into<String>) -> CResult<T> {
    Err(Box::new(ParseError::new(span, msg)))
}

/// Checks types recursively; fixes up what Prometheus fixes up (set operators become
/// many-to-many; matching is dropped when a side is not a vector).
#[inline]
pub(crate) fn check(e: &mut Expr, src: &str) -> CResult<ValueType> {
    // Literals need no checking; deciding that here saves a call for them.
    match e {
        Expr::Number(_) => Ok(ValueType::Scalar),
        Expr::String(_) => Ok(ValueType::String),
        Expr::Vector(v) => {
            check_selector(v)?;
            Ok(ValueType::Vector)
        }
        _ => check_node(e, src),
    }
}

#[inline(never)]
fn check_node(e: &mut Expr, src: &str) -> CResult<ValueType> {
    // Each kind is checked in its own function so that the recursive frame stays small.
    // Types are computed bottom-up from the children's (what `Expr::value_type` would
    // compute again for every node of an operator chain).
    Ok(match e {
        Expr::Number(_) => ValueType::Scalar,
        Expr::String(_) => ValueType::String,
        Expr::Paren(p) => check(&mut p.expr, src)?,
        Expr::Aggregate(a) => {
            check_aggregate(a, src)?;
            ValueType::Vector
        }
        Expr::Binary(b) => check_binary(b, src)?,
        Expr::Call(c) => {
            check_call(c, src)?;
            c.func.return_type
        }
        Expr::Unary(u) => check_unary(u, src)?,
        Expr::Subquery(s) => {
            check_subquery(s, src)?;
            ValueType::Matrix
        }
        Expr::Matrix(m) => {
            check_selector(&m.vector)?;
            ValueType::Matrix
        }
        Expr::Vector(v) => {
            check_selector(v)?;
            ValueType::Vector
        }
    })
}

#[inline(never)]
fn check_aggregate(a: &mut AggregateExpr, src: &str) -> CResult<()> {
    {
        {
            expect_type(
                &mut a.expr,
                ValueType::Vector,
                "aggregation expression",
                src,
            )?;
            match a.op {
                AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio => {
                    if let Some(p) = &mut a.param {
                        expect_type(p, ValueType::Scalar, "aggregation parameter", src)?;
                    }
                }
                AggregateOp::CountValues => {
                    if let Some(p) = &mut a.param {
                        expect_type(p, ValueType::String, "aggregation parameter", src)?;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[inline(never)]
fn check_binary(b: &mut BinaryExpr, src: &str) -> CResult<ValueType> {
    {
        {
            let lt = check(&mut b.lhs, src)?;
            let rt = check(&mut b.rhs, src)?;
            if b.return_bool && !b.op.is_comparison() {
                return err(
                    op_range(&b.lhs, &b.rhs, src),
                    "bool modifier can only be used on comparison operators",
                );
            }
            if b.op.is_comparison()
                && !b.return_bool
                && lt == ValueType::Scalar
                && rt == ValueType::Scalar
            {
                return err(
                    op_range(&b.lhs, &b.rhs, src),
                    "comparisons between scalars must use BOOL modifier",
                );
            }
            if let Some(vm) = &mut b.matching {
                if b.op.is_set() && vm.card == Cardinality::OneToOne {
                    vm.card = Cardinality::ManyToMany;
                }
                if vm.on {
                    for l in &vm.matching_labels {
                        if vm.include.contains(l) {
                            return err(
                                op_range(&b.lhs, &b.rhs, src),
                                format!(
                                    "label {} must not occur in ON and GROUP clause at once",
                                    go_quote(l)
                                ),
                            );
                        }
                    }
                }
            }
            if lt != ValueType::Scalar && lt != ValueType::Vector {
                return err(
                    b.lhs.span(),
                    "binary expression must contain only scalar and instant vector types",
                );
            }
            if rt != ValueType::Scalar && rt != ValueType::Vector {
                return err(
                    b.rhs.span(),
                    "binary expression must contain only scalar and instant vector types",
                );
            }
            let span = b.span;
            if lt != ValueType::Vector || rt != ValueType::Vector {
                if let Some(vm) = &b.matching {
                    if !vm.matching_labels.is_empty() {
                        return err(span, "vector matching only allowed between instant vectors");
                    }
                    if vm.fill.lhs.is_some() || vm.fill.rhs.is_some() {
                        return err(
                            span,
                            "filling in missing series only allowed between instant vectors",
                        );
                    }
                }
                b.matching = None;
            } else if b.op.is_set() {
                if let Some(vm) = &b.matching {
                    if matches!(vm.card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                        return err(
                            span,
                            format!(
                                "no grouping allowed for {} operation",
                                go_quote(b.op.as_str())
                            ),
                        );
                    }
                    if vm.fill.lhs.is_some() || vm.fill.rhs.is_some() {
                        return err(
                            span,
                            "filling in missing series not allowed for set operators",
                        );
                    }
                }
            }
            if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set() {
                return err(
                    span,
                    format!(
                        "set operator {} not allowed in binary scalar expression",
                        go_quote(b.op.as_str())
                    ),
                );
            }
            Ok(if lt == ValueType::Scalar && rt == ValueType::Scalar {
                ValueType::Scalar
            } else {
                ValueType::Vector
            })
        }
    }
}

#[inline(never)]
fn check_call(c: &mut Call, src: &str) -> CResult<()> {
    {
        {
            let f = c.func;
            let nargs = f.arg_types.len();
            let span = c.span;
            if f.variadic == 0 {
                if nargs != c.args.len() {
                    return err(
                        span,
                        format!(
                            "expected {nargs} argument(s) in call to {}, got {}",
                            go_quote(f.name),
                            c.args.len()
                        ),
                    );
                }
            } else {
                let na = nargs.saturating_sub(1);
                if na > c.args.len() {
                    return err(
                        span,
                        format!(
                            "expected at least {na} argument(s) in call to {}, got {}",
                            go_quote(f.name),
                            c.args.len()
                        ),
                    );
                }
                if f.variadic > 0 {
                    let max = na + f.variadic as usize;
                    if max < c.args.len() {
                        return err(
                            span,
                            format!(
                                "expected at most {max} argument(s) in call to {}, got {}",
                                go_quote(f.name),
                                c.args.len()
                            ),
                        );
                    }
                }
            }
            if f.name == "info" && c.args.len() > 1 {
                if let Some(arg) = c.args.get_mut(1) {
                    let aspan = arg.span();
                    if arg.value_type() != ValueType::Vector {
                        return err(
                            span,
                            format!(
                                "expected type instant vector in call to function \"info\", got {}",
                                arg.value_type().documented_name()
                            ),
                        );
                    }
                    match arg {
                        Expr::Vector(vs) if vs.name.is_some() => {
                            return err(
                                aspan,
                                "expected label selectors only, got vector selector instead",
                            )
                        }
                        Expr::Vector(vs) => vs.bypass_empty_matcher_check = true,
                        _ => return err(aspan, "expected label selectors only"),
                    }
                }
            }
            for (i, arg) in c.args.iter_mut().enumerate() {
                let want = match f.arg_types.get(i) {
                    Some(t) => *t,
                    None if f.variadic == 0 => break,
                    None => match f.arg_types.last() {
                        Some(t) => *t,
                        None => break,
                    },
                };
                let t = check(arg, src)?;
                if t != want {
                    return err(
                        arg.span(),
                        format!(
                            "expected type {} in call to function {}, got {}",
                            want.documented_name(),
                            go_quote(f.name),
                            t.documented_name()
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

#[inline(never)]
fn check_unary(u: &mut UnaryExpr, src: &str) -> CResult<ValueType> {
    {
        {
            let t = check(&mut u.expr, src)?;
            if t != ValueType::Scalar && t != ValueType::Vector {
                return err(
                    u.span,
                    format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                        go_quote(t.documented_name())
                    ),
                );
            }
            Ok(t)
        }
    }
}

#[inline(never)]
fn check_subquery(s: &mut SubqueryExpr, src: &str) -> CResult<()> {
    {
        {
            let t = check(&mut s.expr, src)?;
            if t != ValueType::Vector {
                return err(
                    s.span,
                    format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        t.api_name()
                    ),
                );
            }
        }
    }
    Ok(())
}

fn expect_type(e: &mut Expr, want: ValueType, context: &str, src: &str) -> CResult<()> {
    let t = check(e, src)?;
    if t != want {
        return err(
            e.span(),
            format!(
                "expected type {} in {context}, got {}",
                want.documented_name(),
                t.documented_name()
            ),
        );
    }
    Ok(())
}

#[inline]
fn check_selector(v: &VectorSelector) -> CResult<()> {
    if let Some(name) = &v.name {
        let n = v.matchers.len().saturating_sub(1);
        for m in v.matchers.iter().take(n) {
            if m.has_name(METRIC_NAME) {
                return err(
                    v.span,
                    format!(
                        "metric name must not be set twice: {} or {}",
                        go_quote(name),
                        go_quote(m.value())
                    ),
                );
            }
        }
        return Ok(());
    }
    if !v.bypass_empty_matcher_check && v.matchers.iter().all(|m| m.matches_empty()) {
        return err(
            v.span,
            "vector selector must contain at least one non-empty matcher",
        );
    }
    Ok(())
}

/// The operator's range between the operands, whitespace trimmed.
fn op_range(lhs: &Expr, rhs: &Expr, src: &str) -> Span {
    let bytes = src.as_bytes();
    let mut start = lhs.span().end;
    let mut end = rhs.span().start;
    while start < end && bytes.get(start).is_some_and(|c| c.is_ascii_whitespace()) {
        start += 1;
    }
    while end > start && bytes.get(end - 1).is_some_and(|c| c.is_ascii_whitespace()) {
        end -= 1;
    }
    Span::new(start, end)
}

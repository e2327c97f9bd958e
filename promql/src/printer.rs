//! Printing: Prometheus' one-line `String()` form (`Display`) and its prettifier.

use std::fmt::{self, Write};

use lookout_model::{
    format_api_float, format_duration, format_go_g, is_legacy_label_name, write_go_quoted,
    METRIC_NAME,
};

use crate::ast::*;

/// Writes a label list as Prometheus does: `a, b, "c.d"`.
fn write_labels(f: &mut impl Write, labels: &[lookout_model::SmallStr]) -> fmt::Result {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        if is_legacy_label_name(l) {
            f.write_str(l)?;
        } else {
            write_go_quoted(f, l)?;
        }
    }
    Ok(())
}

fn write_ms(f: &mut impl Write, ms: i64) -> fmt::Result {
    if ms < 0 {
        f.write_char('-')?;
        f.write_str(&format_duration(ms.saturating_neg()))
    } else {
        f.write_str(&format_duration(ms))
    }
}

fn write_number(f: &mut impl Write, n: &NumberLiteral) -> fmt::Result {
    if n.duration {
        // Prometheus prints a negative-zero duration (`-0w`) as `0s`, which loses the sign
        // (`x / -0w` is -Inf, `x / 0s` +Inf); we keep it so the text means the same tree.
        if n.value == 0.0 && n.value.is_sign_negative() {
            return f.write_str("-0s");
        }
        return write_ms(f, seconds_to_ms(n.value));
    }
    if n.value.is_finite() {
        // Prometheus: strconv.AppendFloat(v, 'f', -1, 64), never exponent form; Rust's Display
        // prints the same shortest digits.
        return write!(f, "{}", n.value);
    }
    // NaN, +Inf and -Inf, spelled as Go's 'f' format spells them.
    let mut s = String::new();
    format_api_float(n.value, &mut s);
    f.write_str(&s)
}

impl fmt::Display for NumberLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_number(f, self)
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationExpr::Number(n) => write_number(f, n),
            DurationExpr::Step(_) => f.write_str("step()"),
            DurationExpr::Range(_) => f.write_str("range()"),
            DurationExpr::Neg(e, _) => write!(f, "-{e}"),
            DurationExpr::Paren(e, _) => write!(f, "({e})"),
            DurationExpr::Binary(op, a, b) => write!(f, "{a} {} {b}", op.as_str()),
            DurationExpr::MinOf(a, b, _) => write!(f, "min_of({a}, {b})"),
            DurationExpr::MaxOf(a, b, _) => write!(f, "max_of({a}, {b})"),
        }
    }
}

impl fmt::Display for DurationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationValue::Fixed(ms) => write_ms(f, *ms),
            DurationValue::Expr(e) => write!(f, "{e}"),
        }
    }
}

fn write_at(f: &mut impl Write, at: &Option<AtModifier>) -> fmt::Result {
    match at {
        Some(AtModifier::Timestamp(ms)) => write!(f, " @ {:.3}", *ms as f64 / 1000.0),
        Some(AtModifier::Start) => f.write_str(" @ start()"),
        Some(AtModifier::End) => f.write_str(" @ end()"),
        None => Ok(()),
    }
}

fn write_offset(f: &mut impl Write, off: &Option<DurationValue>) -> fmt::Result {
    match off {
        Some(DurationValue::Fixed(ms)) if *ms != 0 => {
            f.write_str(" offset ")?;
            write_ms(f, *ms)
        }
        Some(DurationValue::Expr(e)) => write!(f, " offset {e}"),
        _ => Ok(()),
    }
}

fn write_extended(f: &mut impl Write, v: &VectorSelector) -> fmt::Result {
    if v.anchored {
        f.write_str(" anchored")
    } else if v.smoothed {
        f.write_str(" smoothed")
    } else {
        Ok(())
    }
}

/// The selector's name and matchers, without modifiers.
fn write_selector_core(f: &mut impl Write, v: &VectorSelector) -> fmt::Result {
    let name = v.name.as_deref().unwrap_or("");
    let mut parts: Vec<String> = v
        .matchers
        .iter()
        .filter(|m| {
            !(m.name() == METRIC_NAME
                && m.match_type() == lookout_model::MatchType::Equal
                && m.value() == name
                && !name.is_empty())
        })
        .map(|m| m.to_string())
        .collect();
    f.write_str(name)?;
    if !parts.is_empty() {
        parts.sort_unstable();
        f.write_char('{')?;
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            f.write_str(p)?;
        }
        f.write_char('}')?;
    }
    Ok(())
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_selector_core(f, self)?;
        write_at(f, &self.at)?;
        write_extended(f, self)?;
        write_offset(f, &self.offset)
    }
}

impl fmt::Display for MatrixSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_selector_core(f, &self.vector)?;
        write!(f, "[{}]", self.range)?;
        write_extended(f, &self.vector)?;
        write_at(f, &self.vector.at)?;
        write_offset(f, &self.vector.offset)
    }
}

fn write_subquery_suffix(f: &mut impl Write, s: &SubqueryExpr) -> fmt::Result {
    write!(f, "[{}:", s.range)?;
    match &s.step {
        Some(DurationValue::Fixed(0)) | None => {}
        Some(step) => write!(f, "{step}")?,
    }
    f.write_char(']')?;
    write_at(f, &s.at)?;
    write_offset(f, &s.offset)
}

impl fmt::Display for SubqueryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        write_subquery_suffix(f, self)
    }
}

fn write_agg_op(f: &mut impl Write, a: &AggregateExpr) -> fmt::Result {
    f.write_str(a.op.as_str())?;
    if a.without {
        f.write_str(" without (")?;
        write_labels(f, &a.grouping)?;
        f.write_str(") ")?;
    } else if !a.grouping.is_empty() {
        f.write_str(" by (")?;
        write_labels(f, &a.grouping)?;
        f.write_str(") ")?;
    }
    Ok(())
}

fn write_bin_op(f: &mut impl Write, b: &BinaryExpr) -> fmt::Result {
    f.write_str(b.op.as_str())?;
    if b.return_bool {
        f.write_str(" bool")?;
    }
    if let Some(vm) = &b.matching {
        let grouped = matches!(vm.card, Cardinality::ManyToOne | Cardinality::OneToMany);
        if !vm.matching_labels.is_empty() || vm.on || grouped {
            f.write_str(if vm.on { " on (" } else { " ignoring (" })?;
            write_labels(f, &vm.matching_labels)?;
            f.write_char(')')?;
        }
        if grouped {
            f.write_str(if vm.card == Cardinality::ManyToOne {
                " group_left ("
            } else {
                " group_right ("
            })?;
            write_labels(f, &vm.include)?;
            f.write_char(')')?;
        }
        let g = |v: f64| {
            let mut s = String::new();
            format_go_g(v, &mut s);
            s
        };
        match (vm.fill.lhs, vm.fill.rhs) {
            (Some(l), Some(r))
                if vm.fill.lhs.map(f64::to_bits) == vm.fill.rhs.map(f64::to_bits)
                    || (l.is_nan() && r.is_nan()) =>
            {
                write!(f, " fill ({})", g(l))?
            }
            (l, r) => {
                if let Some(l) = l {
                    write!(f, " fill_left ({})", g(l))?;
                }
                if let Some(r) = r {
                    write!(f, " fill_right ({})", g(r))?;
                }
            }
        }
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => write_number(f, n),
            Expr::String(s) => write_go_quoted(f, &s.value),
            Expr::Vector(v) => write!(f, "{v}"),
            Expr::Matrix(m) => write!(f, "{m}"),
            Expr::Subquery(s) => write!(f, "{s}"),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::Unary(u) => {
                f.write_char(if u.op == UnaryOp::Neg { '-' } else { '+' })?;
                write!(f, "{}", u.expr)
            }
            Expr::Binary(b) => {
                write!(f, "{} ", b.lhs)?;
                write_bin_op(f, b)?;
                write!(f, " {}", b.rhs)
            }
            Expr::Aggregate(a) => {
                write_agg_op(f, a)?;
                f.write_char('(')?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Call(c) => {
                f.write_str(c.func.name)?;
                f.write_char('(')?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_char(')')
            }
        }
    }
}

const MAX_LINE: usize = 100;

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// Prometheus' prettifier (`promtool promql format`, `/api/v1/format_query`): expressions
/// longer than 100 characters are split over lines, two spaces of indent per level.
pub fn prettify(e: &Expr) -> String {
    let mut out = String::new();
    pretty(e, 0, &mut out);
    out
}

fn pretty(e: &Expr, level: usize, out: &mut String) {
    let flat = e.to_string();
    if flat.len() <= MAX_LINE {
        // Prometheus writes a short subquery without its indent.
        if !matches!(e, Expr::Subquery(_)) {
            indent(out, level);
        }
        out.push_str(&flat);
        return;
    }
    match e {
        Expr::Aggregate(a) => {
            indent(out, level);
            let _ = write_agg_op(out, a);
            out.push_str("(\n");
            if let Some(p) = &a.param {
                pretty(p, level + 1, out);
                out.push_str(",\n");
            }
            pretty(&a.expr, level + 1, out);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Binary(b) => {
            pretty(&b.lhs, level + 1, out);
            out.push('\n');
            indent(out, level);
            let _ = write_bin_op(out, b);
            out.push('\n');
            pretty(&b.rhs, level + 1, out);
        }
        Expr::Call(c) => {
            indent(out, level);
            out.push_str(c.func.name);
            out.push_str("(\n");
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                pretty(a, level + 1, out);
            }
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Paren(p) => {
            indent(out, level);
            out.push_str("(\n");
            pretty(&p.expr, level + 1, out);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Subquery(s) => {
            pretty(&s.expr, level, out);
            let _ = write_subquery_suffix(out, s);
        }
        Expr::Unary(u) => {
            let mut child = String::new();
            pretty(&u.expr, level, &mut child);
            indent(out, level);
            out.push(if u.op == UnaryOp::Neg { '-' } else { '+' });
            out.push_str(child.trim_start());
        }
        _ => {
            indent(out, level);
            out.push_str(&flat);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse_with, prettify, ParseOptions};

    #[test]
    fn one_line_forms_from_printer_test() {
        // Expected texts from Prometheus' printer_test.go.
        for (input, want) in [
            ("a[1h:5m] offset 1m", "a[1h:5m] offset 1m"),
            ("a - on(b) group_left c", "a - on (b) group_left () c"),
            ("foo offset +(5*2)", "foo offset (5 * 2)"),
            (r#"{"_0"="1"}"#, r#"{_0="1"}"#),
        ] {
            let e = parse_with(input, &ParseOptions::all()).expect(input);
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn pretty_keeps_short_expressions_on_one_line() {
        let e = parse_with("sum by (job) (rate(x[5m]))", &ParseOptions::default()).expect("parses");
        assert_eq!(prettify(&e), "sum by (job) (rate(x[5m]))");
    }

    #[test]
    fn pretty_splits_binary_operands_over_lines() {
        let long = format!("{} + {}", "a".repeat(60), "b".repeat(60));
        let e = parse_with(&long, &ParseOptions::default()).expect("parses");
        assert_eq!(
            prettify(&e),
            format!("  {}\n+\n  {}", "a".repeat(60), "b".repeat(60))
        );
    }
}

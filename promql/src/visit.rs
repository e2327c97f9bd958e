//! Walking and rewriting trees.

use lookout_model::Matcher;

use crate::ast::*;

/// A visitor over expressions, called in pre-order (parents before children, left to right).
pub trait Visitor {
    /// Called for each expression; return `false` to skip its children.
    fn visit(&mut self, e: &Expr) -> bool;
}

impl<F: FnMut(&Expr) -> bool> Visitor for F {
    fn visit(&mut self, e: &Expr) -> bool {
        self(e)
    }
}

/// The direct children of an expression, in order.
fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Number(_) | Expr::String(_) | Expr::Vector(_) | Expr::Matrix(_) => vec![],
        Expr::Subquery(s) => vec![&s.expr],
        Expr::Paren(p) => vec![&p.expr],
        Expr::Unary(u) => vec![&u.expr],
        Expr::Binary(b) => vec![&b.lhs, &b.rhs],
        Expr::Aggregate(a) => a.param.iter().chain(std::iter::once(&a.expr)).collect(),
        Expr::Call(c) => c.args.iter().collect(),
    }
}

/// Walks `e` in pre-order with a [`Visitor`] (any `FnMut(&Expr) -> bool` is one).
///
/// ```
/// let e = lookout_promql::parse("sum(rate(a[5m])) + b").unwrap();
/// let mut n = 0;
/// lookout_promql::walk(&e, &mut |_: &lookout_promql::Expr| { n += 1; true });
/// assert_eq!(n, 5);
/// ```
pub fn walk(e: &Expr, v: &mut impl Visitor) {
    if v.visit(e) {
        for c in children(e) {
            walk(c, v);
        }
    }
}

/// Walks `e` in pre-order, letting `f` modify each node before its children are visited.
pub fn walk_mut(e: &mut Expr, f: &mut impl FnMut(&mut Expr)) {
    f(e);
    match e {
        Expr::Number(_) | Expr::String(_) | Expr::Vector(_) | Expr::Matrix(_) => {}
        Expr::Subquery(s) => walk_mut(&mut s.expr, f),
        Expr::Paren(p) => walk_mut(&mut p.expr, f),
        Expr::Unary(u) => walk_mut(&mut u.expr, f),
        Expr::Binary(b) => {
            walk_mut(&mut b.lhs, f);
            walk_mut(&mut b.rhs, f);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                walk_mut(p, f);
            }
            walk_mut(&mut a.expr, f);
        }
        Expr::Call(c) => {
            for a in &mut c.args {
                walk_mut(a, f);
            }
        }
    }
}

/// All vector selectors in the expression, including those inside range selectors, in order.
pub fn selectors(e: &Expr) -> Vec<&VectorSelector> {
    let mut out = Vec::new();
    collect(e, &mut out);
    out
}

fn collect<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
    match e {
        Expr::Vector(v) => out.push(v),
        Expr::Matrix(m) => out.push(&m.vector),
        _ => {
            for c in children(e) {
                collect(c, out);
            }
        }
    }
}

/// Calls `f` on every vector selector, including those inside range selectors.
pub fn selectors_mut(e: &mut Expr, f: &mut impl FnMut(&mut VectorSelector)) {
    walk_mut(e, &mut |n: &mut Expr| match n {
        Expr::Vector(v) => f(v),
        Expr::Matrix(m) => f(&mut m.vector),
        _ => {}
    });
}

/// Adds `m` to every selector, replacing any matcher on the same label, so the query can only
/// see series that `m` accepts (what multi-tenancy proxies such as prom-label-proxy do).
///
/// ```
/// use lookout_model::Matcher;
/// let mut e = lookout_promql::parse(r#"a{tenant="x"} / on() b"#).unwrap();
/// lookout_promql::inject_matcher(&mut e, &Matcher::equal("tenant", "t1"));
/// assert_eq!(e.to_string(), r#"a{tenant="t1"} / on () b{tenant="t1"}"#);
/// ```
pub fn inject_matcher(e: &mut Expr, m: &Matcher) {
    selectors_mut(e, &mut |v: &mut VectorSelector| {
        v.matchers.retain(|old| old.name() != m.name());
        v.matchers.push(m.clone());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn selectors_include_range_selectors_in_order() {
        let e = parse("rate(a[5m]) / on() group_left sum(b) + c offset 1m").expect("parses");
        let names: Vec<_> = selectors(&e)
            .iter()
            .map(|v| v.name.as_deref().map(str::to_string))
            .collect();
        assert_eq!(
            names,
            vec![
                Some("a".to_string()),
                Some("b".to_string()),
                Some("c".to_string())
            ]
        );
    }

    #[test]
    fn inject_replaces_existing_matchers_on_the_label() {
        let mut e = parse(r#"sum(rate(x{tenant=~".+"}[5m]))"#).expect("parses");
        inject_matcher(&mut e, &Matcher::equal("tenant", "t1"));
        assert_eq!(e.to_string(), r#"sum(rate(x{tenant="t1"}[5m]))"#);
    }

    #[test]
    fn walk_can_skip_children() {
        let e = parse("sum(a) + b").expect("parses");
        let mut seen = 0;
        walk(&e, &mut |n: &Expr| {
            seen += 1;
            !matches!(n, Expr::Aggregate(_))
        });
        assert_eq!(seen, 3);
    }
}

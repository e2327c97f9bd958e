//! PromQL for Lookout: parse, check, print and rewrite Prometheus queries.
//!
//! [`parse`] accepts exactly the language current Prometheus accepts (with experimental syntax
//! behind [`ParseOptions`], as Prometheus gates it behind feature flags), runs Prometheus'
//! post-parse type checks, and returns an [`Expr`] whose nodes all carry byte ranges
//! ([`Span`]). `Display` prints Prometheus' canonical one-line form, so
//! `parse(&e.to_string()) == e`; [`prettify`] prints the multi-line form of
//! `promtool promql format`.
//!
//! ```
//! use lookout_promql::{parse, selectors, inject_matcher, Expr};
//! use lookout_model::Matcher;
//!
//! let mut e = parse(r#"sum by(job) (rate(http_requests_total{code=~"5.."}[5m]))"#)?;
//! assert_eq!(e.to_string(), r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))"#);
//! assert_eq!(selectors(&e).len(), 1);
//!
//! inject_matcher(&mut e, &Matcher::equal("tenant", "a"));
//! assert!(e.to_string().contains(r#"tenant="a""#));
//!
//! let err = parse("sum(rate(x[5m])").unwrap_err();
//! assert_eq!(err.to_string(), "1:16: parse error: unclosed left parenthesis");
//! # Ok::<(), lookout_promql::ParseError>(())
//! ```
//!
//! # Why a hand-written parser
//!
//! Prometheus uses a yacc grammar; we use recursive descent with precedence climbing for the
//! binary operators. Two reasons. *Error quality*: a hand-written parser knows what it was
//! reading when it fails, so every error names the construct and carries the exact byte range
//! (rendered with carets by [`ParseError::render`]) while keeping Prometheus' wording.
//! *Speed*: tokens are lexed lazily straight from the input bytes, keywords are classified
//! without allocating, and the only allocations are the tree's own nodes and strings. What
//! remains expensive is compiling regex matchers; a reusable [`Parser`] compiles each regex
//! once, which brings a typical dashboard query to about two microseconds.
//!
//! # Options
//!
//! [`ParseOptions::default`] accepts what Prometheus 3 accepts without feature flags;
//! experimental functions, duration expressions, `anchored`/`smoothed` and `fill()` are
//! switched on one by one (or all with [`ParseOptions::all`]) and rejected with Prometheus'
//! messages otherwise. [`ParseOptions::prometheus2`] compiles regexes as Prometheus 2 does
//! (`.` does not match newlines) and knows `holt_winters`.
#![forbid(unsafe_code)]

mod ast;
mod check;
pub mod engine;
mod error;
mod functions;
mod lexer;
mod parser;
mod printer;
pub mod promqltest;
pub mod rules;
mod visit;

pub use crate::ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality, DurationExpr,
    DurationOp, DurationValue, Expr, FillValues, Matchers, MatrixSelector, NumberLiteral,
    ParenExpr, Span, StringLiteral, SubqueryExpr, UnaryExpr, UnaryOp, ValueType, VectorMatching,
    VectorSelector,
};
pub use crate::error::{Error, ParseError};
pub use crate::functions::{function, functions, Function, Stability};
pub use crate::parser::{parse, parse_with, ParseOptions, Parser};
pub use crate::printer::prettify;
pub use crate::visit::{inject_matcher, selectors, selectors_mut, walk, walk_mut, Visitor};

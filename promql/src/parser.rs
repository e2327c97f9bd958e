//! A hand-written recursive-descent parser with precedence climbing for binary operators.
//!
//! The grammar follows Prometheus' `generated_parser.y`; error messages follow its wording so
//! that people who know Prometheus' errors recognise ours.

use lookout_model::{
    go_quote, write_go_quoted, MatchType, Matcher, RegexOptions, SmallStr, METRIC_NAME,
};

use crate::ast::*;
use crate::error::ParseError;
use crate::functions::{function, Stability};
use crate::lexer::{parse_number, Lexer, Tok, Token};

/// Parser options: which experimental syntax to accept and how to compile regexes.
///
/// The default is what Prometheus 3 accepts without feature flags.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Experimental functions and aggregations (`--enable-feature=promql-experimental-functions`).
    pub experimental_functions: bool,
    /// Duration expressions: arithmetic, `step()`, `range()`, `min_of()`, `max_of()` in ranges,
    /// steps and offsets (`--enable-feature=promql-duration-expr`).
    pub duration_expressions: bool,
    /// The `anchored` and `smoothed` range modifiers (`--enable-feature=promql-extended-range-selectors`).
    pub extended_range_selectors: bool,
    /// The `fill()`, `fill_left()` and `fill_right()` binary operator modifiers
    /// (`--enable-feature=promql-binop-fill-modifiers`).
    pub fill_modifiers: bool,
    /// Functions that Prometheus 3 removed (`holt_winters`).
    pub legacy_functions: bool,
    /// How regex matchers are compiled (Prometheus 3: `.` matches newline; Prometheus 2: not).
    pub regex: RegexOptions,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            experimental_functions: false,
            duration_expressions: false,
            extended_range_selectors: false,
            fill_modifiers: false,
            legacy_functions: false,
            regex: RegexOptions::PROMETHEUS,
        }
    }
}

impl ParseOptions {
    /// Everything on: all experimental syntax and functions, and the legacy functions.
    pub fn all() -> ParseOptions {
        ParseOptions {
            experimental_functions: true,
            duration_expressions: true,
            extended_range_selectors: true,
            fill_modifiers: true,
            legacy_functions: true,
            regex: RegexOptions::PROMETHEUS,
        }
    }

    /// Prometheus 2.x: `holt_winters` exists and `.` in regexes does not match newlines.
    pub fn prometheus2() -> ParseOptions {
        ParseOptions {
            legacy_functions: true,
            regex: RegexOptions::PROMETHEUS2,
            ..ParseOptions::default()
        }
    }

    /// Sets [`ParseOptions::experimental_functions`].
    pub fn with_experimental_functions(mut self, on: bool) -> Self {
        self.experimental_functions = on;
        self
    }

    /// Sets [`ParseOptions::duration_expressions`].
    pub fn with_duration_expressions(mut self, on: bool) -> Self {
        self.duration_expressions = on;
        self
    }

    /// Sets [`ParseOptions::extended_range_selectors`].
    pub fn with_extended_range_selectors(mut self, on: bool) -> Self {
        self.extended_range_selectors = on;
        self
    }

    /// Sets [`ParseOptions::fill_modifiers`].
    pub fn with_fill_modifiers(mut self, on: bool) -> Self {
        self.fill_modifiers = on;
        self
    }

    /// Sets [`ParseOptions::legacy_functions`].
    pub fn with_legacy_functions(mut self, on: bool) -> Self {
        self.legacy_functions = on;
        self
    }

    /// Sets [`ParseOptions::regex`].
    pub fn with_regex(mut self, regex: RegexOptions) -> Self {
        self.regex = regex;
        self
    }
}

/// Parses a PromQL expression with the default options (Prometheus 3 without feature flags).
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_with(input, &ParseOptions::default())
}

/// Parses a PromQL expression with the given options, then type-checks it as Prometheus does.
pub fn parse_with(input: &str, opts: &ParseOptions) -> Result<Expr, ParseError> {
    parse_inner(input, opts, None)
}

/// Regex matchers already compiled, by a hash of operator, label and pattern (the matcher
/// itself is compared on lookup, so a collision only costs a compilation).
type MatcherCache = rustc_hash::FxHashMap<u64, Matcher>;

fn matcher_key(kind: MatchType, label: &str, value: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    kind.hash(&mut h);
    label.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

/// The most regex matchers a [`Parser`] keeps compiled; it forgets them all when full.
const MATCHER_CACHE_LIMIT: usize = 1024;

/// A reusable parser that remembers compiled regex matchers between calls.
///
/// Regexes of the common shapes (`5..`, `api|web`, `prod-.*`) are read without a regex parser
/// and cost little; any other regex costs far more to compile than the query around it takes to
/// parse. Services that parse the same dashboard or rule queries again and again keep one
/// `Parser` and pay for each such regex once. The cache is bounded
/// ([`Parser::cached_matchers`] never exceeds 1024).
///
/// ```
/// let mut p = lookout_promql::Parser::new(lookout_promql::ParseOptions::default());
/// let a = p.parse(r#"rate(x{code=~"5.."}[5m])"#).unwrap();
/// let b = p.parse(r#"rate(x{code=~"5.."}[5m])"#).unwrap();
/// assert_eq!(a, b);
/// assert_eq!(p.cached_matchers(), 1);
/// ```
#[derive(Debug)]
pub struct Parser {
    opts: ParseOptions,
    cache: MatcherCache,
}

impl Parser {
    /// A parser with the given options and an empty regex cache.
    pub fn new(opts: ParseOptions) -> Parser {
        Parser {
            opts,
            cache: MatcherCache::default(),
        }
    }

    /// Parses and type-checks `input`, as [`parse_with`] does.
    pub fn parse(&mut self, input: &str) -> Result<Expr, ParseError> {
        if self.cache.len() >= MATCHER_CACHE_LIMIT {
            self.cache.clear();
        }
        parse_inner(input, &self.opts, Some(&mut self.cache))
    }

    /// How many compiled regex matchers the parser holds.
    pub fn cached_matchers(&self) -> usize {
        self.cache.len()
    }
}

#[inline]
fn parse_inner(
    input: &str,
    opts: &ParseOptions,
    cache: Option<&mut MatcherCache>,
) -> Result<Expr, ParseError> {
    if input.len() > crate::lexer::MAX_INPUT {
        return Err(ParseError::new(Span::new(0, 0), "query too long: more than 4 GiB").locate(""));
    }
    let mut p = Inner {
        lex: Lexer::new(input),
        peeked: None,
        src: input,
        opts,
        depth: 0,
        cache,
    };
    let mut e = match p.parse_top() {
        Ok(e) => e,
        Err(err) => return Err(err.locate(input)),
    };
    match crate::check::check(&mut e, input) {
        Ok(_) => Ok(e),
        Err(err) => Err(err.locate(input)),
    }
}

type PResult<T> = Result<T, Box<ParseError>>;

/// Boxes a node, allocating before the value is built: `Box::new` builds the value on the
/// stack and then copies it into the allocation, which for the larger nodes is a `memcpy`.
#[inline(always)]
fn boxed<T>(build: impl FnOnce() -> T) -> Box<T> {
    let slot = Box::new_uninit();
    Box::write(slot, build())
}

/// Nesting budget, so hostile input cannot build a tree deep enough to overflow the stack
/// (in parsing, checking, printing or dropping it). A nested construct costs
/// [`NEST_COST`]; each link of an operator chain (`a or b or ...`) or of chained subqueries
/// costs one, since those deepen the tree without recursion in the parser.
const MAX_DEPTH: usize = 512;
const NEST_COST: usize = 4;

struct Inner<'a, 'o> {
    lex: Lexer<'a>,
    peeked: Option<Token>,
    src: &'a str,
    opts: &'o ParseOptions,
    depth: usize,
    cache: Option<&'o mut MatcherCache>,
}

#[cold]
fn err<T>(span: Span, msg: impl Into<String>) -> PResult<T> {
    Err(Box::new(ParseError::new(span, msg)))
}

/// What a word means to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    /// Not a keyword.
    None,
    /// An aggregation operator (also usable as a metric name).
    Agg(AggregateOp),
    /// A keyword that may still name a metric (`by`, `offset`, `and`, ...).
    Soft,
    /// A keyword that never names a metric (`bool`, `on`, `group_left`, ...).
    Reserved,
}

/// Every word [`classify`] recognises, lowercase (a word missing here is never classified).
const KEYWORDS: &[&[u8]] = &[
    b"sum",
    b"avg",
    b"count",
    b"min",
    b"max",
    b"group",
    b"stddev",
    b"stdvar",
    b"topk",
    b"bottomk",
    b"count_values",
    b"quantile",
    b"limitk",
    b"limit_ratio",
    b"and",
    b"or",
    b"unless",
    b"by",
    b"without",
    b"offset",
    b"start",
    b"end",
    b"step",
    b"range",
    b"anchored",
    b"smoothed",
    b"atan2",
    b"on",
    b"ignoring",
    b"group_left",
    b"group_right",
    b"bool",
];

/// For each word length, a bit per letter `a`–`z` that starts a keyword of that length: most
/// metric and label names are told apart from keywords by this one lookup.
const KEYWORD_STARTS: [u32; 13] = {
    let mut m = [0u32; 13];
    let mut i = 0;
    while i < KEYWORDS.len() {
        let k = KEYWORDS[i];
        m[k.len()] |= 1 << (k[0] - b'a');
        i += 1;
    }
    m
};

/// Classifies a word case-insensitively without allocating.
fn classify(w: &str) -> Kw {
    let b = w.as_bytes();
    if b.len() < 2 || b.len() > 12 {
        return Kw::None;
    }
    let first = b[0].to_ascii_lowercase();
    let starts = KEYWORD_STARTS.get(b.len()).copied().unwrap_or(0);
    if !first.is_ascii_lowercase() || starts & (1 << (first - b'a')) == 0 {
        return Kw::None;
    }
    let mut buf = [0u8; 12];
    for (d, c) in buf.iter_mut().zip(b) {
        *d = c.to_ascii_lowercase();
    }
    match buf.get(..b.len()).unwrap_or(&[]) {
        b"sum" => Kw::Agg(AggregateOp::Sum),
        b"avg" => Kw::Agg(AggregateOp::Avg),
        b"count" => Kw::Agg(AggregateOp::Count),
        b"min" => Kw::Agg(AggregateOp::Min),
        b"max" => Kw::Agg(AggregateOp::Max),
        b"group" => Kw::Agg(AggregateOp::Group),
        b"stddev" => Kw::Agg(AggregateOp::Stddev),
        b"stdvar" => Kw::Agg(AggregateOp::Stdvar),
        b"topk" => Kw::Agg(AggregateOp::Topk),
        b"bottomk" => Kw::Agg(AggregateOp::Bottomk),
        b"count_values" => Kw::Agg(AggregateOp::CountValues),
        b"quantile" => Kw::Agg(AggregateOp::Quantile),
        b"limitk" => Kw::Agg(AggregateOp::Limitk),
        b"limit_ratio" => Kw::Agg(AggregateOp::LimitRatio),
        b"and" | b"or" | b"unless" | b"by" | b"without" | b"offset" | b"start" | b"end"
        | b"step" | b"range" | b"anchored" | b"smoothed" => Kw::Soft,
        b"atan2" | b"on" | b"ignoring" | b"group_left" | b"group_right" | b"bool" => Kw::Reserved,
        _ => Kw::None,
    }
}

/// The value of a plain decimal integer of 1 to 15 digits without a leading zero (exact in
/// an `f64`), or `None` for anything else.
#[inline]
fn plain_integer(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 15 || b[0] == b'0' {
        return None;
    }
    let mut v = 0u64;
    let mut ok = true;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        ok &= d < 10;
        v = v * 10 + u64::from(d);
    }
    if ok {
        Some(v as f64)
    } else {
        None
    }
}

/// A duration of one unit (`5m`, `30s`, `100ms`, `1h`, `7d`) small enough that it cannot
/// overflow, in milliseconds; `None` sends anything else to the general parser.
fn simple_duration_ms(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 6 {
        return None;
    }
    let n = b[..digits]
        .iter()
        .fold(0u64, |acc, &c| acc * 10 + u64::from(c - b'0'));
    let mult = match &b[digits..] {
        b"ms" => 1,
        b"s" => 1_000,
        b"m" => 60_000,
        b"h" => 3_600_000,
        b"d" if digits <= 5 => 86_400_000,
        _ => return None,
    };
    Some(n * mult)
}

/// Case-insensitive keyword comparison; the inlined length test settles most mismatches
/// without a call.
#[inline(always)]
fn kw_eq(w: impl AsRef<[u8]>, kw: &str) -> bool {
    let w = w.as_ref();
    w.len() == kw.len() && w.eq_ignore_ascii_case(kw.as_bytes())
}

fn is_keyword(w: &str) -> bool {
    classify(w) != Kw::None
}

impl<'a> Inner<'a, '_> {
    #[inline]
    fn peek(&mut self) -> PResult<Token> {
        if let Some(t) = self.peeked {
            return Ok(t);
        }
        let t = self.lex.next_token()?;
        self.peeked = Some(t);
        Ok(t)
    }

    /// The token after the peeked one, without consuming anything.
    fn peek2(&mut self) -> PResult<Token> {
        self.peek()?;
        let save = self.lex.pos;
        let t = self.lex.next_token();
        self.lex.pos = save;
        t
    }

    #[inline]
    fn bump(&mut self) -> PResult<Token> {
        let t = self.peek()?;
        self.peeked = None;
        Ok(t)
    }

    /// The token's bytes, for keyword tests (cheaper than [`Inner::text`], which checks char
    /// boundaries).
    fn bytes(&self, t: Token) -> &'a [u8] {
        self.src.as_bytes().get(t.start()..t.end()).unwrap_or(&[])
    }

    /// The token's bytes if it is a word, else nothing (for keyword tests).
    fn word(&self, t: Token) -> &'a [u8] {
        if t.kind == Tok::Ident {
            self.bytes(t)
        } else {
            &[]
        }
    }

    fn text(&self, t: Token) -> &'a str {
        self.src.get(t.start()..t.end()).unwrap_or("")
    }

    fn is_word(&mut self, w: &str) -> PResult<bool> {
        let t = self.peek()?;
        Ok(t.kind == Tok::Ident && kw_eq(self.bytes(t), w))
    }

    /// Appends how Prometheus' errors name the token (`identifier "foo"`, `<op:+>`, `"}"`);
    /// writing into the message itself keeps an error to one allocation.
    fn describe_into(&self, out: &mut String, t: Token) {
        let text = self.text(t);
        // Writing into a `String` cannot fail.
        let quote = |out: &mut String, s: &str| {
            let _ = write_go_quoted(out, s);
        };
        let quoted_val = |out: &mut String| match text.char_indices().nth(10) {
            Some((cut, _)) => {
                quote(out, &text[..cut]);
                out.push_str("...");
            }
            None => quote(out, text),
        };
        let wrapped = |out: &mut String, open: &str| {
            out.push_str(open);
            out.push_str(text);
            out.push('>');
        };
        match t.kind {
            Tok::Eof => out.push_str("end of input"),
            Tok::Ident => {
                if AggregateOp::from_name(text).is_some() {
                    wrapped(out, "<aggr:");
                } else if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(text))
                {
                    wrapped(out, "<op:");
                } else if is_keyword(text) {
                    wrapped(out, "<");
                } else if text.contains(':') {
                    out.push_str("metric identifier ");
                    quote(out, text);
                } else {
                    out.push_str("identifier ");
                    quote(out, text);
                }
            }
            Tok::Number => {
                out.push_str("number ");
                quoted_val(out);
            }
            Tok::Duration => {
                out.push_str("duration ");
                quoted_val(out);
            }
            Tok::String => {
                out.push_str("string ");
                quoted_val(out);
            }
            Tok::LParen
            | Tok::RParen
            | Tok::LBrace
            | Tok::RBrace
            | Tok::LBracket
            | Tok::RBracket
            | Tok::Comma
            | Tok::Colon
            | Tok::Assign => quote(out, text),
            _ => wrapped(out, "<op:"),
        }
    }

    /// Whether a `(` is still open when the input ends (for Prometheus' lexer errors).
    fn unclosed_paren(&self) -> bool {
        let mut lex = Lexer::new(self.src);
        let mut depth: i64 = 0;
        while let Ok(t) = lex.next_token() {
            match t.kind {
                Tok::Eof => break,
                Tok::LParen => depth += 1,
                Tok::RParen => depth -= 1,
                Tok::LBracket => lex.in_brackets = true,
                Tok::RBracket => lex.in_brackets = false,
                _ => {}
            }
        }
        depth > 0
    }

    #[cold]
    #[inline(never)]
    fn unexpected<T>(&self, t: Token, context: &str, expected: &str) -> PResult<T> {
        if t.kind == Tok::Eof {
            if self.lex.in_brackets {
                return err(t.span(), "unexpected end of input in duration expression");
            }
            if self.unclosed_paren() {
                return err(t.span(), "unclosed left parenthesis");
            }
        }
        if t.kind == Tok::RParen && context.is_empty() {
            return err(t.span(), "unexpected right parenthesis ')'");
        }
        let mut m = String::with_capacity(
            48 + context.len() + expected.len() + t.end().saturating_sub(t.start()),
        );
        m.push_str("unexpected ");
        self.describe_into(&mut m, t);
        if !context.is_empty() {
            m.push_str(" in ");
            m.push_str(context);
        }
        if !expected.is_empty() {
            m.push_str(", expected ");
            m.push_str(expected);
        }
        err(t.span(), m)
    }

    fn expect(&mut self, kind: Tok, context: &str, expected: &str) -> PResult<Token> {
        let t = self.peek()?;
        if t.kind == kind {
            return self.bump();
        }
        self.unexpected(t, context, expected)
    }

    fn parse_top(&mut self) -> PResult<Expr> {
        let t = self.peek()?;
        if t.kind == Tok::Eof {
            return err(Span::new(0, 0), "no expression found in input");
        }
        let e = self.parse_expr(0)?;
        let t = self.peek()?;
        if t.kind != Tok::Eof {
            return self.unexpected(t, "", "");
        }
        Ok(e)
    }

    fn binary_op(&mut self) -> PResult<Option<BinaryOp>> {
        let t = self.peek()?;
        Ok(match t.kind {
            Tok::Add => Some(BinaryOp::Add),
            Tok::Sub => Some(BinaryOp::Sub),
            Tok::Mul => Some(BinaryOp::Mul),
            Tok::Div => Some(BinaryOp::Div),
            Tok::Mod => Some(BinaryOp::Mod),
            Tok::Pow => Some(BinaryOp::Pow),
            Tok::EqlC => Some(BinaryOp::Eql),
            Tok::Neq => Some(BinaryOp::Neq),
            Tok::Gtr => Some(BinaryOp::Gtr),
            Tok::Gte => Some(BinaryOp::Gte),
            Tok::Lss => Some(BinaryOp::Lss),
            Tok::Lte => Some(BinaryOp::Lte),
            Tok::TrimUpper => Some(BinaryOp::TrimUpper),
            Tok::TrimLower => Some(BinaryOp::TrimLower),
            Tok::Ident => {
                let w = self.bytes(t);
                if kw_eq(w, "and") {
                    Some(BinaryOp::And)
                } else if kw_eq(w, "or") {
                    Some(BinaryOp::Or)
                } else if kw_eq(w, "unless") {
                    Some(BinaryOp::Unless)
                } else if kw_eq(w, "atan2") {
                    Some(BinaryOp::Atan2)
                } else {
                    None
                }
            }
            _ => None,
        })
    }

    #[inline]
    fn deeper(&mut self, cost: usize) -> PResult<()> {
        self.depth += cost;
        if self.depth > MAX_DEPTH {
            return self.too_deep();
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&mut self) -> PResult<()> {
        let t = self.peek()?;
        err(t.span(), "expression nested too deeply")
    }

    fn parse_expr(&mut self, min_prec: u8) -> PResult<Expr> {
        self.deeper(NEST_COST)?;
        let mut chain = 0;
        let mut lhs = self.parse_unary()?;
        while let Some(op) = self.binary_op()? {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.deeper(1)?;
            chain += 1;
            self.bump()?;
            let (return_bool, matching) = self.parse_bin_modifiers()?;
            let next = if op.is_right_assoc() { prec } else { prec + 1 };
            let rhs = self.parse_expr(next)?;
            let span = lhs.span().to(rhs.span());
            if !self.opts.fill_modifiers
                && (matching.fill.lhs.is_some() || matching.fill.rhs.is_some())
            {
                return err(
                    span,
                    "binop fill modifiers are experimental and not enabled",
                );
            }
            lhs = Expr::Binary(Box::new(BinaryExpr {
                op,
                lhs,
                rhs,
                return_bool,
                matching: Some(matching),
                span,
            }));
        }
        self.depth -= NEST_COST + chain;
        Ok(lhs)
    }

    fn parse_bin_modifiers(&mut self) -> PResult<(bool, VectorMatching)> {
        let mut vm = VectorMatching {
            card: Cardinality::OneToOne,
            matching_labels: vec![],
            on: false,
            include: vec![],
            fill: FillValues::default(),
        };
        let mut return_bool = false;
        // Modifiers are words; most binary operators are followed by anything else.
        let mut t = self.peek()?;
        if t.kind != Tok::Ident {
            return Ok((return_bool, vm));
        }
        if kw_eq(self.bytes(t), "bool") {
            self.bump()?;
            return_bool = true;
            t = self.peek()?;
        }
        let w = self.word(t);
        let on = kw_eq(w, "on");
        if on || kw_eq(w, "ignoring") {
            self.bump()?;
            vm.on = on;
            vm.matching_labels = self.parse_grouping_labels()?;
            let t = self.peek()?;
            let w = self.word(t);
            let left = kw_eq(w, "group_left");
            if left || kw_eq(w, "group_right") {
                self.bump()?;
                vm.card = if left {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                if self.peek()?.kind == Tok::LParen {
                    vm.include = self.parse_grouping_labels()?;
                }
            }
        }
        loop {
            let t = self.peek()?;
            if t.kind != Tok::Ident {
                break;
            }
            let w = self.bytes(t);
            let (l, r) = if kw_eq(w, "fill") {
                (true, true)
            } else if kw_eq(w, "fill_left") {
                (true, false)
            } else if kw_eq(w, "fill_right") {
                (false, true)
            } else {
                break;
            };
            if self.peek2()?.kind != Tok::LParen {
                break;
            }
            self.bump()?;
            self.bump()?;
            let v = self.parse_signed_number("fill modifier")?.0;
            self.expect(Tok::RParen, "fill modifier", "\")\"")?;
            if l {
                vm.fill.lhs = Some(v);
            }
            if r {
                vm.fill.rhs = Some(v);
            }
        }
        Ok((return_bool, vm))
    }

    /// `+1`, `-Inf`, `5m` (as seconds). Returns the value and its span.
    fn parse_signed_number(&mut self, context: &str) -> PResult<(f64, Span)> {
        let t = self.peek()?;
        let mut sign = 1.0;
        let start = t.start();
        if matches!(t.kind, Tok::Add | Tok::Sub) {
            self.bump()?;
            if t.kind == Tok::Sub {
                sign = -1.0;
            }
        }
        let t = self.peek()?;
        match t.kind {
            Tok::Number | Tok::Duration => {
                self.bump()?;
                let v = self.number_value(t)?;
                Ok((sign * v, Span::new(start, t.end())))
            }
            _ => self.unexpected(t, context, "number"),
        }
    }

    #[inline]
    fn number_value(&self, t: Token) -> PResult<f64> {
        // The common plain decimal integer (`1`, `100`), read straight from the bytes; a
        // leading zero (Go's octal), other forms and more than 15 digits take the general path.
        if t.kind == Tok::Number {
            let b = self.bytes(t);
            if let Some(v) = plain_integer(b) {
                return Ok(v);
            }
        }
        self.number_value_general(t)
    }

    #[inline(never)]
    fn number_value_general(&self, t: Token) -> PResult<f64> {
        let text = self.text(t);

        if t.kind == Tok::Duration {
            if let Some(ms) = simple_duration_ms(text) {
                return Ok(ms as f64 / 1000.0);
            }
            return match lookout_model::parse_duration(text) {
                Ok(ms) => Ok(ms as f64 / 1000.0),
                Err(_) => err(
                    t.span(),
                    format!("not a valid duration string: {}", go_quote(text)),
                ),
            };
        }
        match parse_number(text) {
            Some(v) => Ok(v),
            None => err(
                t.span(),
                format!(
                    "error parsing number: strconv.ParseFloat: parsing {}: invalid syntax",
                    go_quote(text)
                ),
            ),
        }
    }

    fn parse_grouping_labels(&mut self) -> PResult<Vec<SmallStr>> {
        let t = self.peek()?;
        if t.kind != Tok::LParen {
            return self.unexpected(t, "grouping opts", "\"(\"");
        }
        self.bump()?;
        // An empty list allocates nothing; most lists are short.
        let mut out = if self.peek()?.kind == Tok::RParen {
            Vec::new()
        } else {
            Vec::with_capacity(4)
        };
        loop {
            let t = self.peek()?;
            match t.kind {
                Tok::RParen => {
                    self.bump()?;
                    return Ok(out);
                }
                Tok::Ident if !self.text(t).bytes().any(|b| b == b':') => {
                    self.bump()?;
                    out.push(SmallStr::new(self.text(t)));
                }
                Tok::Ident => {
                    return err(
                        t.span(),
                        format!(
                            "invalid label name for grouping: {}",
                            go_quote(self.text(t))
                        ),
                    )
                }
                Tok::String => {
                    self.bump()?;
                    let v = self.unquote(t)?;
                    if v.is_empty() {
                        return err(
                            t.span(),
                            format!("invalid label name for grouping: {}", go_quote(&v)),
                        );
                    }
                    out.push(SmallStr::from(v));
                }
                _ => return self.unexpected(t, "grouping opts", "label"),
            }
            let t = self.peek()?;
            match t.kind {
                Tok::Comma => {
                    self.bump()?;
                }
                Tok::RParen => {}
                _ => return self.unexpected(t, "grouping opts", "\",\" or \")\""),
            }
        }
    }

    fn unquote(&self, t: Token) -> PResult<String> {
        let text = self.text(t);
        match crate::lexer::unquote(text) {
            Some(v) => Ok(v),
            None => err(
                t.span(),
                format!("error unquoting string {}", go_quote(text)),
            ),
        }
    }

    /// Unquotes a string token, borrowing from the input when there is nothing to unescape.
    fn unquote_ref(&self, t: Token) -> PResult<std::borrow::Cow<'a, str>> {
        let text = self.text(t);
        let b = text.as_bytes();
        if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'`' || !b.contains(&b'\\')) {
            if let Some(inner) = text.get(1..text.len() - 1) {
                return Ok(std::borrow::Cow::Borrowed(inner));
            }
        }
        self.unquote(t).map(std::borrow::Cow::Owned)
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        let t = self.peek()?;
        if matches!(t.kind, Tok::Add | Tok::Sub) {
            self.bump()?;
            let e = self.parse_expr(BinaryOp::Pow.precedence())?;
            let span = Span::new(t.start(), e.span().end);
            if let Expr::Number(mut n) = e {
                if t.kind == Tok::Sub {
                    n.value = -n.value;
                }
                n.span = span;
                return Ok(Expr::Number(n));
            }
            let op = if t.kind == Tok::Sub {
                UnaryOp::Neg
            } else {
                UnaryOp::Pos
            };
            return Ok(Expr::Unary(Box::new(UnaryExpr { op, expr: e, span })));
        }
        let e = self.parse_primary()?;
        self.parse_postfix(e)
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let t = self.peek()?;
        match t.kind {
            Tok::LParen => {
                self.bump()?;
                let e = self.parse_expr(0)?;
                let close = self.expect(Tok::RParen, "", "")?;
                Ok(Expr::Paren(Box::new(ParenExpr {
                    expr: e,
                    span: Span::new(t.start(), close.end()),
                })))
            }
            Tok::LBrace => self.parse_selector(None, t.start()),
            Tok::Number | Tok::Duration => {
                self.bump()?;
                Ok(Expr::Number(NumberLiteral {
                    value: self.number_value(t)?,
                    duration: t.kind == Tok::Duration,
                    span: t.span(),
                }))
            }
            Tok::String => {
                self.bump()?;
                Ok(Expr::String(StringLiteral {
                    value: self.unquote(t)?,
                    span: t.span(),
                }))
            }
            Tok::Ident => self.parse_ident_expr(t),
            _ => self.unexpected(t, "", ""),
        }
    }

    /// The first byte after `pos` that is not whitespace.
    fn next_byte(&self, pos: usize) -> u8 {
        let b = self.src.as_bytes();
        let mut i = pos;
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        b.get(i).copied().unwrap_or(0)
    }

    fn parse_ident_expr(&mut self, t: Token) -> PResult<Expr> {
        let word = self.text(t);
        let kw = classify(word);
        // Look a token ahead only when it can matter (calls and aggregations).
        let nb = self.next_byte(t.end());
        let next = if matches!(kw, Kw::Agg(_)) || nb == b'(' || nb == b'#' {
            self.peek2()?
        } else {
            Token::new(Tok::Eof, t.end(), t.end())
        };
        if let Kw::Agg(op) = kw {
            let next_word = self.src.get(next.start()..next.end()).unwrap_or("");
            if next.kind == Tok::LParen
                || (next.kind == Tok::Ident
                    && (kw_eq(next_word, "by") || kw_eq(next_word, "without")))
            {
                self.bump()?;
                return self.parse_aggregate(op, t);
            }
            let follows_expr = match next.kind {
                Tok::Ident => [
                    "and", "or", "unless", "atan2", "offset", "anchored", "smoothed",
                ]
                .iter()
                .any(|k| kw_eq(next_word, k)),
                Tok::Number | Tok::Duration | Tok::String => false,
                _ => true,
            };
            if !follows_expr {
                return self.unexpected(next, "aggregation", "");
            }
        }
        if next.kind == Tok::LParen
            && !word.contains(':')
            && (kw == Kw::None || function(word).is_some())
        {
            self.bump()?;
            return self.parse_call(t);
        }
        if kw == Kw::Reserved {
            return self.unexpected(t, "", "");
        }
        self.bump()?;
        let name = SmallStr::new(word);
        if self.peek()?.kind == Tok::LBrace {
            self.parse_selector(Some(name), t.start())
        } else {
            Ok(Expr::Vector(boxed(|| VectorSelector {
                matchers: Matchers::one(Matcher::metric_name(name.clone())),
                name: Some(name),
                offset: None,
                at: None,
                anchored: false,
                smoothed: false,
                bypass_empty_matcher_check: false,
                span: t.span(),
            })))
        }
    }

    fn parse_args(&mut self) -> PResult<(Vec<Expr>, usize)> {
        // Calls and aggregations recurse through several large frames: they cost more.
        self.deeper(2 * NEST_COST)?;
        let r = self.parse_args_inner();
        self.depth -= 2 * NEST_COST;
        r
    }

    fn parse_args_inner(&mut self) -> PResult<(Vec<Expr>, usize)> {
        self.expect(Tok::LParen, "", "\"(\"")?;
        let mut args = Vec::new();
        if self.peek()?.kind == Tok::RParen {
            let close = self.bump()?;
            return Ok((args, close.end()));
        }
        loop {
            args.push(self.parse_expr(0)?);
            let t = self.peek()?;
            match t.kind {
                Tok::Comma => {
                    self.bump()?;
                    if self.peek()?.kind == Tok::RParen {
                        return err(
                            t.span(),
                            "trailing commas not allowed in function call args",
                        );
                    }
                }
                Tok::RParen => {
                    self.bump()?;
                    return Ok((args, t.end()));
                }
                _ => return self.unexpected(t, "", "\",\" or \")\""),
            }
        }
    }

    fn parse_aggregate(&mut self, op: AggregateOp, name: Token) -> PResult<Expr> {
        let mut grouping = Vec::new();
        let mut without = false;
        let mut modifier_seen = false;
        let by = self.is_word("by")?;
        if by || self.is_word("without")? {
            self.bump()?;
            without = !by;
            grouping = self.parse_grouping_labels()?;
            modifier_seen = true;
        }
        let t = self.peek()?;
        if t.kind != Tok::LParen {
            return self.unexpected(t, "aggregation", "");
        }
        let (mut args, mut end) = self.parse_args()?;
        if !modifier_seen {
            let by = self.is_word("by")?;
            if by || self.is_word("without")? {
                let kw = self.bump()?;
                without = !by;
                grouping = self.parse_grouping_labels()?;
                end = end.max(kw.end());
                end = self.last_paren_end(end);
            }
        }
        let span = Span::new(name.start(), end);
        if args.is_empty() {
            return err(span, "no arguments for aggregate expression provided");
        }
        let mut param = None;
        let desired = if op.has_param() {
            if op.is_experimental() && !self.opts.experimental_functions {
                return err(
                    span,
                    format!("{}() is experimental and must be enabled with --enable-feature=promql-experimental-functions", op.as_str()),
                );
            }
            2
        } else {
            1
        };
        if args.len() != desired {
            return err(
                span,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            );
        }
        let expr = args.pop().ok_or_else(|| {
            ParseError::new(span, "no arguments for aggregate expression provided")
        })?;
        if desired == 2 {
            param = args.pop();
        }
        Ok(Expr::Aggregate(Box::new(AggregateExpr {
            op,
            expr,
            param,
            grouping,
            without,
            span,
        })))
    }

    /// The end of the `)` that closed the grouping list just read.
    fn last_paren_end(&self, fallback: usize) -> usize {
        let upto = self.lex.pos.min(self.src.len());
        match self.src.get(..upto).and_then(|s| s.rfind(')')) {
            Some(p) if p + 1 >= fallback => p + 1,
            _ => fallback,
        }
    }

    fn parse_call(&mut self, name: Token) -> PResult<Expr> {
        let word = self.text(name);
        let func = match function(word) {
            Some(f) if f.stability != Stability::Legacy || self.opts.legacy_functions => f,
            _ => {
                return err(
                    name.span(),
                    format!("unknown function with name {}", go_quote(word)),
                )
            }
        };
        if func.stability == Stability::Experimental && !self.opts.experimental_functions {
            return err(
                name.span(),
                format!("function {} is not enabled", go_quote(word)),
            );
        }
        let (args, end) = self.parse_args()?;
        Ok(Expr::Call(Box::new(Call {
            func,
            args,
            span: Span::new(name.start(), end),
        })))
    }

    fn parse_selector(&mut self, name: Option<SmallStr>, start: usize) -> PResult<Expr> {
        self.expect(Tok::LBrace, "", "\"{\"")?;
        let mut matchers = Matchers::new();
        let end;
        loop {
            let t = self.peek()?;
            match t.kind {
                Tok::RBrace => {
                    self.bump()?;
                    end = t.end();
                    break;
                }
                Tok::Eof => return err(t.span(), "unexpected end of input inside braces"),
                Tok::Ident if self.text(t).contains(':') => {
                    let colon = t.start() + self.text(t).find(':').unwrap_or(0);
                    return err(
                        Span::new(colon, colon + 1),
                        "unexpected character inside braces: ':'",
                    );
                }
                Tok::Ident | Tok::Number
                    if !self.text(t).contains(':')
                        && self
                            .text(t)
                            .bytes()
                            .next()
                            .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic()) =>
                {
                    self.bump()?;
                    let label = self.text(t);
                    matchers.push(self.parse_matcher(label, t)?);
                }
                Tok::String => {
                    self.bump()?;
                    let label = self.unquote_ref(t)?;
                    let op = self.peek()?;
                    if matches!(
                        op.kind,
                        Tok::Assign | Tok::Neq | Tok::EqlRegex | Tok::NeqRegex
                    ) {
                        matchers.push(self.parse_matcher(&label, t)?);
                    } else {
                        matchers.push(Matcher::equal(METRIC_NAME, &label));
                    }
                }
                _ => return self.unexpected(t, "label matching", "identifier or \"}\""),
            }
            let t = self.peek()?;
            match t.kind {
                Tok::Comma => {
                    self.bump()?;
                }
                Tok::RBrace => {}
                Tok::Eof => return err(t.span(), "unexpected end of input inside braces"),
                _ => return self.unexpected(t, "label matching", "\",\" or \"}\""),
            }
        }
        if let Some(n) = &name {
            matchers.push(Matcher::metric_name(n.clone()));
        }
        Ok(Expr::Vector(boxed(|| VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
            bypass_empty_matcher_check: false,
            span: Span::new(start, end),
        })))
    }

    fn parse_matcher(&mut self, label: &str, lt: Token) -> PResult<Matcher> {
        let op = self.peek()?;
        let kind = match op.kind {
            Tok::Assign => MatchType::Equal,
            Tok::Neq => MatchType::NotEqual,
            Tok::EqlRegex => MatchType::Regex,
            Tok::NeqRegex => MatchType::NotRegex,
            Tok::EqlC => {
                return err(
                    Span::new(op.start() + 1, op.end()),
                    "unexpected \"=\" in label matching, expected string",
                )
            }
            _ => return self.unexpected(op, "label matching", "label matching operator"),
        };
        self.bump()?;
        let v = self.peek()?;
        if v.kind != Tok::String {
            return self.unexpected(v, "label matching", "string");
        }
        self.bump()?;
        let value = self.unquote_ref(v)?;
        if kind == MatchType::Equal {
            return Ok(Matcher::equal(label, &value));
        }
        if kind == MatchType::NotEqual {
            return Ok(
                Matcher::with_regex_options(kind, label, &value, self.opts.regex)
                    .map_err(|e| ParseError::new(Span::new(lt.start(), v.end()), e.to_string()))?,
            );
        }
        let key = matcher_key(kind, label, &value);
        if let Some(m) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            if m.match_type() == kind && m.has_name(label) && m.value() == value {
                return Ok(m.clone());
            }
        }
        let m = Matcher::with_regex_options(kind, label, &value, self.opts.regex)
            .map_err(|e| ParseError::new(Span::new(lt.start(), v.end()), e.to_string()))?;
        if let Some(c) = self.cache.as_mut() {
            c.insert(key, m.clone());
        }
        Ok(m)
    }

    /// Modifiers after a primary expression; most primaries have none, which is decided here
    /// without the call.
    #[inline]
    fn parse_postfix(&mut self, e: Expr) -> PResult<Expr> {
        let t = self.peek()?;
        let maybe = match t.kind {
            Tok::LBracket | Tok::At => true,
            Tok::Ident => {
                let w = self.bytes(t);
                kw_eq(w, "offset") || kw_eq(w, "anchored") || kw_eq(w, "smoothed")
            }
            _ => false,
        };
        if !maybe {
            return Ok(e);
        }
        self.parse_postfix_slow(e)
    }

    #[inline(never)]
    fn parse_postfix_slow(&mut self, mut e: Expr) -> PResult<Expr> {
        // Chained subqueries deepen the tree without recursion, so they spend the budget.
        // (After an error the parser is dropped, so only the success paths give it back.)
        let mut chain = 0;
        loop {
            let t = self.peek()?;
            match t.kind {
                Tok::LBracket => {
                    self.deeper(NEST_COST)?;
                    chain += NEST_COST;
                    e = self.parse_range(e)?;
                }
                Tok::At => {
                    self.bump()?;
                    e = self.parse_at(e)?;
                }
                Tok::Ident => {
                    let w = self.text(t);
                    if kw_eq(w, "offset") {
                        self.bump()?;
                        e = self.parse_offset(e)?;
                    } else if kw_eq(w, "anchored") || kw_eq(w, "smoothed") {
                        self.bump()?;
                        e = self.set_extended(e, kw_eq(w, "anchored"), t)?;
                    } else {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.depth -= chain;
        Ok(e)
    }

    fn set_extended(&mut self, mut e: Expr, anchored: bool, t: Token) -> PResult<Expr> {
        let what = if anchored { "anchored" } else { "smoothed" };
        let span = e.span().to(t.span());
        if !self.opts.extended_range_selectors {
            return err(
                span,
                format!("{what} modifier is experimental and not enabled"),
            );
        }
        let vs = match &mut e {
            Expr::Vector(v) => {
                v.span = span;
                &mut **v
            }
            Expr::Matrix(m) => {
                m.span = span;
                &mut m.vector
            }
            Expr::Subquery(_) => {
                return err(
                    span,
                    format!("{what} modifier is not supported for subqueries"),
                )
            }
            _ => return err(span, format!("{what} modifier not implemented")),
        };
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        if vs.anchored && vs.smoothed {
            return err(
                span,
                "anchored and smoothed modifiers cannot be used together",
            );
        }
        Ok(e)
    }

    fn parse_at(&mut self, mut e: Expr) -> PResult<Expr> {
        let t = self.peek()?;
        let (at, end) = if t.kind == Tok::Ident
            && (kw_eq(self.text(t), "start") || kw_eq(self.text(t), "end"))
        {
            let start = kw_eq(self.text(t), "start");
            self.bump()?;
            self.expect(Tok::LParen, "@", "\"(\"")?;
            let close = self.expect(Tok::RParen, "@", "\")\"")?;
            (
                if start {
                    AtModifier::Start
                } else {
                    AtModifier::End
                },
                close.end(),
            )
        } else if matches!(t.kind, Tok::Number | Tok::Duration | Tok::Add | Tok::Sub) {
            let (v, span) = self.parse_signed_number("@")?;
            let ms = (v * 1000.0).round();
            if !v.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
                let shown = if v.is_nan() {
                    "NaN".to_string()
                } else if v.is_infinite() {
                    if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
                } else {
                    format!("{v:.6}")
                };
                return err(
                    e.span().to(span),
                    format!("timestamp out of bounds for @ modifier: {shown}"),
                );
            }
            (AtModifier::Timestamp(ms as i64), span.end)
        } else {
            return self.unexpected(t, "@", "timestamp");
        };
        let span = Span::new(e.span().start, end);
        let slot = match &mut e {
            Expr::Vector(v) => {
                v.span = span;
                &mut v.at
            }
            Expr::Matrix(m) => {
                m.span = span;
                &mut m.vector.at
            }
            Expr::Subquery(s) => {
                s.span = span;
                &mut s.at
            }
            _ => {
                return err(
                    span,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                )
            }
        };
        if slot.is_some() {
            return err(span, "@ <timestamp> may not be set multiple times");
        }
        *slot = Some(at);
        Ok(e)
    }

    fn parse_offset(&mut self, mut e: Expr) -> PResult<Expr> {
        let d = self.parse_offset_duration()?;
        let span = Span::new(e.span().start, d.span().end);
        let value = self.to_duration_value(d, false)?;
        let slot = match &mut e {
            Expr::Vector(v) => {
                v.span = span;
                &mut v.offset
            }
            Expr::Matrix(m) => {
                m.span = span;
                &mut m.vector.offset
            }
            Expr::Subquery(s) => {
                s.span = span;
                &mut s.offset
            }
            _ => {
                return err(
                    span,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                )
            }
        };
        if slot.is_some() {
            return err(span, "offset may not be set multiple times");
        }
        *slot = match value {
            DurationValue::Fixed(0) => None,
            v => Some(v),
        };
        Ok(e)
    }

    /// Converts a parsed duration expression into a fixed duration when it is a plain literal.
    fn to_duration_value(&self, d: DurationExpr, positive: bool) -> PResult<DurationValue> {
        match d {
            DurationExpr::Number(n) => {
                if positive && n.value <= 0.0 {
                    return err(n.span, "duration must be greater than 0");
                }
                if n.value > (1u64 << 63) as f64 / 1e9
                    || n.value < -((1u64 << 63) as f64) / 1e9
                    || n.value.is_nan()
                {
                    return err(n.span, "duration out of range");
                }
                Ok(DurationValue::Fixed(seconds_to_ms(n.value)))
            }
            other => {
                if !self.opts.duration_expressions {
                    return err(
                        other.span(),
                        "experimental duration expression is not enabled",
                    );
                }
                Ok(DurationValue::Expr(other))
            }
        }
    }

    /// The duration after `offset`: a literal, a signed literal, `step()`, `range()`,
    /// `min_of(..)`, `max_of(..)` or a parenthesised duration expression, optionally signed.
    fn parse_offset_duration(&mut self) -> PResult<DurationExpr> {
        let t = self.peek()?;
        if matches!(t.kind, Tok::Add | Tok::Sub) {
            self.bump()?;
            let inner = self.parse_dur_atom("offset")?;
            return Ok(apply_sign(t, inner));
        }
        self.parse_dur_atom("offset")
    }

    fn parse_dur_atom(&mut self, context: &str) -> PResult<DurationExpr> {
        let t = self.peek()?;
        match t.kind {
            Tok::Number | Tok::Duration => {
                self.bump()?;
                Ok(DurationExpr::Number(NumberLiteral {
                    value: self.number_value(t)?,
                    duration: t.kind == Tok::Duration,
                    span: t.span(),
                }))
            }
            Tok::LParen => {
                self.bump()?;
                let inner = self.parse_dur_expr(0)?;
                let close = self.expect(Tok::RParen, "duration expression", "\")\"")?;
                Ok(DurationExpr::Paren(
                    Box::new(inner),
                    Span::new(t.start(), close.end()),
                ))
            }
            Tok::Ident => {
                let w = self.text(t);
                let step = kw_eq(w, "step");
                if step || kw_eq(w, "range") {
                    self.bump()?;
                    self.expect(Tok::LParen, context, "\"(\"")?;
                    let close = self.expect(Tok::RParen, context, "\")\"")?;
                    let span = Span::new(t.start(), close.end());
                    return Ok(if step {
                        DurationExpr::Step(span)
                    } else {
                        DurationExpr::Range(span)
                    });
                }
                let min = kw_eq(w, "min_of") || kw_eq(w, "min");
                if min || kw_eq(w, "max_of") || kw_eq(w, "max") {
                    self.bump()?;
                    self.expect(Tok::LParen, context, "\"(\"")?;
                    let a = self.parse_dur_expr(0)?;
                    self.expect(Tok::Comma, context, "\",\"")?;
                    let b = self.parse_dur_expr(0)?;
                    let close = self.expect(Tok::RParen, context, "\")\"")?;
                    let span = Span::new(t.start(), close.end());
                    return Ok(if min {
                        DurationExpr::MinOf(Box::new(a), Box::new(b), span)
                    } else {
                        DurationExpr::MaxOf(Box::new(a), Box::new(b), span)
                    });
                }
                self.unexpected(t, context, "number, duration, step(), or range()")
            }
            _ => self.unexpected(t, context, "number, duration, step(), or range()"),
        }
    }

    fn dur_op(&mut self) -> PResult<Option<DurationOp>> {
        Ok(match self.peek()?.kind {
            Tok::Add => Some(DurationOp::Add),
            Tok::Sub => Some(DurationOp::Sub),
            Tok::Mul => Some(DurationOp::Mul),
            Tok::Div => Some(DurationOp::Div),
            Tok::Mod => Some(DurationOp::Mod),
            Tok::Pow => Some(DurationOp::Pow),
            _ => None,
        })
    }

    /// A full duration expression (inside brackets and parentheses).
    fn parse_dur_expr(&mut self, min_prec: u8) -> PResult<DurationExpr> {
        self.deeper(NEST_COST)?;
        let mut chain = 0;
        let t = self.peek()?;
        let mut lhs = if matches!(t.kind, Tok::Add | Tok::Sub) {
            self.bump()?;
            let inner = self.parse_dur_expr(3)?;
            apply_sign(t, inner)
        } else {
            self.parse_dur_atom("duration expression")?
        };
        while let Some(op) = self.dur_op()? {
            let prec = match op {
                DurationOp::Add | DurationOp::Sub => 1,
                DurationOp::Mul | DurationOp::Div | DurationOp::Mod => 2,
                DurationOp::Pow => 3,
            };
            if prec < min_prec {
                break;
            }
            let opt = self.bump()?;
            let rhs = self.parse_dur_expr(if op == DurationOp::Pow {
                prec
            } else {
                prec + 1
            })?;
            if matches!(op, DurationOp::Div | DurationOp::Mod) {
                if let DurationExpr::Number(n) = &rhs {
                    if n.value == 0.0 {
                        let what = if op == DurationOp::Div {
                            "division by zero"
                        } else {
                            "modulo by zero"
                        };
                        return err(opt.span(), what);
                    }
                }
            }
            lhs = DurationExpr::Binary(op, Box::new(lhs), Box::new(rhs));
            self.deeper(1)?;
            chain += 1;
        }
        self.depth -= NEST_COST + chain;
        Ok(lhs)
    }

    fn parse_range(&mut self, e: Expr) -> PResult<Expr> {
        let open = self.bump()?;
        self.lex.in_brackets = true;
        let t = self.peek()?;
        if matches!(t.kind, Tok::Colon | Tok::RBracket | Tok::Eof) {
            if t.kind == Tok::Eof {
                return self.unexpected(t, "", "");
            }
            self.lex.in_brackets = false;
            return self.unexpected(
                t,
                "subquery or range selector",
                "number, duration, step(), or range()",
            );
        }
        let range = self.parse_dur_expr(0)?;
        let t = self.peek()?;
        let (step, close) = match t.kind {
            Tok::RBracket => (None, t),
            Tok::Colon => {
                self.bump()?;
                let t2 = self.peek()?;
                if t2.kind == Tok::RBracket {
                    (Some(None), t2)
                } else {
                    if t2.kind == Tok::Eof {
                        return self.unexpected(t2, "", "");
                    }
                    if !matches!(
                        t2.kind,
                        Tok::Number
                            | Tok::Duration
                            | Tok::LParen
                            | Tok::Add
                            | Tok::Sub
                            | Tok::Ident
                    ) {
                        self.lex.in_brackets = false;
                        return self.unexpected(
                            t2,
                            "subquery selector",
                            "number, duration, step(), range(), or \"]\"",
                        );
                    }
                    let s = self.parse_dur_expr(0)?;
                    let t3 = self.peek()?;
                    if t3.kind != Tok::RBracket {
                        self.lex.in_brackets = false;
                        return self.unexpected(t3, "subquery selector", "\"]\"");
                    }
                    (Some(Some(s)), t3)
                }
            }
            Tok::Eof => return self.unexpected(t, "", ""),
            _ => {
                self.lex.in_brackets = false;
                return self.unexpected(t, "subquery or range", "\":\" or \"]\"");
            }
        };
        // Leave bracket mode before the token after `]` is lexed.
        self.peeked = None;
        self.lex.pos = close.end();
        self.lex.in_brackets = false;
        let range = self.to_duration_value(range, true)?;
        let span = Span::new(e.span().start, close.end());
        match step {
            None => {
                let bracket_span = Span::new(open.start(), close.end());
                let vs = match e {
                    Expr::Vector(v) => *v,
                    _ => return err(bracket_span, "ranges only allowed for vector selectors"),
                };
                if vs.offset.is_some() {
                    return err(bracket_span, "no offset modifiers allowed before range");
                }
                if vs.at.is_some() {
                    return err(bracket_span, "no @ modifiers allowed before range");
                }
                Ok(Expr::Matrix(Box::new(MatrixSelector {
                    vector: vs,
                    range,
                    span,
                })))
            }
            Some(step) => {
                let step = match step {
                    Some(s) => Some(self.to_duration_value(s, true)?),
                    None => None,
                };
                Ok(Expr::Subquery(Box::new(SubqueryExpr {
                    expr: e,
                    range,
                    step,
                    offset: None,
                    at: None,
                    span,
                })))
            }
        }
    }
}

fn apply_sign(t: Token, inner: DurationExpr) -> DurationExpr {
    let neg = t.kind == Tok::Sub;
    match inner {
        DurationExpr::Number(mut n) => {
            if neg {
                n.value = -n.value;
            }
            n.span = Span::new(t.start(), n.span.end);
            DurationExpr::Number(n)
        }
        other if neg => {
            let span = Span::new(t.start(), other.span().end);
            DurationExpr::Neg(Box::new(other), span)
        }
        other => other,
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    /// Deep inputs are refused before the tree is deep enough to overflow a test thread's
    /// stack while parsing, checking, printing or dropping it.
    #[test]
    fn deep_inputs_are_bounded() {
        let opts = ParseOptions::all();
        let cases = [
            format!("{}a{}", "(".repeat(100), ")".repeat(100)),
            format!("{}a{}", "(".repeat(5000), ")".repeat(5000)),
            format!("a{}", " or a".repeat(500)),
            format!("a{}", " or a".repeat(100_000)),
            format!("a{}", "[1m:]".repeat(120)),
            format!("a{}", "[1m:]".repeat(100_000)),
            format!("{}a", "-".repeat(100_000)),
            format!("a[{}1m]", "1m+".repeat(100_000)),
            format!("{}a{}", "sum(".repeat(5000), ")".repeat(5000)),
        ];
        for q in &cases {
            // Chained subqueries are also a type error; what matters is no overflow.
            if let Ok(e) = parse_with(q, &opts) {
                let _ = e.to_string();
                let _ = crate::prettify(&e);
            }
        }
        assert!(parse_with(&cases[2], &opts).is_ok());
        for i in [1, 3, 5, 6, 7, 8] {
            let err = parse_with(&cases[i], &opts).expect_err("too deep");
            assert!(err.message().contains("nested too deeply"), "{err}");
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    #[test]
    fn every_keyword_passes_the_first_letter_filter() {
        for k in KEYWORDS {
            let w = std::str::from_utf8(k).unwrap();
            assert_ne!(classify(w), Kw::None, "{w}");
            assert_ne!(classify(&w.to_ascii_uppercase()), Kw::None, "{w}");
        }
        for w in [
            "metric",
            "foo",
            "bar",
            "up",
            "http_requests_total",
            "Sum_",
            "_by",
            "9or",
        ] {
            assert_eq!(classify(w), Kw::None, "{w}");
        }
    }

    /// The one-unit duration shortcut agrees with the general duration parser, and leaves
    /// everything it cannot do exactly to it.
    #[test]
    fn simple_durations_match_the_general_parser() {
        for d in [
            "5m", "30s", "100ms", "1h", "7d", "0s", "05m", "999999h", "99999d", "999999s", "1ms",
        ] {
            let general = lookout_model::parse_duration(d).ok().map(|v| v as u64);
            assert_eq!(simple_duration_ms(d), general, "{d}");
        }
        for d in [
            "1h30m", "1y", "2w", "999999d", "1234567s", "5", "m", "5M", "5mss",
        ] {
            assert_eq!(simple_duration_ms(d), None, "{d}");
        }
    }

    /// Strings without escapes are borrowed; the parsed values are the same either way.
    #[test]
    fn matcher_values_unquote_alike() {
        let e = parse(r#"x{a="b\"c", b='d', c=`e\f`, d="", "e"="f"}"#).unwrap_or_else(|e| {
            panic!("{e}");
        });
        let Expr::Vector(v) = e else {
            panic!("not a selector");
        };
        let got: Vec<(&str, &str)> = v.matchers.iter().map(|m| (m.name(), m.value())).collect();
        assert_eq!(
            got,
            [
                ("a", "b\"c"),
                ("b", "d"),
                ("c", "e\\f"),
                ("d", ""),
                ("e", "f"),
                ("__name__", "x")
            ]
        );
    }
}

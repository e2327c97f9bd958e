//! Reading Prometheus' promqltest scripts (`*.test`): `load`, `clear` and `eval` commands with
//! their expectations, as described in `shared/conformance/promql/FORMAT.md`.
//!
//! [`parse_script`] reads a script; [`run_script`] runs it against the
//! [`Engine`](crate::engine::Engine) over an in-memory store, with the comparison rules and the
//! extra range-mode and `@`-pinning checks of Prometheus' own harness:
//!
//! ```
//! use lookout_promql::engine::Engine;
//! use lookout_promql::promqltest::{run_script, Summary};
//!
//! let script = "load 1m\n  up{job=\"a\"} 0+1x10\n\neval instant at 5m up\n  up{job=\"a\"} 5\n";
//! let cases = run_script(script, &Engine::default())?;
//! assert_eq!(Summary::of(&cases).to_string(), "1 passed, 0 failed, 0 skipped");
//! # Ok::<(), lookout_promql::Error>(())
//! ```

use lookout_model::{parse_duration, stale_nan, GoRegex, Labels, RegexOptions};

use crate::error::Error;

fn err(line: usize, message: impl Into<String>) -> Error {
    Error::Script {
        line,
        message: message.into(),
    }
}

/// One position of a value sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample here.
    Gap,
    /// A float sample (the stale marker included).
    Float(f64),
    /// A native-histogram literal `{{…}}`, kept as written.
    Histogram(HistogramLiteral),
}

/// A native histogram literal, `{{schema:0 sum:5 count:4 buckets:[1 2 1]}}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramLiteral {
    /// Bucket resolution; −53 means custom buckets.
    pub schema: i32,
    /// Sum of observations.
    pub sum: f64,
    /// Count of observations.
    pub count: f64,
    /// Zero-bucket count.
    pub zero_count: f64,
    /// Zero threshold.
    pub zero_threshold: f64,
    /// Positive bucket counts (absolute).
    pub buckets: Vec<f64>,
    /// Index of the first positive bucket.
    pub offset: i32,
    /// Negative bucket counts.
    pub n_buckets: Vec<f64>,
    /// Index of the first negative bucket.
    pub n_offset: i32,
    /// Upper bounds for custom buckets.
    pub custom_values: Vec<f64>,
    /// The counter reset hint, if spelled out.
    pub counter_reset_hint: Option<String>,
}

/// A series with its value sequence, from a `load` block or an expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSpec {
    /// 1-based line.
    pub line: usize,
    /// The label set (metric name as `__name__`).
    pub labels: Labels,
    /// The expanded values; position *i* is at `i × interval` (load) or `start + i × step`.
    pub values: Vec<SeqValue>,
    /// Start-timestamp offsets in ms per position (`@st` lines), if given.
    pub start_offsets: Option<Vec<Option<i64>>>,
}

/// What an `eval` expects of errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailExpectation {
    /// Any error.
    Any,
    /// An error whose message equals this text.
    Message(String),
    /// An error whose message matches this (unanchored) regex.
    Regex(String),
}

/// What an `eval` expects of warnings (or infos).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AnnotationExpectation {
    /// Not checked.
    #[default]
    Unchecked,
    /// None may be returned (`expect no_warn`).
    None,
    /// At least one must be returned and each returned one must match one of these
    /// (an empty list accepts any text).
    Some(Vec<FailExpectation>),
}

/// When and how an `eval` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    /// An instant query at this time (ms).
    Instant {
        /// Evaluation time, ms.
        at: i64,
    },
    /// A range query.
    Range {
        /// Start, ms.
        start: i64,
        /// End, ms.
        end: i64,
        /// Step, ms.
        step: i64,
    },
}

/// One `eval` command.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// 1-based line of the `eval` header.
    pub line: usize,
    /// The query text.
    pub query: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// Expected failure, if any.
    pub fail: Option<FailExpectation>,
    /// Warning expectations.
    pub warn: AnnotationExpectation,
    /// Info expectations.
    pub info: AnnotationExpectation,
    /// The result order matters.
    pub ordered: bool,
    /// A string result is expected.
    pub string: Option<String>,
    /// An instant query returning a range vector on this grid (start, end, step).
    pub range_vector: Option<(i64, i64, i64)>,
    /// A scalar result is expected.
    pub scalar: Option<f64>,
    /// Expected series (empty with no other expectation: an empty result).
    pub series: Vec<SeriesSpec>,
}

/// One command of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `load <interval>` / `load_with_nhcb <interval>`.
    Load {
        /// 1-based line.
        line: usize,
        /// Interval between positions, ms.
        interval: i64,
        /// Also convert classic histograms to native ones with custom buckets.
        with_nhcb: bool,
        /// The series.
        series: Vec<SeriesSpec>,
    },
    /// `clear`.
    Clear {
        /// 1-based line.
        line: usize,
    },
    /// `eval …`.
    Eval(Box<Eval>),
}

/// Reads a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, Error> {
    let lines: Vec<&str> = text.lines().collect();
    let instant_re = GoRegex::with_options(
        r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$",
        RegexOptions::SEARCH,
    )
    .map_err(|e| err(0, e.to_string()))?;
    let range_re = GoRegex::with_options(
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
        RegexOptions::SEARCH,
    )
    .map_err(|e| err(0, e.to_string()))?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let lineno = i + 1;
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if word == "clear" {
            out.push(Command::Clear { line: lineno });
        } else if word.starts_with("load") {
            let with_nhcb = word == "load_with_nhcb";
            if word != "load" && !with_nhcb {
                return Err(err(lineno, format!("unknown command {word:?}")));
            }
            let arg = line
                .split_whitespace()
                .nth(1)
                .ok_or_else(|| err(lineno, "load needs an interval"))?;
            let interval = duration(arg, lineno)?;
            let mut series: Vec<SeriesSpec> = Vec::new();
            let mut pending_st: Option<(Labels, Vec<Option<i64>>)> = None;
            while i < lines.len() {
                let body = lines[i].trim();
                if body.is_empty() || body.starts_with('#') {
                    break;
                }
                i += 1;
                let (desc, rest) = split_series(body, i)?;
                if let Some(base) = desc.strip_suffix("@st") {
                    let labels = series_labels(base, i)?;
                    let offs = parse_start_offsets(rest, i)?;
                    pending_st = Some((labels, offs));
                    continue;
                }
                let labels = series_labels(desc, i)?;
                let values = parse_values(rest, i)?;
                let start_offsets = match pending_st.take() {
                    Some((l, offs)) if l == labels => {
                        if offs.len() != values.len() {
                            return Err(err(i, "@st line and sample line differ in length"));
                        }
                        Some(offs)
                    }
                    Some(_) => return Err(err(i, "@st line must be followed by the same series")),
                    None => None,
                };
                // A series defined twice in one block: the later line wins.
                series.retain(|s| s.labels != labels);
                series.push(SeriesSpec {
                    line: i,
                    labels,
                    values,
                    start_offsets,
                });
            }
            if pending_st.is_some() {
                return Err(err(i, "@st line without its sample line"));
            }
            out.push(Command::Load {
                line: lineno,
                interval,
                with_nhcb,
                series,
            });
        } else if word.starts_with("eval") {
            let (kind, legacy, query) = if let Some(c) = instant_re.regex().captures(line) {
                let at = match c.get(2) {
                    Some(t) => duration(t.as_str(), lineno)?,
                    None => 0,
                };
                (
                    EvalKind::Instant { at },
                    c.get(1).map(|m| m.as_str().to_string()),
                    c[3].to_string(),
                )
            } else if let Some(c) = range_re.regex().captures(line) {
                let (start, end, step) = (
                    duration(&c[2], lineno)?,
                    duration(&c[3], lineno)?,
                    duration(&c[4], lineno)?,
                );
                if end < start {
                    return Err(err(
                        lineno,
                        "invalid test definition, end timestamp is before start timestamp",
                    ));
                }
                if step <= 0 {
                    return Err(err(lineno, "invalid step"));
                }
                (
                    EvalKind::Range { start, end, step },
                    c.get(1).map(|m| m.as_str().to_string()),
                    c[5].to_string(),
                )
            } else {
                return Err(err(lineno, format!("invalid evaluation command: {line:?}")));
            };
            let mut ev = Eval {
                line: lineno,
                query,
                kind,
                fail: None,
                warn: AnnotationExpectation::Unchecked,
                info: AnnotationExpectation::Unchecked,
                ordered: false,
                string: None,
                range_vector: None,
                scalar: None,
                series: Vec::new(),
            };
            match legacy.as_deref() {
                Some("fail") => ev.fail = Some(FailExpectation::Any),
                Some("ordered") => ev.ordered = true,
                Some("warn") => ev.warn = AnnotationExpectation::Some(Vec::new()),
                Some("info") => ev.info = AnnotationExpectation::Some(Vec::new()),
                _ => {}
            }
            while i < lines.len() {
                let body = lines[i].trim();
                if body.is_empty() || body.starts_with('#') {
                    break;
                }
                i += 1;
                let first = body.split_whitespace().next().unwrap_or("");
                if first == "expect" {
                    parse_expect(&mut ev, body["expect".len()..].trim_start(), i)?;
                    continue;
                }
                if first == "expected_fail_message" || first == "expected_fail_regexp" {
                    let arg = body[first.len()..].trim().to_string();
                    ev.fail = Some(if first == "expected_fail_message" {
                        FailExpectation::Message(arg)
                    } else {
                        FailExpectation::Regex(arg)
                    });
                    break;
                }
                if let Some(v) = parse_float(body) {
                    ev.scalar = Some(v);
                    break;
                }
                let (desc, rest) = split_series(body, i)?;
                let labels = series_labels(desc, i)?;
                let values = parse_values(rest, i)?;
                if matches!(ev.kind, EvalKind::Instant { .. })
                    && ev.range_vector.is_none()
                    && values.len() != 1
                {
                    return Err(err(
                        i,
                        format!(
                            "expected exactly one value for an instant query, got {}",
                            values.len()
                        ),
                    ));
                }
                ev.series.push(SeriesSpec {
                    line: i,
                    labels,
                    values,
                    start_offsets: None,
                });
            }
            if let (Some((_, end, _)), EvalKind::Instant { .. }) = (ev.range_vector, ev.kind) {
                ev.kind = EvalKind::Instant { at: end };
            }
            out.push(Command::Eval(Box::new(ev)));
        } else {
            return Err(err(lineno, format!("invalid command {word:?}")));
        }
    }
    Ok(out)
}

fn duration(s: &str, line: usize) -> Result<i64, Error> {
    parse_duration(s.trim()).map_err(|_| err(line, format!("invalid duration {s:?}")))
}

fn parse_expect(ev: &mut Eval, rest: &str, line: usize) -> Result<(), Error> {
    let (kind, arg) = match rest.split_once(char::is_whitespace) {
        Some((k, a)) => (k, a.trim()),
        None => (rest, ""),
    };
    let matcher = |arg: &str| -> Result<FailExpectation, Error> {
        if arg.is_empty() {
            Ok(FailExpectation::Any)
        } else if let Some(m) = arg.strip_prefix("msg:") {
            Ok(FailExpectation::Message(m.trim().to_string()))
        } else if let Some(r) = arg.strip_prefix("regex:") {
            Ok(FailExpectation::Regex(r.trim().to_string()))
        } else {
            Err(err(line, format!("invalid expect argument {arg:?}")))
        }
    };
    match kind {
        "fail" => {
            if ev.fail.is_some() {
                return Err(err(line, "more than one 'expect fail'"));
            }
            ev.fail = Some(matcher(arg)?);
        }
        "warn" | "info" => {
            let m = matcher(arg)?;
            let slot = if kind == "warn" {
                &mut ev.warn
            } else {
                &mut ev.info
            };
            match slot {
                AnnotationExpectation::None => {
                    return Err(err(
                        line,
                        format!("'expect {kind}' with 'expect no_{kind}'"),
                    ))
                }
                AnnotationExpectation::Some(v) => {
                    if m != FailExpectation::Any {
                        v.push(m)
                    }
                }
                AnnotationExpectation::Unchecked => {
                    *slot = AnnotationExpectation::Some(if m == FailExpectation::Any {
                        Vec::new()
                    } else {
                        vec![m]
                    })
                }
            }
        }
        "no_warn" | "no_info" => {
            let slot = if kind == "no_warn" {
                &mut ev.warn
            } else {
                &mut ev.info
            };
            if matches!(slot, AnnotationExpectation::Some(_)) {
                return Err(err(
                    line,
                    format!("'expect {kind}' with an expectation of that kind"),
                ));
            }
            *slot = AnnotationExpectation::None;
        }
        "ordered" => ev.ordered = true,
        "string" => {
            let (s, used) = lookout_model::parse_go_string(arg)
                .map_err(|e| err(line, format!("invalid expected string: {e}")))?;
            if used != arg.len() {
                return Err(err(line, "text after the expected string"));
            }
            ev.string = Some(s);
        }
        "range" => {
            // expect range vector from <a> to <b> step <s>
            let w: Vec<&str> = arg.split_whitespace().collect();
            match w.as_slice() {
                ["vector", "from", a, "to", b, "step", s] => {
                    ev.range_vector =
                        Some((duration(a, line)?, duration(b, line)?, duration(s, line)?));
                }
                _ => return Err(err(line, format!("invalid 'expect range' line: {arg:?}"))),
            }
        }
        other => return Err(err(line, format!("unknown expectation {other:?}"))),
    }
    Ok(())
}

/// Splits a body line into the series descriptor and the values text.
fn split_series(line: &str, lineno: usize) -> Result<(&str, &str), Error> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'{' => depth += 1,
                b'}' => depth -= 1,
                c if c.is_ascii_whitespace() && depth == 0 => break,
                _ => {}
            },
        }
        i += 1;
    }
    if depth != 0 || quote.is_some() {
        return Err(err(
            lineno,
            format!("unbalanced series descriptor in {line:?}"),
        ));
    }
    Ok((&line[..i], line[i..].trim()))
}

fn series_labels(desc: &str, line: usize) -> Result<Labels, Error> {
    desc.parse::<Labels>()
        .map_err(|e| err(line, format!("invalid series {desc:?}: {e}")))
}

/// Parses a float as the script lexer does: decimal and exponent forms, `Inf`, `NaN` in any case
/// with an optional sign. Hex is not allowed.
pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let neg = t.starts_with('-');
    match body.to_ascii_lowercase().as_str() {
        "inf" => {
            return Some(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == b'.');
    if !ok {
        return None;
    }
    t.parse().ok()
}

/// The length of the longest float prefix of `s`.
fn float_prefix(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let lower = s[i..].to_ascii_lowercase();
    if lower.starts_with("inf") {
        return i + 3;
    }
    if lower.starts_with("nan") {
        return i + 3;
    }
    let start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i == start {
        return 0;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let ds = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > ds {
            i = j;
        }
    }
    i
}

fn count(s: &str, line: usize) -> Result<usize, Error> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n <= 1_000_000)
        .ok_or_else(|| err(line, format!("invalid repetition count {s:?}")))
}

/// Expands a value sequence (§3.1).
pub fn parse_values(text: &str, line: usize) -> Result<Vec<SeqValue>, Error> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            let end = rest
                .find("}}")
                .ok_or_else(|| err(line, "unclosed histogram literal"))?;
            let base = parse_histogram(&rest[2..end], line)?;
            rest = &rest[end + 2..];
            // {{A}}xN or {{A}}+{{B}}xN
            let (tok, after) = next_token(rest);
            if tok.is_empty() {
                out.push(SeqValue::Histogram(base));
            } else if let Some(n) = tok.strip_prefix('x') {
                for _ in 0..=count(n, line)? {
                    out.push(SeqValue::Histogram(base.clone()));
                }
                rest = after;
            } else if (tok.starts_with("+{{") || tok.starts_with("-{{")) && rest.contains("}}") {
                let sign = if tok.starts_with('-') { -1.0 } else { 1.0 };
                let e2 = rest
                    .find("}}")
                    .ok_or_else(|| err(line, "unclosed histogram literal"))?;
                let inc = parse_histogram(&rest[3..e2], line)?;
                let after_inc = &rest[e2 + 2..];
                let (xn, after2) = next_token(after_inc);
                let n = count(
                    xn.strip_prefix('x')
                        .ok_or_else(|| err(line, "expected xN after histogram increment"))?,
                    line,
                )?;
                let mut cur = base;
                for _ in 0..=n {
                    out.push(SeqValue::Histogram(cur.clone()));
                    cur = add_histogram(&cur, &inc, sign);
                }
                rest = after2;
            } else {
                out.push(SeqValue::Histogram(base));
            }
            rest = rest.trim_start();
            continue;
        }
        let (tok, after) = next_token(rest);
        rest = after.trim_start();
        if tok == "_" {
            out.push(SeqValue::Gap);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            for _ in 0..count(n, line)? {
                out.push(SeqValue::Gap);
            }
            continue;
        }
        if tok == "stale" {
            out.push(SeqValue::Float(stale_nan()));
            continue;
        }
        let p = float_prefix(tok);
        if p == 0 {
            return Err(err(line, format!("invalid value {tok:?}")));
        }
        let start =
            parse_float(&tok[..p]).ok_or_else(|| err(line, format!("invalid value {tok:?}")))?;
        let tail = &tok[p..];
        if tail.is_empty() {
            out.push(SeqValue::Float(start));
        } else if let Some(n) = tail.strip_prefix('x') {
            for _ in 0..=count(n, line)? {
                out.push(SeqValue::Float(start));
            }
        } else if tail.starts_with(['+', '-']) {
            let sign = if tail.starts_with('-') { -1.0 } else { 1.0 };
            let inc_text = &tail[1..];
            let q = float_prefix(inc_text);
            let inc = parse_float(&inc_text[..q])
                .ok_or_else(|| err(line, format!("invalid value {tok:?}")))?;
            let n = inc_text[q..]
                .strip_prefix('x')
                .ok_or_else(|| err(line, format!("invalid value {tok:?}: expected xN")))?;
            let mut v = start;
            for _ in 0..=count(n, line)? {
                out.push(SeqValue::Float(v));
                // Repeated addition, as upstream does, for bit-identical values.
                v += sign * inc;
            }
        } else {
            return Err(err(line, format!("invalid value {tok:?}")));
        }
    }
    Ok(out)
}

fn next_token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    // A histogram increment `+{{…}}` may contain spaces.
    if s.starts_with("+{{") || s.starts_with("-{{") {
        if let Some(e) = s.find("}}") {
            let e2 = s[e + 2..]
                .find(char::is_whitespace)
                .map(|x| e + 2 + x)
                .unwrap_or(s.len());
            return (&s[..e2], &s[e2..]);
        }
    }
    (&s[..end], &s[end..])
}

fn parse_start_offsets(text: &str, line: usize) -> Result<Vec<Option<i64>>, Error> {
    let mut out = Vec::new();
    for tok in text.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            for _ in 0..count(n, line)? {
                out.push(None);
            }
            continue;
        }
        // <d>, <d>xN, <d>+<e>xN, <d>-<e>xN with signed durations.
        let (neg, body) = match tok.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, tok.strip_prefix('+').unwrap_or(tok)),
        };
        let dur_end = body
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric()) || *c == 'x')
            .map(|(i, _)| i)
            .unwrap_or(body.len());
        let base = duration(&body[..dur_end], line)? * if neg { -1 } else { 1 };
        let tail = &body[dur_end..];
        if tail.is_empty() {
            out.push(Some(base));
        } else if let Some(n) = tail.strip_prefix('x') {
            for _ in 0..=count(n, line)? {
                out.push(Some(base));
            }
        } else if let Some(inc_text) = tail.strip_prefix(['+', '-']) {
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            let (inc, n) = inc_text
                .split_once('x')
                .ok_or_else(|| err(line, format!("invalid start offset {tok:?}")))?;
            let inc = duration(inc, line)? * sign;
            let mut v = base;
            for _ in 0..=count(n, line)? {
                out.push(Some(v));
                v += inc;
            }
        } else {
            return Err(err(line, format!("invalid start offset {tok:?}")));
        }
    }
    Ok(out)
}

fn parse_histogram(body: &str, line: usize) -> Result<HistogramLiteral, Error> {
    let mut h = HistogramLiteral::default();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once(':')
            .ok_or_else(|| err(line, format!("invalid histogram item in {body:?}")))?;
        let key = key.trim();
        let after = after.trim_start();
        let (val, next) = if after.starts_with('[') {
            let e = after
                .find(']')
                .ok_or_else(|| err(line, "unclosed [ in histogram"))?;
            (&after[..=e], &after[e + 1..])
        } else {
            let e = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..e], &after[e..])
        };
        rest = next.trim_start();
        let f = |v: &str| {
            parse_float(v).ok_or_else(|| err(line, format!("invalid number {v:?} in histogram")))
        };
        let list = |v: &str| -> Result<Vec<f64>, Error> {
            v.trim_start_matches('[')
                .trim_end_matches(']')
                .split_whitespace()
                .map(f)
                .collect()
        };
        let int = |v: &str| {
            v.parse::<i32>()
                .map_err(|_| err(line, format!("invalid integer {v:?} in histogram")))
        };
        match key {
            "schema" => h.schema = int(val)?,
            "sum" => h.sum = f(val)?,
            "count" => h.count = f(val)?,
            "z_bucket" => h.zero_count = f(val)?,
            "z_bucket_w" => h.zero_threshold = f(val)?,
            "buckets" => h.buckets = list(val)?,
            "offset" => h.offset = int(val)?,
            "n_buckets" => h.n_buckets = list(val)?,
            "n_offset" => h.n_offset = int(val)?,
            "custom_values" => h.custom_values = list(val)?,
            "counter_reset_hint" => h.counter_reset_hint = Some(val.to_string()),
            other => return Err(err(line, format!("unknown histogram field {other:?}"))),
        }
    }
    Ok(h)
}

/// Adds `sign × inc` to `h` bucket by bucket (aligned by index), as the script format's
/// histogram progressions do.
fn add_histogram(h: &HistogramLiteral, inc: &HistogramLiteral, sign: f64) -> HistogramLiteral {
    fn add(a: &[f64], ao: i32, b: &[f64], bo: i32, sign: f64) -> (Vec<f64>, i32) {
        if b.is_empty() {
            return (a.to_vec(), ao);
        }
        if a.is_empty() {
            return (b.iter().map(|x| sign * x).collect(), bo);
        }
        let lo = ao.min(bo);
        let hi = (ao + a.len() as i32).max(bo + b.len() as i32);
        let mut out = vec![0.0; (hi - lo) as usize];
        for (i, x) in a.iter().enumerate() {
            out[(ao - lo) as usize + i] += x;
        }
        for (i, x) in b.iter().enumerate() {
            out[(bo - lo) as usize + i] += sign * x;
        }
        (out, lo)
    }
    let (buckets, offset) = add(&h.buckets, h.offset, &inc.buckets, inc.offset, sign);
    let (n_buckets, n_offset) = add(&h.n_buckets, h.n_offset, &inc.n_buckets, inc.n_offset, sign);
    HistogramLiteral {
        schema: h.schema,
        sum: h.sum + sign * inc.sum,
        count: h.count + sign * inc.count,
        zero_count: h.zero_count + sign * inc.zero_count,
        zero_threshold: h.zero_threshold,
        buckets,
        offset,
        n_buckets,
        n_offset,
        custom_values: h.custom_values.clone(),
        counter_reset_hint: h.counter_reset_hint.clone(),
    }
}

/// Prometheus' `almost.Equal` with the test harness' ε: stale markers equal only each other,
/// NaNs equal each other, otherwise relative difference below 1e-6 (exact near zero).
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPS: f64 = 1e-6;
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    let (sa, sb) = (
        lookout_model::is_stale_nan(a),
        lookout_model::is_stale_nan(b),
    );
    if sa || sb {
        return sa && sb;
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || a.abs() + b.abs() < MIN_NORMAL {
        return diff < EPS * MIN_NORMAL;
    }
    diff / (a.abs() + b.abs()).min(f64::MAX) < EPS
}

// ---------------------------------------------------------------------------------------------
// Running scripts.
// ---------------------------------------------------------------------------------------------

/// What became of one `eval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every expectation held (including the extra range-mode and `@` checks).
    Passed,
    /// Something did not hold; the text says what.
    Failed(String),
    /// Not run; the text says why (e.g. native histograms).
    Skipped(String),
}

/// The outcome of one `eval` of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// 1-based line of the `eval` header.
    pub line: usize,
    /// The query.
    pub query: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases that were skipped.
    pub skipped: usize,
}

impl Summary {
    /// Counts the outcomes.
    pub fn of(cases: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for c in cases {
            match c.outcome {
                Outcome::Passed => s.passed += 1,
                Outcome::Failed(_) => s.failed += 1,
                Outcome::Skipped(_) => s.skipped += 1,
            }
        }
        s
    }

    /// Adds another summary.
    pub fn add(&mut self, o: Summary) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Runs a whole script against a fresh in-memory store with `engine`, as Prometheus'
/// promqltest does: loads data, evaluates each `eval` (plus the range-mode and `@`-pinning
/// cross-checks of instant evals) and compares results with upstream's tolerance.
///
/// Cases needing what the engine lacks (native histogram samples, including series that
/// `load_with_nhcb` converts, the native-histogram functions and trim operators, start
/// timestamps, `info()`) are skipped with the reason. An error means the script itself does
/// not read.
pub fn run_script(text: &str, engine: &crate::engine::Engine) -> Result<Vec<CaseResult>, Error> {
    let cmds = parse_script(text)?;
    let mut db = lookout_model::MemStorage::new();
    let mut hist_series: Vec<Labels> = Vec::new();
    let mut start_ts = false;
    let mut out = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear { .. } => {
                db.clear();
                hist_series.clear();
                start_ts = false;
            }
            Command::Load {
                interval,
                series,
                with_nhcb,
                ..
            } => {
                if with_nhcb {
                    // Classic histograms also become native ones under the base name.
                    for s in &series {
                        let name = s.labels.metric_name().unwrap_or("");
                        let base = ["_bucket", "_count", "_sum"]
                            .iter()
                            .find_map(|suf| name.strip_suffix(suf));
                        if let Some(base) = base {
                            let mut b = s.labels.builder();
                            b.del("le");
                            b.set("__name__", base);
                            hist_series.push(b.labels());
                        }
                    }
                }
                for s in series {
                    start_ts |= s.start_offsets.is_some();
                    let mut has_hist = false;
                    for (i, v) in s.values.iter().enumerate() {
                        let t = i as i64 * interval;
                        match v {
                            SeqValue::Float(f) => db.append(&s.labels, t, *f),
                            SeqValue::Histogram(_) => has_hist = true,
                            SeqValue::Gap => {}
                        }
                    }
                    if has_hist {
                        hist_series.push(s.labels.clone());
                    }
                }
            }
            Command::Eval(ev) => {
                let outcome = run_eval(&ev, &db, engine, &hist_series, start_ts);
                out.push(CaseResult {
                    line: ev.line,
                    query: ev.query.clone(),
                    outcome,
                });
            }
        }
    }
    Ok(out)
}

fn unsupported(
    ev: &Eval,
    expr: &crate::Expr,
    hist_series: &[Labels],
    start_ts: bool,
) -> Option<String> {
    if start_ts {
        return Some("start timestamps".into());
    }
    if ev
        .series
        .iter()
        .any(|s| s.values.iter().any(|v| matches!(v, SeqValue::Histogram(_))))
    {
        return Some("native histograms".into());
    }
    let mut reason = None;
    crate::walk(expr, &mut |e: &crate::Expr| {
        match e {
            crate::Expr::Call(c) => {
                let n = c.func.name;
                if n.starts_with("histogram_")
                    && n != "histogram_quantile"
                    && n != "histogram_quantiles"
                {
                    reason = Some(format!("native histograms ({n})"));
                } else if n == "info" {
                    reason = Some("info() is not implemented".into());
                } else if n == "start_timestamp" {
                    reason = Some("start timestamps".into());
                }
            }
            crate::Expr::Binary(b) => {
                if matches!(
                    b.op,
                    crate::BinaryOp::TrimUpper | crate::BinaryOp::TrimLower
                ) {
                    reason = Some("native histograms (trim operators)".into());
                }
            }
            _ => {}
        }
        true
    });
    if reason.is_some() {
        return reason;
    }
    for vs in crate::selectors(expr) {
        if hist_series
            .iter()
            .any(|l| vs.matchers.iter().all(|m| m.matches_labels(l)))
        {
            return Some("native histograms".into());
        }
    }
    None
}

fn run_eval(
    ev: &Eval,
    db: &lookout_model::MemStorage,
    engine: &crate::engine::Engine,
    hist_series: &[Labels],
    start_ts: bool,
) -> Outcome {
    let expr = match crate::parse_with(&ev.query, &engine.options().parse) {
        Ok(e) => e,
        Err(e) => return Outcome::Failed(format!("parse error: {e}")),
    };
    if let Some(r) = unsupported(ev, &expr, hist_series, start_ts) {
        return Outcome::Skipped(r);
    }
    let res = match ev.kind {
        EvalKind::Instant { at } => engine.eval_instant(db, &expr, &ev.query, at, None),
        EvalKind::Range { start, end, step } => {
            engine.eval_range(db, &expr, &ev.query, start, end, step, None)
        }
    };
    if let Err(m) = check(ev, res) {
        return Outcome::Failed(m);
    }
    let EvalKind::Instant { at } = ev.kind else {
        return Outcome::Passed;
    };
    if ev.fail.is_some() {
        return Outcome::Passed;
    }
    // Extra check 1: the same query as a range query around `at`.
    let uses_range_fns = ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| ev.query.contains(f));
    if !ev.ordered
        && ev.string.is_none()
        && ev.range_vector.is_none()
        && !uses_range_fns
        && expr.value_type() != crate::ValueType::Matrix
    {
        let res = engine.eval_range(db, &expr, &ev.query, at - 60_000, at + 60_000, 60_000, None);
        let res = res.map(|r| at_time(r, at));
        if let Err(m) = check(ev, res) {
            return Outcome::Failed(format!("range-mode check: {m}"));
        }
    }
    // Extra check 2: pin every selector and subquery to `at` and evaluate elsewhere.
    let mut time_dependent = false;
    crate::walk(&expr, &mut |e: &crate::Expr| {
        if let crate::Expr::Call(c) = e {
            time_dependent |= matches!(
                c.func.name,
                "time"
                    | "timestamp"
                    | "predict_linear"
                    | "days_in_month"
                    | "day_of_month"
                    | "day_of_week"
                    | "day_of_year"
                    | "hour"
                    | "minute"
                    | "month"
                    | "year"
                    | "start"
                    | "end"
                    | "range"
                    | "step"
            );
        }
        true
    });
    if !time_dependent {
        let mut pinned = expr.clone();
        pin_at(&mut pinned, at);
        let times: Vec<i64> = if at == 0 {
            vec![-1000, 0, 1000]
        } else {
            vec![-10 * at, 0, at / 5, at, 10 * at]
        };
        for t in times {
            let res = engine.eval_instant(db, &pinned, &ev.query, t, None);
            if let Err(m) = check(ev, res) {
                return Outcome::Failed(format!("@ {at} check at {t}: {m}"));
            }
        }
    }
    Outcome::Passed
}

/// Sets `@ at` on every selector and subquery that has none, not descending into subqueries.
fn pin_at(e: &mut crate::Expr, at: i64) {
    use crate::{AtModifier, Expr};
    match e {
        Expr::Vector(v) => {
            if v.at.is_none() {
                v.at = Some(AtModifier::Timestamp(at));
            }
        }
        Expr::Matrix(m) => {
            if m.vector.at.is_none() {
                m.vector.at = Some(AtModifier::Timestamp(at));
            }
        }
        Expr::Subquery(s) => {
            if s.at.is_none() {
                s.at = Some(AtModifier::Timestamp(at));
            }
        }
        Expr::Number(_) | Expr::String(_) => {}
        Expr::Paren(p) => pin_at(&mut p.expr, at),
        Expr::Unary(u) => pin_at(&mut u.expr, at),
        Expr::Binary(b) => {
            pin_at(&mut b.lhs, at);
            pin_at(&mut b.rhs, at);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                pin_at(p, at);
            }
            pin_at(&mut a.expr, at);
        }
        Expr::Call(c) => {
            for a in &mut c.args {
                pin_at(a, at);
            }
        }
    }
}

/// The points of a range result at `t`, as an instant result.
fn at_time(r: crate::engine::QueryResult, t: i64) -> crate::engine::QueryResult {
    use crate::engine::{Value, VectorSample};
    let value = match r.value {
        Value::Matrix(m) => {
            let mut v = Vec::new();
            for s in m {
                if let Some(p) = s.points.iter().find(|p| p.t == t) {
                    v.push(VectorSample {
                        labels: s.labels,
                        t,
                        v: p.v,
                    });
                }
            }
            Value::Vector(v)
        }
        other => other,
    };
    crate::engine::QueryResult { value, ..r }
}

fn text_matches(m: &FailExpectation, text: &str) -> bool {
    match m {
        FailExpectation::Any => true,
        FailExpectation::Message(s) => s == text,
        FailExpectation::Regex(r) => GoRegex::with_options(r, RegexOptions::SEARCH)
            .map(|re| re.is_match(text))
            .unwrap_or(false),
    }
}

fn check_annotations(
    kind: &str,
    exp: &AnnotationExpectation,
    got: &[String],
) -> Result<(), String> {
    match exp {
        AnnotationExpectation::Unchecked => Ok(()),
        AnnotationExpectation::None => {
            if got.is_empty() {
                Ok(())
            } else {
                Err(format!("unexpected {kind}: {got:?}"))
            }
        }
        AnnotationExpectation::Some(list) => {
            if got.is_empty() {
                return Err(format!("expected a {kind}, got none"));
            }
            if list.is_empty() {
                return Ok(());
            }
            for g in got {
                if !list.iter().any(|m| text_matches(m, g)) {
                    return Err(format!("unexpected {kind} {g:?}"));
                }
            }
            for m in list {
                if !got.iter().any(|g| text_matches(m, g)) {
                    return Err(format!("no {kind} matches {m:?}; got {got:?}"));
                }
            }
            Ok(())
        }
    }
}

fn fmt_f(v: f64) -> String {
    let mut s = String::new();
    lookout_model::format_api_float(v, &mut s);
    s
}

fn check(ev: &Eval, res: Result<crate::engine::QueryResult, Error>) -> Result<(), String> {
    use crate::engine::Value;
    let r = match (res, &ev.fail) {
        (Err(e), Some(m)) => {
            let text = match &e {
                Error::Eval { message } => message.clone(),
                other => other.to_string(),
            };
            return if text_matches(m, &text) {
                Ok(())
            } else {
                Err(format!("error {text:?} does not match {m:?}"))
            };
        }
        (Err(e), None) => return Err(format!("unexpected error: {e}")),
        (Ok(_), Some(_)) => return Err("expected an error, got a result".into()),
        (Ok(r), None) => r,
    };
    check_annotations("warning", &ev.warn, &r.warnings)?;
    check_annotations("info", &ev.info, &r.infos)?;
    if let Some(s) = &ev.string {
        return match &r.value {
            Value::String { s: got, .. } if got == s => Ok(()),
            other => Err(format!("expected string {s:?}, got {other:?}")),
        };
    }
    if let Some(x) = ev.scalar {
        return match r.value {
            Value::Scalar { v, .. } if almost_equal(v, x) => Ok(()),
            Value::Vector(v)
                if v.len() == 1 && almost_equal(v[0].v, x) && v[0].labels.is_empty() =>
            {
                Ok(())
            }
            other => Err(format!("expected scalar {}, got {other:?}", fmt_f(x))),
        };
    }
    // Expected points per series: (labels, [(t, v)]).
    let grid = match (ev.kind, ev.range_vector) {
        (_, Some((a, _, s))) => Some((a, s)),
        (EvalKind::Range { start, step, .. }, None) => Some((start, step)),
        _ => None,
    };
    let mut expected: Vec<(&Labels, Vec<(i64, f64)>)> = Vec::new();
    for s in &ev.series {
        let mut pts = Vec::new();
        for (i, v) in s.values.iter().enumerate() {
            let t = grid.map_or(0, |(a, st)| a + i as i64 * st);
            match v {
                SeqValue::Float(f) => pts.push((t, *f)),
                SeqValue::Gap => {}
                SeqValue::Histogram(_) => return Err("histogram expectation".into()),
            }
        }
        if let (Some((a, st)), EvalKind::Range { end, .. }) = (grid, ev.kind) {
            if s.values.len() as i64 > (end - a) / st + 1 {
                return Err(format!("line {}: more values than steps", s.line));
            }
        }
        expected.push((&s.labels, pts));
    }
    match r.value {
        Value::Vector(got) => {
            if grid.is_some() && ev.range_vector.is_some() {
                return Err("expected a range vector, got an instant vector".into());
            }
            if got.len() != expected.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    expected.len(),
                    got.len(),
                    got.iter()
                        .map(|s| format!("{} {}", s.labels, fmt_f(s.v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (k, (labels, pts)) in expected.iter().enumerate() {
                let found = if ev.ordered {
                    got.get(k).filter(|g| &g.labels == *labels)
                } else {
                    got.iter().find(|g| &g.labels == *labels)
                };
                let Some(g) = found else {
                    return Err(format!(
                        "expected series {labels} not found (or out of order)"
                    ));
                };
                let want = pts.first().map_or(f64::NAN, |p| p.1);
                if !almost_equal(g.v, want) {
                    return Err(format!(
                        "{labels}: expected {}, got {}",
                        fmt_f(want),
                        fmt_f(g.v)
                    ));
                }
            }
            Ok(())
        }
        Value::Matrix(got) => {
            if got.windows(2).any(|w| w[0].labels >= w[1].labels) {
                return Err("matrix not sorted by labels".into());
            }
            if grid.is_none() {
                return Err("expected an instant vector, got a range vector".into());
            }
            let got: Vec<_> = got.into_iter().filter(|s| !s.points.is_empty()).collect();
            if got.len() != expected.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    expected.len(),
                    got.len(),
                    got.iter()
                        .map(|s| s.labels.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (labels, pts) in &expected {
                let Some(g) = got.iter().find(|g| &g.labels == *labels) else {
                    return Err(format!("expected series {labels} not found"));
                };
                if g.points.len() != pts.len() {
                    return Err(format!(
                        "{labels}: expected {} points, got {}: {:?}",
                        pts.len(),
                        g.points.len(),
                        g.points
                    ));
                }
                for (a, b) in g.points.iter().map(|p| (p.t, p.v)).zip(pts.iter()) {
                    if a.0 != b.0 || !almost_equal(a.1, b.1) {
                        return Err(format!(
                            "{labels}: expected {} @{}, got {} @{}",
                            fmt_f(b.1),
                            b.0,
                            fmt_f(a.1),
                            a.0
                        ));
                    }
                }
            }
            Ok(())
        }
        Value::Scalar { v, .. } => {
            if expected.len() == 1
                && expected[0].0.is_empty()
                && expected[0].1.len() == 1
                && almost_equal(expected[0].1[0].1, v)
            {
                Ok(())
            } else {
                Err(format!("unexpected scalar {}", fmt_f(v)))
            }
        }
        Value::String { s, .. } => Err(format!("unexpected string {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(s: &str) -> Vec<Option<f64>> {
        parse_values(s, 1)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                SeqValue::Float(f) => Some(f),
                SeqValue::Gap => None,
                SeqValue::Histogram(_) => panic!("histogram"),
            })
            .collect()
    }

    #[test]
    fn value_sequences() {
        assert_eq!(floats("1x4"), vec![Some(1.0); 5]);
        assert_eq!(floats("_x3"), vec![None; 3]);
        assert_eq!(
            floats("0+10x3"),
            vec![Some(0.0), Some(10.0), Some(20.0), Some(30.0)]
        );
        assert_eq!(floats("1-2x2"), vec![Some(1.0), Some(-1.0), Some(-3.0)]);
        assert_eq!(
            floats("-2+4x3"),
            vec![Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]
        );
        assert_eq!(
            floats("1e-3 +Inf -inf _ 7"),
            vec![
                Some(1e-3),
                Some(f64::INFINITY),
                Some(f64::NEG_INFINITY),
                None,
                Some(7.0)
            ]
        );
        assert!(floats("NaN")[0].unwrap().is_nan());
        assert!(lookout_model::is_stale_nan(floats("stale")[0].unwrap()));
        assert!(parse_values("0x10", 1).is_err() || floats("0x10").len() == 11);
        assert!(parse_values("abc", 1).is_err());
    }

    #[test]
    fn histogram_literals() {
        let v = parse_values(
            "{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x1 {{count:1}}",
            1,
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        let v = parse_values(
            "{{sum:1 count:1 buckets:[1]}}+{{sum:2 count:2 buckets:[2]}}x2",
            1,
        )
        .unwrap();
        match &v[2] {
            SeqValue::Histogram(h) => {
                assert_eq!(h.count, 5.0);
                assert_eq!(h.buckets, vec![5.0]);
            }
            _ => panic!(),
        }
    }

    #[test]
    fn commands() {
        let s = "load 5m\n  http{job=\"a\"} 0+10x2\n  other 1\n\n# c\neval instant at 10m http\n  http{job=\"a\"} 20\n\neval range from 0 to 10m step 5m sum(http)\n  expect warn msg: x\n  {} 0 10 20\n\neval instant at 0 1\n  1\nclear\n";
        let c = parse_script(s).unwrap();
        assert_eq!(c.len(), 5);
        match &c[1] {
            Command::Eval(e) => {
                assert_eq!(e.kind, EvalKind::Instant { at: 600_000 });
                assert_eq!(e.series.len(), 1);
            }
            _ => panic!(),
        }
        match &c[2] {
            Command::Eval(e) => {
                assert_eq!(
                    e.kind,
                    EvalKind::Range {
                        start: 0,
                        end: 600_000,
                        step: 300_000
                    }
                );
                assert_eq!(
                    e.warn,
                    AnnotationExpectation::Some(vec![FailExpectation::Message("x".into())])
                );
            }
            _ => panic!(),
        }
        match &c[3] {
            Command::Eval(e) => assert_eq!(e.scalar, Some(1.0)),
            _ => panic!(),
        }
    }

    #[test]
    fn almost_equal_rules() {
        assert!(almost_equal(1.0, 1.0000001));
        assert!(!almost_equal(1.0, 1.001));
        assert!(almost_equal(f64::NAN, f64::NAN));
        assert!(!almost_equal(stale_nan(), f64::NAN));
        assert!(almost_equal(stale_nan(), stale_nan()));
        assert!(!almost_equal(0.0, 1e-300));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY));
    }

    #[test]
    fn every_upstream_script_reads() {
        let Some(root) = lookout_testkit::shared_path("conformance/promql") else {
            return;
        };
        let mut evals = 0;
        for dir in ["upstream", "upstream-v2.42.0"] {
            let mut n_dir = 0;
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path();
                let text = std::fs::read_to_string(&p).unwrap();
                let cmds = parse_script(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n_dir += cmds
                    .iter()
                    .filter(|c| matches!(c, Command::Eval(_)))
                    .count();
            }
            println!("{dir}: {n_dir} evals");
            evals += n_dir;
            assert_eq!(n_dir, if dir == "upstream" { 2214 } else { 566 });
        }
        assert_eq!(evals, 2214 + 566);
    }
}

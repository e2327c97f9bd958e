//! Streaming parsers for Prometheus text 0.0.4 and OpenMetrics 1.0 text.
//!
//! One cursor walks the byte slice; names, label values and help text are borrowed from it
//! unless an escape forces a copy. Label buffers are reused from sample to sample, so the hot
//! loop allocates nothing for unescaped input.

use std::borrow::Cow;

use lookout_model::{format_go_g, Labels, METRIC_NAME};

use crate::error::{describe, line_col, Error, TextProblem};
use crate::number::{fast_decimal_prefix, parse_float, parse_ts_digits, FloatError};
use crate::strict::StrictState;
use crate::types::MetricType;

/// A label as parsed: name and value, borrowed from the input unless escapes forced a copy.
pub type LabelPair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// How closely an OpenMetrics payload is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Accept what Prometheus' scrape loop accepts (its text and OpenMetrics parsers).
    #[default]
    Lenient,
    /// OpenMetrics only: also enforce the specification's family rules (suffixes, clashing
    /// names, bucket order and monotonicity, exemplar size, interleaving, ...).
    Strict,
}

/// One entry of a text exposition.
#[derive(Debug)]
#[non_exhaustive]
pub enum Entry<'p, 'a> {
    /// `# HELP name text`, with escapes resolved.
    Help {
        /// The metric family name.
        name: Cow<'a, str>,
        /// The help text.
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// The metric family name.
        name: Cow<'a, str>,
        /// The declared type.
        metric_type: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics).
    Unit {
        /// The metric family name.
        name: Cow<'a, str>,
        /// The unit.
        unit: &'a str,
    },
    /// A comment line (Prometheus text only), `#` included, newline excluded.
    Comment(&'a [u8]),
    /// A sample.
    Sample(TextSample<'p, 'a>),
}

/// An exemplar attached to a sample (OpenMetrics).
#[derive(Debug, Clone, Copy)]
pub struct Exemplar<'p, 'a> {
    /// The exemplar's labels, in input order.
    pub labels: &'p [LabelPair<'a>],
    /// Its value.
    pub value: f64,
    /// Its timestamp in milliseconds, if given.
    pub timestamp: Option<i64>,
}

/// A sample as parsed: borrowed views valid until the next call of
/// [`TextParser::next_entry`].
#[derive(Debug, Clone, Copy)]
pub struct TextSample<'p, 'a> {
    /// The metric name (the `__name__` label).
    pub name: &'p str,
    /// The other labels, in input order (`le` and `quantile` values of histograms and
    /// summaries normalised as Prometheus 3 does, unless turned off).
    pub labels: &'p [LabelPair<'a>],
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds (text 0.0.4 gives milliseconds, OpenMetrics seconds,
    /// truncated to milliseconds as Prometheus does).
    pub timestamp: Option<i64>,
    /// The exemplar, if any.
    pub exemplar: Option<Exemplar<'p, 'a>>,
    /// The type of the family this sample belongs to, when a `# TYPE` line declared it.
    pub metric_type: Option<MetricType>,
    /// The 1-based line the sample is on.
    pub line: usize,
}

impl TextSample<'_, '_> {
    /// The sample's labels as a [`Labels`] set, `__name__` included.
    pub fn to_labels(&self) -> Labels {
        // The parser has rejected repeated names and a second `__name__`, so sorting the pairs
        // is all a builder would do, less its per-label copies. Empty values mean "no label",
        // as everywhere in Prometheus.
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(self.labels.len() + 1);
        pairs.push((METRIC_NAME, self.name));
        pairs.extend(self.labels.iter().map(|(n, v)| (n.as_ref(), v.as_ref())));
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Labels::from_sorted_unchecked(pairs)
    }
}

enum Parsed<'a> {
    Help(Cow<'a, str>, Cow<'a, str>),
    Type(Cow<'a, str>, MetricType),
    Unit(Cow<'a, str>, &'a str),
    Comment(&'a [u8]),
    Sample,
    End,
}

/// A streaming parser for Prometheus text 0.0.4 or OpenMetrics 1.0 text.
///
/// Call [`next_entry`](TextParser::next_entry) until it returns `Ok(None)`. An error describes
/// one bad line; the samples before it were already returned, and calling `next_entry` again
/// resumes at the following line (Prometheus' scrape loop instead discards the whole scrape).
#[derive(Debug)]
pub struct TextParser<'a> {
    input: &'a [u8],
    /// The input as text when it is valid UTF-8 throughout (checked once, so that names and
    /// values are sliced from it without validating each again).
    text: Option<&'a str>,
    pos: usize,
    om: bool,
    normalize: bool,
    done: bool,
    line_start: usize,
    counted_to: usize,
    lines_before: usize,
    scratch: String,
    name: Cow<'a, str>,
    labels: Vec<LabelPair<'a>>,
    ex_labels: Vec<LabelPair<'a>>,
    value: f64,
    timestamp: Option<i64>,
    exemplar: Option<(f64, Option<i64>)>,
    family: Option<(Cow<'a, str>, MetricType)>,
    strict: Option<Box<StrictState>>,
    /// A one-word filter of the label names read for this sample ([`name_bit`]), seeded with
    /// `__name__`'s bit, and whether two names met in it (then `finish_labels` compares them).
    seen_names: u64,
    maybe_dup: bool,
}

impl<'a> TextParser<'a> {
    /// A lenient parser for Prometheus text format 0.0.4.
    pub fn prometheus(input: &'a [u8]) -> TextParser<'a> {
        TextParser::new(input, false, Mode::Lenient)
    }

    /// A parser for OpenMetrics 1.0 text in the given mode.
    pub fn openmetrics(input: &'a [u8], mode: Mode) -> TextParser<'a> {
        TextParser::new(input, true, mode)
    }

    fn new(input: &'a [u8], om: bool, mode: Mode) -> TextParser<'a> {
        TextParser {
            input,
            text: std::str::from_utf8(input).ok(),
            pos: 0,
            om,
            normalize: true,
            done: false,
            line_start: 0,
            counted_to: 0,
            lines_before: 0,
            scratch: String::new(),
            name: Cow::Borrowed(""),
            labels: Vec::with_capacity(16),
            ex_labels: Vec::new(),
            value: 0.0,
            timestamp: None,
            exemplar: None,
            family: None,
            strict: (om && mode == Mode::Strict).then(|| Box::new(StrictState::default())),
            seen_names: 0,
            maybe_dup: false,
        }
    }

    /// Whether `le` (histograms) and `quantile` (summaries) label values are rewritten into
    /// OpenMetrics canonical float form (`"1"` becomes `"1.0"`), as Prometheus 3 does. On by
    /// default; turn it off for Prometheus 2 behaviour.
    pub fn normalize_float_labels(mut self, on: bool) -> Self {
        self.normalize = on;
        self
    }

    /// The byte offset the parser has reached.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The next entry, `Ok(None)` at the end of the payload.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_, 'a>>, Error> {
        if self.done {
            return Ok(None);
        }
        let parsed = if self.om {
            self.parse_om_line()
        } else {
            self.parse_prom_line()
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.recover();
                return Err(e);
            }
        };
        if let Some(st) = self.strict.as_deref_mut() {
            let check = match &parsed {
                Parsed::Help(n, _) => st.meta(n, "HELP", None),
                Parsed::Type(n, t) => st.meta(n, "TYPE", Some(*t)),
                Parsed::Unit(n, u) => st.unit(n, u),
                Parsed::Sample => st.sample(
                    &self.name,
                    &self.labels,
                    self.value,
                    self.timestamp,
                    self.exemplar.map(|(v, _)| (v, self.ex_labels.as_slice())),
                ),
                Parsed::End => st.end(),
                Parsed::Comment(_) => Ok(()),
            };
            if let Err(problem) = check {
                // The offending line was read whole: the next call resumes after it.
                self.line_of(self.line_start);
                return Err(self.err_at(self.line_start, problem));
            }
        }
        if !matches!(parsed, Parsed::Sample | Parsed::End) {
            // Count the entry's own line now (it holds exactly one newline, its last byte),
            // so that the next entry starts counting from here.
            self.line_of(self.line_start);
            self.count_own_line();
        }
        Ok(match parsed {
            Parsed::Help(name, help) => Some(Entry::Help { name, help }),
            Parsed::Type(name, metric_type) => Some(Entry::Type { name, metric_type }),
            Parsed::Unit(name, unit) => Some(Entry::Unit { name, unit }),
            Parsed::Comment(c) => Some(Entry::Comment(c)),
            Parsed::End => None,
            Parsed::Sample => {
                let metric_type = self.family.as_ref().and_then(|(fam, t)| {
                    let rest = self.name.strip_prefix(fam.as_ref())?;
                    t.allows_suffix(rest).then_some(*t)
                });
                let line = self.line_of(self.line_start);
                self.count_own_line();
                Some(Entry::Sample(TextSample {
                    name: &self.name,
                    labels: &self.labels,
                    value: self.value,
                    timestamp: self.timestamp,
                    exemplar: self.exemplar.map(|(value, timestamp)| Exemplar {
                        labels: &self.ex_labels,
                        value,
                        timestamp,
                    }),
                    metric_type,
                    line,
                }))
            }
        })
    }

    /// The 1-based line of `pos`, counting newlines incrementally (positions only grow).
    fn line_of(&mut self, pos: usize) -> usize {
        if pos < self.counted_to {
            return line_col(self.input, pos).0;
        }
        let span = self.input.get(self.counted_to..pos).unwrap_or_default();
        if !span.is_empty() {
            self.lines_before += memchr::memchr_iter(b'\n', span).count();
        }
        self.counted_to = pos;
        self.lines_before + 1
    }

    /// After an entry was read whole and [`line_of`](Self::line_of) counted up to its start:
    /// counts its line, whose only newline is its last byte.
    #[inline]
    fn count_own_line(&mut self) {
        if self.counted_to == self.line_start
            && self.pos > self.line_start
            && self.input.get(self.pos - 1) == Some(&b'\n')
        {
            self.counted_to = self.pos;
            self.lines_before += 1;
        }
    }

    /// Skips to the start of the line after the current position.
    fn recover(&mut self) {
        self.line_of(self.line_start);
        let from = self.pos.min(self.input.len());
        // An error on the last byte of a line (the newline itself) ends that line.
        let from = if from > self.line_start && self.input.get(from - 1) == Some(&b'\n') {
            from - 1
        } else {
            from
        };
        match memchr::memchr(b'\n', self.input.get(from..).unwrap_or_default()) {
            Some(i) => self.pos = from + i + 1,
            None => {
                self.pos = self.input.len();
                if self.om {
                    // The payload has ended without `# EOF`: that was or will be reported
                    // once; stop here.
                    self.done = true;
                }
            }
        }
        if self.pos >= self.input.len() && !self.om {
            self.done = true;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn err_at(&self, at: usize, problem: TextProblem) -> Error {
        let (line, column) = if at >= self.counted_to {
            // Count from where the incremental counter stopped, so that a payload of many bad
            // lines stays linear.
            let span = self.input.get(self.counted_to..at).unwrap_or_default();
            let line = self.lines_before + memchr::memchr_iter(b'\n', span).count() + 1;
            let start = memchr::memrchr(b'\n', self.input.get(..at).unwrap_or_default())
                .map_or(0, |i| i + 1);
            (line, at - start + 1)
        } else {
            line_col(self.input, at)
        };
        Error::Text {
            line,
            column,
            problem,
        }
    }

    fn expected(&self, expected: &'static str) -> Error {
        let found = describe(self.input.get(self.pos..).unwrap_or_default());
        self.err_at(self.pos, TextProblem::Expected { expected, found })
    }

    #[inline]
    fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Scans `[a-zA-Z_:][a-zA-Z0-9_:]*` (or without `:` for label names) at the cursor.
    #[inline]
    fn scan_name(&mut self, colon: bool) -> Option<&'a str> {
        let input = self.input;
        let start = self.pos;
        let (first, rest) = if colon {
            (START | COLON, START | DIGIT | COLON)
        } else {
            (START, START | DIGIT)
        };
        if CLASS[usize::from(*input.get(start)?)] & first == 0 {
            return None;
        }
        let tail = input.get(start + 1..).unwrap_or_default();
        let i = start
            + 1
            + tail
                .iter()
                .position(|c| CLASS[usize::from(*c)] & rest == 0)
                .unwrap_or(tail.len());
        self.pos = i;
        // The bytes are ASCII by construction.
        self.str_at(start, i)
    }

    /// The input between two byte offsets as text, or `None` when it is not valid UTF-8 (or
    /// the offsets split a character).
    #[inline]
    fn str_at(&self, start: usize, end: usize) -> Option<&'a str> {
        match self.text {
            Some(t) => t.get(start..end),
            None => std::str::from_utf8(self.input.get(start..end)?).ok(),
        }
    }

    /// A quoted string's contents (from [`scan_quoted`](Self::scan_quoted)) as text, with
    /// escapes (`\\`, `\"`, `\n`) resolved; `None` when not valid UTF-8.
    #[inline]
    fn quoted_str(&self, start: usize, raw: &[u8], escaped: bool) -> Option<Cow<'a, str>> {
        let s = self.str_at(start, start + raw.len())?;
        Some(if escaped {
            Cow::Owned(unescape_label_value(s))
        } else {
            Cow::Borrowed(s)
        })
    }

    /// Scans a quoted string at the cursor (which is on the opening quote) and returns the raw
    /// contents, and whether a backslash occurs. Newlines end the string with an error. The
    /// contents start one byte after the cursor's position on entry.
    #[inline]
    fn scan_quoted(&mut self, what: &'static str) -> Result<(&'a [u8], bool), Error> {
        let input = self.input;
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            let rest = input.get(i..).unwrap_or_default();
            match find_quote_stop(rest) {
                Some(k) => {
                    let at = i + k;
                    match input.get(at) {
                        Some(b'"') => {
                            self.pos = at + 1;
                            return Ok((input.get(start..at).unwrap_or_default(), escaped));
                        }
                        Some(b'\\') if input.get(at + 1).is_some_and(|c| *c != b'\n') => {
                            escaped = true;
                            i = at + 2;
                        }
                        _ => break,
                    }
                }
                None => break,
            }
        }
        Err(self.expected(what))
    }

    /// Parses the text after `# HELP`, `# TYPE` or `# UNIT` and the name: returns the name.
    fn meta_name(&mut self, keyword: &'static str) -> Result<Cow<'a, str>, Error> {
        if self.peek() == Some(b'"') {
            let qstart = self.pos;
            let (raw, esc) = self.scan_quoted(meta_name_expectation(keyword))?;
            if raw.is_empty() {
                self.pos -= 2;
                return Err(self.expected(meta_name_expectation(keyword)));
            }
            return self.quoted_str(qstart + 1, raw, esc).ok_or_else(|| {
                self.err_at(
                    self.pos,
                    TextProblem::InvalidUtf8 {
                        what: "metric name",
                    },
                )
            });
        }
        match self.scan_name(true) {
            Some(n) => Ok(Cow::Borrowed(n)),
            None => Err(self.expected(meta_name_expectation(keyword))),
        }
    }

    fn line_end(&self) -> usize {
        memchr::memchr(b'\n', self.input.get(self.pos..).unwrap_or_default())
            .map_or(self.input.len(), |i| self.pos + i)
    }

    // ---------------------------------------------------------------- Prometheus text 0.0.4

    fn parse_prom_line(&mut self) -> Result<Parsed<'a>, Error> {
        loop {
            self.skip_blanks();
            self.line_start = self.pos;
            match self.peek() {
                None => {
                    self.done = true;
                    return Ok(Parsed::End);
                }
                Some(b'\n') => self.pos += 1,
                Some(b'#') => return self.prom_comment(),
                Some(b'{') => return self.prom_sample(),
                Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                    return self.prom_sample()
                }
                Some(_) => return Err(self.expected("a valid start token")),
            }
        }
    }

    fn prom_comment(&mut self) -> Result<Parsed<'a>, Error> {
        let start = self.pos;
        self.pos += 1;
        let after_hash = self.pos;
        self.skip_blanks();
        let rest = self.input.get(self.pos..).unwrap_or_default();
        let keyword = if self.pos > after_hash {
            if rest.starts_with(b"HELP") {
                Some("HELP")
            } else if rest.starts_with(b"TYPE") {
                Some("TYPE")
            } else {
                None
            }
        } else {
            None
        };
        let keyword = match keyword {
            Some(k) if matches!(rest.get(4), Some(b' ' | b'\t')) => k,
            _ => {
                let end = self.line_end();
                self.pos = (end + 1).min(self.input.len());
                return Ok(Parsed::Comment(
                    self.input.get(start..end).unwrap_or_default(),
                ));
            }
        };
        self.pos += 4;
        self.skip_blanks();
        let name = self.meta_name(keyword)?;
        let end = self.line_end();
        let tail = self.input.get(self.pos..end).unwrap_or_default();
        // Prometheus' lexer drops exactly one separator character before the text, and a tail
        // of blanks only is no text at all.
        let text = if tail.iter().all(|c| *c == b' ' || *c == b'\t') {
            &[][..]
        } else {
            tail.get(1..).unwrap_or_default()
        };
        let text_at = self.pos + 1;
        self.pos = (end + 1).min(self.input.len());
        if keyword == "TYPE" {
            let t = MetricType::from_prom(text).ok_or_else(|| {
                self.err_at(
                    text_at,
                    TextProblem::InvalidMetricType {
                        text: String::from_utf8_lossy(text).into_owned(),
                    },
                )
            })?;
            self.family = Some((name.clone(), t));
            Ok(Parsed::Type(name, t))
        } else {
            let s = if text.is_empty() {
                ""
            } else {
                self.str_at(text_at, text_at + text.len()).ok_or_else(|| {
                    self.err_at(text_at, TextProblem::InvalidUtf8 { what: "help text" })
                })?
            };
            let help = if memchr::memchr(b'\\', s.as_bytes()).is_some() {
                Cow::Owned(unescape_help(s))
            } else {
                Cow::Borrowed(s)
            };
            Ok(Parsed::Help(name, help))
        }
    }

    fn prom_sample(&mut self) -> Result<Parsed<'a>, Error> {
        self.labels.clear();
        self.seen_names = name_bit(METRIC_NAME);
        self.maybe_dup = false;
        self.exemplar = None;
        self.timestamp = None;
        let mut name_set = false;
        if self.peek() != Some(b'{') {
            // The caller saw a name start character.
            let n = self.scan_name(true).unwrap_or_default();
            self.name = Cow::Borrowed(n);
            name_set = true;
            self.skip_blanks();
        }
        if self.peek() == Some(b'{') {
            self.parse_labels(false, &mut name_set)?;
        }
        if !name_set {
            return Err(self.err_at(self.line_start, TextProblem::MetricNameNotSet));
        }
        self.skip_blanks();
        let vstart = self.pos;
        let rest = self.input.get(vstart..).unwrap_or_default();
        // The common plain decimal is parsed as it is scanned; anything else is delimited
        // first, then parsed exactly.
        let fast = fast_decimal_prefix(rest).filter(|(_, len)| {
            matches!(rest.get(*len), None | Some(b'{' | b' ' | b'\t' | b'\n' | 0))
        });
        if let Some((v, len)) = fast {
            self.pos += len;
            self.value = v;
        } else {
            self.prom_value(vstart)?;
        }
        self.skip_blanks();
        if let Some(b'0'..=b'9') = self.peek() {
            let tstart = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            let digits = self.input.get(tstart..self.pos).unwrap_or_default();
            self.timestamp = Some(parse_ts_digits(digits).ok_or_else(|| {
                self.err_at(
                    tstart,
                    TextProblem::InvalidNumber {
                        what: "timestamp",
                        text: String::from_utf8_lossy(digits).into_owned(),
                    },
                )
            })?);
            self.skip_blanks();
        }
        match self.peek() {
            None => {}
            Some(b'\n') => self.pos += 1,
            Some(_) => {
                return Err(self.expected(if self.timestamp.is_some() {
                    "next entry after timestamp"
                } else {
                    "timestamp or new record"
                }))
            }
        }
        self.finish_labels()?;
        Ok(Parsed::Sample)
    }

    /// Scans the value token at `vstart` (the cursor) up to its delimiter and parses it.
    fn prom_value(&mut self, vstart: usize) -> Result<(), Error> {
        let rest = self.input.get(vstart..).unwrap_or_default();
        self.pos += rest
            .iter()
            .position(|c| matches!(c, b'{' | b' ' | b'\t' | b'\n' | 0))
            .unwrap_or(rest.len());
        if self.pos == vstart {
            return Err(self.expected("value after metric"));
        }
        let text = self.input.get(vstart..self.pos).unwrap_or_default();
        self.value = self.number(text, vstart, "value")?;
        Ok(())
    }

    // ---------------------------------------------------------------- OpenMetrics 1.0

    fn parse_om_line(&mut self) -> Result<Parsed<'a>, Error> {
        self.line_start = self.pos;
        match self.peek() {
            None => {
                self.done = true;
                Err(self.err_at(self.pos, TextProblem::MissingEof))
            }
            Some(b'#') => self.om_hash(),
            Some(b'{') => self.om_sample(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':' => self.om_sample(),
            Some(_) => Err(self.expected("a valid start token")),
        }
    }

    fn om_hash(&mut self) -> Result<Parsed<'a>, Error> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        let keyword = if rest.starts_with(b"# HELP ") {
            "HELP"
        } else if rest.starts_with(b"# TYPE ") {
            "TYPE"
        } else if rest.starts_with(b"# UNIT ") {
            "UNIT"
        } else if rest.starts_with(b"# EOF") {
            let after = rest.get(5..).unwrap_or_default();
            let after = after.strip_prefix(b"\n").unwrap_or(after);
            if !after.is_empty() {
                self.done = true;
                return Err(self.err_at(self.pos + 5, TextProblem::DataAfterEof));
            }
            self.pos = self.input.len();
            self.done = true;
            return Ok(Parsed::End);
        } else {
            return Err(self.expected("a valid start token"));
        };
        self.pos += 7;
        let name = self.meta_name(keyword)?;
        let end = self.line_end();
        if self.peek() != Some(b' ') || end == self.input.len() {
            return Err(self.err_at(
                self.pos,
                TextProblem::Expected {
                    expected: match keyword {
                        "HELP" => "text in HELP",
                        "TYPE" => "text in TYPE",
                        _ => "text in UNIT",
                    },
                    found: describe(self.input.get(self.pos..).unwrap_or_default()),
                },
            ));
        }
        let text_at = self.pos + 1;
        let text = self.input.get(text_at..end).unwrap_or_default();
        self.pos = end + 1;
        match keyword {
            "TYPE" => {
                let t = MetricType::from_om(text).ok_or_else(|| {
                    self.err_at(
                        text_at,
                        TextProblem::InvalidMetricType {
                            text: String::from_utf8_lossy(text).into_owned(),
                        },
                    )
                })?;
                self.family = Some((name.clone(), t));
                Ok(Parsed::Type(name, t))
            }
            "UNIT" => {
                let unit = std::str::from_utf8(text)
                    .map_err(|_| self.err_at(text_at, TextProblem::InvalidUtf8 { what: "unit" }))?;
                if !unit.is_empty() {
                    let ok = name
                        .strip_suffix(unit)
                        .is_some_and(|head| head.len() > 1 && head.ends_with('_'));
                    if !ok {
                        return Err(self.err_at(
                            text_at,
                            TextProblem::UnitNotSuffix {
                                unit: unit.to_string(),
                                metric: name.into_owned(),
                            },
                        ));
                    }
                }
                Ok(Parsed::Unit(name, unit))
            }
            _ => {
                let s = self.str_at(text_at, end).ok_or_else(|| {
                    self.err_at(text_at, TextProblem::InvalidUtf8 { what: "help text" })
                })?;
                let help = if memchr::memchr(b'\\', s.as_bytes()).is_some() {
                    Cow::Owned(unescape_label_value(s))
                } else {
                    Cow::Borrowed(s)
                };
                Ok(Parsed::Help(name, help))
            }
        }
    }

    fn om_sample(&mut self) -> Result<Parsed<'a>, Error> {
        self.labels.clear();
        self.seen_names = name_bit(METRIC_NAME);
        self.maybe_dup = false;
        self.exemplar = None;
        self.timestamp = None;
        let mut name_set = false;
        if self.peek() != Some(b'{') {
            let n = self.scan_name(true).unwrap_or_default();
            self.name = Cow::Borrowed(n);
            name_set = true;
        }
        if self.peek() == Some(b'{') {
            self.parse_labels(false, &mut name_set)?;
        }
        if !name_set {
            return Err(self.err_at(self.line_start, TextProblem::MetricNameNotSet));
        }
        let text = self.om_token("value after metric")?;
        let vstart = self.pos - text.len();
        self.value = self.number(text, vstart, "value")?;
        match self.peek() {
            Some(b'\n') => {
                self.pos += 1;
                return self.om_sample_done();
            }
            None => return Err(self.err_at(self.pos, TextProblem::MissingEof)),
            _ => {}
        }
        if !self.at_exemplar() {
            let text = self.om_token("timestamp")?;
            let tstart = self.pos - text.len();
            self.timestamp = Some(self.om_timestamp(text, tstart, "timestamp")?);
            match self.peek() {
                Some(b'\n') => {
                    self.pos += 1;
                    return self.om_sample_done();
                }
                _ if self.at_exemplar() => {}
                _ => return Err(self.expected("next entry after timestamp")),
            }
        }
        // The cursor is on ` # {`.
        self.pos += 3;
        let mut no_name = true;
        self.parse_labels(true, &mut no_name)?;
        let text = self.om_token("value after exemplar labels")?;
        let estart = self.pos - text.len();
        let ev = self.number(text, estart, "exemplar value")?;
        let mut ets = None;
        match self.peek() {
            Some(b'\n') => self.pos += 1,
            None => return Err(self.err_at(self.pos, TextProblem::MissingEof)),
            Some(b' ') => {
                let text = self.om_token("exemplar timestamp")?;
                let tstart = self.pos - text.len();
                ets = Some(self.om_timestamp(text, tstart, "exemplar timestamp")?);
                match self.peek() {
                    Some(b'\n') => self.pos += 1,
                    None => return Err(self.err_at(self.pos, TextProblem::MissingEof)),
                    Some(_) => return Err(self.expected("next entry after exemplar timestamp")),
                }
            }
            Some(_) => return Err(self.expected("timestamp or comment")),
        }
        self.exemplar = Some((ev, ets));
        self.om_sample_done()
    }

    fn om_sample_done(&mut self) -> Result<Parsed<'a>, Error> {
        self.finish_labels()?;
        Ok(Parsed::Sample)
    }

    fn at_exemplar(&self) -> bool {
        self.input
            .get(self.pos..)
            .is_some_and(|r| r.starts_with(b" # {"))
    }

    /// Reads ` token` (one space, then bytes up to a space or newline).
    fn om_token(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        if self.peek() != Some(b' ') {
            return Err(self.expected(what));
        }
        let start = self.pos + 1;
        let rest = self.input.get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|c| *c == b' ' || *c == b'\n')
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.err_at(
                start,
                TextProblem::Expected {
                    expected: what,
                    found: describe(rest),
                },
            ));
        }
        self.pos = start + len;
        Ok(rest.get(..len).unwrap_or_default())
    }

    fn om_timestamp(&self, text: &[u8], at: usize, what: &'static str) -> Result<i64, Error> {
        let secs = self.number(text, at, what)?;
        if !secs.is_finite() {
            let mut shown = String::new();
            format_go_g(secs, &mut shown);
            return Err(self.err_at(at, TextProblem::NonFiniteTimestamp { text: shown }));
        }
        // Prometheus truncates seconds × 1000 toward zero (saturating, as Go's conversion is
        // undefined beyond the range).
        Ok((secs * 1000.0) as i64)
    }

    // ---------------------------------------------------------------- shared

    fn number(&self, text: &[u8], at: usize, what: &'static str) -> Result<f64, Error> {
        parse_float(text).map_err(|e| {
            let text = String::from_utf8_lossy(text).into_owned();
            self.err_at(
                at,
                match e {
                    FloatError::Unsupported => TextProblem::UnsupportedFloatCharacter { text },
                    FloatError::Syntax => TextProblem::InvalidNumber { what, text },
                },
            )
        })
    }

    /// Parses `{...}` at the cursor into the label buffer (or the exemplar buffer).
    fn parse_labels(&mut self, exemplar: bool, name_set: &mut bool) -> Result<(), Error> {
        let prom = !self.om;
        self.pos += 1;
        if exemplar {
            self.ex_labels.clear();
        }
        loop {
            if prom {
                self.skip_blanks();
            }
            let lname: Cow<'a, str> = match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'"') => {
                    let qstart = self.pos;
                    let (raw, esc) = self.scan_quoted("label name")?;
                    let s = self.quoted_str(qstart + 1, raw, esc).ok_or_else(|| {
                        self.err_at(qstart, TextProblem::InvalidUtf8 { what: "label name" })
                    })?;
                    if s.is_empty() {
                        // Prometheus' scrape loop rejects empty names.
                        self.pos = qstart;
                        return Err(self.expected("label name"));
                    }
                    if prom {
                        self.skip_blanks();
                    }
                    match self.peek() {
                        Some(c @ (b',' | b'}')) if !exemplar => {
                            if *name_set {
                                return Err(self.err_at(qstart, TextProblem::MetricNameAlreadySet));
                            }
                            *name_set = true;
                            self.name = s;
                            self.pos += 1;
                            if c == b'}' {
                                return Ok(());
                            }
                            continue;
                        }
                        Some(b',' | b'}') => return Err(self.expected("label name")),
                        _ => s,
                    }
                }
                _ => match self.scan_name(false) {
                    Some(n) => Cow::Borrowed(n),
                    None => return Err(self.expected("label name")),
                },
            };
            if prom {
                self.skip_blanks();
            }
            if self.peek() != Some(b'=') {
                return Err(self.expected("equal"));
            }
            self.pos += 1;
            if prom {
                self.skip_blanks();
            }
            if self.peek() != Some(b'"') {
                return Err(self.expected("label value"));
            }
            let vstart = self.pos;
            let (raw, esc) = self.scan_quoted("label value")?;
            if exemplar && self.om && memchr::memchr(0, raw).is_some() {
                let at = vstart + memchr::memchr(0, raw).unwrap_or(0) + 1;
                return Err(self.err_at(
                    at,
                    TextProblem::Expected {
                        expected: "label value",
                        found: describe(b"\0"),
                    },
                ));
            }
            let value = self.quoted_str(vstart + 1, raw, esc).ok_or_else(|| {
                self.err_at(
                    vstart,
                    TextProblem::InvalidUtf8 {
                        what: "label value",
                    },
                )
            })?;
            if exemplar {
                self.ex_labels.push((lname, value));
            } else {
                let bit = name_bit(&lname);
                self.maybe_dup |= self.seen_names & bit != 0;
                self.seen_names |= bit;
                self.labels.push((lname, value));
            }
            if prom {
                self.skip_blanks();
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.expected("comma or brace close")),
            }
        }
    }

    /// Checks label names for duplicates and normalises `le`/`quantile` values.
    fn finish_labels(&mut self) -> Result<(), Error> {
        // Without two names in one bucket of the filter (`__name__` seeded), no name repeats.
        let n = if self.maybe_dup { self.labels.len() } else { 0 };
        for i in 0..n {
            let Some((name, _)) = self.labels.get(i) else {
                break;
            };
            let dup = name == METRIC_NAME
                || self
                    .labels
                    .get(i + 1..)
                    .unwrap_or_default()
                    .iter()
                    .any(|(m, _)| m == name);
            if dup {
                let name = name.to_string();
                return Err(self.err_at(self.line_start, TextProblem::DuplicateLabel { name }));
            }
        }
        if self.normalize {
            let wanted = match self.family {
                Some((_, MetricType::Histogram)) => "le",
                Some((_, MetricType::Summary)) => "quantile",
                _ => return Ok(()),
            };
            for (name, value) in self.labels.iter_mut() {
                if name == wanted && !is_canonical_float(value.as_bytes()) {
                    if let Some(canon) = canonical_float_label(&mut self.scratch, value) {
                        *value = canon;
                    }
                }
            }
        }
        Ok(())
    }
}

const START: u8 = 1;
const DIGIT: u8 = 2;
const COLON: u8 = 4;

/// Character classes of name bytes: letters and `_` start names, digits continue them, `:`
/// belongs to metric names only.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_alphabetic() || c == b'_' {
            START
        } else if c.is_ascii_digit() {
            DIGIT
        } else if c == b':' {
            COLON
        } else {
            0
        };
        i += 1;
    }
    t
};

/// A label name's bit in the duplicate filter: from its length and first and last bytes.
#[inline]
fn name_bit(name: &str) -> u64 {
    let b = name.as_bytes();
    let first = u32::from(b.first().copied().unwrap_or(0));
    let last = u32::from(b.last().copied().unwrap_or(0));
    let len = b.len() as u32;
    1 << ((first * 7 + last * 13 + len * 3) & 63)
}

/// Bytes of a word, each set to `b`.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// A word with the high bit set in (at least) the lowest byte of `w` that is zero, and in no
/// byte below it (the classic has-zero-byte test; bits above the first zero may be spurious).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(splat(1)) & !w & splat(0x80)
}

/// The offset of the first `"`, `\` or newline in `s`. Label values are mostly short, where
/// eight bytes at a time in a word beat setting up vector search; long values go to `memchr3`.
#[inline]
fn find_quote_stop(s: &[u8]) -> Option<usize> {
    let mut off = 0;
    let mut words = s.chunks_exact(8);
    for chunk in words.by_ref().take(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let w = u64::from_le_bytes(b);
        let hit = zero_bytes(w ^ splat(b'"'))
            | zero_bytes(w ^ splat(b'\\'))
            | zero_bytes(w ^ splat(b'\n'));
        if hit != 0 {
            return Some(off + (hit.trailing_zeros() / 8) as usize);
        }
        off += 8;
    }
    if off == 64 {
        return memchr::memchr3(b'"', b'\\', b'\n', s.get(off..)?).map(|k| off + k);
    }
    words
        .remainder()
        .iter()
        .position(|c| matches!(c, b'"' | b'\\' | b'\n'))
        .map(|k| off + k)
}

fn meta_name_expectation(keyword: &str) -> &'static str {
    match keyword {
        "HELP" => "metric name after HELP",
        "TYPE" => "metric name after TYPE",
        _ => "metric name after UNIT",
    }
}

/// Prometheus' label value unescaping: `\\`, `\"` and `\n` become the character; any other
/// `\x` stays as typed.
pub(crate) fn unescape_label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Text 0.0.4 help unescaping: only `\\` and `\n`.
fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Whether `v` is certainly already in OpenMetrics canonical float form: `+Inf`, or a plain
/// decimal `int.frac` in Go `%g`'s plain range [1e-4, 1e6) with at most 15 significant digits
/// (which the shortest round-trip form reproduces) and no superfluous zeros. `false` means
/// "not sure": the caller then formats the parsed value to decide.
#[inline]
fn is_canonical_float(v: &[u8]) -> bool {
    if v == b"+Inf" {
        return true;
    }
    let Some(dot) = v.iter().position(|c| *c == b'.') else {
        return false;
    };
    let (int, frac) = (
        v.get(..dot).unwrap_or_default(),
        v.get(dot + 1..).unwrap_or_default(),
    );
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if !digits(int) || !digits(frac) || int.len() > 6 {
        return false;
    }
    if int == b"0" {
        // 0.000d… is the smallest plain form (1e-4); "0.0" is canonical zero.
        let zeros = frac.iter().take_while(|c| **c == b'0').count();
        let sig = frac.len() - zeros;
        return frac == b"0" || (zeros <= 3 && sig <= 15 && !frac.ends_with(b"0"));
    }
    if int.first() == Some(&b'0') {
        return false;
    }
    if frac == b"0" {
        return true;
    }
    int.len() + frac.len() <= 15 && !frac.ends_with(b"0")
}

/// `"0.0"` to `"4096.0"`: the canonical forms of integer bucket bounds, so that normalising
/// the common `le="1"` borrows instead of allocating per sample.
fn integer_canon(n: u64) -> Option<&'static str> {
    static TABLE: std::sync::OnceLock<Box<[String]>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| (0..=4096).map(|i| format!("{i}.0")).collect());
    t.get(usize::try_from(n).ok()?).map(String::as_str)
}

/// The OpenMetrics canonical form of a float label value (Go `%g` plus `.0` when there is no
/// `.` or exponent), or `None` when the value is already canonical or not a number.
fn canonical_float_label<'a>(scratch: &mut String, v: &str) -> Option<Cow<'a, str>> {
    use std::fmt::Write;
    // Integer bounds (`le="1"`, `quantile="0"`): a table entry, with no float formatting.
    if !v.is_empty() && v.len() <= 4 && v.bytes().all(|c| c.is_ascii_digit()) {
        let n = v.bytes().fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
        if let Some(s) = integer_canon(n) {
            return Some(Cow::Borrowed(s));
        }
    }
    let f = parse_float(v.as_bytes()).ok()?;
    let a = f.abs();
    if f.is_finite() && f != 0.0 && (1e-4..1e6).contains(&a) {
        // In this range Go's %g is plain decimal with the shortest digits, as Rust prints.
        scratch.clear();
        let _ = write!(scratch, "{f}");
        let plain = scratch.contains('.');
        if plain && scratch == v {
            return None;
        }
        if !plain {
            if v.len() == scratch.len() + 2 && v.starts_with(scratch.as_str()) && v.ends_with(".0")
            {
                return None;
            }
            if f > 0.0 && f.fract() == 0.0 {
                if let Some(s) = integer_canon(f as u64) {
                    return Some(Cow::Borrowed(s));
                }
            }
            scratch.push_str(".0");
        }
        return Some(Cow::Owned(scratch.clone()));
    }
    let canon = crate::number::format_om_float(f);
    (canon != v).then_some(Cow::Owned(canon))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(input: &str, om: bool) -> Result<Vec<String>, Error> {
        let mut p = if om {
            TextParser::openmetrics(input.as_bytes(), Mode::Lenient)
        } else {
            TextParser::prometheus(input.as_bytes())
        };
        let mut out = Vec::new();
        while let Some(e) = p.next_entry()? {
            if let Entry::Sample(s) = e {
                out.push(format!(
                    "{} {} {:?} {:?}",
                    s.to_labels(),
                    s.value,
                    s.timestamp,
                    s.exemplar.map(|e| (e.labels.len(), e.value, e.timestamp))
                ));
            }
        }
        Ok(out)
    }

    #[test]
    fn prom_basic() {
        let got = samples(
            "# HELP a x\\ny\n# TYPE a counter\na{b=\"c\\\"\",d=\"e\",} 1.5 123\n  a   2\n\n{\"a.b\", c=\"d\"} -Inf\n",
            false,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                "{__name__=\"a\", b=\"c\\\"\", d=\"e\"} 1.5 Some(123) None",
                "{__name__=\"a\"} 2 None None",
                "{__name__=\"a.b\", c=\"d\"} -inf None None",
            ]
        );
    }

    #[test]
    fn om_basic() {
        let got = samples(
            "# TYPE a counter\na_total{b=\"c\"} 1 1.5 # {t=\"x\"} 2 3.25\na_created 7\n# EOF\n",
            true,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                "{__name__=\"a_total\", b=\"c\"} 1 Some(1500) Some((1, 2.0, Some(3250)))",
                "{__name__=\"a_created\"} 7 None None",
            ]
        );
    }

    #[test]
    fn canonical_label_floats() {
        let mut scratch = String::new();
        for (v, want) in [
            ("1", Some("1.0")),
            ("1.0", None),
            ("0.5", None),
            ("0.50", Some("0.5")),
            ("1e-05", None),
            ("0.00001", Some("1e-05")),
            ("+Inf", None),
            ("100000", Some("100000.0")),
            ("1000000", Some("1e+06")),
            ("0", Some("0.0")),
            ("x", None),
        ] {
            let got = canonical_float_label(&mut scratch, v);
            assert_eq!(got.as_deref(), want, "{v}");
        }
    }

    #[test]
    fn canonical_shortcut_agrees() {
        let mut scratch = String::new();
        for v in [
            "0.0",
            "1.0",
            "0.5",
            "0.99",
            "0.0001",
            "0.00001",
            "0.00010",
            "100000.0",
            "999999.5",
            "1000000.0",
            "01.0",
            "1.50",
            "+Inf",
            "-Inf",
            "1",
            "0.1234567890123456",
            "0.123456789012345",
            "123456.123456789",
            "123456.1234567891",
            "0.30000000000000004",
            "0.000123456789012345",
            "5e-05",
            "1.",
            ".5",
            "10.0",
            "0.05",
            "0.25",
        ] {
            if is_canonical_float(v.as_bytes()) {
                assert_eq!(canonical_float_label(&mut scratch, v), None, "{v}");
            }
        }
    }

    proptest::proptest! {
        /// Whatever the shortcut calls canonical, the exact check calls canonical too.
        #[test]
        fn canonical_shortcut_is_sound(v in "[0-9]{1,7}\\.[0-9]{1,18}|\\+Inf") {
            let mut scratch = String::new();
            if is_canonical_float(v.as_bytes()) {
                proptest::prop_assert_eq!(canonical_float_label(&mut scratch, &v), None, "{}", v);
            }
        }

        /// Floats printed in shortest form and in plain range are recognised as canonical.
        #[test]
        fn shortest_floats_are_canonical(bits in proptest::prelude::any::<u64>()) {
            let mut scratch = String::new();
            let f = f64::from_bits(bits).abs();
            if (1e-4..1e6).contains(&f) {
                let mut s = format!("{f}");
                if !s.contains('.') {
                    s.push_str(".0");
                }
                let fast = is_canonical_float(s.as_bytes());
                let exact = canonical_float_label(&mut scratch, &s).is_none();
                proptest::prop_assert!(!fast || exact, "{}", s);
            }
        }
    }

    #[test]
    fn to_labels_matches_the_builder() {
        use lookout_model::LabelsBuilder;
        let input = "b{z=\"1\",a=\"\",\"\u{e9}\"=\"x\",m=\"y\"} 1\n{\"q.r\",c=\"d\"} 2\n";
        let mut p = TextParser::prometheus(input.as_bytes());
        let mut n = 0;
        while let Some(e) = p.next_entry().unwrap() {
            if let Entry::Sample(s) = e {
                let mut b = LabelsBuilder::new(Labels::empty());
                b.set(METRIC_NAME, s.name);
                for (k, v) in s.labels {
                    b.set(k, v);
                }
                assert_eq!(s.to_labels(), b.labels());
                n += 1;
            }
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn le_is_normalised() {
        let got = samples("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n", false).unwrap();
        assert_eq!(got, vec!["{__name__=\"h_bucket\", le=\"1.0\"} 1 None None"]);
    }

    #[test]
    fn error_positions_and_recovery() {
        let input = b"a 1\nb{c=} 2\nd 3\n";
        let mut p = TextParser::prometheus(input);
        assert!(matches!(p.next_entry(), Ok(Some(Entry::Sample(_)))));
        match p.next_entry() {
            Err(Error::Text { line, column, .. }) => assert_eq!((line, column), (2, 5)),
            other => panic!("{other:?}"),
        }
        match p.next_entry() {
            Ok(Some(Entry::Sample(s))) => assert_eq!(s.name, "d"),
            other => panic!("{other:?}"),
        }
        assert!(p.next_entry().unwrap().is_none());
    }

    #[test]
    fn duplicate_labels_behind_the_filter() {
        // Repeats, `__name__` as a label, and many distinct names (filter collisions that
        // are not duplicates) are all judged exactly.
        for (input, dup) in [
            ("a{b=\"1\",b=\"2\"} 1\n", Some("b")),
            ("a{x=\"1\",b=\"1\",c=\"1\",b=\"2\"} 1\n", Some("b")),
            ("a{__name__=\"x\"} 1\n", Some("__name__")),
            ("{\"a\",__name__=\"x\"} 1\n", Some("__name__")),
            (
                "a{quantile=\"1\",handler=\"x\",code=\"2\",method=\"get\"} 1\n",
                None,
            ),
        ] {
            let mut p = TextParser::prometheus(input.as_bytes());
            match (p.next_entry(), dup) {
                (
                    Err(Error::Text {
                        problem: TextProblem::DuplicateLabel { name },
                        ..
                    }),
                    Some(d),
                ) => {
                    assert_eq!(name, d, "{input}")
                }
                (Ok(Some(Entry::Sample(_))), None) => {}
                (other, _) => panic!("{input}: {other:?}"),
            }
        }
        let mut names = String::new();
        for i in 0..200 {
            names.push_str(&format!("l{i}=\"v\","));
        }
        let input = format!("a{{{names}}} 1\n");
        let mut p = TextParser::prometheus(input.as_bytes());
        assert!(matches!(p.next_entry(), Ok(Some(Entry::Sample(s))) if s.labels.len() == 200));
    }

    proptest::proptest! {
        /// The word-at-a-time quote scan finds what a byte scan finds.
        #[test]
        fn quote_stop_matches_bytes(v in proptest::collection::vec(
            proptest::prop_oneof![proptest::prelude::Just(b'"'), proptest::prelude::Just(b'\\'),
                proptest::prelude::Just(b'\n'), proptest::prelude::any::<u8>(), b'a'..=b'z'], 0..150)) {
            let want = v.iter().position(|c| matches!(c, b'"' | b'\\' | b'\n'));
            proptest::prop_assert_eq!(find_quote_stop(&v), want);
            let skewed: Vec<u8> = v.iter().map(|c| if matches!(c, b'"' | b'\\' | b'\n') { b'x' } else { *c }).collect();
            proptest::prop_assert_eq!(find_quote_stop(&skewed), None);
        }
    }

    #[test]
    fn zero_copy_when_unescaped() {
        let input = b"a{b=\"c\"} 1\n";
        let mut p = TextParser::prometheus(input);
        let Ok(Some(Entry::Sample(s))) = p.next_entry() else {
            panic!()
        };
        assert!(matches!(s.labels[0].1, Cow::Borrowed(_)));
    }
}

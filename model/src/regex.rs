//! Go (RE2) regular expressions on top of the Rust `regex` crate.
//!
//! Prometheus, Alertmanager and Loki take regexes in Go's RE2 syntax. The Rust `regex` crate is
//! close but not identical: `\d \w \s \b` are Unicode in Rust and ASCII in Go, Rust reads `\<`
//! as a word boundary and `[a&&b]` as a set operation, Go allows octal escapes, `\Q…\E` and group
//! names that start with a digit, and Go caps repeat counts at 1000. [`GoRegex`] translates the Go
//! pattern once, rejects what Go rejects with a clear reason, and picks a fast strategy for the
//! shapes that dominate label matching (literals, alternations of literals, prefixes, suffixes,
//! substrings), so those cost no regex engine per value.

use std::fmt;
use std::sync::OnceLock;

use regex_syntax::hir::{Class, Hir, HirKind};
use rustc_hash::FxHashSet;

use crate::error::Error;
use crate::small_str::SmallStr;

/// How a [`GoRegex`] is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegexOptions {
    /// Match the whole input (`^(?:…)$`), as label matchers and relabeling do. Off for searches
    /// such as LogQL line filters.
    pub anchored: bool,
    /// Let `.` match `\n` (`(?s)`), as Prometheus 3 does for matchers and relabeling. Prometheus 2
    /// and Alertmanager leave it off.
    pub dot_matches_newline: bool,
    /// The limit on the compiled program's size in bytes; a larger regex is an error.
    pub size_limit: usize,
}

impl RegexOptions {
    /// Prometheus 3 label matchers and relabeling: anchored, `.` matches newline.
    pub const PROMETHEUS: RegexOptions = RegexOptions {
        anchored: true,
        dot_matches_newline: true,
        size_limit: 8 << 20,
    };
    /// Prometheus 2.x and Alertmanager matchers: anchored, `.` does not match newline.
    pub const PROMETHEUS2: RegexOptions = RegexOptions {
        anchored: true,
        dot_matches_newline: false,
        size_limit: 8 << 20,
    };
    /// Unanchored search (LogQL line filters, `regexp` in templates).
    pub const SEARCH: RegexOptions = RegexOptions {
        anchored: false,
        dot_matches_newline: false,
        size_limit: 8 << 20,
    };
}

impl Default for RegexOptions {
    fn default() -> Self {
        RegexOptions::PROMETHEUS
    }
}

/// A compiled Go-syntax regex.
#[derive(Clone)]
pub struct GoRegex {
    pattern: SmallStr,
    opts: RegexOptions,
    /// Compiled on first use when the pattern is small enough that compiling cannot fail;
    /// compiled at construction otherwise, so that size errors surface there.
    regex: OnceLock<regex::Regex>,
    strategy: Strategy,
    /// The number of capture groups, counting the whole match.
    captures: usize,
    /// Go group names with their capture index.
    names: Vec<(String, usize)>,
}

impl fmt::Debug for GoRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoRegex")
            .field("pattern", &self.pattern)
            .field("strategy", &self.strategy.kind())
            .finish()
    }
}

impl GoRegex {
    /// Compiles `pattern` as Prometheus 3 does for matchers and relabeling
    /// ([`RegexOptions::PROMETHEUS`]).
    pub fn new(pattern: &str) -> Result<GoRegex, Error> {
        GoRegex::with_options(pattern, RegexOptions::PROMETHEUS)
    }

    /// Compiles `pattern` with the given options.
    pub fn with_options(pattern: &str, opts: RegexOptions) -> Result<GoRegex, Error> {
        // The shapes label matchers mostly use (`api`, `5..`, `GET|POST`, `api.*`) are read
        // directly; they are always valid, have no groups and compile far below any size
        // limit, so the regex engine is only built should someone ask for it.
        if opts.anchored {
            if let Some(strategy) = simple_strategy(pattern, opts.dot_matches_newline) {
                return Ok(GoRegex {
                    pattern: SmallStr::new(pattern),
                    opts,
                    regex: OnceLock::new(),
                    strategy,
                    captures: 1,
                    names: Vec::new(),
                });
            }
        }
        let err = |reason: String| Error::Regex {
            pattern: pattern.to_string(),
            reason,
        };
        let translated = translate(pattern).map_err(err)?;
        // Parsing validates the syntax and gives the shape; compiling the matcher is the
        // expensive part (tens of microseconds), so it is deferred when it cannot fail: a short
        // pattern with no counted repetition and no Unicode class compiles far below any limit.
        let hir = regex_syntax::ParserBuilder::new()
            .dot_matches_new_line(opts.dot_matches_newline)
            .build()
            .parse(&translated.pattern)
            .map_err(|e| err(syntax_reason(&e)))?;
        let lazy_ok = translated.pattern.len() <= 64
            && !translated.pattern.contains(['{', '}'])
            && !translated.pattern.contains("\\p")
            && !translated.pattern.contains("\\P");
        let regex = OnceLock::new();
        if !lazy_ok {
            let full = full_pattern(&translated.pattern, opts);
            let compiled =
                compile(&full, opts.size_limit).map_err(|e| err(rust_regex_reason(&e)))?;
            let _ = regex.set(compiled);
        }
        let strategy = if opts.anchored {
            analyze(&hir).unwrap_or(Strategy::Regex)
        } else {
            Strategy::Regex
        };
        Ok(GoRegex {
            pattern: SmallStr::new(pattern),
            opts,
            regex,
            strategy,
            captures: hir.properties().explicit_captures_len() + 1,
            names: translated.names,
        })
    }

    /// The pattern as written by the user.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `s` matches (the whole of `s` when anchored).
    #[inline]
    pub fn is_match(&self, s: &str) -> bool {
        self.strategy
            .is_match(s)
            .unwrap_or_else(|| self.regex().is_match(s))
    }

    /// The compiled Rust regex (anchored if the options said so), for captures.
    pub fn regex(&self) -> &regex::Regex {
        self.regex.get_or_init(|| {
            // Only small patterns are deferred (see `with_options`), and those translate (they
            // did when constructed) and compile well within the limit; should that ever fail,
            // fall back to a regex that matches nothing rather than panic.
            let Ok(translated) = translate(&self.pattern) else {
                return unreachable_regex();
            };
            let full = full_pattern(&translated.pattern, self.opts);
            compile(&full, self.opts.size_limit)
                .or_else(|_| compile(&full, usize::MAX / 4))
                .or_else(|_| regex::Regex::new(r"[^\x00-\x{10FFFF}]"))
                .unwrap_or_else(|_| unreachable_regex())
        })
    }

    /// The capture index of the Go group name `name` (`(?P<name>…)` or `(?<name>…)`).
    pub fn capture_index(&self, name: &str) -> Option<usize> {
        self.names.iter().find(|(n, _)| n == name).map(|(_, i)| *i)
    }

    /// The number of capture groups, counting the whole match as group 0.
    pub fn captures_len(&self) -> usize {
        self.captures
    }

    /// When the regex matches exactly a finite set of strings (`a|b|c`, `foo`, `(?i)ab`), that
    /// set. Storage uses it to look values up instead of scanning them.
    pub fn set_matches(&self) -> Option<&[String]> {
        match &self.strategy {
            Strategy::Set(set) => Some(&set.items),
            _ => None,
        }
    }

    /// When the regex matches exactly the strings with one literal prefix (`abc.*`), that prefix.
    pub fn literal_prefix(&self) -> Option<&str> {
        match &self.strategy {
            Strategy::Prefix(
                set,
                Wild {
                    min1: false,
                    newline: true,
                },
            ) if set.items.len() == 1 => Some(&set.items[0]),
            _ => None,
        }
    }

    /// A short name of the matching strategy chosen (for tests and benchmarks): `set`, `prefix`,
    /// `suffix`, `contains`, `any`, `chars` (fixed-length, `.` for any character: `5..`) or
    /// `regex`.
    pub fn strategy_name(&self) -> &'static str {
        self.strategy.kind()
    }
}

/// The Rust pattern to compile: the translated pattern, anchored and flagged as `opts` say.
fn full_pattern(translated: &str, opts: RegexOptions) -> String {
    let flags = if opts.dot_matches_newline { "s" } else { "" };
    if opts.anchored {
        format!("^(?{flags}:{translated})$")
    } else if flags.is_empty() {
        translated.to_string()
    } else {
        format!("(?{flags}:{translated})")
    }
}

fn compile(full: &str, size_limit: usize) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(full)
        .size_limit(size_limit)
        .dfa_size_limit(size_limit)
        .build()
}

/// A regex that matches nothing, built from a pattern the regex crate always accepts.
fn unreachable_regex() -> regex::Regex {
    // `\b\B` can never hold at one position; the pattern is a constant the crate accepts.
    match regex::Regex::new(r"\b\B") {
        Ok(r) => r,
        Err(_) => unreachable!("constant pattern compiles"),
    }
}

fn syntax_reason(e: &regex_syntax::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or("invalid regex")
        .trim()
        .to_string()
}

fn rust_regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(n) => format!("regex too large (limit {n} bytes)"),
        other => other
            .to_string()
            .lines()
            .last()
            .unwrap_or("invalid regex")
            .trim()
            .to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Translation from Go syntax to Rust syntax.

struct Translated {
    pattern: String,
    /// (Go name, capture index)
    names: Vec<(String, usize)>,
}

const GO_MAX_REPEAT: u32 = 1000;

fn translate(p: &str) -> Result<Translated, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut names = Vec::new();
    let mut groups = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                i = translate_escape(&chars, i, &mut out, false)?;
                continue;
            }
            '[' => {
                i = translate_class(&chars, i, &mut out)?;
                continue;
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    let rest: String = chars[i + 2..].iter().take(3).collect();
                    let name_start = if rest.starts_with("P<") {
                        Some(i + 4)
                    } else if rest.starts_with('<')
                        && !rest.starts_with("<=")
                        && !rest.starts_with("<!")
                    {
                        Some(i + 3)
                    } else {
                        None
                    };
                    if let Some(ns) = name_start {
                        let end = chars[ns..]
                            .iter()
                            .position(|&c| c == '>')
                            .map(|e| ns + e)
                            .ok_or_else(|| "invalid named capture: missing '>'".to_string())?;
                        let name: String = chars[ns..end].iter().collect();
                        if name.is_empty()
                            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
                            return Err(format!("invalid named capture: {name:?}"));
                        }
                        if names.iter().any(|(n, _)| *n == name) {
                            return Err(format!("duplicate capture group name: {name:?}"));
                        }
                        groups += 1;
                        names.push((name, groups));
                        out.push_str(&format!("(?P<g{groups}>"));
                        i = end + 1;
                        continue;
                    }
                    // Flags: (?flags) or (?flags:...)
                    let mut j = i + 2;
                    let mut seen_minus = false;
                    let mut any = false;
                    loop {
                        match chars.get(j) {
                            Some('i' | 'm' | 's' | 'U') => any = true,
                            Some('-') if !seen_minus => seen_minus = true,
                            Some(')') | Some(':') => break,
                            Some(c) => {
                                return Err(format!("invalid or unsupported Perl syntax: (?{c}"))
                            }
                            None => return Err("missing closing )".to_string()),
                        }
                        j += 1;
                    }
                    // `(?:…)` is a plain non-capturing group; `(?)` and `(?i-)` lack flags.
                    if (!any && chars[j] != ':') || chars[j - 1] == '-' {
                        return Err("invalid or unsupported Perl syntax: missing flags".to_string());
                    }
                    out.extend(&chars[i..=j]);
                    i = j + 1;
                    continue;
                }
                groups += 1;
                out.push('(');
            }
            '{' => {
                if let Some((min, max, end)) = parse_repeat(&chars, i) {
                    if min > GO_MAX_REPEAT || max.is_some_and(|m| m > GO_MAX_REPEAT || m < min) {
                        let text: String = chars[i..end].iter().collect();
                        return Err(format!("invalid repeat count: {text}"));
                    }
                    out.extend(&chars[i..end]);
                    i = end;
                    continue;
                }
                out.push_str("\\{");
            }
            '}' => out.push_str("\\}"),
            c => out.push(c),
        }
        i += 1;
    }
    Ok(Translated {
        pattern: out,
        names,
    })
}

/// Recognises `{n}`, `{n,}` and `{n,m}` at `i`; returns (min, max, index after `}`).
fn parse_repeat(c: &[char], i: usize) -> Option<(u32, Option<u32>, usize)> {
    let mut j = i + 1;
    let num = |j: &mut usize| -> Option<u32> {
        let s = *j;
        while c.get(*j).is_some_and(|d| d.is_ascii_digit()) {
            *j += 1;
        }
        if *j == s {
            return None;
        }
        let text: String = c[s..*j].iter().collect();
        // Longer numbers than fit are simply over the limit.
        Some(text.parse::<u32>().unwrap_or(u32::MAX))
    };
    let min = num(&mut j)?;
    let max = match c.get(j)? {
        '}' => Some(min),
        ',' => {
            j += 1;
            if c.get(j) == Some(&'}') {
                None
            } else {
                Some(num(&mut j)?)
            }
        }
        _ => return None,
    };
    if c.get(j) != Some(&'}') {
        return None;
    }
    Some((min, max, j + 1))
}

const ASCII_D: &str = "0-9";
const ASCII_W: &str = "0-9A-Za-z_";
const ASCII_S: &str = "\\t\\n\\x0C\\r ";

/// Translates the escape at `chars[i]` (a backslash); returns the index after it.
fn translate_escape(
    chars: &[char],
    i: usize,
    out: &mut String,
    in_class: bool,
) -> Result<usize, String> {
    let Some(&c) = chars.get(i + 1) else {
        return Err("trailing backslash at end of expression".to_string());
    };
    let class = |body: &str, neg: bool| -> String {
        match (in_class, neg) {
            (true, false) => body.to_string(),
            (_, true) => format!("[^{body}]"),
            (false, false) => format!("[{body}]"),
        }
    };
    match c {
        'd' => out.push_str(&class(ASCII_D, false)),
        'D' => out.push_str(&class(ASCII_D, true)),
        'w' => out.push_str(&class(ASCII_W, false)),
        'W' => out.push_str(&class(ASCII_W, true)),
        's' => out.push_str(&class(ASCII_S, false)),
        'S' => out.push_str(&class(ASCII_S, true)),
        'b' | 'B' if !in_class => out.push_str(if c == 'b' { "(?-u:\\b)" } else { "(?-u:\\B)" }),
        'A' | 'z' if !in_class => {
            out.push('\\');
            out.push(c);
        }
        'a' | 'f' | 't' | 'n' | 'r' | 'v' => {
            out.push('\\');
            out.push(c);
        }
        'Q' if !in_class => {
            let mut j = i + 2;
            while j < chars.len() {
                if chars[j] == '\\' && chars.get(j + 1) == Some(&'E') {
                    return Ok(j + 2);
                }
                push_literal(out, chars[j]);
                j += 1;
            }
            return Ok(j);
        }
        'p' | 'P' => {
            out.push('\\');
            out.push(c);
            match chars.get(i + 2) {
                Some('{') => {
                    let end = chars[i + 2..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or("invalid character class range")?;
                    let name: String = chars[i + 2..i + 2 + end + 1].iter().collect();
                    out.push_str(&name);
                    return Ok(i + 2 + end + 1);
                }
                Some(&n) => {
                    out.push(n);
                    return Ok(i + 3);
                }
                None => return Err("invalid character class range".to_string()),
            }
        }
        'x' => {
            out.push_str("\\x");
            match chars.get(i + 2) {
                Some('{') => {
                    let end = chars[i + 2..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or("invalid escape sequence: \\x{")?;
                    out.extend(&chars[i + 2..i + 2 + end + 1]);
                    return Ok(i + 2 + end + 1);
                }
                _ => {
                    let digits: String = chars.iter().skip(i + 2).take(2).collect();
                    if digits.len() != 2 || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
                        return Err("invalid escape sequence: \\x".to_string());
                    }
                    out.push_str(&digits);
                    return Ok(i + 4);
                }
            }
        }
        '0'..='7' => {
            // Go: a lone non-zero digit would be a backreference, which RE2 does not support.
            if c != '0' && !chars.get(i + 2).is_some_and(|d| ('0'..='7').contains(d)) {
                return Err(format!("invalid escape sequence: \\{c}"));
            }
            let mut j = i + 1;
            let mut v = 0u32;
            while j < chars.len() && j < i + 4 && ('0'..='7').contains(&chars[j]) {
                v = v * 8 + chars[j].to_digit(8).unwrap_or(0);
                j += 1;
            }
            out.push_str(&format!("\\x{{{v:X}}}"));
            return Ok(j);
        }
        c if c.is_ascii_punctuation() => push_literal(out, c),
        c => return Err(format!("invalid escape sequence: \\{c}")),
    }
    Ok(i + 2)
}

fn push_literal(out: &mut String, c: char) {
    if regex_syntax::is_meta_character(c) {
        out.push('\\');
    }
    out.push(c);
}

/// Translates a bracket class starting at `chars[i] == '['`; returns the index after `]`.
fn translate_class(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let mut j = i + 1;
    out.push('[');
    if chars.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = chars.get(j) else {
            return Err("missing closing ]".to_string());
        };
        match c {
            ']' if !first => {
                out.push(']');
                return Ok(j + 1);
            }
            '[' if chars.get(j + 1) == Some(&':') => {
                // POSIX class [:name:] or [:^name:]
                let rest: String = chars[j..].iter().take(16).collect();
                match rest.find(":]") {
                    Some(end) if end > 2 => {
                        out.push_str(&rest[..end + 2]);
                        j += rest[..end + 2].chars().count();
                    }
                    _ => {
                        out.push_str("\\[");
                        j += 1;
                    }
                }
            }
            '\\' => j = translate_escape(chars, j, out, true)?,
            '-' if !first && chars.get(j + 1) != Some(&']') => {
                // A range: Go requires lo <= hi, which Rust checks as well.
                out.push('-');
                j += 1;
                // The range end may itself be escaped; a following '-' is literal.
                if chars.get(j) == Some(&'-') {
                    out.push_str("\\-");
                    j += 1;
                }
            }
            c => {
                push_literal(out, c);
                j += 1;
            }
        }
        first = false;
    }
}

// ---------------------------------------------------------------------------------------------
// Fast strategies.

/// A `.*` or `.+` at the start or end of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wild {
    /// `.+` rather than `.*`.
    min1: bool,
    /// Whether `.` matches `\n`.
    newline: bool,
}

impl Wild {
    #[inline]
    fn accepts(self, s: &str) -> bool {
        (!self.min1 || !s.is_empty())
            && (self.newline || memchr::memchr(b'\n', s.as_bytes()).is_none())
    }
}

#[derive(Debug, Clone)]
struct LiteralSet {
    items: Vec<String>,
    hashed: Option<FxHashSet<String>>,
}

const LINEAR_SET_MAX: usize = 16;
const SET_MAX: usize = 4096;

impl LiteralSet {
    fn new(mut items: Vec<String>) -> LiteralSet {
        items.sort();
        items.dedup();
        let hashed = (items.len() > LINEAR_SET_MAX).then(|| items.iter().cloned().collect());
        LiteralSet { items, hashed }
    }

    #[inline]
    fn contains(&self, s: &str) -> bool {
        match &self.hashed {
            Some(h) => h.contains(s),
            None => self.items.iter().any(|i| i.len() == s.len() && i == s),
        }
    }
}

#[derive(Debug, Clone)]
enum Strategy {
    Set(LiteralSet),
    Prefix(LiteralSet, Wild),
    Suffix(LiteralSet, Wild),
    Contains(Vec<memchr::memmem::Finder<'static>>, bool),
    Any(Wild),
    /// A fixed number of characters, each a literal or (`None`) any character (any but `\n`
    /// unless the flag says `.` matches newline).
    Chars(Box<[Option<char>]>, bool),
    Regex,
}

impl Strategy {
    fn kind(&self) -> &'static str {
        match self {
            Strategy::Set(_) => "set",
            Strategy::Prefix(..) => "prefix",
            Strategy::Suffix(..) => "suffix",
            Strategy::Contains(..) => "contains",
            Strategy::Any(_) => "any",
            Strategy::Chars(..) => "chars",
            Strategy::Regex => "regex",
        }
    }

    /// `None` when the regex engine must decide.
    #[inline]
    fn is_match(&self, s: &str) -> Option<bool> {
        Some(match self {
            Strategy::Set(set) => set.contains(s),
            Strategy::Prefix(set, w) => set
                .items
                .iter()
                .any(|p| s.starts_with(p.as_str()) && w.accepts(&s[p.len()..])),
            Strategy::Suffix(set, w) => set
                .items
                .iter()
                .any(|p| s.ends_with(p.as_str()) && w.accepts(&s[..s.len() - p.len()])),
            Strategy::Contains(finders, newline) => {
                (*newline || memchr::memchr(b'\n', s.as_bytes()).is_none())
                    && finders.iter().any(|f| f.find(s.as_bytes()).is_some())
            }
            Strategy::Any(w) => w.accepts(s),
            Strategy::Chars(want, newline) => {
                let mut it = s.chars();
                want.iter().all(|w| match (it.next(), w) {
                    (Some(c), Some(w)) => c == *w,
                    (Some(c), None) => *newline || c != '\n',
                    (None, _) => false,
                }) && it.next().is_none()
            }
            Strategy::Regex => return None,
        })
    }
}

/// The longest pattern [`simple_strategy`] reads (the limit under which deferred compiling
/// cannot fail, see [`GoRegex::with_options`]).
const SIMPLE_MAX: usize = 64;

/// Whether a Go pattern byte is a literal outside classes (not one of `\.+*?()|[]{}^$`).
#[inline]
fn plain_byte(b: u8) -> bool {
    !matches!(
        b,
        b'\\'
            | b'.'
            | b'+'
            | b'*'
            | b'?'
            | b'('
            | b')'
            | b'|'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'^'
            | b'$'
    )
}

/// Reads the anchored Go patterns that need no regex parser: an alternation of plain literals
/// (`GET|POST`, `api`), or literal characters, escaped punctuation and `.` with an optional
/// leading and trailing `.*`/`.+` (`5..`, `api.*`, `.*err.*`, `a\.b`). `None` leaves the
/// pattern to the general path, which validates it and analyses its syntax tree. What this
/// returns matches exactly what the anchored regex does (`fast_paths_agree_with_engine`).
fn simple_strategy(p: &str, newline: bool) -> Option<Strategy> {
    let b = p.as_bytes();
    if b.len() > SIMPLE_MAX {
        return None;
    }
    if b.iter().all(|&c| plain_byte(c) || c == b'|') {
        let items = p.split('|').map(str::to_string).collect();
        return Some(Strategy::Set(LiteralSet::new(items)));
    }
    // Atoms: `Some(c)` a literal character, `None` a `.`; a `*`/`+` may follow a `.` only at
    // either end.
    let mut atoms: Vec<Option<char>> = Vec::with_capacity(b.len());
    let (mut lead, mut trail) = (None, None);
    let mut chars = p.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) if e.is_ascii_punctuation() => atoms.push(Some(e)),
                _ => return None,
            },
            '.' => match chars.peek() {
                Some(&(j, q @ ('*' | '+'))) => {
                    chars.next();
                    let w = Wild {
                        min1: q == '+',
                        newline,
                    };
                    if i == 0 && lead.is_none() {
                        lead = Some(w);
                    } else if j + 1 == b.len() {
                        trail = Some(w);
                    } else {
                        return None;
                    }
                }
                _ => atoms.push(None),
            },
            c if c.is_ascii() && !plain_byte(c as u8) => return None,
            c => atoms.push(Some(c)),
        }
    }
    let literal = || atoms.iter().copied().collect::<Option<String>>();
    Some(match (lead, trail) {
        (None, None) => match literal() {
            Some(lit) => Strategy::Set(LiteralSet::new(vec![lit])),
            None => Strategy::Chars(atoms.into_boxed_slice(), newline),
        },
        (Some(w), None) if atoms.is_empty() => Strategy::Any(w),
        (None, Some(w)) => Strategy::Prefix(LiteralSet::new(vec![literal()?]), w),
        (Some(w), None) => Strategy::Suffix(LiteralSet::new(vec![literal()?]), w),
        (Some(l), Some(r)) => {
            let lit = literal()?;
            if l.min1 || r.min1 || lit.is_empty() || (!newline && lit.contains('\n')) {
                return None;
            }
            let finder = memchr::memmem::Finder::new(lit.as_bytes()).into_owned();
            Strategy::Contains(vec![finder], newline)
        }
    })
}

/// Picks a fast strategy for the anchored pattern, if its shape allows one.
fn analyze(hir: &Hir) -> Option<Strategy> {
    let hir = strip_captures(hir);
    if let Some(set) = finite(hir, SET_MAX) {
        return Some(Strategy::Set(LiteralSet::new(set)));
    }
    if let Some(w) = wild(hir) {
        return Some(Strategy::Any(w));
    }
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let (first, last) = (parts.first()?, parts.last()?);
    let (lw, rw) = (wild(strip_captures(first)), wild(strip_captures(last)));
    match (lw, rw) {
        (None, Some(w)) => {
            let set = finite_concat(&parts[..parts.len() - 1])?;
            Some(Strategy::Prefix(LiteralSet::new(set), w))
        }
        (Some(w), None) => {
            let set = finite_concat(&parts[1..])?;
            Some(Strategy::Suffix(LiteralSet::new(set), w))
        }
        (Some(l), Some(r)) if parts.len() >= 3 && !l.min1 && !r.min1 && l.newline == r.newline => {
            let set = finite_concat(&parts[1..parts.len() - 1])?;
            if set
                .iter()
                .any(|s| s.is_empty() || (!l.newline && s.contains('\n')))
            {
                return None;
            }
            let finders = set
                .iter()
                .map(|s| memchr::memmem::Finder::new(s.as_bytes()).into_owned())
                .collect();
            Some(Strategy::Contains(finders, l.newline))
        }
        _ => None,
    }
}

fn strip_captures(h: &Hir) -> &Hir {
    match h.kind() {
        HirKind::Capture(c) => strip_captures(&c.sub),
        _ => h,
    }
}

/// `.*` or `.+` over any character (or any but `\n`).
fn wild(h: &Hir) -> Option<Wild> {
    let HirKind::Repetition(r) = h.kind() else {
        return None;
    };
    if r.max.is_some() || r.min > 1 {
        return None;
    }
    let HirKind::Class(Class::Unicode(cls)) = strip_captures(&r.sub).kind() else {
        return None;
    };
    let ranges = cls.ranges();
    let newline = match ranges {
        [a] if a.start() == '\0' && a.end() == '\u{10FFFF}' => true,
        [a, b]
            if a.start() == '\0'
                && a.end() == '\t'
                && b.start() == '\x0B'
                && b.end() == '\u{10FFFF}' =>
        {
            false
        }
        _ => return None,
    };
    Some(Wild {
        min1: r.min == 1,
        newline,
    })
}

fn finite_concat(parts: &[Hir]) -> Option<Vec<String>> {
    let mut acc = vec![String::new()];
    for p in parts {
        let next = finite(strip_captures(p), SET_MAX)?;
        if acc.len() * next.len() > SET_MAX {
            return None;
        }
        acc = acc
            .iter()
            .flat_map(|a| next.iter().map(move |n| format!("{a}{n}")))
            .collect();
    }
    Some(acc)
}

/// The finite set of strings `h` matches, if it has at most `limit` of them.
fn finite(h: &Hir, limit: usize) -> Option<Vec<String>> {
    match h.kind() {
        HirKind::Empty => Some(vec![String::new()]),
        HirKind::Literal(lit) => Some(vec![String::from_utf8(lit.0.to_vec()).ok()?]),
        HirKind::Capture(c) => finite(&c.sub, limit),
        HirKind::Class(Class::Unicode(cls)) => {
            let mut n = 0usize;
            for r in cls.ranges() {
                n += (r.end() as usize) - (r.start() as usize) + 1;
                if n > limit.min(256) {
                    return None;
                }
            }
            let mut out = Vec::with_capacity(n);
            for r in cls.ranges() {
                for cp in (r.start() as u32)..=(r.end() as u32) {
                    out.push(char::from_u32(cp)?.to_string());
                }
            }
            Some(out)
        }
        HirKind::Concat(parts) => finite_concat(parts),
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(finite(a, limit)?);
                if out.len() > limit {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Repetition(r) if r.max == Some(r.min) && r.min <= 4 => {
            let parts: Vec<Hir> = (0..r.min).map(|_| (*r.sub).clone()).collect();
            finite_concat(&parts)
        }
        HirKind::Repetition(r) if r.min == 0 && r.max == Some(1) => {
            let mut v = finite(&r.sub, limit)?;
            v.push(String::new());
            Some(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> GoRegex {
        GoRegex::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn strategies() {
        assert_eq!(re("foo").strategy_name(), "set");
        assert_eq!(re("foo|bar|baz").strategy_name(), "set");
        assert_eq!(re("(?i)ab").set_matches().unwrap().len(), 4);
        assert_eq!(re("abc.*").literal_prefix(), Some("abc"));
        assert_eq!(re("abc.+").strategy_name(), "prefix");
        assert_eq!(re(".*abc").strategy_name(), "suffix");
        assert_eq!(re(".*abc.*").strategy_name(), "contains");
        assert_eq!(re(".*").strategy_name(), "any");
        assert_eq!(re("(foo|bar).*").strategy_name(), "prefix");
        assert_eq!(re("a[0-9]+b").strategy_name(), "regex");
        assert_eq!(re("5..").strategy_name(), "chars");
        assert_eq!(re(r"a\.b").set_matches().unwrap(), ["a.b"]);
        assert_eq!(re("GET|POST").set_matches().unwrap(), ["GET", "POST"]);
        assert_eq!(re(".+").strategy_name(), "any");
        // Patterns read without the regex parser still compile on demand, for captures.
        assert_eq!(re("5..").captures_len(), 1);
        assert!(re("5..").regex().is_match("5xx"));
    }

    #[test]
    fn fast_paths_agree_with_engine() {
        let pats = [
            "foo",
            "foo|bar",
            "abc.*",
            "abc.+",
            ".*abc",
            ".+abc",
            ".*abc.*",
            ".*",
            ".+",
            "(a|ab).*",
            "x?y",
            "a{2}",
            "(?i)ab",
            "",
            "a|",
            "[abc]d",
            "5..",
            "a.c",
            ".",
            "..",
            r"a\.b",
            r"a\.*",
            r"\.*",
            ".*a",
            ".+a",
            "a.+",
            ".*a.*",
            ".+a.*",
            ".*.*",
            "a\nb.*",
            ".*a\nb.*",
            "é.",
            "GET|POST|",
            "a b",
            "#",
            r"a\|b",
            r"\d.",
            "a.*b",
            "..*",
            ".*.",
        ];
        let vals = [
            "", "foo", "bar", "abc", "abcd", "xabc", "xabcx", "a\nb", "abc\n", "\nabc", "ab",
            "aab", "y", "xy", "aa", "AB", "aB", "ad", "a", "500", "5\n0", "5é0", "50", "5000",
            "a.b", "a..", "a\nc", "é", "éx", "\n", "GET", "POST", "a b", "#", "a|b", "1x",
            "a\nb\n", "xa\nbx", ".", "..",
        ];
        for opts in [RegexOptions::PROMETHEUS, RegexOptions::PROMETHEUS2] {
            for p in pats {
                let r = GoRegex::with_options(p, opts).unwrap();
                for v in vals {
                    assert_eq!(
                        r.is_match(v),
                        r.regex().is_match(v),
                        "{p:?} on {v:?} ({opts:?})"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// The shapes read without the regex parser (literals, `.`, escaped punctuation,
        /// leading and trailing `.*`/`.+`, alternations of literals) match exactly what an
        /// independently built anchored regex matches.
        #[test]
        fn simple_shapes_agree_with_reference(
            lead in "(\\.\\*|\\.\\+)?",
            mid in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "\n", "é", ".", r"\.", "|"]),
                0..4,
            ),
            trail in "(\\.\\*|\\.\\+)?",
            v in "[ab.\né|]{0,5}",
        ) {
            let p = format!("{lead}{}{trail}", mid.concat());
            for (opts, flags) in [(RegexOptions::PROMETHEUS, "(?s)"), (RegexOptions::PROMETHEUS2, "")] {
                let Ok(reference) = regex::Regex::new(&format!("^{flags}(?:{p})$")) else {
                    continue;
                };
                let r = GoRegex::with_options(&p, opts)
                    .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                proptest::prop_assert_eq!(
                    r.is_match(&v),
                    reference.is_match(&v),
                    "pattern {:?} value {:?} ({}) {:?}", p, v, r.strategy_name(), opts
                );
            }
        }
    }

    #[test]
    fn anchoring_and_dotall() {
        assert!(re("a.b").is_match("a\nb"));
        let r2 = GoRegex::with_options("a.b", RegexOptions::PROMETHEUS2).unwrap();
        assert!(!r2.is_match("a\nb"));
        assert!(!re("b").is_match("abc"));
        assert!(!re("a|b").is_match("ab"));
    }

    #[test]
    fn go_syntax_translation() {
        // ASCII classes as in Go.
        assert!(re(r"\d+").is_match("123"));
        assert!(!re(r"\d").is_match("٣"));
        assert!(!re(r"\w").is_match("é"));
        assert!(re(r"[\d\s]+").is_match("1 2"));
        assert!(!re(r"\s").is_match("\u{0b}"));
        // Escaped punctuation, including < and > which are word boundaries in Rust.
        assert!(re(r"\<a\>").is_match("<a>"));
        assert!(re(r"a\:b").is_match("a:b"));
        // Class set operators of Rust are literals in Go.
        assert!(re(r"[a&&b]").is_match("&"));
        assert!(re(r"[a~~b]").is_match("~"));
        assert!(re(r"[[]").is_match("["));
        assert!(re(r"[]a]").is_match("]"));
        assert!(re(r"[[:alpha:]]").is_match("x"));
        // Octal and \Q..\E.
        assert!(re(r"\101").is_match("A"));
        assert!(re(r"\Qa.b\E").is_match("a.b"));
        assert!(!re(r"\Qa.b\E").is_match("axb"));
        // Literal braces that are not repetitions.
        assert!(re(r"a{").is_match("a{"));
        assert!(re(r"a{,2}").is_match("a{,2}"));
        assert!(re(r"a{2}").is_match("aa"));
        // Non-capturing groups without flags.
        assert!(re(r"(?:a|b)c").is_match("bc"));
        assert!(GoRegex::new("(?-:a)").is_err());
        // Named groups, including Go names that start with a digit.
        let r = re(r"(?P<first>a)(?<1x>b)");
        assert_eq!(r.capture_index("first"), Some(1));
        assert_eq!(r.capture_index("1x"), Some(2));
        // Word boundary stays ASCII.
        assert!(GoRegex::with_options(r"\bfoo\b", RegexOptions::SEARCH)
            .unwrap()
            .is_match("a foo b"));
    }

    #[test]
    fn go_rejections() {
        for bad in [
            r"a{1001}",
            r"a{2,1}",
            r"(?x)a",
            r"\1",
            r"\8",
            r"\C",
            r"(?=a)",
            r"(?!a)",
            r"(?<=a)",
            r"a\",
            r"[a",
            r"(a",
            r"\e",
            r"(?P<a-b>x)",
            r"(?P<a>x)(?P<a>y)",
            "(?)",
        ] {
            assert!(GoRegex::new(bad).is_err(), "{bad} should be rejected");
        }
        let e = GoRegex::new("a{1001}").unwrap_err().to_string();
        assert!(e.contains("invalid repeat count"), "{e}");
    }
}

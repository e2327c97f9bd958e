//! Label matchers (`=`, `!=`, `=~`, `!~`) and selector parsing.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::labels::{read_ident, read_string, skip_ws, Labels};
use crate::name::{is_legacy_label_name, METRIC_NAME};
use crate::quote::write_go_quoted;
use crate::regex::{GoRegex, RegexOptions};
use crate::small_str::SmallStr;

/// The four kinds of label matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `=`: the value equals the string.
    Equal,
    /// `!=`: the value differs from the string.
    NotEqual,
    /// `=~`: the value matches the fully anchored regex.
    Regex,
    /// `!~`: the value does not match the fully anchored regex.
    NotRegex,
}

impl MatchType {
    /// The operator as written in selectors.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compiled label matcher. A missing label has the value `""`, as in Prometheus, so
/// `{foo=""}` selects series without `foo` and `{foo!=""}` selects series that have it.
///
/// Regex matchers are compiled once with a fast path where the pattern's shape allows one
/// (literal, alternation of literals, prefix, suffix, substring); see [`GoRegex`].
///
/// ```
/// use lookout_model::{Matcher, MatchType};
/// let m = Matcher::new(MatchType::Regex, "job", "api|web").unwrap();
/// assert!(m.matches("web"));
/// assert!(!m.matches("webserver"));
/// ```
///
/// Names and values are [`SmallStr`]s and the compiled regex is shared, so building an `=`
/// matcher from short strings and cloning any matcher do not allocate.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: SmallStr,
    value: SmallStr,
    kind: MatchType,
    re: Option<Arc<GoRegex>>,
}

/// The label name, borrowed as a `'static` string when it is `__name__`.
#[inline]
fn label_name(name: &str) -> SmallStr {
    if name == METRIC_NAME {
        SmallStr::from_static(METRIC_NAME)
    } else {
        SmallStr::new(name)
    }
}

impl Matcher {
    /// Builds a matcher with Prometheus 3 regex semantics (`.` matches newline).
    pub fn new(kind: MatchType, name: &str, value: &str) -> Result<Matcher, Error> {
        Matcher::with_regex_options(kind, name, value, RegexOptions::PROMETHEUS)
    }

    /// Builds a matcher whose regex, if any, is compiled with `opts` (for example
    /// [`RegexOptions::PROMETHEUS2`] for Prometheus 2.x or Alertmanager semantics).
    pub fn with_regex_options(
        kind: MatchType,
        name: &str,
        value: &str,
        opts: RegexOptions,
    ) -> Result<Matcher, Error> {
        let re = match kind {
            MatchType::Regex | MatchType::NotRegex => {
                Some(Arc::new(GoRegex::with_options(value, opts)?))
            }
            _ => None,
        };
        Ok(Matcher {
            name: label_name(name),
            value: SmallStr::new(value),
            kind,
            re,
        })
    }

    /// Shorthand for an `=` matcher, which cannot fail.
    #[inline]
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: label_name(name),
            value: SmallStr::new(value),
            kind: MatchType::Equal,
            re: None,
        }
    }

    /// The `__name__="value"` matcher of a metric name, taking the name as it is (cloning a
    /// [`SmallStr`] does not allocate, so a parser can keep the name and the matcher both).
    #[inline]
    pub fn metric_name(value: SmallStr) -> Matcher {
        Matcher {
            name: SmallStr::from_static(METRIC_NAME),
            value,
            kind: MatchType::Equal,
            re: None,
        }
    }

    /// The label name.
    #[inline]
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The string or regex as written.
    #[inline]
    pub fn value(&self) -> &str {
        self.value.as_str()
    }

    /// Whether the label name is `name`, comparing bytes (cheaper than `name() == name`).
    #[inline]
    pub fn has_name(&self, name: &str) -> bool {
        self.name.as_bytes() == name.as_bytes()
    }

    /// The operator.
    pub fn match_type(&self) -> MatchType {
        self.kind
    }

    /// The compiled regex of a `=~` or `!~` matcher.
    pub fn regex(&self) -> Option<&GoRegex> {
        self.re.as_deref()
    }

    /// Whether a label value matches (`""` stands for a missing label).
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match (&self.kind, &self.re) {
            (MatchType::Equal, _) => value.as_bytes() == self.value.as_bytes(),
            (MatchType::NotEqual, _) => value.as_bytes() != self.value.as_bytes(),
            (MatchType::Regex, Some(re)) => re.is_match(value),
            (MatchType::NotRegex, Some(re)) => !re.is_match(value),
            // Regex kinds are always built with a compiled regex.
            (_, None) => false,
        }
    }

    /// Whether the matcher accepts a label set (reading its own label, `""` if missing).
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(self.name()).unwrap_or(""))
    }

    /// Whether the matcher accepts the empty string, that is, series that lack the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// When the matcher accepts exactly a finite set of values (`=` or a regex such as
    /// `a|b|c`), that set. Storage uses it to look postings up directly.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        match self.kind {
            MatchType::Equal => Some(vec![self.value.as_str()]),
            MatchType::Regex => self
                .re
                .as_ref()?
                .set_matches()
                .map(|s| s.iter().map(String::as_str).collect()),
            _ => None,
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.value == other.value
    }
}

impl Eq for Matcher {}

/// Prometheus' `Matcher.String()`: `name="value"`, the name quoted when it is not a classic
/// label name (`shouldQuoteName`: so `a:b` is quoted), the value quoted as Go's `strconv.Quote`
/// does.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        if is_legacy_label_name(name) {
            f.write_str(name)?;
        } else {
            write_go_quoted(f, name)?;
        }
        f.write_str(self.kind.as_str())?;
        write_go_quoted(f, self.value())
    }
}

/// Parses a series selector: `metric`, `metric{a="b"}`, `{a="b", c=~"d.*"}`, or
/// `{"quoted.metric", a!="b"}`. A metric name becomes an `__name__` equality matcher. Values take
/// Go string syntax (double, single or back quotes). Errors carry the byte offset.
///
/// ```
/// let ms = lookout_model::parse_selector(r#"up{job=~"api|web", instance!=""}"#).unwrap();
/// assert_eq!(ms.len(), 3);
/// assert_eq!(ms[0].to_string(), r#"__name__="up""#);
/// ```
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, Error> {
    parse_selector_with(s, RegexOptions::PROMETHEUS)
}

/// [`parse_selector`] with the regex options to compile `=~` and `!~` matchers with.
pub fn parse_selector_with(s: &str, opts: RegexOptions) -> Result<Vec<Matcher>, Error> {
    let mut out = Vec::new();
    let mut i = skip_ws(s, 0);
    let j = read_ident(s, i);
    if j > i {
        out.push(Matcher::equal(METRIC_NAME, &s[i..j]));
        i = skip_ws(s, j);
    }
    if i >= s.len() {
        if out.is_empty() {
            return Err(Error::parse(i, "empty selector"));
        }
        return Ok(out);
    }
    if s.as_bytes()[i] != b'{' {
        return Err(Error::parse(i, "expected '{' or a metric name"));
    }
    i = skip_ws(s, i + 1);
    loop {
        match s.as_bytes().get(i) {
            None => return Err(Error::parse(i, "unclosed selector: expected '}'")),
            Some(b'}') => {
                i += 1;
                break;
            }
            _ => {}
        }
        let at = i;
        let (name, quoted, after) = match s.as_bytes()[i] {
            b'"' | b'\'' | b'`' => {
                let (n, a) = read_string(s, i)?;
                (n, true, a)
            }
            _ => {
                let j = read_ident(s, i);
                if j == i {
                    return Err(Error::parse(i, "expected a label name"));
                }
                (s[i..j].to_string(), false, j)
            }
        };
        i = skip_ws(s, after);
        let rest = &s[i..];
        let kind = if rest.starts_with("=~") {
            Some(MatchType::Regex)
        } else if rest.starts_with("!~") {
            Some(MatchType::NotRegex)
        } else if rest.starts_with("!=") {
            Some(MatchType::NotEqual)
        } else if rest.starts_with('=') {
            Some(MatchType::Equal)
        } else {
            None
        };
        match kind {
            None if quoted && matches!(rest.as_bytes().first(), Some(b',') | Some(b'}')) => {
                if out.iter().any(|m: &Matcher| m.has_name(METRIC_NAME)) {
                    return Err(Error::parse(at, "metric name given twice"));
                }
                out.push(Matcher::equal(METRIC_NAME, &name));
            }
            None => {
                return Err(Error::parse(
                    i,
                    "expected a matcher operator ('=', '!=', '=~' or '!~')",
                ))
            }
            Some(kind) => {
                i = skip_ws(s, i + kind.as_str().len());
                if !matches!(s.as_bytes().get(i), Some(b'"' | b'\'' | b'`')) {
                    return Err(Error::parse(
                        i,
                        "expected a quoted string after the operator",
                    ));
                }
                let (value, after) = read_string(s, i)?;
                let m = Matcher::with_regex_options(kind, &name, &value, opts).map_err(
                    |e| match e {
                        Error::Regex { reason, .. } => {
                            Error::parse(i, format!("invalid regex {value:?}: {reason}"))
                        }
                        other => other,
                    },
                )?;
                out.push(m);
                i = skip_ws(s, after);
            }
        }
        match s.as_bytes().get(i) {
            Some(b',') => i = skip_ws(s, i + 1),
            Some(b'}') => {}
            _ => return Err(Error::parse(i, "expected ',' or '}'")),
        }
    }
    i = skip_ws(s, i);
    if i < s.len() {
        return Err(Error::parse(i, "unexpected text after the selector"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_label_is_empty() {
        let ls: Labels = r#"{a="1"}"#.parse().unwrap();
        assert!(Matcher::equal("b", "").matches_labels(&ls));
        assert!(!Matcher::new(MatchType::NotEqual, "b", "")
            .unwrap()
            .matches_labels(&ls));
        assert!(Matcher::new(MatchType::Regex, "b", ".*")
            .unwrap()
            .matches_labels(&ls));
        assert!(!Matcher::new(MatchType::Regex, "b", ".+")
            .unwrap()
            .matches_labels(&ls));
    }

    #[test]
    fn selectors() {
        let ms = parse_selector(r#"{job="x", instance=~"a.*", "x.y"!~'z',}"#).unwrap();
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[2].to_string(), r#""x.y"!~"z""#);
        // Fuzz regression: `:` is allowed in metric names, not in label names.
        let m = Matcher::equal("rt:_H9", "c");
        assert_eq!(m.to_string(), r#""rt:_H9"="c""#);
        assert_eq!(parse_selector(&format!("{{{m}}}")).unwrap()[0], m);
        let ms = parse_selector(r#"{"my.metric"}"#).unwrap();
        assert_eq!(ms[0].to_string(), r#"__name__="my.metric""#);
        assert_eq!(parse_selector("up").unwrap().len(), 1);
        assert_eq!(parse_selector("{}").unwrap().len(), 0);
        for (bad, at) in [
            (r#"{job="x""#, 8),
            (r#"{job x}"#, 5),
            (r#"{job=x}"#, 5),
            (r#"{job=~"a("}"#, 6),
            (r#"up{} junk"#, 5),
            ("", 0),
        ] {
            match parse_selector(bad) {
                Err(Error::Parse { offset, .. }) => assert_eq!(offset, at, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn set_matches() {
        let m = Matcher::new(MatchType::Regex, "a", "x|y").unwrap();
        assert_eq!(m.set_matches(), Some(vec!["x", "y"]));
        assert_eq!(Matcher::equal("a", "v").set_matches(), Some(vec!["v"]));
        assert!(Matcher::new(MatchType::Regex, "a", "x.*")
            .unwrap()
            .set_matches()
            .is_none());
    }
}

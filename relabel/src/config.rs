//! The relabel config as Prometheus writes it, its YAML form and its validation.

use std::fmt;

use lookout_model::{GoRegex, NameValidation, RegexOptions};
use serde::Deserialize;

use crate::error::Error;

/// The regex a rule uses when none is written.
pub(crate) const DEFAULT_REGEX: &str = "(.*)";
/// The separator a rule uses when none is written.
pub(crate) const DEFAULT_SEPARATOR: &str = ";";
/// The replacement a rule uses when none is written.
pub(crate) const DEFAULT_REPLACEMENT: &str = "$1";

/// A relabel action (`action:`), matched case-insensitively as Prometheus does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Set `target_label` to the expanded `replacement` when the regex matches.
    Replace,
    /// Drop the label set unless the regex matches.
    Keep,
    /// Drop the label set when the regex matches.
    Drop,
    /// Drop the label set unless `target_label` equals the joined source values.
    KeepEqual,
    /// Drop the label set when `target_label` equals the joined source values.
    DropEqual,
    /// Set `target_label` to the MD5-based hash of the joined values modulo `modulus`.
    HashMod,
    /// Copy every label whose name matches to the name given by `replacement`.
    LabelMap,
    /// Delete every label whose name matches.
    LabelDrop,
    /// Delete every label whose name does not match.
    LabelKeep,
    /// Set `target_label` to the joined values in lower case.
    Lowercase,
    /// Set `target_label` to the joined values in upper case.
    Uppercase,
}

impl Action {
    /// The name as written in configs (`"replace"`, `"labelmap"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name, ignoring ASCII and Unicode case as Go's `strings.ToLower` does.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s.to_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One relabel rule, field for field as Prometheus' `<relabel_config>`.
///
/// [`RelabelConfig::default`] holds Prometheus' defaults (action `replace`, separator `;`, regex
/// `(.*)`, replacement `$1`). A config is checked and compiled by
/// [`Relabeler::new`](crate::Relabeler::new).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawConfig")]
#[non_exhaustive]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the input of the rule.
    pub source_labels: Vec<String>,
    /// Joins the source values.
    pub separator: String,
    /// The regex as written, in Go (RE2) syntax; `None` is the default `(.*)`. An explicitly
    /// written regex differs from the default even when the text is `(.*)`: `keepequal` and
    /// `dropequal` reject it, as Prometheus does.
    pub regex: Option<String>,
    /// The modulus of `hashmod`.
    pub modulus: u64,
    /// The label written by `replace`, `hashmod`, `lowercase`, `uppercase`, or compared by
    /// `keepequal` and `dropequal`.
    pub target_label: String,
    /// The template written by `replace` and `labelmap` (`$1`, `${name}`, …).
    pub replacement: String,
    /// The action; `None` stands for an empty action, which validation rejects.
    pub action: Option<Action>,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: None,
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Some(Action::Replace),
        }
    }
}

impl RelabelConfig {
    /// A rule with Prometheus' defaults and the given action.
    pub fn new(action: Action) -> RelabelConfig {
        RelabelConfig {
            action: Some(action),
            ..RelabelConfig::default()
        }
    }

    /// Sets `source_labels`.
    pub fn source_labels<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.source_labels = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `separator`.
    pub fn separator(mut self, s: impl Into<String>) -> Self {
        self.separator = s.into();
        self
    }

    /// Sets `regex` (Go syntax).
    pub fn regex(mut self, s: impl Into<String>) -> Self {
        self.regex = Some(s.into());
        self
    }

    /// Sets `modulus`.
    pub fn modulus(mut self, m: u64) -> Self {
        self.modulus = m;
        self
    }

    /// Sets `target_label`.
    pub fn target_label(mut self, s: impl Into<String>) -> Self {
        self.target_label = s.into();
        self
    }

    /// Sets `replacement`.
    pub fn replacement(mut self, s: impl Into<String>) -> Self {
        self.replacement = s.into();
        self
    }

    /// Checks the rule as Prometheus' `Config.Validate` does, with its error texts. Regexes are
    /// compiled separately, when the rule is compiled.
    pub fn validate(&self, scheme: NameValidation) -> Result<(), String> {
        let Some(action) = self.action else {
            return Err("relabel action cannot be empty".to_string());
        };
        use Action::*;
        let t = self.target_label.as_str();
        if self.modulus == 0 && action == HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".to_string());
        }
        let writes_target = matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if writes_target && t.is_empty() {
            return Err(format!(
                "relabel configuration for {action} action requires 'target_label' value"
            ));
        }
        let bad_target = || {
            Err(format!(
                "{t:?} is invalid 'target_label' for {action} action"
            ))
        };
        if action == Replace && !template_name_valid(t, scheme) {
            return bad_target();
        }
        let plain_target = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
        if plain_target && !scheme.is_valid_label_name(t) {
            return bad_target();
        }
        if plain_target && self.replacement != DEFAULT_REPLACEMENT {
            return Err(format!("'replacement' can not be set for {action} action"));
        }
        if action == LabelMap && !template_name_valid(&self.replacement, scheme) {
            return Err(format!(
                "{:?} is invalid 'replacement' for {action} action",
                self.replacement
            ));
        }
        if action == HashMod && !scheme.is_valid_label_name(t) {
            return bad_target();
        }
        if matches!(action, KeepEqual | DropEqual)
            && (self.regex.is_some()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{action} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (!self.source_labels.is_empty()
                || !t.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{action} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }

    /// The regex text the rule uses.
    pub(crate) fn regex_text(&self) -> &str {
        self.regex.as_deref().unwrap_or(DEFAULT_REGEX)
    }

    /// Compiles the regex with `opts`.
    pub(crate) fn compile_regex(
        &self,
        opts: RegexOptions,
    ) -> Result<GoRegex, lookout_model::Error> {
        GoRegex::with_options(self.regex_text(), opts)
    }
}

/// Whether `t` is acceptable as a `replace` target or `labelmap` replacement: a valid name when
/// it has no `$`; with `$`, plain validity under UTF-8 and Prometheus' pattern
/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` under the legacy scheme.
pub(crate) fn template_name_valid(t: &str, scheme: NameValidation) -> bool {
    if !t.contains('$') || scheme != NameValidation::Legacy {
        return scheme.is_valid_label_name(t);
    }
    legacy_template_ok(t)
}

/// Matches `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` (ASCII `\w`). The language is: a
/// non-empty sequence of items, each a letter or `_`, or a `$` reference, followed by word
/// characters; a digit may only follow some item. So the text must start with a letter, `_` or
/// a well-formed reference, and every `$` must start a well-formed reference.
pub(crate) fn legacy_template_ok(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            let rest = &b[i + 1..];
            if rest.first() == Some(&b'{') {
                let n = rest[1..].iter().take_while(|&&c| word(c)).count();
                if n == 0 || rest.get(1 + n) != Some(&b'}') {
                    return false;
                }
                i += 1 + 1 + n + 1;
            } else {
                let n = rest.iter().take_while(|&&c| word(c)).count();
                if n == 0 {
                    return false;
                }
                i += 1 + n;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || (!first && c.is_ascii_digit()) {
            i += 1;
        } else {
            return false;
        }
        first = false;
    }
    !first
}

// ---------------------------------------------------------------------------------------------
// YAML.

/// A rule as written in YAML: `None` for an absent key, `Some(None)` for a key with a null value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, deserialize_with = "present")]
    source_labels: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    separator: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    regex: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    modulus: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    target_label: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    replacement: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    action: Option<Option<String>>,
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::<T>::deserialize(d)?))
}

/// Overlays the keys given on Prometheus' defaults. A null value reads as Go's zero value,
/// except that a null regex is the empty regex.
impl TryFrom<RawConfig> for RelabelConfig {
    type Error = String;
    fn try_from(raw: RawConfig) -> Result<RelabelConfig, String> {
        let d = RelabelConfig::default();
        let action = match raw.action {
            None => d.action,
            Some(None) => None,
            Some(Some(s)) => match Action::parse(&s) {
                Some(a) => Some(a),
                None => return Err(format!("unknown relabel action {s:?}")),
            },
        };
        Ok(RelabelConfig {
            source_labels: raw
                .source_labels
                .map_or(d.source_labels, Option::unwrap_or_default),
            separator: raw.separator.map_or(d.separator, Option::unwrap_or_default),
            regex: raw.regex.map(Option::unwrap_or_default),
            modulus: raw.modulus.map_or(d.modulus, Option::unwrap_or_default),
            target_label: raw
                .target_label
                .map_or(d.target_label, Option::unwrap_or_default),
            replacement: raw
                .replacement
                .map_or(d.replacement, Option::unwrap_or_default),
            action,
        })
    }
}

/// Where a rule came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) index: usize,
    pub(crate) line: u64,
}

/// The most YAML input we read (a relabel list is a few kilobytes).
const MAX_YAML: usize = 16 << 20;

/// Parses a YAML list of relabel configs; with each config, the 1-based line where it starts.
/// Only YAML errors are reported here; validation comes later.
pub(crate) fn parse_yaml(text: &str) -> Result<Vec<(RelabelConfig, Origin)>, Error> {
    if text.len() > MAX_YAML {
        return Err(Error::Yaml {
            line: 0,
            column: 0,
            message: format!(
                "input of {} bytes exceeds the limit of {MAX_YAML}",
                text.len()
            ),
        });
    }
    let mut opts = serde_saphyr::Options::default();
    opts.with_snippet = false;
    // An empty document is an empty list, as in Prometheus.
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Option<Vec<serde_saphyr::Spanned<RelabelConfig>>> =
        serde_saphyr::from_str_with_options(text, opts).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            Error::Yaml {
                line,
                column,
                message: yaml_message(&e),
            }
        })?;
    let mut out = Vec::new();
    for (index, r) in raw.unwrap_or_default().into_iter().enumerate() {
        let line = r.referenced.line();
        out.push((r.value, Origin { index, line }));
    }
    Ok(out)
}

/// The message of a YAML error without its "line L column C" prefix (we print our own).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "line 1 column 12: invalid u64" -> "invalid u64"
    match first.strip_prefix("line ") {
        Some(rest) => match rest.find(": ") {
            Some(p) => rest[p + 2..].to_string(),
            None => first.to_string(),
        },
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_pattern() {
        for (t, ok) in [
            ("label", true),
            ("${1}", true),
            ("$1", true),
            ("a$1", true),
            ("$1a", true),
            ("_${1}_", true),
            ("1$a", false),
            ("$", false),
            ("${", false),
            ("${}", false),
            ("${a-b}", false),
            ("a.b$1", false),
            ("", false),
        ] {
            assert_eq!(legacy_template_ok(t), ok, "{t}");
        }
    }

    #[test]
    fn yaml_defaults_and_nulls() {
        let text = "- source_labels: [a, b]\n  regex: 0\n  action: Keep\n- regex:\n  target_label: x\n- action: replace\n  target_label: y\n  replacement:\n  separator: ''\n";
        let v = parse_yaml(text).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].0.regex.as_deref(), Some("0"));
        assert_eq!(v[0].0.action, Some(Action::Keep));
        assert_eq!(v[0].1.line, 1);
        assert_eq!(v[1].0.regex.as_deref(), Some(""));
        assert_eq!(v[1].0.replacement, "$1");
        assert_eq!(v[1].1.line, 4);
        assert_eq!(v[2].0.replacement, "");
        assert_eq!(v[2].0.separator, "");
        assert_eq!(v[2].0.regex, None);
    }

    #[test]
    fn yaml_errors() {
        let e = parse_yaml("- action: frob\n").unwrap_err().to_string();
        assert!(e.contains("unknown relabel action \"frob\""), "{e}");
        let e = parse_yaml("- bogus: 1\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse_yaml("- modulus: -1\n").is_err());
        assert!(parse_yaml("a: b\n").is_err());
        assert!(parse_yaml("").unwrap().is_empty());
    }
}

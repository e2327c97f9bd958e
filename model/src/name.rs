//! Label and metric name validation.

/// The label name that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Which names are valid: the classic rule, or the UTF-8 names that Prometheus 3 accepts.
///
/// Prometheus 3 validates with [`NameValidation::Utf8`] by default; Prometheus 2 and many
/// configs still use [`NameValidation::Legacy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum NameValidation {
    /// Label names `[a-zA-Z_][a-zA-Z0-9_]*`, metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    Legacy,
    /// Any non-empty UTF-8 string.
    #[default]
    Utf8,
}

impl NameValidation {
    /// Whether `name` is a valid label name under this scheme.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => is_legacy_label_name(name),
            NameValidation::Utf8 => !name.is_empty(),
        }
    }

    /// Whether `name` is a valid metric name under this scheme.
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => is_legacy_metric_name(name),
            NameValidation::Utf8 => !name.is_empty(),
        }
    }
}

/// Whether `name` matches the classic label name rule `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Whether `name` matches the classic metric name rule `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_legacy_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rules() {
        for ok in ["a", "_", "abc_1", "A9", "__name__"] {
            assert!(is_legacy_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a:b", "é", "a b"] {
            assert!(!is_legacy_label_name(bad), "{bad}");
        }
        assert!(is_legacy_metric_name("a:b_c"));
        assert!(is_legacy_metric_name(":a"));
        assert!(!is_legacy_metric_name("0a"));
        assert!(!is_legacy_metric_name("a.b"));
    }

    #[test]
    fn utf8_rules() {
        let s = NameValidation::Utf8;
        assert!(s.is_valid_label_name("0foo"));
        assert!(s.is_valid_label_name("utf-8.label"));
        assert!(!s.is_valid_label_name(""));
        assert!(s.is_valid_metric_name("my.metric"));
    }
}

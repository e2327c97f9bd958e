//! The one error type of `lookout-relabel`.

/// Why a relabel config list could not be loaded or compiled. Each variant says which rule
/// (0-based index in the list) and, for YAML input, the line where that rule starts (0 when the
/// config was built in code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not valid YAML for a list of relabel configs.
    #[error("line {line} column {column}: {message}")]
    Yaml {
        /// 1-based line of the problem (0 if unknown).
        line: u64,
        /// 1-based column of the problem (0 if unknown).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// A rule breaks one of Prometheus' validation rules; `reason` is Prometheus' own message.
    #[error("relabel config {index} (line {line}): {reason}")]
    Invalid {
        /// 0-based index of the rule.
        index: usize,
        /// 1-based line where the rule starts (0 when not from YAML).
        line: u64,
        /// Prometheus' message, e.g. `relabel configuration for hashmod requires non-zero modulus`.
        reason: String,
    },
    /// A rule's regex is not valid Go (RE2) syntax or is too large.
    #[error("relabel config {index} (line {line}): {source}")]
    Regex {
        /// 0-based index of the rule.
        index: usize,
        /// 1-based line where the rule starts (0 when not from YAML).
        line: u64,
        /// The regex error.
        #[source]
        source: lookout_model::Error,
    },
}

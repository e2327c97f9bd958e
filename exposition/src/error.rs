//! The one error type of `lookout-exposition`.

use std::fmt;

/// Everything that can go wrong while reading or writing an exposition payload.
///
/// Text errors carry the 1-based line and column (in bytes) where the problem was found and a
/// [`TextProblem`] saying what was expected; binary errors carry the byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A text payload (Prometheus 0.0.4 or OpenMetrics) does not parse.
    #[error("{line}:{column}: {problem}")]
    Text {
        /// 1-based line number.
        line: usize,
        /// 1-based column, counted in bytes from the start of the line.
        column: usize,
        /// What was expected, or which rule was broken.
        problem: TextProblem,
    },
    /// A protobuf payload (exposition or remote write) does not decode.
    #[error("byte {offset}: {problem}")]
    Protobuf {
        /// Byte offset into the (decompressed) payload where the bad message starts.
        offset: usize,
        /// What is wrong.
        problem: ProtoProblem,
    },
    /// A snappy block does not decompress.
    #[error("snappy: {0}")]
    Snappy(#[source] snap::Error),
    /// An input exceeds a configured bound (decompressed size, message size, label count).
    #[error("{what} is {size} bytes or items, over the limit of {limit}")]
    TooLarge {
        /// Which quantity.
        what: &'static str,
        /// The size found (or announced).
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A `Content-Type` header names no format Prometheus scrapes, and no fallback was given.
    #[error("unsupported Content-Type {content_type:?} and no fallback protocol")]
    UnsupportedContentType {
        /// The header as received.
        content_type: String,
    },
    /// An encoder was asked to write something its format cannot express.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// The offending name or value.
        what: String,
        /// Why it cannot be written.
        reason: &'static str,
    },
    /// Writing to the output failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What went wrong on a line of a text payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextProblem {
    /// A token was expected and something else was found.
    Expected {
        /// What the grammar allows here (`"label value"`, `"equal"`, ...).
        expected: &'static str,
        /// The text found instead (at most a few bytes, escaped), or `end of input`.
        found: String,
    },
    /// A sample or exemplar value is not a number.
    InvalidNumber {
        /// `value`, `timestamp`, `exemplar value` or `exemplar timestamp`.
        what: &'static str,
        /// The text that did not parse.
        text: String,
    },
    /// A number uses a character Prometheus refuses (`p`, `P` or `_`: hex floats and digit
    /// separators).
    UnsupportedFloatCharacter {
        /// The text that did not parse.
        text: String,
    },
    /// A timestamp is NaN or infinite.
    NonFiniteTimestamp {
        /// The text given.
        text: String,
    },
    /// `# TYPE` names no type of this format.
    InvalidMetricType {
        /// The type text.
        text: String,
    },
    /// A label value, help text or name is not valid UTF-8.
    InvalidUtf8 {
        /// Which part.
        what: &'static str,
    },
    /// A `# UNIT` is not a suffix of its metric name.
    UnitNotSuffix {
        /// The unit.
        unit: String,
        /// The metric name.
        metric: String,
    },
    /// A sample has labels in braces but no metric name.
    MetricNameNotSet,
    /// A quoted metric name appears twice, or after an unquoted one.
    MetricNameAlreadySet,
    /// A label name appears twice in one sample (including `__name__`).
    DuplicateLabel {
        /// The repeated name.
        name: String,
    },
    /// An OpenMetrics payload does not end with `# EOF`.
    MissingEof,
    /// Something follows `# EOF`.
    DataAfterEof,
    /// A strict OpenMetrics rule is broken.
    Strict {
        /// The rule, in the words of the specification.
        rule: &'static str,
        /// The family, metric or value concerned.
        subject: String,
    },
}

impl fmt::Display for TextProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextProblem::Expected { expected, found } => {
                write!(f, "expected {expected}, got {found}")
            }
            TextProblem::InvalidNumber { what, text } => write!(f, "invalid {what} {text:?}"),
            TextProblem::UnsupportedFloatCharacter { text } => {
                write!(f, "unsupported character in float {text:?}")
            }
            TextProblem::NonFiniteTimestamp { text } => write!(f, "invalid timestamp {text}"),
            TextProblem::InvalidMetricType { text } => write!(f, "invalid metric type {text:?}"),
            TextProblem::InvalidUtf8 { what } => write!(f, "invalid UTF-8 in {what}"),
            TextProblem::UnitNotSuffix { unit, metric } => {
                write!(f, "unit {unit:?} not a suffix of metric {metric:?}")
            }
            TextProblem::MetricNameNotSet => f.write_str("metric name not set"),
            TextProblem::MetricNameAlreadySet => f.write_str("metric name already set"),
            TextProblem::DuplicateLabel { name } => write!(f, "label name {name:?} is not unique"),
            TextProblem::MissingEof => f.write_str("data does not end with # EOF"),
            TextProblem::DataAfterEof => f.write_str("unexpected data after # EOF"),
            TextProblem::Strict { rule, subject } => write!(f, "{rule}: {subject}"),
        }
    }
}

/// What is wrong with a protobuf payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoProblem {
    /// The message does not decode (the decoder's own words).
    Decode(String),
    /// A length prefix is missing, empty or longer than 5 bytes.
    BadLengthPrefix,
    /// A length prefix announces more bytes than remain.
    Truncated {
        /// Bytes announced.
        announced: usize,
        /// Bytes left.
        left: usize,
    },
    /// The message decodes but breaks a rule of the format.
    Invalid(&'static str),
    /// A native histogram's spans and bucket counts disagree.
    SpanMismatch {
        /// Buckets the spans describe.
        spans: usize,
        /// Buckets present.
        buckets: usize,
    },
}

impl fmt::Display for ProtoProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoProblem::Decode(m) => write!(f, "invalid protobuf: {m}"),
            ProtoProblem::BadLengthPrefix => f.write_str("invalid varint length prefix"),
            ProtoProblem::Truncated { announced, left } => {
                write!(f, "message of {announced} bytes announced, {left} left")
            }
            ProtoProblem::Invalid(m) => f.write_str(m),
            ProtoProblem::SpanMismatch { spans, buckets } => {
                write!(f, "spans require {spans} buckets, have {buckets}")
            }
        }
    }
}

/// Finds the 1-based line and byte column of `offset` in `input`.
pub(crate) fn line_col(input: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(input.len());
    let before = input.get(..offset).unwrap_or(input);
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    (line, offset - start + 1)
}

/// Describes the input found at an error position: its first character, or `end of input`.
pub(crate) fn describe(bytes: &[u8]) -> String {
    let Some(&first) = bytes.first() else {
        return "end of input".to_string();
    };
    let len = match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    };
    let shown = bytes.get(..len).unwrap_or(&bytes[..1]);
    match std::str::from_utf8(shown) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("byte 0x{first:02x}"),
    }
}

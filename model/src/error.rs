//! The one error type of `lookout-model`.

use std::fmt;

/// Everything that can go wrong in `lookout-model`: invalid names, text that does not parse,
/// regexes Go would reject, and failures reported by a storage behind the [`Querier`](crate::Querier)
/// trait.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label name is not valid under the chosen [`NameValidation`](crate::NameValidation) scheme.
    #[error("invalid label name {name:?}")]
    InvalidLabelName {
        /// The offending name.
        name: String,
    },
    /// A metric name is not valid under the chosen scheme.
    #[error("invalid metric name {name:?}")]
    InvalidMetricName {
        /// The offending name.
        name: String,
    },
    /// A label set or selector text does not parse.
    #[error("parse error at byte {offset}: {message}")]
    Parse {
        /// Byte offset into the input where the problem was found.
        offset: usize,
        /// What was expected or what is wrong.
        message: ParseMessage,
    },
    /// A regular expression is not valid RE2 (Go) syntax, or is too large.
    #[error("invalid regex {pattern:?}: {reason}")]
    Regex {
        /// The pattern as the user wrote it.
        pattern: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A duration or timestamp does not parse.
    #[error("invalid {what} {text:?}")]
    InvalidTime {
        /// "duration" or "timestamp".
        what: &'static str,
        /// The text given.
        text: String,
    },
    /// A storage behind the [`Querier`](crate::Querier) trait failed.
    #[error("storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A query exceeded a limit set by the caller (samples, series, time).
    #[error("limit exceeded: {0}")]
    Limit(&'static str),
    /// The caller cancelled the operation.
    #[error("operation cancelled")]
    Cancelled,
}

impl Error {
    /// Wraps an error from a storage implementation.
    pub fn storage<E>(err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error::Storage(Box::new(err))
    }

    pub(crate) fn parse(offset: usize, message: impl Into<ParseMessage>) -> Self {
        Error::Parse {
            offset,
            message: message.into(),
        }
    }
}

/// The message of a [`Error::Parse`]: a fixed text for the common cases, owned text where the
/// message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMessage(std::borrow::Cow<'static, str>);

impl From<&'static str> for ParseMessage {
    fn from(s: &'static str) -> Self {
        ParseMessage(std::borrow::Cow::Borrowed(s))
    }
}

impl From<String> for ParseMessage {
    fn from(s: String) -> Self {
        ParseMessage(std::borrow::Cow::Owned(s))
    }
}

impl fmt::Display for ParseMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ParseMessage {
    /// The message text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

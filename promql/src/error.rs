//! The crate's error type.

use std::fmt;

use crate::Span;

/// A PromQL parse or type-check error: what is wrong and the byte range where.
///
/// `Display` follows Prometheus: `LINE:COL: parse error: MESSAGE` (both 1-based, columns in
/// bytes). [`ParseError::render`] draws the offending range under the query with carets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query does not parse or does not type-check.
    #[error("{0}")]
    Parse(ParseError),
    /// Evaluating a query failed (Prometheus' wording, e.g. a many-to-many match, a limit hit,
    /// a timeout).
    #[error("{message}")]
    Eval {
        /// What went wrong, as Prometheus words it.
        message: String,
    },
    /// A promqltest script does not read.
    #[error("line {line}: {message}")]
    Script {
        /// The 1-based line of the script.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One parse error with its byte range in the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    span: Span,
    message: String,
    /// Line and column (1-based) of the start, filled in once the query text is known.
    line_col: Option<(usize, usize)>,
}

impl ParseError {
    pub(crate) fn new(span: Span, message: impl Into<String>) -> ParseError {
        ParseError {
            span,
            message: message.into(),
            line_col: None,
        }
    }

    pub(crate) fn locate(mut self, src: &str) -> ParseError {
        let start = self.span.start.min(src.len());
        // Bytes, not chars: a newline is one byte in UTF-8, and byte loops are far cheaper.
        let before = src.get(..start).unwrap_or("").as_bytes();
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = start
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        self.line_col = Some((line, col));
        self
    }

    /// The byte range the error is about.
    pub fn span(&self) -> Span {
        self.span
    }

    /// The message alone, as Prometheus words it (without position).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Renders the error under the query with a caret line:
    ///
    /// ```text
    /// 1:5: parse error: unexpected identifier "bar"
    ///   foo bar
    ///       ^~~
    /// ```
    pub fn render(&self, src: &str) -> String {
        let start = self.span.start.min(src.len());
        let end = self.span.end.clamp(start, src.len());
        let line_start = src
            .get(..start)
            .and_then(|s| s.rfind('\n'))
            .map_or(0, |p| p + 1);
        let line_end = src
            .get(start..)
            .and_then(|s| s.find('\n'))
            .map_or(src.len(), |p| start + p);
        let line = src.get(line_start..line_end).unwrap_or("");
        let pad: String = src
            .get(line_start..start)
            .unwrap_or("")
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let width = src
            .get(start..end.min(line_end))
            .map_or(0, |s| s.chars().count())
            .max(1);
        let mut marks = String::from("^");
        for _ in 1..width {
            marks.push('~');
        }
        format!("{self}\n  {line}\n  {pad}{marks}")
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((l, c)) => write!(f, "{l}:{c}: parse error: {}", self.message),
            None => write!(f, "{}: parse error: {}", self.span.start, self.message),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Error {
        Error::Parse(e)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let err = crate::parse("foo +\n  bar baz").expect_err("fails");
        assert_eq!(
            err.to_string(),
            "2:7: parse error: unexpected identifier \"baz\""
        );
        assert_eq!(err.span().start, 12);
        assert_eq!(
            err.render("foo +\n  bar baz"),
            "2:7: parse error: unexpected identifier \"baz\"\n    bar baz\n        ^~~"
        );
    }
}

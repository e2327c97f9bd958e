//! The one error type of `lookout-template`.

/// What can go wrong parsing or executing a template. Both carry the template name and the
/// position of the fault; the messages read as Go's `text/template` writes them (parse errors
/// name the line only, execution errors the line and Go's 0-based byte column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template text does not parse.
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// The template's name.
        name: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters (Go's message does not print it).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Executing the template failed (a function error, a bad field, a limit).
    #[error("template: {name}:{line}:{column}: executing {name:?} at <{action}>: {message}")]
    Exec {
        /// The template's name.
        name: String,
        /// 1-based line of the failing action.
        line: usize,
        /// 0-based byte offset of the failing node within its line, as Go's
        /// `Tree.ErrorContext` counts it.
        column: usize,
        /// The text of the failing action.
        action: String,
        /// What went wrong.
        message: String,
    },
}

/// An error with a byte position, before it is placed in a named template.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) pos: usize,
    pub(crate) msg: String,
}

impl Raw {
    pub(crate) fn parse(pos: usize, msg: impl Into<String>) -> Raw {
        Raw {
            pos,
            msg: msg.into(),
        }
    }
}

/// 0-based byte offset of `pos` within its line, as Go's `Tree.ErrorContext` reports it.
pub(crate) fn go_byte_col(src: &str, pos: usize) -> usize {
    let pos = pos.min(src.len());
    match src.as_bytes()[..pos].iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - (nl + 1),
        None => pos,
    }
}

/// 1-based line and column of byte `pos` in `src`.
pub(crate) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = src.get(..pos).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

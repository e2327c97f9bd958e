//! The one error type of `lookout-template`.

/// What can go wrong parsing or executing a template. Both carry the template name and the
/// line and column (1-based, in characters) of the action at fault, as Go's messages do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template text does not parse.
    #[error("template: {name}:{line}:{column}: {message}")]
    Parse {
        /// The template's name.
        name: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
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
        /// 1-based column of the failing action.
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

//! The one error type of `lookout-tsdb`.

use std::path::PathBuf;

/// Everything that can go wrong in `lookout-tsdb`. Variants that concern bytes say where:
/// the file and byte offset, or the sample index inside a chunk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A chunk's bytes do not decode.
    #[error("corrupt chunk: {reason} (sample {sample})")]
    CorruptChunk {
        /// What is wrong.
        reason: &'static str,
        /// The index of the sample being decoded when the problem was found.
        sample: usize,
    },
    /// A chunk cannot take more samples (it holds 65 535) or the sample is not after the last.
    #[error("chunk append rejected: {0}")]
    ChunkFull(&'static str),
    /// A file in one of Prometheus' formats is malformed.
    #[error("{}: corrupt at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A WAL record does not decode.
    #[error("corrupt WAL record at byte {offset}: {reason}")]
    CorruptRecord {
        /// Byte offset inside the record.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An I/O operation on a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The sample is older than the newest sample of its series (Prometheus' "out of order sample").
    #[error("out of order sample")]
    OutOfOrderSample,
    /// A different value at the newest timestamp of a series (Prometheus' "duplicate sample for
    /// timestamp").
    #[error("duplicate sample for timestamp")]
    DuplicateSample,
    /// The sample is older than the head accepts (Prometheus' "out of bounds").
    #[error("out of bounds")]
    OutOfBounds,
    /// The label set is empty or repeats a label name.
    #[error("invalid label set {0}")]
    InvalidLabels(String),
    /// The series reference is not known to the head.
    #[error("unknown series reference {0}")]
    UnknownSeries(u64),
    /// Data handed to the block writer breaks a rule of the block format (series out of
    /// order, overlapping chunks, chunks outside the block's time range, ...).
    #[error("invalid block data: {0}")]
    InvalidBlock(String),
    /// The querier a block is written from failed.
    #[error("reading the source: {0}")]
    Source(#[source] lookout_model::Error),
    /// The head's data directory is locked by or unusable for another reason.
    #[error("{0}")]
    Config(&'static str),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

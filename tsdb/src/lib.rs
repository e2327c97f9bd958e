//! An embeddable time-series database in Prometheus' on-disk formats.
//!
//! - [`XorChunk`] / [`XorIterator`]: Prometheus' XOR (Gorilla) chunk encoding, byte for byte.
//! - [`Head`]: the in-memory, appendable store — series registry, roaring-bitmap postings,
//!   chunks cut as Prometheus' head cuts them, [`Appender`] batches with commit and rollback —
//!   readable through [`lookout_model::Querier`].
//! - [`wal`]: the write-ahead log in Prometheus' format; a head opened on a directory logs every
//!   commit and replays the log on open, cutting off a torn tail.
//! - [`head_chunks`]: `chunks_head/` files; completed head chunks are written there and read
//!   back through a memory map, so they leave the heap.
//! - [`block`]: reading blocks' chunk segments and index.
//! - [`write_dump`]: `promtool tsdb dump`'s output over any querier.
//!
//! # Durability
//! [`Appender::commit`] writes the batch to the WAL (a series record for series new to the WAL,
//! then one samples record) with `write(2)` before it applies the samples and returns, so once
//! it returns a crash of the process (SIGKILL, panic, OOM kill) loses nothing: the records are
//! in the operating system's page cache and [`Head::open`] replays them. Surviving a power loss
//! or kernel crash depends on [`FsyncPolicy`]: `EveryCommit` syncs before returning,
//! `OnSegmentCut` (the default, as Prometheus) syncs each 128 MiB segment when the next one
//! starts, `Interval(d)` syncs at the first commit `d` after the previous sync. A torn or
//! corrupt WAL tail is cut off on open (reported in [`ReplayStats::truncated`]); every record
//! before it is kept. [`Head::truncate`] checkpoints the WAL as Prometheus does.
//!
//! ```
//! use lookout_model::{parse_selector, Querier, SampleIterator, SelectHints, ValueKind};
//! use lookout_tsdb::{Head, HeadOptions, XorChunk, XorIterator};
//!
//! // Chunks on their own.
//! let mut chunk = XorChunk::new();
//! for i in 0..120 {
//!     chunk.append(i * 15_000, i as f64)?;
//! }
//! let mut it = XorIterator::new(chunk.bytes());
//! assert_eq!(it.seek(60_000), ValueKind::Float);
//! assert_eq!(it.at().v, 4.0);
//!
//! // A durable head in a data directory.
//! let dir = std::env::temp_dir().join(format!("lookout-tsdb-doc-{}", std::process::id()));
//! let (head, _replay) = Head::open(&dir, HeadOptions::default())?;
//! let mut app = head.appender();
//! let up = app.append(&r#"up{job="api"}"#.parse()?, 15_000, 1.0)?;
//! app.append_ref(up, 30_000, 0.0)?; // the fast path: no label hashing
//! app.commit()?;
//! head.close()?;
//! let (head, replay) = Head::open(&dir, HeadOptions::default())?;
//! assert_eq!(replay.samples, 2);
//! let mut set = head.select(0, 60_000, &parse_selector("up")?, &SelectHints::default())?;
//! let series = set.next().unwrap()?;
//! let mut it = series.iter();
//! assert_eq!(it.next(), ValueKind::Float);
//! assert_eq!(it.at().t, 15_000);
//! # drop(it); drop(series); drop(set); drop(head);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
// The one unsafe block maps head chunk files (`head_chunks::map_file`).
#![deny(unsafe_code)]

pub mod block;
mod dump;
mod error;
mod head;
pub mod head_chunks;
mod query;
pub mod record;
pub mod wal;
mod xor;

pub use crate::dump::write_dump;
pub use crate::error::{Error, Result};
pub use crate::head::{
    Appender, Head, HeadChunk, HeadOptions, HeadStats, ReplayStats, SeriesRef, TruncateStats,
};
pub use crate::wal::{FsyncPolicy, WalOptions};
pub use crate::xor::{
    decode_xor, xor_num_samples, ChunkFlavor, XorChunk, XorIterator, MAX_SAMPLES,
};

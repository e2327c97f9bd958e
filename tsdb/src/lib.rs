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
//! - [`Block`]: a block directory read through memory maps (index versions 1 and 2, CRC-checked,
//!   tombstones applied), queried through [`lookout_model::Querier`]; [`MergeQuerier`] chains
//!   blocks and the head as Prometheus does, [`open_read_only`] opens a whole data directory.
//! - [`block_writer`]: writing blocks Prometheus 2.42, promtool and Thanos open as their own
//!   (byte-identical to promtool's), from encoded chunks, samples or any querier; [`meta`]
//!   (`meta.json`, ULIDs) and [`tombstones`] read and write the other block files.
//! - [`Db`]: the database over a data directory Prometheus 2.42 also opens — lock file, head
//!   cut into 2 h blocks, leveled compaction planned as Prometheus plans it ([`compact`]),
//!   retention by time and size ([`retention`]), deletion through tombstones, snapshots, a
//!   background compaction thread; queried through [`lookout_model::Querier`].
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
// The unsafe blocks map files: head chunk files (`head_chunks::map_file`) and block files
// (`block::map_block_file`).
#![deny(unsafe_code)]

pub mod block;
mod block_query;
pub mod block_writer;
pub mod compact;
mod db;
mod dump;
mod error;
mod head;
pub mod head_chunks;
mod index;
pub mod merge;
pub mod meta;
mod query;
pub mod record;
pub mod retention;
pub mod tombstones;
pub mod wal;
mod xor;

pub use crate::block::Block;
pub use crate::db::{CompactStats, Db, DbOptions, DbQuerier};
pub use crate::dump::write_dump;
pub use crate::error::{Error, Result};
pub use crate::head::{
    Appender, Head, HeadChunk, HeadOptions, HeadStats, ReplayStats, SeriesRef, TruncateStats,
};
pub use crate::merge::{open_read_only, MergeQuerier, ReadOnlyDb};
pub use crate::wal::{FsyncPolicy, WalOptions};
pub use crate::xor::{
    decode_xor, decode_xor_into, xor_num_samples, ChunkFlavor, XorChunk, XorIterator, MAX_SAMPLES,
};

/// Helpers shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// A xorshift64 generator from `state` (non-zero): the pseudo-random source of the
    /// randomized tests.
    pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }
}

//! Writing Prometheus blocks (format doc §1, §2, §4, §10) that Prometheus 2.42, promtool and
//! Thanos open as their own.
//!
//! [`BlockWriter`] streams: chunks go to the segment files (`chunks/000001`, …) as each series
//! is added; only the series' label symbols and chunk metas (24 bytes per chunk) stay in
//! memory until [`BlockWriter::finish`] writes the index (format v2), `meta.json` and an empty
//! `tombstones`, fsyncs everything and renames `<ULID>.tmp-for-creation` to `<ULID>`.
//! [`write_block`] builds a block from any [`Querier`], re-encoding the samples into XOR
//! chunks cut as Prometheus' head cuts them (format doc §3.3).
//!
//! ```
//! use lookout_tsdb::block_writer::{BlockWriter, WriterOptions};
//! use lookout_tsdb::meta::Compaction;
//! let parent = std::env::temp_dir().join(format!("lookout-bw-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&parent)?;
//! let mut w = BlockWriter::create(&parent, 0, 7_200_000)?;
//! let up = r#"up{job="api"}"#.parse()?;
//! w.add_series_samples(&up, (0..10).map(|i| (i * 15_000, 1.0)))?;
//! let meta = w.finish(Compaction::default())?;
//! assert_eq!(meta.stats.num_samples, 10);
//! assert!(parent.join(&meta.ulid).join("index").is_file());
//! # std::fs::remove_dir_all(&parent)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use lookout_model::{Labels, MatchType, Matcher, Querier, SelectHints, ValueKind};

use crate::error::{Error, Result};
use crate::meta::{new_ulid, sync_dir, BlockMeta, Compaction};
use crate::tombstones::{put_uvarint, put_varint, Tombstones};
use crate::xor::{ChunkFlavor, XorChunk};

/// Magic number of a block chunk segment file.
const CHUNKS_MAGIC: u32 = 0x85BD_40DD;
/// Magic number of an index file.
const INDEX_MAGIC: u32 = 0xBAAA_D700;
/// Prometheus' maximum chunk segment size (`DefaultChunkSegmentSize`).
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 << 20;
/// Prometheus' head chunk range and default block duration: 2 h in ms.
pub const DEFAULT_CHUNK_RANGE: i64 = 7_200_000;
/// The XOR chunk encoding byte.
pub const ENCODING_XOR: u8 = 1;
/// Prometheus' target sample count per chunk (`samplesPerChunk`).
const SAMPLES_PER_CHUNK: usize = 120;
/// The suffix of a block directory being written.
pub const TMP_FOR_CREATION: &str = ".tmp-for-creation";

/// How a [`BlockWriter`] lays out chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriterOptions {
    /// The head chunk range that bounds chunks when samples are cut into chunks (format doc
    /// §3.3): Prometheus' head uses the minimum block duration (2 h); promtool's importer uses
    /// twice the block duration.
    pub chunk_range: i64,
    /// Which generation's XOR bytes to write. [`ChunkFlavor::Prometheus2`] (the default) makes
    /// blocks byte-identical to what Prometheus 2.42 writes; every reader accepts both.
    pub flavor: ChunkFlavor,
    /// The size at which a new chunk segment file is started (at most 4 GiB, since chunk
    /// references hold a 32-bit offset).
    pub segment_size: u64,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            chunk_range: DEFAULT_CHUNK_RANGE,
            flavor: ChunkFlavor::Prometheus2,
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

impl WriterOptions {
    /// Sets [`WriterOptions::chunk_range`].
    pub fn with_chunk_range(mut self, ms: i64) -> Self {
        self.chunk_range = ms;
        self
    }
    /// Sets [`WriterOptions::flavor`].
    pub fn with_flavor(mut self, flavor: ChunkFlavor) -> Self {
        self.flavor = flavor;
        self
    }
    /// Sets [`WriterOptions::segment_size`].
    pub fn with_segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }
}

/// One encoded chunk handed to [`BlockWriter::add_series`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkToWrite<'a> {
    /// Timestamp of the chunk's first sample.
    pub mint: i64,
    /// Timestamp of the chunk's last sample.
    pub maxt: i64,
    /// The encoding byte ([`ENCODING_XOR`] for float chunks; 2.42 reads 1, 2 and 3).
    pub encoding: u8,
    /// The chunk's bytes (for XOR: `be16 num_samples` then the bit stream).
    pub data: &'a [u8],
}

/// Cuts a series' samples into XOR chunks exactly as Prometheus 2.42's head does
/// (`memSeries.appendPreprocessor`, format doc §3.3): a chunk ends at the next multiple of
/// the chunk range, at a predicted end once it holds 30 samples, or at 240 samples.
#[derive(Debug)]
pub struct ChunkCutter {
    chunk_range: i64,
    flavor: ChunkFlavor,
    cur: Option<(XorChunk, i64, i64)>,
    next_at: i64,
    done: Vec<(i64, i64, Vec<u8>)>,
}

fn range_for_timestamp(t: i64, width: i64) -> i64 {
    (t / width) * width + width
}

fn compute_chunk_end_time(start: i64, cur: i64, max: i64) -> i64 {
    let den = (cur - start + 1).saturating_mul(4);
    let n = if den > 0 { (max - start) / den } else { 0 };
    if n <= 1 {
        return max;
    }
    start + (max - start) / n
}

impl ChunkCutter {
    /// A cutter for one series.
    pub fn new(chunk_range: i64, flavor: ChunkFlavor) -> ChunkCutter {
        ChunkCutter {
            chunk_range: chunk_range.max(1),
            flavor,
            cur: None,
            next_at: 0,
            done: Vec::new(),
        }
    }

    /// Appends a sample. Samples at or before the last appended timestamp are dropped (as the
    /// head rejects them); returns whether the sample was taken.
    pub fn append(&mut self, t: i64, v: f64) -> bool {
        if let Some((c, mint, maxt)) = &self.cur {
            if t <= *maxt {
                return false;
            }
            let n = c.num_samples();
            if n == SAMPLES_PER_CHUNK / 4 {
                self.next_at = compute_chunk_end_time(*mint, *maxt, self.next_at);
            }
            if t >= self.next_at || n >= SAMPLES_PER_CHUNK * 2 {
                self.cut();
            }
        }
        let (c, _, maxt) = self.cur.get_or_insert_with(|| {
            self.next_at = range_for_timestamp(t, self.chunk_range);
            (XorChunk::with_flavor(self.flavor), t, t)
        });
        // A fresh chunk holds fewer than 240 samples, far below the 65 535 limit.
        if c.append(t, v).is_err() {
            return false;
        }
        *maxt = t;
        true
    }

    fn cut(&mut self) {
        if let Some((c, mint, maxt)) = self.cur.take() {
            self.done.push((mint, maxt, c.into_bytes()));
        }
    }

    /// The chunks: `(mint, maxt, XOR bytes)` in time order; the cutter is empty afterwards.
    pub fn take_chunks(&mut self) -> Vec<(i64, i64, Vec<u8>)> {
        self.cut();
        std::mem::take(&mut self.done)
    }
}

/// Chunk segment files being written.
#[derive(Debug)]
struct Segments {
    dir: PathBuf,
    cur: Option<(PathBuf, BufWriter<File>)>,
    /// Files created so far; the current one has index `count - 1`.
    count: u32,
    pos: u64,
    max: u64,
    buf: Vec<u8>,
}

impl Segments {
    fn cut(&mut self) -> Result<()> {
        self.close_current()?;
        let path = self.dir.join(format!("{:06}", self.count + 1));
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut hdr = [0u8; 8];
        hdr[..4].copy_from_slice(&CHUNKS_MAGIC.to_be_bytes());
        hdr[4] = 1;
        w.write_all(&hdr).map_err(|e| Error::io(&path, e))?;
        self.cur = Some((path, w));
        self.count += 1;
        self.pos = 8;
        Ok(())
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some((path, w)) = self.cur.take() {
            let f = w
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }

    /// Writes one series' chunks, returning their references.
    fn write(&mut self, chunks: &[ChunkToWrite<'_>], refs: &mut Vec<u64>) -> Result<()> {
        // As Prometheus' ChunkWriter.WriteChunks: keep a series' chunks in one file unless they
        // cannot fit in any.
        let max_len: u64 = 5 + chunks
            .iter()
            .map(|c| c.data.len() as u64 + 5 + 1 + 4)
            .sum::<u64>();
        if self.cur.is_none()
            || self.pos > self.max
            || (self.pos + max_len > self.max && max_len <= self.max)
        {
            self.cut()?;
        }
        let Some((path, w)) = self.cur.as_mut() else {
            return Err(Error::InvalidBlock("no chunk segment open".into()));
        };
        for c in chunks {
            if self.pos > u32::MAX as u64 {
                return Err(Error::InvalidBlock(format!(
                    "chunk segment {} exceeds 4 GiB",
                    path.display()
                )));
            }
            refs.push(((self.count as u64 - 1) << 32) | self.pos);
            self.buf.clear();
            put_uvarint(&mut self.buf, c.data.len() as u64);
            self.buf.push(c.encoding);
            let crc = crc32c::crc32c_append(crc32c::crc32c(&[c.encoding]), c.data);
            w.write_all(&self.buf).map_err(|e| Error::io(&*path, e))?;
            w.write_all(c.data).map_err(|e| Error::io(&*path, e))?;
            w.write_all(&crc.to_be_bytes())
                .map_err(|e| Error::io(&*path, e))?;
            self.pos += (self.buf.len() + c.data.len() + 4) as u64;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct SeriesRec {
    /// (name, value) as provisional symbol IDs.
    labels: Box<[(u32, u32)]>,
    /// (mint, maxt, ref).
    chunks: Box<[(i64, i64, u64)]>,
}

/// Writes one block: add series in label order with [`add_series`](BlockWriter::add_series)
/// or [`add_series_samples`](BlockWriter::add_series_samples), then
/// [`finish`](BlockWriter::finish). Dropping an unfinished writer removes its temporary
/// directory.
#[derive(Debug)]
pub struct BlockWriter {
    parent: PathBuf,
    ulid: String,
    tmp: PathBuf,
    mint: i64,
    maxt: i64,
    opts: WriterOptions,
    segments: Segments,
    symbols: HashMap<Box<str>, u32>,
    symbol_list: Vec<Box<str>>,
    series: Vec<SeriesRec>,
    last: Option<Labels>,
    num_samples: u64,
    num_chunks: u64,
    refs: Vec<u64>,
    finished: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl BlockWriter {
    /// Starts a block for `[mint, maxt)` in `<parent>/<ULID>.tmp-for-creation` with default
    /// options.
    pub fn create(parent: &Path, mint: i64, maxt: i64) -> Result<BlockWriter> {
        BlockWriter::create_with_options(parent, mint, maxt, WriterOptions::default())
    }

    /// Starts a block for `[mint, maxt)` with the given options.
    pub fn create_with_options(
        parent: &Path,
        mint: i64,
        maxt: i64,
        opts: WriterOptions,
    ) -> Result<BlockWriter> {
        if mint >= maxt {
            return Err(Error::InvalidBlock(format!(
                "empty block time range [{mint}, {maxt})"
            )));
        }
        let ulid = new_ulid(now_ms());
        let tmp = parent.join(format!("{ulid}{TMP_FOR_CREATION}"));
        let chunks = tmp.join("chunks");
        std::fs::create_dir_all(&chunks).map_err(|e| Error::io(&chunks, e))?;
        Ok(BlockWriter {
            parent: parent.to_path_buf(),
            ulid,
            tmp,
            mint,
            maxt,
            segments: Segments {
                dir: chunks,
                cur: None,
                count: 0,
                pos: 0,
                max: opts.segment_size.clamp(64, u32::MAX as u64),
                buf: Vec::with_capacity(16),
            },
            opts,
            symbols: HashMap::new(),
            symbol_list: Vec::new(),
            series: Vec::new(),
            last: None,
            num_samples: 0,
            num_chunks: 0,
            refs: Vec::new(),
            finished: false,
        })
    }

    /// The new block's ULID (its directory name once finished).
    pub fn ulid(&self) -> &str {
        &self.ulid
    }

    /// The number of series added so far.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    fn symbol(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.symbols.get(s) {
            return id;
        }
        let id = self.symbol_list.len() as u32;
        self.symbol_list.push(s.into());
        self.symbols.insert(s.into(), id);
        id
    }

    /// Adds a series with its encoded chunks. Series must come in strictly increasing label
    /// order; chunks in time order, not overlapping, inside the block's range. A series
    /// without chunks is skipped (Prometheus and Thanos never store one).
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkToWrite<'_>]) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        if labels.is_empty() {
            return Err(Error::InvalidBlock("series with an empty label set".into()));
        }
        if let Some(last) = &self.last {
            if labels <= last {
                return Err(Error::InvalidBlock(format!(
                    "series {labels} added after {last}: not in label order"
                )));
            }
        }
        let mut prev_maxt: Option<i64> = None;
        for c in chunks {
            if c.mint > c.maxt || c.mint < self.mint || c.maxt >= self.maxt {
                return Err(Error::InvalidBlock(format!(
                    "chunk [{}, {}] of {labels} outside the block range [{}, {})",
                    c.mint, c.maxt, self.mint, self.maxt
                )));
            }
            if prev_maxt.is_some_and(|p| c.mint <= p) {
                return Err(Error::InvalidBlock(format!(
                    "chunks of {labels} overlap or are out of order"
                )));
            }
            prev_maxt = Some(c.maxt);
        }
        self.refs.clear();
        let mut refs = std::mem::take(&mut self.refs);
        let res = self.segments.write(chunks, &mut refs);
        if let Err(e) = res {
            self.refs = refs;
            return Err(e);
        }
        let label_ids: Box<[(u32, u32)]> = labels
            .iter()
            .map(|l| (self.symbol(l.name), self.symbol(l.value)))
            .collect();
        let metas: Box<[(i64, i64, u64)]> = chunks
            .iter()
            .zip(refs.iter())
            .map(|(c, &r)| (c.mint, c.maxt, r))
            .collect();
        self.refs = refs;
        for c in chunks {
            if let [a, b, ..] = c.data {
                self.num_samples += u16::from_be_bytes([*a, *b]) as u64;
            }
        }
        self.num_chunks += chunks.len() as u64;
        self.series.push(SeriesRec {
            labels: label_ids,
            chunks: metas,
        });
        self.last = Some(labels.clone());
        Ok(())
    }

    /// Adds a series from its samples (time order; later duplicates and out-of-order samples
    /// are dropped), encoded as XOR chunks cut as Prometheus' head cuts them. Samples outside
    /// the block's range are an error.
    pub fn add_series_samples(
        &mut self,
        labels: &Labels,
        samples: impl IntoIterator<Item = (i64, f64)>,
    ) -> Result<()> {
        let mut cutter = ChunkCutter::new(self.opts.chunk_range, self.opts.flavor);
        for (t, v) in samples {
            cutter.append(t, v);
        }
        let owned = cutter.take_chunks();
        let chunks: Vec<ChunkToWrite<'_>> = owned
            .iter()
            .map(|(mint, maxt, data)| ChunkToWrite {
                mint: *mint,
                maxt: *maxt,
                encoding: ENCODING_XOR,
                data,
            })
            .collect();
        self.add_series(labels, &chunks)
    }

    /// Writes the index, `meta.json` (with `compaction`; empty `sources` become this block's
    /// own ULID) and an empty `tombstones`, fsyncs them, and renames the directory to its ULID.
    /// Returns the block's meta.
    pub fn finish(mut self, mut compaction: Compaction) -> Result<BlockMeta> {
        self.segments.close_current()?;
        let index_path = self.tmp.join("index");
        write_index(&index_path, &self.symbol_list, &self.series)?;
        if compaction.sources.is_empty() {
            compaction.sources.push(self.ulid.clone());
        }
        if compaction.level == 0 {
            compaction.level = 1;
        }
        let mut meta = BlockMeta::new(self.ulid.clone(), self.mint, self.maxt);
        meta.compaction = compaction;
        meta.stats.num_samples = self.num_samples;
        meta.stats.num_series = self.series.len() as u64;
        meta.stats.num_chunks = self.num_chunks;
        meta.write(&self.tmp)?;
        Tombstones::new().write(&self.tmp)?;
        sync_dir(&self.segments.dir)?;
        sync_dir(&self.tmp)?;
        let dst = self.parent.join(&self.ulid);
        std::fs::rename(&self.tmp, &dst).map_err(|e| Error::io(&dst, e))?;
        self.finished = true;
        sync_dir(&self.parent)?;
        Ok(meta)
    }

    /// Gives up: removes the temporary directory.
    pub fn abort(mut self) -> Result<()> {
        self.finished = true;
        self.segments.cur = None;
        std::fs::remove_dir_all(&self.tmp).map_err(|e| Error::io(&self.tmp, e))
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.segments.cur = None;
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// An index file being written: buffered, with its position.
struct IndexOut {
    path: PathBuf,
    w: BufWriter<File>,
    pos: u64,
}

impl IndexOut {
    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.w.write_all(b).map_err(|e| Error::io(&self.path, e))?;
        self.pos += b.len() as u64;
        Ok(())
    }
    fn pad(&mut self, align: u64) -> Result<()> {
        let rem = self.pos % align;
        if rem != 0 {
            let zeros = [0u8; 16];
            self.write(&zeros[..(align - rem) as usize])?;
        }
        Ok(())
    }
    /// `be32 len | body | be32 crc32c(body)`.
    fn section(&mut self, body: &[u8]) -> Result<()> {
        let len = u32::try_from(body.len())
            .map_err(|_| Error::InvalidBlock("index section larger than 4 GiB".into()))?;
        self.write(&len.to_be_bytes())?;
        self.write(body)?;
        self.write(&crc32c::crc32c(body).to_be_bytes())
    }
}

fn put_ustr(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn write_index(path: &Path, symbol_list: &[Box<str>], series: &[SeriesRec]) -> Result<()> {
    // Final symbol IDs: positions in the byte-sorted list, which always holds "".
    let mut order: Vec<u32> = (0..symbol_list.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| symbol_list[a as usize].cmp(&symbol_list[b as usize]));
    let has_empty = symbol_list.iter().any(|s| s.is_empty());
    let shift = u32::from(!has_empty);
    let mut remap = vec![0u32; symbol_list.len()];
    for (pos, &id) in order.iter().enumerate() {
        remap[id as usize] = pos as u32 + shift;
    }
    let mut sorted: Vec<&str> = Vec::with_capacity(symbol_list.len() + 1);
    if !has_empty {
        sorted.push("");
    }
    sorted.extend(order.iter().map(|&id| &*symbol_list[id as usize]));

    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = IndexOut {
        path: path.to_path_buf(),
        w: BufWriter::with_capacity(1 << 20, f),
        pos: 0,
    };
    let mut hdr = INDEX_MAGIC.to_be_bytes().to_vec();
    hdr.push(2);
    out.write(&hdr)?;

    // Symbol table.
    let toc_symbols = out.pos;
    let mut body = Vec::with_capacity(4 + sorted.iter().map(|s| s.len() + 2).sum::<usize>());
    body.extend_from_slice(&(sorted.len() as u32).to_be_bytes());
    for s in &sorted {
        put_ustr(&mut body, s);
    }
    out.section(&body)?;

    // Series, each 16-byte aligned; collect postings on the way.
    let toc_series = out.pos;
    let mut postings: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    let mut all: Vec<u32> = Vec::with_capacity(series.len());
    for s in series {
        out.pad(16)?;
        let id = u32::try_from(out.pos / 16)
            .map_err(|_| Error::InvalidBlock("index larger than 64 GiB".into()))?;
        all.push(id);
        body.clear();
        put_uvarint(&mut body, s.labels.len() as u64);
        for &(n, v) in s.labels.iter() {
            let (n, v) = (remap[n as usize], remap[v as usize]);
            put_uvarint(&mut body, n as u64);
            put_uvarint(&mut body, v as u64);
            postings.entry((n, v)).or_default().push(id);
        }
        put_uvarint(&mut body, s.chunks.len() as u64);
        let mut prev: Option<(i64, u64)> = None;
        for &(mint, maxt, r) in s.chunks.iter() {
            match prev {
                None => {
                    put_varint(&mut body, mint);
                    put_uvarint(&mut body, maxt.wrapping_sub(mint) as u64);
                    put_uvarint(&mut body, r);
                }
                Some((pmaxt, pref)) => {
                    put_uvarint(&mut body, mint.wrapping_sub(pmaxt) as u64);
                    put_uvarint(&mut body, maxt.wrapping_sub(mint) as u64);
                    put_varint(&mut body, r.wrapping_sub(pref) as i64);
                }
            }
            prev = Some((maxt, r));
        }
        let mut head = Vec::with_capacity(5);
        put_uvarint(&mut head, body.len() as u64);
        out.write(&head)?;
        out.write(&body)?;
        out.write(&crc32c::crc32c(&body).to_be_bytes())?;
    }

    // Label indices (legacy): one per name, its sorted values.
    let toc_label_indices = out.pos;
    let mut label_index_offsets: Vec<(u32, u64)> = Vec::new();
    let keys: Vec<(u32, u32)> = postings.keys().copied().collect();
    let mut i = 0;
    while i < keys.len() {
        let name = keys[i].0;
        let j = i + keys[i..].partition_point(|k| k.0 == name);
        out.pad(4)?;
        label_index_offsets.push((name, out.pos));
        body.clear();
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&((j - i) as u32).to_be_bytes());
        for k in &keys[i..j] {
            body.extend_from_slice(&k.1.to_be_bytes());
        }
        out.section(&body)?;
        i = j;
    }

    // Postings: the all-postings list first, then one per (name, value).
    let toc_postings = out.pos;
    let mut postings_offsets: Vec<(&str, &str, u64)> = Vec::with_capacity(postings.len() + 1);
    let write_list = |out: &mut IndexOut, ids: &[u32], body: &mut Vec<u8>| -> Result<u64> {
        out.pad(4)?;
        let at = out.pos;
        body.clear();
        body.extend_from_slice(&(ids.len() as u32).to_be_bytes());
        for id in ids {
            body.extend_from_slice(&id.to_be_bytes());
        }
        out.section(body)?;
        Ok(at)
    };
    let at = write_list(&mut out, &all, &mut body)?;
    postings_offsets.push(("", "", at));
    for (&(n, v), ids) in &postings {
        let at = write_list(&mut out, ids, &mut body)?;
        postings_offsets.push((sorted[n as usize], sorted[v as usize], at));
    }

    // Label offset table (legacy).
    let toc_label_offsets = out.pos;
    body.clear();
    body.extend_from_slice(&(label_index_offsets.len() as u32).to_be_bytes());
    for &(name, off) in &label_index_offsets {
        put_uvarint(&mut body, 1);
        put_ustr(&mut body, sorted[name as usize]);
        put_uvarint(&mut body, off);
    }
    out.section(&body)?;

    // Postings offset table.
    let toc_postings_offsets = out.pos;
    body.clear();
    body.extend_from_slice(&(postings_offsets.len() as u32).to_be_bytes());
    for &(n, v, off) in &postings_offsets {
        put_uvarint(&mut body, 2);
        put_ustr(&mut body, n);
        put_ustr(&mut body, v);
        put_uvarint(&mut body, off);
    }
    out.section(&body)?;

    // TOC.
    let mut toc = Vec::with_capacity(52);
    for v in [
        toc_symbols,
        toc_series,
        toc_label_indices,
        toc_label_offsets,
        toc_postings,
        toc_postings_offsets,
    ] {
        toc.extend_from_slice(&v.to_be_bytes());
    }
    let crc = crc32c::crc32c(&toc);
    toc.extend_from_slice(&crc.to_be_bytes());
    out.write(&toc)?;

    let f = out
        .w
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Writes the samples of every series of `source` in `[mint, maxt)` (`maxt` exclusive) as a
/// level-1 block under `parent`, re-encoded into XOR chunks cut as Prometheus' head cuts them
/// (chunk range from `opts`). Series are streamed one at a time. Returns `None`, writing
/// nothing, when the range holds no samples.
pub fn write_block(
    parent: &Path,
    mint: i64,
    maxt: i64,
    source: &(impl Querier + ?Sized),
    opts: &WriterOptions,
) -> Result<Option<BlockMeta>> {
    let mut w = BlockWriter::create_with_options(parent, mint, maxt, *opts)?;
    let all = Matcher::new(MatchType::Regex, "", ".*").map_err(Error::Source)?;
    let set = source
        .select(mint, maxt - 1, &[all], &SelectHints::default())
        .map_err(Error::Source)?;
    for s in set {
        let s = s.map_err(Error::Source)?;
        let mut cutter = ChunkCutter::new(opts.chunk_range, opts.flavor);
        let mut it = s.iter();
        while it.next() == ValueKind::Float {
            let smp = it.at();
            if smp.t >= mint && smp.t < maxt {
                cutter.append(smp.t, smp.v);
            }
        }
        if let Some(e) = it.err() {
            return Err(Error::InvalidBlock(format!(
                "reading series {}: {e}",
                s.labels()
            )));
        }
        drop(it);
        let owned = cutter.take_chunks();
        let chunks: Vec<ChunkToWrite<'_>> = owned
            .iter()
            .map(|(a, b, data)| ChunkToWrite {
                mint: *a,
                maxt: *b,
                encoding: ENCODING_XOR,
                data,
            })
            .collect();
        w.add_series(s.labels(), &chunks)?;
    }
    if w.num_series() == 0 {
        w.abort()?;
        return Ok(None);
    }
    w.finish(Compaction::default()).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cutter_matches_prometheus_head() {
        // 400 samples every 15 s from 1700000000000 give 143/142/115 (golden block).
        let mut c = ChunkCutter::new(4 * 3_600_000, ChunkFlavor::Prometheus2);
        for i in 0..400 {
            assert!(c.append(1_700_000_000_000 + i * 15_000, i as f64));
        }
        let sizes: Vec<u16> = c
            .take_chunks()
            .iter()
            .map(|(_, _, d)| u16::from_be_bytes([d[0], d[1]]))
            .collect();
        assert_eq!(sizes, [143, 142, 115]);
        // A dense series is cut at 240 samples at the latest.
        let mut c = ChunkCutter::new(DEFAULT_CHUNK_RANGE, ChunkFlavor::Current);
        for i in 0..1000 {
            c.append(i, 0.0);
        }
        assert!(!c.append(999, 1.0));
        let chunks = c.take_chunks();
        assert!(chunks
            .iter()
            .all(|(_, _, d)| u16::from_be_bytes([d[0], d[1]]) <= 240));
        assert_eq!(chunks.first().unwrap().0, 0);
        assert_eq!(chunks.last().unwrap().1, 999);
    }

    #[test]
    fn rejects_bad_input_and_cleans_up() {
        let parent = lookout_testkit::tempfile::tempdir().unwrap();
        let mut w = BlockWriter::create(parent.path(), 0, 1000).unwrap();
        let b: Labels = r#"b{x="1"}"#.parse().unwrap();
        let a: Labels = r#"a{x="1"}"#.parse().unwrap();
        w.add_series_samples(&b, [(1, 1.0)]).unwrap();
        assert!(matches!(
            w.add_series_samples(&a, [(1, 1.0)]),
            Err(Error::InvalidBlock(_))
        ));
        let c: Labels = r#"c{x="1"}"#.parse().unwrap();
        assert!(matches!(
            w.add_series_samples(&c, [(1000, 1.0)]),
            Err(Error::InvalidBlock(_))
        ));
        let data = [0u8, 1, 2];
        let ch = ChunkToWrite {
            mint: 5,
            maxt: 10,
            encoding: 1,
            data: &data,
        };
        assert!(matches!(
            w.add_series(&c, &[ch, ch]),
            Err(Error::InvalidBlock(_))
        ));
        drop(w);
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }

    #[test]
    fn segments_are_cut_and_refs_address_them() {
        let parent = lookout_testkit::tempfile::tempdir().unwrap();
        let opts = WriterOptions::default().with_segment_size(300);
        let mut w = BlockWriter::create_with_options(parent.path(), 0, 1_000_000, opts).unwrap();
        for i in 0..10 {
            let ls: Labels = format!("m{{i=\"{i:02}\"}}").parse().unwrap();
            w.add_series_samples(&ls, (0..50).map(|j| (j * 1000, (i * j) as f64)))
                .unwrap();
        }
        let meta = w.finish(Compaction::default()).unwrap();
        let dir = parent.path().join(&meta.ulid);
        let segs = std::fs::read_dir(dir.join("chunks")).unwrap().count();
        assert!(segs > 1, "{segs}");
        assert_eq!(meta.stats.num_samples, 500);
        assert_eq!(meta.stats.num_series, 10);
        assert_eq!(meta.compaction.sources, vec![meta.ulid.clone()]);
        assert!(dir.join("tombstones").is_file());
    }
}

//! The write-ahead log in Prometheus' format (format doc §6): numbered segment files of 32 KiB
//! pages holding CRC32-Castagnoli-checked record fragments, records optionally snappy-compressed
//! as a whole, no record crossing a segment.
//!
//! # Durability
//! [`Wal::log`] hands every byte of the batch to the operating system (`write(2)`) before it
//! returns, so a process crash (SIGKILL) after a commit loses nothing. What survives a power
//! loss depends on the [`FsyncPolicy`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::block::numbered_files;
use crate::error::{Error, Result};

/// WAL page size.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Fragment header size: type, be16 length, be32 CRC.
const HEADER: usize = 7;
/// Prometheus' default segment size.
pub const DEFAULT_SEGMENT_SIZE: usize = 128 * 1024 * 1024;

const KIND_FULL: u8 = 1;
const KIND_FIRST: u8 = 2;
const KIND_MIDDLE: u8 = 3;
const KIND_LAST: u8 = 4;
const SNAPPY: u8 = 0x08;
const ZSTD: u8 = 0x10;

/// When the WAL forces written data to stable storage (`fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// Every commit: nothing acknowledged is lost even on power loss. Slowest.
    EveryCommit,
    /// When a segment is full and the next one starts, as Prometheus does. A power loss can
    /// lose the commits of the current segment (the operating system usually writes them out
    /// within seconds). The default.
    #[default]
    OnSegmentCut,
    /// At a commit when at least this long has passed since the last sync (checked on commit,
    /// no background thread), and on segment cuts.
    Interval(Duration),
}

/// How the WAL is written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalOptions {
    /// The largest segment file, a multiple of 32 KiB (default 128 MiB, as Prometheus).
    pub segment_size: usize,
    /// Whether records are snappy-compressed when that makes them shorter (default true, as
    /// Prometheus 2.42).
    pub compress: bool,
    /// When to fsync.
    pub fsync: FsyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            compress: true,
            fsync: FsyncPolicy::default(),
        }
    }
}

impl WalOptions {
    /// Sets the segment size (rounded up to whole pages, at least one page).
    pub fn segment_size(mut self, bytes: usize) -> Self {
        self.segment_size = bytes.div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE;
        self
    }
    /// Turns snappy compression on or off.
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }
    /// Sets the fsync policy.
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }
}

/// The path of segment `n` in `dir` (8-digit name).
pub(crate) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}"))
}

/// A WAL writer positioned at the end of its newest segment.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    file: File,
    segment: u64,
    // Pages completed in the current segment.
    done_pages: usize,
    page: Vec<u8>,
    // Bytes of `page` in use and already written to the file.
    alloc: usize,
    flushed: usize,
    last_sync: Instant,
    compressed: Vec<u8>,
    encoder: snap::raw::Encoder,
}

fn create_segment(dir: &Path, n: u64) -> Result<File> {
    let p = segment_path(dir, n);
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&p)
        .map_err(|e| Error::io(&p, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

impl Wal {
    /// Starts writing `dir` (created if missing) in a new segment after the existing ones, as
    /// Prometheus does when it opens a WAL.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let next = numbered_files(dir)?.last().map_or(0, |(n, _)| n + 1);
        let file = create_segment(dir, next)?;
        sync_dir(dir)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            opts,
            file,
            segment: next,
            done_pages: 0,
            page: vec![0u8; PAGE_SIZE],
            alloc: 0,
            flushed: 0,
            last_sync: Instant::now(),
            compressed: Vec::new(),
            encoder: snap::raw::Encoder::new(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The number of the segment being written.
    pub fn segment(&self) -> u64 {
        self.segment
    }

    fn pages_per_segment(&self) -> usize {
        (self.opts.segment_size / PAGE_SIZE).max(1)
    }

    fn path(&self) -> PathBuf {
        segment_path(&self.dir, self.segment)
    }

    fn write_file(&mut self, from: usize, to: usize) -> Result<()> {
        if to > from {
            let res = self.file.write_all(&self.page[from..to]);
            res.map_err(|e| Error::io(segment_path(&self.dir, self.segment), e))?;
        }
        Ok(())
    }

    /// Writes the unwritten part of the page; with `pad`, fills the page with zeros first and
    /// starts a new one.
    fn flush_page(&mut self, pad: bool) -> Result<()> {
        if pad {
            self.page[self.alloc..].fill(0);
            self.alloc = PAGE_SIZE;
        }
        self.write_file(self.flushed, self.alloc)?;
        self.flushed = self.alloc;
        if pad {
            self.alloc = 0;
            self.flushed = 0;
            self.done_pages += 1;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        let p = self.path();
        self.file.sync_data().map_err(|e| Error::io(p, e))?;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Closes the current segment (padding its last page) and starts the next one.
    pub fn next_segment(&mut self) -> Result<()> {
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        self.sync()?;
        self.segment += 1;
        self.file = create_segment(&self.dir, self.segment)?;
        sync_dir(&self.dir)?;
        self.done_pages = 0;
        self.alloc = 0;
        self.flushed = 0;
        Ok(())
    }

    /// Appends records, each written whole into one segment, and hands them to the operating
    /// system before returning; then syncs as the policy says.
    pub fn log(&mut self, records: &[&[u8]]) -> Result<()> {
        for rec in records {
            self.log_one(rec)?;
        }
        self.finish_batch()
    }

    /// Appends records prepared (compressed) outside the writer's lock with [`prepare`]; as
    /// [`Wal::log`] otherwise.
    pub fn log_prepared(&mut self, records: &[&Prepared]) -> Result<()> {
        for rec in records {
            self.write_fragments(&rec.data, if rec.snappy { SNAPPY } else { 0 })?;
        }
        self.finish_batch()
    }

    /// Appends records given as (bytes, snappy-compressed) pairs; as [`Wal::log`] otherwise.
    pub(crate) fn log_raw(&mut self, records: &[(&[u8], bool)]) -> Result<()> {
        for (data, snappy) in records {
            self.write_fragments(data, if *snappy { SNAPPY } else { 0 })?;
        }
        self.finish_batch()
    }

    fn finish_batch(&mut self) -> Result<()> {
        if self.alloc > self.flushed {
            self.flush_page(false)?;
        }
        match self.opts.fsync {
            FsyncPolicy::EveryCommit => self.sync()?,
            FsyncPolicy::Interval(d) if self.last_sync.elapsed() >= d => self.sync()?,
            _ => {}
        }
        Ok(())
    }

    fn log_one(&mut self, rec: &[u8]) -> Result<()> {
        let mut flag = 0u8;
        let mut compressed = std::mem::take(&mut self.compressed);
        let mut data = rec;
        if self.opts.compress && !rec.is_empty() {
            compressed.resize(snap::raw::max_compress_len(rec.len()), 0);
            if let Ok(n) = self.encoder.compress(rec, &mut compressed) {
                if n < rec.len() {
                    compressed.truncate(n);
                    data = &compressed;
                    flag = SNAPPY;
                }
            }
        }
        let res = self.write_fragments(data, flag);
        self.compressed = compressed;
        res
    }

    fn write_fragments(&mut self, mut rec: &[u8], flag: u8) -> Result<()> {
        let left = (PAGE_SIZE - self.alloc).saturating_sub(HEADER)
            + (PAGE_SIZE - HEADER) * self.pages_per_segment().saturating_sub(self.done_pages + 1);
        if rec.len() > left && (self.done_pages > 0 || self.alloc > 0) {
            self.next_segment()?;
        }
        let mut first = true;
        while first || !rec.is_empty() {
            let room = PAGE_SIZE - self.alloc - HEADER;
            let l = rec.len().min(room);
            let (part, rest) = rec.split_at(l);
            let kind = match (first, rest.is_empty()) {
                (true, true) => KIND_FULL,
                (false, true) => KIND_LAST,
                (true, false) => KIND_FIRST,
                (false, false) => KIND_MIDDLE,
            };
            let a = self.alloc;
            self.page[a] = kind | flag;
            self.page[a + 1..a + 3].copy_from_slice(&(l as u16).to_be_bytes());
            self.page[a + 3..a + 7].copy_from_slice(&crc32c::crc32c(part).to_be_bytes());
            self.page[a + 7..a + 7 + l].copy_from_slice(part);
            self.alloc += HEADER + l;
            if PAGE_SIZE - self.alloc < HEADER {
                self.flush_page(true)?;
            }
            rec = rest;
            first = false;
        }
        Ok(())
    }

    /// Syncs and closes the WAL, padding the current page as Prometheus does on shutdown.
    pub fn close(mut self) -> Result<()> {
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        self.sync()
    }
}

/// A record ready for [`Wal::log_prepared`]: compressed when that made it shorter.
#[derive(Debug, Default)]
pub struct Prepared {
    data: Vec<u8>,
    snappy: bool,
}

/// Compresses `rec` (when `compress` is set and snappy makes it shorter) so the costly part of
/// logging can run before taking the writer's lock.
pub fn prepare(rec: Vec<u8>, compress: bool) -> Prepared {
    if compress && !rec.is_empty() {
        let mut out = vec![0u8; snap::raw::max_compress_len(rec.len())];
        if let Ok(n) = snap::raw::Encoder::new().compress(&rec, &mut out) {
            if n < rec.len() {
                out.truncate(n);
                return Prepared {
                    data: out,
                    snappy: true,
                };
            }
        }
    }
    Prepared {
        data: rec,
        snappy: false,
    }
}

/// Reusable buffers for encoding and compressing one record outside the writer's lock: the
/// allocation-free counterpart of [`prepare`].
#[derive(Debug)]
pub(crate) struct Scratch {
    /// The record to log; callers clear it and encode into it.
    pub(crate) rec: Vec<u8>,
    comp: Vec<u8>,
    encoder: snap::raw::Encoder,
}

/// Buffers above this many bytes are released after use rather than kept.
const SCRATCH_KEEP: usize = 1 << 20;

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch {
            rec: Vec::new(),
            comp: Vec::new(),
            encoder: snap::raw::Encoder::new(),
        }
    }

    /// The record in `rec`, compressed when `compress` is set and snappy makes it shorter, and
    /// whether it was.
    pub(crate) fn prepare(&mut self, compress: bool) -> (&[u8], bool) {
        if compress && !self.rec.is_empty() {
            let max = snap::raw::max_compress_len(self.rec.len());
            if self.comp.len() < max {
                self.comp.resize(max, 0);
            }
            if let Ok(n) = self.encoder.compress(&self.rec, &mut self.comp) {
                if n < self.rec.len() {
                    return (self.comp.get(..n).unwrap_or(&[]), true);
                }
            }
        }
        (&self.rec, false)
    }

    /// Releases buffers an unusually large record grew.
    pub(crate) fn trim(&mut self) {
        if self.rec.capacity() > SCRATCH_KEEP {
            self.rec = Vec::new();
        }
        if self.comp.capacity() > SCRATCH_KEEP {
            self.comp = Vec::new();
        }
    }
}

/// Where and why a segment stopped decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The segment number.
    pub segment: u64,
    /// Byte offset in the segment of the first fragment of the record that failed.
    pub offset: u64,
    /// What was wrong.
    pub reason: &'static str,
}

/// The most a record may decompress to (a bound against hostile input).
const MAX_RECORD: usize = 1 << 30;

/// Decodes the records of one segment's bytes, calling `f(offset, record)` for each with the
/// record decompressed. A partial last page is read as if zero-padded. Stops at the first
/// corrupt or incomplete record and returns its offset and the reason.
pub fn read_segment(
    data: &[u8],
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Option<(u64, &'static str)>> {
    let mut r = SegmentReader::new();
    if let Some(c) = r.scan(data, 0, &mut f)? {
        return Ok(Some(c));
    }
    Ok(r.finish())
}

/// Bytes of a segment file read (and decoded) at a time: whole pages, so that no fragment
/// is split, in one buffer reused from read to read.
const READ_CHUNK: usize = 128 * PAGE_SIZE;

/// Reads the segment file at `path` a chunk at a time into `buf` (reused) and decodes it as
/// [`read_segment`] does.
fn read_segment_file(
    path: &Path,
    buf: &mut Vec<u8>,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Option<(u64, &'static str)>> {
    use std::io::Read;
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    buf.resize(READ_CHUNK, 0);
    let mut r = SegmentReader::new();
    let mut base = 0usize;
    loop {
        // Fill the chunk: only the last one of the file is short.
        let mut n = 0;
        while n < READ_CHUNK {
            let Some(room) = buf.get_mut(n..READ_CHUNK) else {
                break;
            };
            match file.read(room) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        if let Some(c) = r.scan(buf.get(..n).unwrap_or_default(), base, &mut f)? {
            return Ok(Some(c));
        }
        if n < READ_CHUNK {
            return Ok(r.finish());
        }
        base += n;
    }
}

/// The decoding state of a segment read in chunks of whole pages: the record being
/// gathered from its fragments and the buffers reused from record to record.
struct SegmentReader {
    buf: Vec<u8>,
    // Offset in the segment of the first fragment of the record being gathered.
    start: Option<usize>,
    flags: u8,
    out: Vec<u8>,
    decoder: snap::raw::Decoder,
}

impl SegmentReader {
    fn new() -> SegmentReader {
        SegmentReader {
            buf: Vec::new(),
            start: None,
            flags: 0,
            out: Vec::new(),
            decoder: snap::raw::Decoder::new(),
        }
    }

    /// After the last chunk: an unfinished record is an error.
    fn finish(&self) -> Option<(u64, &'static str)> {
        self.start
            .map(|s| (s as u64, "segment ends inside a record"))
    }

    /// Decodes `data`, the segment's bytes from offset `base` (a multiple of the page size)
    /// on; whole pages unless it is the segment's end.
    fn scan(
        &mut self,
        data: &[u8],
        base: usize,
        f: &mut impl FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<Option<(u64, &'static str)>> {
        let mut pos = 0usize;
        loop {
            if pos >= data.len() {
                return Ok(None);
            }
            let in_page = pos % PAGE_SIZE;
            let page_end = (pos - in_page + PAGE_SIZE).min(data.len());
            let typ = data[pos];
            if PAGE_SIZE - in_page < HEADER || typ & 0x07 == 0 {
                // Padding: the rest of the page must be zeros.
                if data[pos..page_end].iter().any(|&b| b != 0) {
                    let at = self.start.unwrap_or(base + pos);
                    return Ok(Some((at as u64, "non-zero page padding")));
                }
                pos = page_end;
                continue;
            }
            let rec_start = self.start.unwrap_or(base + pos);
            let fail = |reason| Ok(Some((rec_start as u64, reason)));
            if typ & 0xE0 != 0 {
                return fail("unknown fragment type bits");
            }
            let Some(h) = data.get(pos..pos + HEADER) else {
                return fail("truncated fragment header");
            };
            let len = u16::from_be_bytes([h[1], h[2]]) as usize;
            let crc = u32::from_be_bytes([h[3], h[4], h[5], h[6]]);
            if in_page + HEADER + len > PAGE_SIZE {
                return fail("fragment crosses a page boundary");
            }
            let Some(payload) = data.get(pos + HEADER..pos + HEADER + len) else {
                return fail("truncated fragment");
            };
            if crc32c::crc32c(payload) != crc {
                return fail("fragment checksum mismatch");
            }
            let kind = typ & 0x07;
            match (kind, self.start.is_some()) {
                (KIND_FULL, false) | (KIND_FIRST, false) => {
                    self.start = Some(base + pos);
                    self.flags = typ & !0x07;
                    self.buf.clear();
                }
                (KIND_MIDDLE, true) | (KIND_LAST, true) => {
                    if typ & !0x07 != self.flags {
                        return fail("fragment flags change inside a record");
                    }
                }
                (KIND_FULL | KIND_FIRST, true) => {
                    return fail("record starts before the last ended")
                }
                (KIND_MIDDLE | KIND_LAST, false) => {
                    return fail("record continues without a start")
                }
                _ => return fail("invalid fragment kind"),
            }
            // A record in one fragment is read where it lies; fragments of a longer one are
            // gathered in `buf`.
            if kind != KIND_FULL {
                self.buf.extend_from_slice(payload);
            }
            pos += HEADER + len;
            if kind == KIND_FULL || kind == KIND_LAST {
                let at = rec_start as u64;
                self.start = None;
                if self.flags & ZSTD != 0 {
                    return fail("zstd-compressed records are not supported");
                }
                let whole: &[u8] = if kind == KIND_FULL {
                    payload
                } else {
                    &self.buf
                };
                let rec: &[u8] = if self.flags & SNAPPY != 0 {
                    let n = match snap::raw::decompress_len(whole) {
                        Ok(n) if n <= MAX_RECORD => n,
                        _ => return fail("bad snappy header"),
                    };
                    self.out.resize(n, 0);
                    match self.decoder.decompress(whole, &mut self.out) {
                        Ok(m) if m == n => &self.out,
                        _ => return fail("corrupt snappy data"),
                    }
                } else {
                    whole
                };
                f(at, rec)?;
            }
        }
    }
}

/// The checkpoint directories (`checkpoint.NNNNNNNN`) in a WAL dir, newest last.
pub(crate) fn checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix("checkpoint.") else {
            continue;
        };
        if !num.bytes().all(|b| b.is_ascii_digit()) || !entry.path().is_dir() {
            continue;
        }
        if let Ok(n) = num.parse::<u64>() {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// What reading a WAL directory found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadStats {
    /// Records decoded.
    pub records: u64,
    /// Segments read (checkpoint segments included).
    pub segments: u64,
    /// The corruption the reader stopped at, if any.
    pub corruption: Option<Corruption>,
}

/// Reads a WAL directory: the newest checkpoint, then the segments after it, in order, calling
/// `f` with each record. Stops at the first corruption (reported in the stats); a gap in the
/// segment numbers is reported the same way.
pub fn read_dir(dir: &Path, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<ReadStats> {
    let mut stats = ReadStats::default();
    // Segments are read a chunk at a time into this one buffer.
    let mut chunk = Vec::new();
    let mut after = None;
    if let Some((n, cp)) = checkpoints(dir)?.pop() {
        for (seg, path) in numbered_files(&cp)? {
            stats.segments += 1;
            if let Some((offset, reason)) = read_segment_file(&path, &mut chunk, |_, r| {
                stats.records += 1;
                f(r)
            })? {
                return Err(Error::Corrupt {
                    path: segment_path(&cp, seg),
                    offset,
                    reason: format!("checkpoint: {reason}"),
                });
            }
        }
        after = Some(n);
    }
    let mut prev: Option<u64> = None;
    for (seg, path) in numbered_files(dir)? {
        if after.is_some_and(|a| seg <= a) {
            continue;
        }
        if let Some(p) = prev {
            if seg != p + 1 {
                stats.corruption = Some(Corruption {
                    segment: seg,
                    offset: 0,
                    reason: "gap in segment numbers",
                });
                return Ok(stats);
            }
        }
        prev = Some(seg);
        stats.segments += 1;
        if let Some((offset, reason)) = read_segment_file(&path, &mut chunk, |_, r| {
            stats.records += 1;
            f(r)
        })? {
            stats.corruption = Some(Corruption {
                segment: seg,
                offset,
                reason,
            });
            return Ok(stats);
        }
    }
    Ok(stats)
}

/// Repairs a WAL after [`read_dir`] reported `c`: cuts segment `c.segment` at the corrupt
/// record (zero-padding the page, as Prometheus' repair leaves it) and deletes every later
/// segment. Records before the corruption are kept.
pub fn repair(dir: &Path, c: &Corruption) -> Result<()> {
    for (seg, path) in numbered_files(dir)? {
        if seg > c.segment || (seg == c.segment && c.reason == "gap in segment numbers") {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    let path = segment_path(dir, c.segment);
    if path.exists() {
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.set_len(c.offset)
            .and_then(|_| f.set_len(c.offset.div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64))
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(&path, e))?;
    }
    sync_dir(dir)
}

/// What a checkpoint kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointStats {
    /// The last segment the checkpoint covers (its directory is `checkpoint.NNNNNNNN`).
    pub last_segment: u64,
    /// Series records entries kept.
    pub series: u64,
    /// Samples kept.
    pub samples: u64,
    /// Samples dropped (older than the cut-off, or of series no longer kept).
    pub dropped_samples: u64,
    /// Segments deleted.
    pub segments_removed: u64,
}

/// Writes a checkpoint as Prometheus does: the previous checkpoint plus segments
/// `first..=last`, filtered to the series `keep` accepts and samples and tombstones at or after
/// `mint`, into `checkpoint.{last}` (through a `.tmp` directory and a rename); then deletes
/// those segments and older checkpoints.
pub fn checkpoint(
    dir: &Path,
    first: u64,
    last: u64,
    keep: impl Fn(u64) -> bool,
    mint: i64,
    opts: &WalOptions,
) -> Result<CheckpointStats> {
    use crate::record::{self, Record};
    let mut stats = CheckpointStats {
        last_segment: last,
        ..CheckpointStats::default()
    };
    let mut inputs: Vec<PathBuf> = Vec::new();
    let older = checkpoints(dir)?;
    if let Some((_, cp)) = older.last() {
        inputs.extend(numbered_files(cp)?.into_iter().map(|(_, p)| p));
    }
    for (n, p) in numbered_files(dir)? {
        if n >= first && n <= last {
            inputs.push(p);
        }
    }
    let final_dir = dir.join(format!("checkpoint.{last:08}"));
    let tmp_dir = dir.join(format!("checkpoint.{last:08}.tmp"));
    if tmp_dir.exists() {
        std::fs::remove_dir_all(&tmp_dir).map_err(|e| Error::io(&tmp_dir, e))?;
    }
    let mut w = Wal::open(&tmp_dir, opts.clone())?;
    let mut out = Vec::new();
    for path in &inputs {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let corrupt = read_segment(&data, |_, rec| {
            out.clear();
            match record::decode(rec) {
                Ok(Record::Series(series)) => {
                    let kept: Vec<_> = series.iter().filter(|s| keep(s.series_ref)).collect();
                    stats.series += kept.len() as u64;
                    if !kept.is_empty() {
                        record::encode_series(
                            kept.iter().map(|s| (s.series_ref, &s.labels)),
                            &mut out,
                        );
                    }
                }
                Ok(Record::Samples(samples)) => {
                    let n = samples.len() as u64;
                    let kept: Vec<_> = samples
                        .into_iter()
                        .filter(|s| s.t >= mint && keep(s.series_ref))
                        .collect();
                    stats.samples += kept.len() as u64;
                    stats.dropped_samples += n - kept.len() as u64;
                    if !kept.is_empty() {
                        record::encode_samples(kept, &mut out);
                    }
                }
                Ok(Record::Tombstones(stones)) => {
                    let kept: Vec<_> = stones
                        .into_iter()
                        .filter(|s| s.maxt >= mint && keep(s.series_ref))
                        .collect();
                    if !kept.is_empty() {
                        record::encode_tombstones(&kept, &mut out);
                    }
                }
                // Other record kinds and undecodable records are not carried over.
                _ => {}
            }
            if !out.is_empty() {
                w.log(&[&out])?;
            }
            Ok(())
        })?;
        if let Some((offset, reason)) = corrupt {
            return Err(Error::Corrupt {
                path: path.clone(),
                offset,
                reason: format!("while checkpointing: {reason}"),
            });
        }
    }
    w.close()?;
    sync_dir(&tmp_dir)?;
    std::fs::rename(&tmp_dir, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    sync_dir(dir)?;
    for (n, p) in numbered_files(dir)? {
        if n <= last {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            stats.segments_removed += 1;
        }
    }
    for (n, p) in older {
        if n < last {
            std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(dir: &Path) -> (Vec<Vec<u8>>, ReadStats) {
        let mut out = Vec::new();
        let st = read_dir(dir, |r| {
            out.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        (out, st)
    }

    #[test]
    fn write_read_across_pages_and_segments() {
        for compress in [false, true] {
            let tmp = tempdir();
            let opts = WalOptions::default()
                .segment_size(3 * PAGE_SIZE)
                .compress(compress);
            let mut w = Wal::open(tmp.path(), opts).unwrap();
            let mut want = Vec::new();
            let mut x = 1u64;
            for i in 0..200usize {
                let len = [0, 1, 10, 32_761, 40_000, 70_000, 5][i % 7];
                let rec: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                        if i % 2 == 0 {
                            (x >> 60) as u8
                        } else {
                            (x >> 33) as u8
                        }
                    })
                    .collect();
                w.log(&[&rec]).unwrap();
                want.push(rec);
            }
            w.close().unwrap();
            let (got, st) = records(tmp.path());
            assert_eq!(st.corruption, None);
            assert_eq!(got.len(), want.len());
            assert!(got == want);
            assert!(st.segments > 10);
        }
    }

    fn tempdir() -> lookout_testkit::tempfile::TempDir {
        lookout_testkit::tempfile::tempdir().unwrap()
    }

    #[test]
    fn torn_tail_is_cut_and_earlier_records_kept() {
        let tmp = tempdir();
        let mut w = Wal::open(tmp.path(), WalOptions::default().compress(false)).unwrap();
        for i in 0..10u8 {
            w.log(&[&vec![i; 5000]]).unwrap();
        }
        drop(w);
        let seg = segment_path(tmp.path(), 0);
        let len = std::fs::metadata(&seg).unwrap().len();
        // Tear the last record in half.
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 2500).unwrap();
        let (got, st) = records(tmp.path());
        assert_eq!(got.len(), 9);
        let c = st.corruption.unwrap();
        repair(tmp.path(), &c).unwrap();
        let (got, st) = records(tmp.path());
        assert_eq!(got.len(), 9);
        assert_eq!(st.corruption, None);
        // Writing continues in a new segment and everything reads back.
        let mut w = Wal::open(tmp.path(), WalOptions::default()).unwrap();
        assert_eq!(w.segment(), 1);
        w.log(&[b"after"]).unwrap();
        let (got, _) = records(tmp.path());
        assert_eq!(got.len(), 10);
        assert_eq!(got[9], b"after");
    }

    #[test]
    fn segments_read_in_chunks_as_whole() {
        // Records crossing the chunk boundaries of `read_segment_file`, and a torn record
        // past the first chunk: the same records and offset as decoding the whole file.
        let tmp = tempdir();
        let mut w = Wal::open(tmp.path(), WalOptions::default().compress(false)).unwrap();
        let mut want = Vec::new();
        let mut i = 0u32;
        while want.iter().map(Vec::len).sum::<usize>() < 3 * READ_CHUNK {
            let len = [70_000usize, 11_000, 5, 40_000][i as usize % 4];
            let rec: Vec<u8> = (0..len).map(|k| (k as u32 ^ i) as u8).collect();
            w.log(&[&rec]).unwrap();
            want.push(rec);
            i += 1;
        }
        drop(w);
        let (got, st) = records(tmp.path());
        assert_eq!(st.corruption, None);
        assert!(got == want);
        let seg = segment_path(tmp.path(), 0);
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 30_000).unwrap();
        let data = std::fs::read(&seg).unwrap();
        let mut whole = 0;
        let c = read_segment(&data, |_, _| {
            whole += 1;
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert!(c.0 as usize > READ_CHUNK);
        let (got, st) = records(tmp.path());
        assert_eq!(got.len(), whole);
        let cor = st.corruption.unwrap();
        assert_eq!((cor.offset, cor.reason), c);
    }

    #[test]
    fn fsync_policies_write_the_same_records() {
        for policy in [
            FsyncPolicy::EveryCommit,
            FsyncPolicy::OnSegmentCut,
            FsyncPolicy::Interval(Duration::from_millis(1)),
        ] {
            let tmp = tempdir();
            let opts = WalOptions::default()
                .segment_size(PAGE_SIZE)
                .compress(false)
                .fsync(policy);
            let mut w = Wal::open(tmp.path(), opts).unwrap();
            for i in 0..50u8 {
                w.log(&[&[i; 3000]]).unwrap();
            }
            let (got, st) = records(tmp.path());
            assert_eq!(got.len(), 50, "{policy:?}");
            assert!(st.segments > 4);
            assert!(got
                .iter()
                .enumerate()
                .all(|(i, r)| r == &vec![i as u8; 3000]));
        }
    }

    #[test]
    fn prepared_records_read_back() {
        let tmp = tempdir();
        let mut w = Wal::open(tmp.path(), WalOptions::default()).unwrap();
        let rec = vec![7u8; 10_000];
        let p = prepare(rec.clone(), true);
        assert!(p.snappy && p.data.len() < 1000);
        let q = prepare(vec![1, 2, 3], true);
        assert!(!q.snappy);
        w.log_prepared(&[&p, &q]).unwrap();
        let (got, _) = records(tmp.path());
        assert_eq!(got, vec![rec, vec![1, 2, 3]]);
        // Snappy-flagged fragments of Prometheus' kind (0x08 bit) were written.
        let seg = std::fs::read(segment_path(tmp.path(), 0)).unwrap();
        assert_eq!(seg[0], KIND_FULL | SNAPPY);
    }

    #[test]
    fn flipped_byte_is_detected() {
        let tmp = tempdir();
        let mut w = Wal::open(tmp.path(), WalOptions::default().compress(false)).unwrap();
        for i in 0..4u8 {
            w.log(&[&[i; 100]]).unwrap();
        }
        drop(w);
        let seg = segment_path(tmp.path(), 0);
        let mut b = std::fs::read(&seg).unwrap();
        b[2 * 107 + 50] ^= 0x40;
        std::fs::write(&seg, &b).unwrap();
        let (got, st) = records(tmp.path());
        assert_eq!(got.len(), 2);
        assert_eq!(st.corruption.unwrap().offset, 2 * 107);
    }
}

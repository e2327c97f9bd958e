//! Reading Prometheus blocks (format doc §1–§5): [`Block::open`] maps a block's index and
//! chunk segments, reads `meta.json` and `tombstones`, and serves queries through
//! [`lookout_model::Querier`] (see `block_query`). [`ChunkReader`] reads chunk segment files
//! (`chunks/NNNNNN`), [`IndexReader`] the index (versions 1 and 2).

use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::meta::BlockMeta;
use crate::tombstones::Tombstones;

pub use crate::index::{ChunkMeta, IndexReader, Toc, INDEX_MAGIC};

/// Magic number of a block chunk segment file.
pub const CHUNKS_MAGIC: u32 = 0x85BD_40DD;
const CHUNKS_HEADER: usize = 8;

/// A bounds-checked reader over a byte slice for the primitive encodings of format doc §0.
#[derive(Debug, Clone)]
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Decbuf<'a> {
        Decbuf { b, pos: 0 }
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    #[inline]
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }
    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    #[inline]
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }
    #[inline]
    pub(crate) fn be32(&mut self) -> Option<u32> {
        let s = self.bytes(4)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    #[inline]
    pub(crate) fn be64(&mut self) -> Option<u64> {
        let s = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_be_bytes(a))
    }
    /// Bytes left to read.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }
    #[inline(always)]
    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        // One-byte values (small deltas, symbol references) are the common case in WAL and
        // index data: inlined; longer ones take a call.
        if let Some(&b) = self.b.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Some(b as u64);
            }
        }
        self.uvarint_long()
    }
    #[inline(never)]
    fn uvarint_long(&mut self) -> Option<u64> {
        let mut x = 0u64;
        let mut s = 0u32;
        for i in 0..10 {
            let b = self.u8()?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return None;
                }
                return Some(x | ((b as u64) << s));
            }
            x |= ((b & 0x7F) as u64) << s;
            s += 7;
        }
        None
    }
    #[inline]
    pub(crate) fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    pub(crate) fn ustr(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        std::str::from_utf8(self.bytes(n)?).ok()
    }
}

/// Bytes of a file: memory-mapped, or on the heap (empty files, tests, fuzzing).
#[derive(Debug)]
pub(crate) enum Bytes {
    Map(Mmap),
    Heap(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Heap(v) => v,
        }
    }
}

/// Maps a block file read-only.
#[allow(unsafe_code)]
fn map_block_file(file: &File, path: &Path) -> Result<Mmap> {
    // SAFETY: block files (index, chunk segments) are immutable once the block directory has
    // been renamed into place: Prometheus, promtool and this crate only ever create them in a
    // `.tmp-for-creation` directory and delete whole blocks, never rewrite them. Every read
    // through the map is bounds-checked against the length seen at map time. As with
    // Prometheus, truncating or rewriting a block file from outside while it is open is not
    // supported (it could fault the process, as it would Prometheus).
    unsafe { Mmap::map(file) }.map_err(|e| Error::io(path, e))
}

/// Maps `path` (read into the heap when empty: zero-length maps are not portable).
pub(crate) fn map_path(path: &Path) -> Result<Bytes> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Ok(Bytes::Heap(Vec::new()));
    }
    Ok(Bytes::Map(map_block_file(&file, path)?))
}

pub(crate) fn corrupt(path: &Path, offset: usize, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// The sorted all-digit file names of `dir` with their numbers.
pub(crate) fn numbered_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = name.parse::<u64>() {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The chunk segment files of a block, memory-mapped.
#[derive(Debug)]
pub struct ChunkReader {
    files: Vec<(PathBuf, Bytes)>,
}

impl ChunkReader {
    /// Maps every segment in `dir` (a block's `chunks/`), checking each header.
    pub fn open(dir: &Path) -> Result<ChunkReader> {
        let mut files = Vec::new();
        for (_, path) in numbered_files(dir)? {
            let b = map_path(&path)?;
            files.push(ChunkReader::check_segment(path, b)?);
        }
        Ok(ChunkReader { files })
    }

    /// Chunk segments held in memory, in segment order; the paths name them in errors.
    pub fn from_vecs(files: Vec<(PathBuf, Vec<u8>)>) -> Result<ChunkReader> {
        let files = files
            .into_iter()
            .map(|(p, b)| ChunkReader::check_segment(p, Bytes::Heap(b)))
            .collect::<Result<_>>()?;
        Ok(ChunkReader { files })
    }

    fn check_segment(path: PathBuf, b: Bytes) -> Result<(PathBuf, Bytes)> {
        let mut d = Decbuf::new(&b);
        if d.be32() != Some(CHUNKS_MAGIC) {
            return Err(corrupt(&path, 0, "bad chunk segment magic"));
        }
        if d.u8() != Some(1) {
            return Err(corrupt(&path, 4, "unsupported chunk segment version"));
        }
        Ok((path, b))
    }

    /// The number of segment files.
    pub fn num_segments(&self) -> usize {
        self.files.len()
    }

    /// The total size of the segment files in bytes.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// The path of the segment `chunk_ref` points into (for messages).
    pub fn segment_path(&self, chunk_ref: u64) -> PathBuf {
        let seg = (chunk_ref >> 32) as usize;
        match (self.files.get(seg), self.files.first()) {
            (Some((p, _)), _) => p.clone(),
            (None, Some((p, _))) => p.with_file_name(format!("{:06}", seg + 1)),
            (None, None) => PathBuf::from(format!("chunks/{:06}", seg + 1)),
        }
    }

    /// The chunk at `chunk_ref` (segment index << 32 | offset): its encoding byte and data,
    /// after checking its CRC.
    #[inline]
    pub fn chunk(&self, chunk_ref: u64) -> Result<(u8, &[u8])> {
        let (enc, data, len) = self.chunk_ext(chunk_ref)?;
        Ok((enc, data.get(..len).unwrap_or(data)))
    }

    /// [`ChunkReader::chunk`] with up to 8 bytes of the file after the data (its CRC, the next
    /// chunk) left on the slice for decoders reading ahead: the encoding byte, the data and
    /// those bytes, and the length of the data.
    #[inline]
    pub(crate) fn chunk_ext(&self, chunk_ref: u64) -> Result<(u8, &[u8], usize)> {
        let seg = (chunk_ref >> 32) as usize;
        let off = (chunk_ref & 0xFFFF_FFFF) as usize;
        let Some((path, b)) = self.files.get(seg) else {
            return Err(corrupt(
                &self.segment_path(chunk_ref),
                off,
                format!("chunk reference {chunk_ref:#x} to a missing segment"),
            ));
        };
        if off < CHUNKS_HEADER || off >= b.len() {
            return Err(corrupt(path, off, "chunk offset out of range"));
        }
        let mut d = Decbuf::new(&b[off..]);
        let len = d
            .uvarint()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| corrupt(path, off, "bad chunk length"))?;
        let start = off + d.pos();
        let enc_and_data = d
            .bytes(len.saturating_add(1))
            .ok_or_else(|| corrupt(path, off, "chunk extends past the end of the file"))?;
        let crc = d
            .be32()
            .ok_or_else(|| corrupt(path, off, "chunk CRC past the end of the file"))?;
        if crc32c::crc32c(enc_and_data) != crc {
            return Err(corrupt(path, start, "chunk checksum mismatch"));
        }
        let ext = b.get(start + 1..).unwrap_or_default();
        let ext = ext.get(..len.saturating_add(8)).unwrap_or(ext);
        Ok((enc_and_data[0], ext, len))
    }
}

/// A block directory opened for reading: `meta.json`, the index and chunk segments
/// (memory-mapped) and the tombstones. Queries go through [`lookout_model::Querier`];
/// tombstoned samples never come out.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunkReader,
    tombstones: Tombstones,
}

impl Block {
    /// Opens the block in `dir`: reads and checks `meta.json`, the index's TOC, symbol table
    /// and postings offset table, the chunk segment headers, and the tombstones (a missing
    /// file reads as none). Series and chunks are checked when read.
    pub fn open(dir: &Path) -> Result<Block> {
        let meta = BlockMeta::read(dir)?;
        let index = IndexReader::open(&dir.join("index"))?;
        let chunks = ChunkReader::open(&dir.join("chunks"))?;
        let tombstones = Tombstones::read(dir)?;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            tombstones,
        })
    }

    /// Assembles a block from parts already read (tests, the fuzzer, in-memory blocks).
    pub fn from_parts(
        dir: PathBuf,
        meta: BlockMeta,
        index: IndexReader,
        chunks: ChunkReader,
        tombstones: Tombstones,
    ) -> Block {
        Block {
            dir,
            meta,
            index,
            chunks,
            tombstones,
        }
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The block's `meta.json`.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's index.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The block's chunk segments.
    pub fn chunks(&self) -> &ChunkReader {
        &self.chunks
    }

    /// The block's tombstones (deleted intervals per series reference).
    pub fn tombstones(&self) -> &Tombstones {
        &self.tombstones
    }

    /// Whether the block's range `[minTime, maxTime)` meets the closed range `[mint, maxt]`
    /// (Prometheus' `OverlapsClosedInterval`).
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.min_time <= maxt && mint < self.meta.max_time
    }
}

/// The block directories directly under `dir`: names that are ULIDs, holding a `meta.json`,
/// sorted by name (ULIDs sort by creation time).
pub fn numbered_block_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let p = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if crate::meta::parse_ulid(name).is_some() && p.join("meta.json").is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

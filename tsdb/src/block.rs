//! Reading Prometheus blocks: chunk segment files (`chunks/NNNNNN`, format doc §2) and the
//! index (format version 2, §4). This is the read side the golden-chunk tests and the dump
//! tool need; block writing and compaction build on it.

use std::path::{Path, PathBuf};

use lookout_model::Labels;

use crate::error::{Error, Result};

/// Magic number of a block chunk segment file.
pub const CHUNKS_MAGIC: u32 = 0x85BD_40DD;
/// Magic number of an index file.
pub const INDEX_MAGIC: u32 = 0xBAAA_D700;

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
    #[inline]
    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        // One-byte values (small deltas) are the common case in WAL and index data.
        if let Some(&b) = self.b.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Some(b as u64);
            }
        }
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

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn corrupt(path: &Path, offset: usize, reason: impl Into<String>) -> Error {
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

/// The chunk segment files of a block, read into memory.
#[derive(Debug)]
pub struct ChunkReader {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl ChunkReader {
    /// Opens every segment in `dir` (a block's `chunks/`), checking each header.
    pub fn open(dir: &Path) -> Result<ChunkReader> {
        let mut files = Vec::new();
        for (_, path) in numbered_files(dir)? {
            let b = read_file(&path)?;
            let mut d = Decbuf::new(&b);
            if d.be32() != Some(CHUNKS_MAGIC) {
                return Err(corrupt(&path, 0, "bad chunk segment magic"));
            }
            if d.u8() != Some(1) {
                return Err(corrupt(&path, 4, "unsupported chunk segment version"));
            }
            files.push((path, b));
        }
        Ok(ChunkReader { files })
    }

    /// The chunk at `chunk_ref` (segment index << 32 | offset): its encoding byte and data,
    /// after checking its CRC.
    pub fn chunk(&self, chunk_ref: u64) -> Result<(u8, &[u8])> {
        let seg = (chunk_ref >> 32) as usize;
        let off = (chunk_ref & 0xFFFF_FFFF) as usize;
        let Some((path, b)) = self.files.get(seg) else {
            return Err(Error::Corrupt {
                path: PathBuf::from(format!("chunk segment #{seg}")),
                offset: off as u64,
                reason: "chunk reference to a missing segment".into(),
            });
        };
        let mut d = Decbuf::new(b);
        if off < 8 || d.bytes(off).is_none() {
            return Err(corrupt(path, off, "chunk offset out of range"));
        }
        let len = d
            .uvarint()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| corrupt(path, off, "bad chunk length"))?;
        let start = d.pos();
        let enc_and_data = d
            .bytes(len.saturating_add(1))
            .ok_or_else(|| corrupt(path, off, "chunk extends past the end of the file"))?;
        let crc = d
            .be32()
            .ok_or_else(|| corrupt(path, off, "chunk CRC past the end of the file"))?;
        if crc32c::crc32c(enc_and_data) != crc {
            return Err(corrupt(path, start, "chunk checksum mismatch"));
        }
        Ok((enc_and_data[0], &enc_and_data[1..]))
    }
}

/// One chunk's entry in an index series: its time range and reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// The first sample's timestamp.
    pub mint: i64,
    /// The last sample's timestamp.
    pub maxt: i64,
    /// The chunk's reference into the block's chunk segments.
    pub chunk_ref: u64,
}

/// A block's index (format version 2), read into memory.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    b: Vec<u8>,
    symbols: Vec<String>,
    // (name, value) → offset of the postings list, sorted.
    postings: Vec<(String, String, u64)>,
}

impl IndexReader {
    /// Opens and checks `path` (a block's `index`).
    pub fn open(path: &Path) -> Result<IndexReader> {
        let b = read_file(path)?;
        let mut d = Decbuf::new(&b);
        if d.be32() != Some(INDEX_MAGIC) {
            return Err(corrupt(path, 0, "bad index magic"));
        }
        if d.u8() != Some(2) {
            return Err(corrupt(path, 4, "unsupported index version (want 2)"));
        }
        if b.len() < 5 + 52 {
            return Err(corrupt(path, 0, "index too short for its TOC"));
        }
        let toc_at = b.len() - 52;
        let mut t = Decbuf::new(&b[toc_at..]);
        let mut toc = [0u64; 6];
        for x in &mut toc {
            *x = t.be64().unwrap_or(0);
        }
        if t.be32() != Some(crc32c::crc32c(&b[toc_at..toc_at + 48])) {
            return Err(corrupt(path, toc_at, "TOC checksum mismatch"));
        }
        let sym_body = section(path, &b, toc[0])?;
        let mut sd = Decbuf::new(sym_body);
        let n = sd
            .be32()
            .ok_or_else(|| corrupt(path, toc[0] as usize, "short symbol table"))?;
        let mut symbols = Vec::with_capacity((n as usize).min(sym_body.len()));
        for _ in 0..n {
            let s = sd
                .ustr()
                .ok_or_else(|| corrupt(path, toc[0] as usize, "bad symbol"))?;
            symbols.push(s.to_string());
        }
        let pot = section(path, &b, toc[5])?;
        let mut pd = Decbuf::new(pot);
        let n = pd
            .be32()
            .ok_or_else(|| corrupt(path, toc[5] as usize, "short postings offset table"))?;
        let mut postings = Vec::with_capacity((n as usize).min(pot.len()));
        for _ in 0..n {
            let entry = (|| {
                if pd.uvarint()? != 2 {
                    return None;
                }
                Some((
                    pd.ustr()?.to_string(),
                    pd.ustr()?.to_string(),
                    pd.uvarint()?,
                ))
            })()
            .ok_or_else(|| corrupt(path, toc[5] as usize, "bad postings offset entry"))?;
            postings.push(entry);
        }
        Ok(IndexReader {
            path: path.to_path_buf(),
            b,
            symbols,
            postings,
        })
    }

    /// The series IDs of the postings list for `name="value"` (`("", "")` = all series).
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>> {
        let Ok(i) = self
            .postings
            .binary_search_by(|(n, v, _)| (n.as_str(), v.as_str()).cmp(&(name, value)))
        else {
            return Ok(Vec::new());
        };
        let off = self.postings[i].2;
        let body = section(&self.path, &self.b, off)?;
        let mut d = Decbuf::new(body);
        let n = d
            .be32()
            .ok_or_else(|| corrupt(&self.path, off as usize, "short postings list"))?;
        let mut ids = Vec::with_capacity((n as usize).min(body.len() / 4));
        for _ in 0..n {
            ids.push(
                d.be32()
                    .ok_or_else(|| corrupt(&self.path, off as usize, "short postings list"))?,
            );
        }
        Ok(ids)
    }

    fn symbol(&self, i: u64, at: usize) -> Result<&str> {
        self.symbols
            .get(i as usize)
            .map(String::as_str)
            .ok_or_else(|| corrupt(&self.path, at, "symbol reference out of range"))
    }

    /// The labels and chunk metas of series `id` (its byte offset / 16).
    pub fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>)> {
        let off = id as usize * 16;
        let err = |r: &str| corrupt(&self.path, off, format!("series {id}: {r}"));
        let mut d = Decbuf::new(&self.b);
        d.bytes(off).ok_or_else(|| err("offset out of range"))?;
        let len = d
            .uvarint()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| err("bad length"))?;
        let body = d.bytes(len).ok_or_else(|| err("truncated"))?;
        if d.be32() != Some(crc32c::crc32c(body)) {
            return Err(err("checksum mismatch"));
        }
        let mut d = Decbuf::new(body);
        let nl = d.uvarint().ok_or_else(|| err("bad label count"))?;
        let mut pairs = Vec::new();
        for _ in 0..nl {
            let n = d.uvarint().ok_or_else(|| err("bad label"))?;
            let v = d.uvarint().ok_or_else(|| err("bad label"))?;
            pairs.push((self.symbol(n, off)?, self.symbol(v, off)?));
        }
        let nc = d.uvarint().ok_or_else(|| err("bad chunk count"))?;
        let mut metas = Vec::new();
        let (mut maxt, mut cref) = (0i64, 0i64);
        for i in 0..nc {
            let mint = if i == 0 {
                d.varint().ok_or_else(|| err("bad chunk meta"))?
            } else {
                maxt.wrapping_add(d.uvarint().ok_or_else(|| err("bad chunk meta"))? as i64)
            };
            maxt = mint.wrapping_add(d.uvarint().ok_or_else(|| err("bad chunk meta"))? as i64);
            cref = if i == 0 {
                d.uvarint().ok_or_else(|| err("bad chunk meta"))? as i64
            } else {
                cref.wrapping_add(d.varint().ok_or_else(|| err("bad chunk meta"))?)
            };
            metas.push(ChunkMeta {
                mint,
                maxt,
                chunk_ref: cref as u64,
            });
        }
        Ok((Labels::from_pairs(pairs), metas))
    }
}

/// The body of a `be32 len | body | be32 crc32c(body)` section at `off`, CRC-checked.
fn section<'a>(path: &Path, b: &'a [u8], off: u64) -> Result<&'a [u8]> {
    let off = usize::try_from(off).map_err(|_| corrupt(path, 0, "section offset overflows"))?;
    let mut d = Decbuf::new(b);
    d.bytes(off)
        .ok_or_else(|| corrupt(path, off, "section offset out of range"))?;
    let len = d
        .be32()
        .ok_or_else(|| corrupt(path, off, "short section"))? as usize;
    let body = d
        .bytes(len)
        .ok_or_else(|| corrupt(path, off, "section extends past the end"))?;
    if d.be32() != Some(crc32c::crc32c(body)) {
        return Err(corrupt(path, off, "section checksum mismatch"));
    }
    Ok(body)
}

/// The block directories directly under `dir` (those holding a `meta.json`, not being
/// temporary), sorted by name (ULIDs sort by time).
pub fn numbered_block_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.len() == 26 && !name.contains('.') && p.join("meta.json").is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

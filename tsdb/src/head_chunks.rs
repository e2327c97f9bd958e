//! Head chunk files (`chunks_head/NNNNNN`, format doc §7): completed head chunks written
//! next to the WAL so they can leave the heap.
//!
//! ```text
//! file   := be32 0x0130BC91 | u8 version 1 | 3 zero bytes | record*
//! record := be64 series_ref | be64 mint | be64 maxt | u8 encoding | uvarint len | data
//!           | be32 crc32c(series_ref .. data)
//! ```
//! A record whose ref, mint and maxt are all zero, or an all-zero tail, ends a file (files are
//! pre-allocated and zero-filled).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use parking_lot::Mutex;

use crate::block::{numbered_files, Decbuf};
use crate::error::{Error, Result};
use crate::xor::put_uvarint;

/// Magic number of a head chunk file.
pub const HEAD_CHUNKS_MAGIC: u32 = 0x0130_BC91;
/// Bytes before the first record.
pub const HEAD_CHUNKS_HEADER: usize = 8;

/// One record of a head chunk file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadChunkRecord {
    /// The chunk reference: file number << 32 | byte offset of the record.
    pub chunk_ref: u64,
    /// The head series reference.
    pub series_ref: u64,
    /// First sample time.
    pub mint: i64,
    /// Last sample time.
    pub maxt: i64,
    /// Encoding byte (`0x80` = out-of-order flag).
    pub encoding: u8,
    /// Chunk data.
    pub data: Vec<u8>,
}

/// Parses the records of one head chunk file's bytes (`file_no` is the number in its name).
/// Returns the records and, when the file ends in a corrupt record rather than zeros or EOF,
/// the offset and reason.
pub fn parse_head_chunk_file(
    file_no: u64,
    b: &[u8],
) -> (Vec<HeadChunkRecord>, Option<(u64, &'static str)>) {
    let mut out = Vec::new();
    let mut d = Decbuf::new(b);
    if d.be32() != Some(HEAD_CHUNKS_MAGIC) {
        return (out, Some((0, "bad head chunk file magic")));
    }
    if d.u8() != Some(1) {
        return (out, Some((4, "unsupported head chunk file version")));
    }
    if d.bytes(3).is_none() {
        return (out, Some((5, "short header")));
    }
    loop {
        let start = d.pos();
        if d.at_end() || b[start..].iter().all(|&x| x == 0) {
            return (out, None);
        }
        let rec = (|| {
            let series_ref = d.be64()?;
            let mint = d.be64()? as i64;
            let maxt = d.be64()? as i64;
            if series_ref == 0 && mint == 0 && maxt == 0 {
                return Some(None);
            }
            let encoding = d.u8()?;
            let len = usize::try_from(d.uvarint()?).ok()?;
            let data = d.bytes(len)?;
            let body_end = d.pos();
            let crc = d.be32()?;
            if crc32c::crc32c(&b[start..body_end]) != crc {
                return None;
            }
            Some(Some(HeadChunkRecord {
                chunk_ref: (file_no << 32) | start as u64,
                series_ref,
                mint,
                maxt,
                encoding,
                data: data.to_vec(),
            }))
        })();
        match rec {
            Some(Some(r)) => out.push(r),
            Some(None) => return (out, None),
            None => return (out, Some((start as u64, "corrupt head chunk record"))),
        }
    }
}

/// Reads every head chunk file in `dir` (a data dir's `chunks_head/`), in file order.
pub fn read_head_chunks(dir: &Path) -> Result<Vec<HeadChunkRecord>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for (n, path) in numbered_files(dir)? {
        let b = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let (recs, err) = parse_head_chunk_file(n, &b);
        out.extend(recs);
        if let Some((offset, reason)) = err {
            return Err(Error::Corrupt {
                path,
                offset,
                reason: reason.into(),
            });
        }
    }
    Ok(out)
}

/// The largest head chunk file, as Prometheus (128 MiB).
pub const MAX_HEAD_CHUNK_FILE: u64 = 128 * 1024 * 1024;

/// The bytes of a chunk: on the heap, or inside a memory-mapped head chunk file.
///
/// 16 bytes, so that the list of a head series' completed chunks stays small (an active
/// series keeps its last hours of chunks in the head).
#[derive(Clone)]
pub struct ChunkData {
    owner: Arc<Backing>,
    // The chunk's range in a mapping (head chunk files are at most 128 MiB); unused for
    // heap bytes, which are the whole buffer.
    start: u32,
    end: u32,
}

#[derive(Debug)]
enum Backing {
    Heap(Vec<u8>),
    Mapped(Mmap),
}

impl ChunkData {
    /// Chunk bytes on the heap.
    pub fn heap(b: impl Into<Vec<u8>>) -> ChunkData {
        ChunkData {
            owner: Arc::new(Backing::Heap(b.into())),
            start: 0,
            end: 0,
        }
    }

    /// A view of `start..end` of the mapped file `map`, or a heap copy of those bytes when
    /// the range is not inside the mapping.
    fn mapped(map: &Arc<Backing>, start: usize, end: usize, bytes: &[u8]) -> ChunkData {
        match (u32::try_from(start), u32::try_from(end)) {
            (Ok(s), Ok(e)) if s <= e && end <= map.len() => ChunkData {
                owner: map.clone(),
                start: s,
                end: e,
            },
            _ => ChunkData::heap(bytes),
        }
    }

    /// Whether the bytes live in a memory-mapped file rather than on the heap.
    pub fn is_mapped(&self) -> bool {
        matches!(*self.owner, Backing::Mapped(_))
    }
}

impl Backing {
    fn len(&self) -> usize {
        match self {
            Backing::Heap(b) => b.len(),
            Backing::Mapped(m) => m.len(),
        }
    }
}

impl std::ops::Deref for ChunkData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &*self.owner {
            Backing::Heap(b) => b,
            // The range was checked against the mapping's length when it was created.
            Backing::Mapped(m) => m.get(self.start as usize..self.end as usize).unwrap_or(&[]),
        }
    }
}

impl AsRef<[u8]> for ChunkData {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for ChunkData {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for ChunkData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkData")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// Writes completed head chunks to `chunks_head/` and hands back their bytes as views of the
/// memory-mapped file, so they leave the heap.
#[derive(Debug)]
pub(crate) struct ChunkDiskMapper {
    dir: PathBuf,
    inner: Mutex<MapperInner>,
    // Held by whoever hands chunks completed by commits to `write_many`, so that each
    // series' chunks reach the files in time order (see `Head`'s `map_cuts`).
    pub(crate) order: Mutex<()>,
}

#[derive(Debug, Default)]
struct MapperInner {
    cur: Option<CurFile>,
    // Newest chunk end time per file number (closed and current files).
    file_maxt: BTreeMap<u64, i64>,
    next_no: u64,
}

#[derive(Debug)]
struct CurFile {
    no: u64,
    file: File,
    // Always `Backing::Mapped`.
    map: Arc<Backing>,
    pos: u64,
}

/// Writes all of `b` at `offset` of `file`: a failed or partial write leaves the position
/// the next write starts at unchanged, so what follows never lands behind stray bytes.
fn write_at(file: &File, b: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, b, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::Seek;
        let mut f = file;
        f.seek(std::io::SeekFrom::Start(offset))?;
        f.write_all(b)
    }
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_file(file: &File, path: &Path) -> Result<Mmap> {
    // SAFETY: the file was created by this process in a data directory it owns; it is only
    // written past the end of the last record handed out (by positioned writes, which Linux
    // keeps coherent with a shared mapping) and truncated to at least that end, and every
    // `ChunkData` reads only a range that was completely written before the view was
    // created. As with Prometheus, modifying the data directory from outside while it is open
    // is not supported.
    unsafe { Mmap::map(file) }.map_err(|e| Error::io(path, e))
}

impl ChunkDiskMapper {
    /// Starts an empty `dir`: head chunk files are rebuilt from the WAL on open, so leftover
    /// files are removed.
    pub(crate) fn open(dir: &Path) -> Result<ChunkDiskMapper> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for (_, p) in numbered_files(dir)? {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
        Ok(ChunkDiskMapper {
            dir: dir.to_path_buf(),
            inner: Mutex::new(MapperInner {
                next_no: 1,
                ..MapperInner::default()
            }),
            order: Mutex::new(()),
        })
    }

    fn cut(&self, inner: &mut MapperInner) -> Result<()> {
        if let Some(old) = inner.cur.take() {
            let path = self.dir.join(format!("{:06}", old.no));
            old.file
                .set_len(old.pos)
                .and_then(|_| old.file.sync_data())
                .map_err(|e| Error::io(&path, e))?;
        }
        let no = inner.next_no;
        inner.next_no += 1;
        let path = self.dir.join(format!("{no:06}"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut header = [0u8; HEAD_CHUNKS_HEADER];
        header[..4].copy_from_slice(&HEAD_CHUNKS_MAGIC.to_be_bytes());
        header[4] = 1;
        file.write_all(&header)
            .and_then(|_| file.set_len(MAX_HEAD_CHUNK_FILE))
            .map_err(|e| Error::io(&path, e))?;
        let map = Arc::new(Backing::Mapped(map_file(&file, &path)?));
        inner.cur = Some(CurFile {
            no,
            file,
            map,
            pos: HEAD_CHUNKS_HEADER as u64,
        });
        Ok(())
    }

    /// Appends completed chunks `(series_ref, mint, maxt, data)` in order, with one write
    /// call per file rather than per chunk (WAL replay and commits complete many chunks at
    /// once), cutting a new file before one would pass [`MAX_HEAD_CHUNK_FILE`]. `out` gets each chunk's view, or `None` for the chunks not written (after an
    /// error; they stay on the caller's heap).
    pub(crate) fn write_many(
        &self,
        chunks: &[(u64, i64, i64, &[u8])],
        out: &mut Vec<Option<ChunkData>>,
    ) {
        out.clear();
        out.resize(chunks.len(), None);
        let rec_len = |data: &[u8]| {
            let mut b = [0u8; 10];
            25 + put_uvarint(&mut b, data.len() as u64) + data.len() + 4
        };
        let mut inner = self.inner.lock();
        let mut buf: Vec<u8> = Vec::new();
        // Per chunk in `buf`: its index, where its data starts in `buf`, its length.
        let mut placed: Vec<(usize, usize, usize)> = Vec::new();
        let mut i = 0;
        while let Some(&(_, _, _, first)) = chunks.get(i) {
            let fits = inner
                .cur
                .as_ref()
                .is_some_and(|c| c.pos + rec_len(first) as u64 <= MAX_HEAD_CHUNK_FILE);
            if !fits && self.cut(&mut inner).is_err() {
                return;
            }
            let inner = &mut *inner;
            let Some(cur) = inner.cur.as_mut() else {
                return;
            };
            let base = cur.pos;
            buf.clear();
            placed.clear();
            // At least one chunk per file.
            while let Some(&(series_ref, mint, maxt, data)) = chunks.get(i) {
                if !placed.is_empty()
                    && base + (buf.len() + rec_len(data)) as u64 > MAX_HEAD_CHUNK_FILE
                {
                    break;
                }
                let start = buf.len();
                buf.extend_from_slice(&series_ref.to_be_bytes());
                buf.extend_from_slice(&mint.to_be_bytes());
                buf.extend_from_slice(&maxt.to_be_bytes());
                buf.push(1);
                let mut b = [0u8; 10];
                let n = put_uvarint(&mut b, data.len() as u64);
                buf.extend_from_slice(b.get(..n).unwrap_or_default());
                placed.push((i, buf.len(), data.len()));
                buf.extend_from_slice(data);
                let crc = crc32c::crc32c(buf.get(start..).unwrap_or_default());
                buf.extend_from_slice(&crc.to_be_bytes());
                let e = inner.file_maxt.entry(cur.no).or_insert(maxt);
                *e = (*e).max(maxt);
                i += 1;
            }
            if write_at(&cur.file, &buf, base).is_err() {
                return;
            }
            cur.pos += buf.len() as u64;
            for &(k, off, len) in &placed {
                let start = base as usize + off;
                let end = start + len;
                let bytes = buf.get(off..off + len).unwrap_or_default();
                let view = ChunkData::mapped(&cur.map, start, end, bytes);
                if let Some(slot) = out.get_mut(k) {
                    *slot = Some(view);
                }
            }
        }
    }

    /// Deletes the closed files whose chunks all end before `mint`.
    pub(crate) fn truncate(&self, mint: i64) -> Result<u64> {
        let mut inner = self.inner.lock();
        let cur = inner.cur.as_ref().map(|c| c.no);
        let old: Vec<u64> = inner
            .file_maxt
            .iter()
            .filter(|(no, maxt)| Some(**no) != cur && **maxt < mint)
            .map(|(no, _)| *no)
            .collect();
        for no in &old {
            inner.file_maxt.remove(no);
            let p = self.dir.join(format!("{no:06}"));
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
        Ok(old.len() as u64)
    }
}

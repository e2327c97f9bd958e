//! A block's index file (format doc §4), formats version 1 and 2, read through a memory map.
//!
//! Opening checks the magic, the TOC's CRC and the CRCs of the symbol table and the postings
//! offset table, and loads a compact directory of the postings offset table (label name →
//! values, each value a view into the file). Postings lists and series entries are decoded
//! (and their CRCs checked) when asked for, so opening a large index costs one pass over the
//! symbols and the offset table.

use std::path::{Path, PathBuf};

use lookout_model::{Labels, MatchType, Matcher};
use roaring::RoaringBitmap;

use crate::block::{corrupt, map_path, Bytes, Decbuf};
use crate::error::Result;

/// Magic number of an index file.
pub const INDEX_MAGIC: u32 = 0xBAAA_D700;
const TOC_LEN: usize = 52;

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

/// The table of contents at the end of an index file: absolute section offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Toc {
    /// The symbol table.
    pub symbols: u64,
    /// The first series entry.
    pub series: u64,
    /// The (legacy) label indices.
    pub label_indices: u64,
    /// The (legacy) label offset table.
    pub label_indices_table: u64,
    /// The first postings list.
    pub postings: u64,
    /// The postings offset table.
    pub postings_table: u64,
}

// One label name of the postings offset table: its values are `values[first..end]`.
#[derive(Debug)]
struct NameEntry {
    name: String,
    first: usize,
    end: usize,
}

// One (name, value) of the postings offset table: the value's bytes in the file and the
// offset of its postings list.
#[derive(Debug, Clone, Copy)]
struct ValueEntry {
    at: usize,
    len: usize,
    list: u64,
}

/// A block's index, memory-mapped. Series references are what the postings lists hold: the
/// series entry's offset / 16 in version 2, its offset in version 1.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    b: Bytes,
    version: u8,
    toc: Toc,
    // Version 2: the offset of every symbol's ustr. Version 1 looks symbols up by offset.
    symbols: Vec<u32>,
    sym_start: usize,
    sym_end: usize,
    names: Vec<NameEntry>,
    values: Vec<ValueEntry>,
}

impl IndexReader {
    /// Maps and checks `path` (a block's `index`).
    pub fn open(path: &Path) -> Result<IndexReader> {
        let b = map_path(path)?;
        IndexReader::from_bytes(path, b)
    }

    /// Reads an index held in memory; `path` names it in errors. Used by tests and the fuzzer.
    pub fn from_vec(path: &Path, b: Vec<u8>) -> Result<IndexReader> {
        IndexReader::from_bytes(path, Bytes::Heap(b))
    }

    fn from_bytes(path: &Path, b: Bytes) -> Result<IndexReader> {
        let mut d = Decbuf::new(&b);
        if d.be32() != Some(INDEX_MAGIC) {
            return Err(corrupt(path, 0, "bad index magic"));
        }
        let version = d.u8().unwrap_or(0);
        if !(1..=3).contains(&version) {
            return Err(corrupt(
                path,
                4,
                format!("unsupported index version {version}"),
            ));
        }
        if b.len() < 5 + TOC_LEN {
            return Err(corrupt(path, 0, "index too short for its TOC"));
        }
        let toc_at = b.len() - TOC_LEN;
        let toc = read_toc(path, &b, toc_at)?;
        let mut r = IndexReader {
            path: path.to_path_buf(),
            b: Bytes::Heap(Vec::new()),
            version,
            toc,
            symbols: Vec::new(),
            sym_start: 0,
            sym_end: 0,
            names: Vec::new(),
            values: Vec::new(),
        };
        r.load_symbols(&b)?;
        r.load_postings_table(&b)?;
        r.b = b;
        Ok(r)
    }

    fn load_symbols(&mut self, b: &[u8]) -> Result<()> {
        let (start, body) = section(&self.path, b, self.toc.symbols)?;
        let mut d = Decbuf::new(body);
        let n = d
            .be32()
            .ok_or_else(|| corrupt(&self.path, start, "short symbol table"))?;
        let v2 = self.version >= 2;
        if v2 {
            self.symbols.reserve((n as usize).min(body.len()));
        }
        for i in 0..n {
            let at = start + 4 + d.pos();
            d.ustr()
                .ok_or_else(|| corrupt(&self.path, at, format!("bad symbol #{i}")))?;
            if v2 {
                let at = u32::try_from(at)
                    .map_err(|_| corrupt(&self.path, at, "symbol beyond 4 GiB"))?;
                self.symbols.push(at);
            }
        }
        self.sym_start = start + 8;
        self.sym_end = start + 4 + body.len();
        Ok(())
    }

    fn load_postings_table(&mut self, b: &[u8]) -> Result<()> {
        let (start, body) = section(&self.path, b, self.toc.postings_table)?;
        let base = start + 4;
        let mut d = Decbuf::new(body);
        let n = d
            .be32()
            .ok_or_else(|| corrupt(&self.path, start, "short postings offset table"))?;
        let mut raw: Vec<(&str, ValueEntry)> = Vec::with_capacity((n as usize).min(body.len()));
        for i in 0..n {
            let at = base + d.pos();
            let err = || corrupt(&self.path, at, format!("bad postings offset entry #{i}"));
            if d.uvarint().ok_or_else(err)? != 2 {
                return Err(corrupt(
                    &self.path,
                    at,
                    "postings offset key count is not 2",
                ));
            }
            let name = d.ustr().ok_or_else(err)?;
            let vlen = usize::try_from(d.uvarint().ok_or_else(err)?).map_err(|_| err())?;
            let vat = base + d.pos();
            let vb = d.bytes(vlen).ok_or_else(err)?;
            std::str::from_utf8(vb).map_err(|_| err())?;
            let list = d.uvarint().ok_or_else(err)?;
            raw.push((
                name,
                ValueEntry {
                    at: vat,
                    len: vlen,
                    list,
                },
            ));
        }
        fn key<'k>(b: &'k [u8], e: &(&'k str, ValueEntry)) -> (&'k [u8], &'k [u8]) {
            (e.0.as_bytes(), &b[e.1.at..e.1.at + e.1.len])
        }
        let sorted = raw.windows(2).all(|w| key(b, &w[0]) < key(b, &w[1]));
        if !sorted {
            // Version 1 wrote the table in map order; a version 2 table is sorted by every
            // known writer, but sorting costs nothing when it is and keeps lookups right.
            raw.sort_by(|x, y| key(b, x).cmp(&key(b, y)));
            raw.dedup_by(|x, y| key(b, x) == key(b, y));
        }
        self.values = Vec::with_capacity(raw.len());
        for (name, v) in raw {
            match self.names.last_mut() {
                Some(last) if last.name == name => last.end += 1,
                _ => {
                    let first = self.values.len();
                    self.names.push(NameEntry {
                        name: name.to_string(),
                        first,
                        end: first + 1,
                    });
                }
            }
            self.values.push(v);
        }
        Ok(())
    }

    /// The file this index was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index format version (1 or 2; 3 is read as 2).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The table of contents.
    pub fn toc(&self) -> Toc {
        self.toc
    }

    /// The size of the index file in bytes.
    pub fn size(&self) -> usize {
        self.b.len()
    }

    /// The number of symbols in the symbol table (version 2; 0 for version 1).
    pub fn num_symbols(&self) -> usize {
        self.symbols.len()
    }

    fn name_entry(&self, name: &str) -> Option<&NameEntry> {
        self.names
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.names[i])
    }

    fn value_str(&self, v: &ValueEntry) -> &str {
        // Checked to be UTF-8 when the table was loaded.
        std::str::from_utf8(&self.b[v.at..v.at + v.len]).unwrap_or("")
    }

    /// The sorted label names of the index (without the all-postings key `""`).
    pub fn label_names(&self) -> Vec<String> {
        self.names
            .iter()
            .filter(|e| !e.name.is_empty())
            .map(|e| e.name.clone())
            .collect()
    }

    /// The sorted values of label `name` (empty when the label does not exist).
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.label_values_iter(name).map(str::to_string).collect()
    }

    /// The sorted values of label `name`, borrowed from the index.
    pub fn label_values_iter<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let range = self.name_entry(name).map_or(0..0, |e| e.first..e.end);
        self.values[range].iter().map(move |v| self.value_str(v))
    }

    /// The offset of the postings list of `name="value"`, if the pair exists.
    fn list_offset(&self, name: &str, value: &str) -> Option<u64> {
        let e = self.name_entry(name)?;
        let vals = &self.values[e.first..e.end];
        vals.binary_search_by(|v| self.b[v.at..v.at + v.len].cmp(value.as_bytes()))
            .ok()
            .map(|i| vals[i].list)
    }

    /// The raw postings list at `off`: CRC-checked, its IDs as big-endian u32s.
    fn list_at(&self, off: u64) -> Result<&[u8]> {
        let (start, body) = section(&self.path, &self.b, off)?;
        let mut d = Decbuf::new(body);
        let n = d
            .be32()
            .ok_or_else(|| corrupt(&self.path, start, "short postings list"))?;
        let ids = &body[4..];
        if ids.len() != n as usize * 4 {
            return Err(corrupt(
                &self.path,
                start,
                "postings list length does not match its count",
            ));
        }
        Ok(ids)
    }

    /// The series references of the postings list for `name="value"` (`("", "")` = all
    /// series), ascending; empty when the pair does not exist.
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>> {
        let Some(off) = self.list_offset(name, value) else {
            return Ok(Vec::new());
        };
        let ids = self.list_at(off)?;
        Ok(ids
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The number of series in the postings list of `name="value"`.
    pub fn postings_len(&self, name: &str, value: &str) -> Result<usize> {
        match self.list_offset(name, value) {
            Some(off) => Ok(self.list_at(off)?.len() / 4),
            None => Ok(0),
        }
    }

    fn add_list(&self, off: u64, into: &mut RoaringBitmap) -> Result<()> {
        let ids = self.list_at(off)?;
        let it = ids
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if into.is_empty() {
            // Lists are sorted; a corrupt unsorted one still yields its IDs below.
            if let Ok(bm) = RoaringBitmap::from_sorted_iter(it.clone()) {
                *into = bm;
                return Ok(());
            }
        }
        into.extend(it);
        Ok(())
    }

    /// The union of the postings of the values of `name` that `keep` accepts.
    fn union_where(&self, name: &str, mut keep: impl FnMut(&str) -> bool) -> Result<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        let Some(e) = self.name_entry(name) else {
            return Ok(out);
        };
        for v in &self.values[e.first..e.end] {
            if keep(self.value_str(v)) {
                self.add_list(v.list, &mut out)?;
            }
        }
        Ok(out)
    }

    /// The postings of the values of `m.name()` that `m` accepts (`want`) or rejects.
    fn postings_for_matcher(&self, m: &Matcher, want: bool) -> Result<RoaringBitmap> {
        if want {
            if let Some(set) = m.set_matches() {
                let mut out = RoaringBitmap::new();
                let mut offs: Vec<u64> = set
                    .iter()
                    .filter_map(|v| self.list_offset(m.name(), v))
                    .collect();
                offs.sort_unstable();
                offs.dedup();
                for off in offs {
                    self.add_list(off, &mut out)?;
                }
                return Ok(out);
            }
        } else if m.match_type() == MatchType::NotEqual {
            // Rejected by `!=v`: exactly `v`.
            let mut out = RoaringBitmap::new();
            if let Some(off) = self.list_offset(m.name(), m.value()) {
                self.add_list(off, &mut out)?;
            }
            return Ok(out);
        }
        self.union_where(m.name(), |v| m.matches(v) == want)
    }

    /// The series references matching every matcher (a missing label reads as `""`), as
    /// Prometheus' `PostingsForMatchers` computes them: matchers that reject the empty value
    /// intersect the postings of the values they accept; matchers that accept it subtract the
    /// postings of the values they reject. No matchers select every series.
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Result<RoaringBitmap> {
        let mut result: Option<RoaringBitmap> = None;
        let mut subtract: Vec<RoaringBitmap> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                subtract.push(self.postings_for_matcher(m, false)?);
                continue;
            }
            let set = self.postings_for_matcher(m, true)?;
            let r = match result {
                None => set,
                Some(r) => r & set,
            };
            if r.is_empty() {
                return Ok(r);
            }
            result = Some(r);
        }
        let mut r = match result {
            Some(r) => r,
            None => {
                let mut all = RoaringBitmap::new();
                if let Some(off) = self.list_offset("", "") {
                    self.add_list(off, &mut all)?;
                }
                all
            }
        };
        for s in subtract {
            r -= s;
        }
        Ok(r)
    }

    fn symbol(&self, r: u64, series_at: usize) -> Result<&str> {
        let bad = || {
            corrupt(
                &self.path,
                series_at,
                format!("symbol reference {r} out of range"),
            )
        };
        let at = if self.version >= 2 {
            *self
                .symbols
                .get(usize::try_from(r).map_err(|_| bad())?)
                .ok_or_else(bad)? as usize
        } else {
            let at = usize::try_from(r).map_err(|_| bad())?;
            if at < self.sym_start || at >= self.sym_end {
                return Err(bad());
            }
            at
        };
        let mut d = Decbuf::new(&self.b[..self.sym_end]);
        d.bytes(at).ok_or_else(bad)?;
        d.ustr().ok_or_else(bad)
    }

    /// The byte offset of series `id`'s entry.
    fn series_offset(&self, id: u32) -> usize {
        if self.version >= 2 {
            id as usize * 16
        } else {
            id as usize
        }
    }

    /// The CRC-checked body of series `id`'s entry.
    fn series_body(&self, id: u32) -> Result<(usize, &[u8])> {
        let off = self.series_offset(id);
        let err = |r: &str| corrupt(&self.path, off, format!("series {id}: {r}"));
        if off < 5 || off >= self.b.len() {
            return Err(err("offset out of range"));
        }
        let mut d = Decbuf::new(&self.b);
        d.bytes(off).ok_or_else(|| err("offset out of range"))?;
        let len = d
            .uvarint()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| err("bad length"))?;
        let body = d
            .bytes(len)
            .ok_or_else(|| err("entry extends past the end"))?;
        if d.be32() != Some(crc32c::crc32c(body)) {
            return Err(err("checksum mismatch"));
        }
        Ok((off, body))
    }

    /// The labels of series `id` as (name, value) pairs borrowed from the index, appended to
    /// `pairs`; and its chunk metas, appended to `chunks`.
    pub fn series_into<'a>(
        &'a self,
        id: u32,
        pairs: &mut Vec<(&'a str, &'a str)>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<()> {
        self.series_with(id, pairs, chunks, |r, off| self.symbol(r, off))
    }

    /// [`IndexReader::series_into`] resolving symbols through `cache`, which a caller
    /// reading many series keeps: their label names and most values repeat.
    pub(crate) fn series_into_cached<'a>(
        &'a self,
        id: u32,
        pairs: &mut Vec<(&'a str, &'a str)>,
        chunks: &mut Vec<ChunkMeta>,
        cache: &mut SymbolCache<'a>,
    ) -> Result<()> {
        self.series_with(id, pairs, chunks, |r, off| {
            let slot = &mut cache.slots[(r ^ (r >> 7)) as usize % SYMBOL_CACHE_SLOTS];
            match *slot {
                Some((k, s)) if k == r => Ok(s),
                _ => {
                    let s = self.symbol(r, off)?;
                    *slot = Some((r, s));
                    Ok(s)
                }
            }
        })
    }

    fn series_with<'a>(
        &'a self,
        id: u32,
        pairs: &mut Vec<(&'a str, &'a str)>,
        chunks: &mut Vec<ChunkMeta>,
        mut symbol: impl FnMut(u64, usize) -> Result<&'a str>,
    ) -> Result<()> {
        let (off, body) = self.series_body(id)?;
        let err = |r: &str| corrupt(&self.path, off, format!("series {id}: {r}"));
        let mut d = Decbuf::new(body);
        let nl = d.uvarint().ok_or_else(|| err("bad label count"))?;
        for _ in 0..nl {
            let n = d.uvarint().ok_or_else(|| err("bad label"))?;
            let v = d.uvarint().ok_or_else(|| err("bad label"))?;
            pairs.push((symbol(n, off)?, symbol(v, off)?));
        }
        let nc = d.uvarint().ok_or_else(|| err("bad chunk count"))?;
        if nc > body.len() as u64 {
            return Err(err("chunk count larger than the entry"));
        }
        chunks.reserve(nc as usize);
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
            chunks.push(ChunkMeta {
                mint,
                maxt,
                chunk_ref: cref as u64,
            });
        }
        Ok(())
    }

    /// The labels and chunk metas of series `id`.
    pub fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>)> {
        let mut pairs = Vec::new();
        let mut chunks = Vec::new();
        self.series_into(id, &mut pairs, &mut chunks)?;
        Ok((labels_from_index(&pairs, &mut String::new()), chunks))
    }
}

const SYMBOL_CACHE_SLOTS: usize = 64;

/// Symbols resolved by [`IndexReader::series_into_cached`], by reference (direct-mapped).
#[derive(Debug)]
pub(crate) struct SymbolCache<'a> {
    slots: [Option<(u64, &'a str)>; SYMBOL_CACHE_SLOTS],
}

impl Default for SymbolCache<'_> {
    fn default() -> Self {
        SymbolCache {
            slots: [None; SYMBOL_CACHE_SLOTS],
        }
    }
}

/// A label set from an index series' pairs: the fast path when they are sorted by name with
/// unique names and non-empty values (what writers produce), encoded in `scratch` (reused by
/// callers building many) and copied out in one allocation; the checked path otherwise.
pub(crate) fn labels_from_index(pairs: &[(&str, &str)], scratch: &mut String) -> Labels {
    let well_formed = pairs.windows(2).all(|w| w[0].0 < w[1].0)
        && pairs.iter().all(|(n, v)| !n.is_empty() && !v.is_empty());
    if well_formed {
        Labels::from_sorted_unchecked_in(pairs.iter().copied(), scratch)
    } else {
        Labels::from_pairs(pairs.iter().copied())
    }
}

fn read_toc(path: &Path, b: &[u8], at: usize) -> Result<Toc> {
    let t = &b[at..];
    let mut d = Decbuf::new(t);
    let mut x = [0u64; 6];
    for v in &mut x {
        *v = d.be64().unwrap_or(0);
    }
    if d.be32() != Some(crc32c::crc32c(&t[..48])) {
        return Err(corrupt(path, at, "index TOC checksum mismatch"));
    }
    Ok(Toc {
        symbols: x[0],
        series: x[1],
        label_indices: x[2],
        label_indices_table: x[3],
        postings: x[4],
        postings_table: x[5],
    })
}

/// The body of a `be32 len | body | be32 crc32c(body)` section at `off`, CRC-checked, with
/// the section's start offset.
pub(crate) fn section<'a>(path: &Path, b: &'a [u8], off: u64) -> Result<(usize, &'a [u8])> {
    let Ok(start) = usize::try_from(off) else {
        return Err(corrupt(path, 0, format!("section offset {off} overflows")));
    };
    if start >= b.len() {
        return Err(corrupt(path, start, "section offset out of range"));
    }
    let mut d = Decbuf::new(&b[start..]);
    let len = d
        .be32()
        .ok_or_else(|| corrupt(path, start, "short section"))? as usize;
    let body = d
        .bytes(len)
        .ok_or_else(|| corrupt(path, start, "section extends past the end of the file"))?;
    if d.be32() != Some(crc32c::crc32c(body)) {
        return Err(corrupt(path, start, "section checksum mismatch"));
    }
    Ok((start, body))
}

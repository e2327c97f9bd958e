//! Reading a [`Block`] through [`lookout_model::Querier`], as Prometheus' `blockQuerier`:
//! matchers become postings (see [`IndexReader::postings_for_matchers`]), series come in
//! index order (sorted by labels) and are decoded one at a time as the set is iterated, chunk
//! bytes are CRC-checked and decoded in place from the mapped segments when a series is
//! iterated; samples outside the range or inside tombstoned intervals never come out.

use lookout_model::{
    Error as ModelError, Labels, Matcher, Querier, Sample, SampleIterator, SelectHints, Series,
    SeriesSet, ValueKind,
};

use crate::block::{Block, ChunkMeta, ChunkReader};
use crate::error::Error;
use crate::index::{labels_from_index, SymbolCache};
use crate::xor::{decode_xor_append_in, xor_num_samples};

/// One series of a block query: labels, the chunks meeting the range, deleted intervals.
#[derive(Debug)]
struct BlockSeries<'a> {
    labels: Labels,
    chunks: Vec<ChunkMeta>,
    // Tombstoned intervals, sorted and merged (inclusive).
    deleted: &'a [(i64, i64)],
    reader: &'a ChunkReader,
    mint: i64,
    maxt: i64,
}

impl Series for BlockSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(BlockIter {
            chunks: &self.chunks,
            reader: self.reader,
            deleted: self.deleted,
            del_idx: 0,
            idx: 0,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            cur: NO_SAMPLE,
            cur_maxt: i64::MIN,
            mint: self.mint,
            maxt: self.maxt,
            on: false,
            done: false,
            pending: None,
            err: None,
        })
    }
}

/// What [`BlockIter::at`] returns when it stands on no sample.
const NO_SAMPLE: Sample = Sample {
    t: i64::MIN,
    v: f64::NAN,
};

/// Iterates the chunks of one block series in order, clipped to `[mint, maxt]` and skipping
/// deleted samples. Each chunk is decoded from the mapped bytes in one tight loop into a
/// small buffer; the run of samples that need no per-sample check (increasing, up to `maxt`,
/// not deleted) is marked by `end`, so `next` within it only steps and copies, and
/// `next_batch` copies it whole.
#[derive(Debug)]
struct BlockIter<'a> {
    chunks: &'a [ChunkMeta],
    reader: &'a ChunkReader,
    deleted: &'a [(i64, i64)],
    del_idx: usize,
    idx: usize,
    // The decoded samples of the current chunk; `pos` is the current one (or, when not on,
    // the next candidate).
    buf: Vec<Sample>,
    pos: usize,
    // Samples `buf[..end]` are strictly increasing, at most `maxt` and not deleted.
    end: usize,
    // The current sample (`NO_SAMPLE` when not on).
    cur: Sample,
    cur_maxt: i64,
    mint: i64,
    maxt: i64,
    on: bool,
    done: bool,
    // A decoding error met in the current chunk, reported once its good samples are out.
    pending: Option<ModelError>,
    err: Option<ModelError>,
}

impl BlockIter<'_> {
    #[cold]
    fn finish(&mut self) -> ValueKind {
        if self.err.is_none() {
            self.err = self.pending.take();
        }
        self.on = false;
        self.done = true;
        self.cur = NO_SAMPLE;
        self.buf.clear();
        self.pos = 0;
        self.end = 0;
        ValueKind::None
    }

    #[cold]
    fn fail(&mut self, e: Error) -> ValueKind {
        self.err = Some(ModelError::storage(e));
        self.finish()
    }

    /// Decodes the next chunk whose range reaches `target` into the buffer; false at the end.
    fn open_next(&mut self, target: i64) -> Result<bool, Error> {
        while let Some(c) = self.chunks.get(self.idx) {
            self.idx += 1;
            if c.maxt < target {
                continue;
            }
            let (enc, data, len) = self.reader.chunk_ext(c.chunk_ref)?;
            if enc == 2 || enc == 3 {
                // Native histograms (integer, float): this reader yields floats only, and ends
                // the series at the first histogram chunk, as promtool 2.42's dump loop does.
                return Ok(false);
            }
            if enc != 1 {
                return Err(Error::Corrupt {
                    path: self.reader.segment_path(c.chunk_ref),
                    offset: c.chunk_ref & 0xFFFF_FFFF,
                    reason: format!("unsupported chunk encoding {enc} (only XOR floats are read)"),
                });
            }
            self.buf.clear();
            let (err, increasing) = decode_xor_append_in(data, len, &mut self.buf);
            self.pending = err;
            self.pos = 0;
            self.cur_maxt = c.maxt;
            self.end = self.clean_run(increasing);
            return Ok(true);
        }
        Ok(false)
    }

    /// The length of the buffer's prefix that needs no per-sample check: strictly
    /// increasing, at most `maxt`, clear of every deleted interval. `increasing` says the
    /// decoder found the whole buffer strictly increasing (false: unknown).
    fn clean_run(&self, increasing: bool) -> usize {
        let (Some(first), Some(last)) = (self.buf.first(), self.buf.last()) else {
            return 0;
        };
        if self
            .deleted
            .iter()
            .any(|&(a, b)| a <= last.t && first.t <= b)
        {
            return 0;
        }
        let n = if last.t <= self.maxt {
            self.buf.len()
        } else {
            self.buf.partition_point(|s| s.t <= self.maxt)
        };
        let run = &self.buf[..n];
        let increasing = increasing
            || run
                .iter()
                .zip(run.iter().skip(1))
                .fold(true, |ok, (a, b)| ok & (a.t < b.t));
        // `partition_point` presumes sorted times: check the run's last one too.
        if increasing && run.last().is_none_or(|s| s.t <= self.maxt) {
            n
        } else {
            0
        }
    }

    #[inline]
    fn is_deleted(&mut self, t: i64) -> bool {
        while let Some(&(_, end)) = self.deleted.get(self.del_idx) {
            if end < t {
                self.del_idx += 1;
            } else {
                break;
            }
        }
        matches!(self.deleted.get(self.del_idx), Some(&(start, _)) if start <= t)
    }

    /// Moves to the first kept sample with timestamp >= `target`, starting at `self.pos`.
    fn advance(&mut self, target: i64) -> ValueKind {
        let target = target.max(self.mint);
        self.on = false;
        loop {
            if self.done {
                return ValueKind::None;
            }
            let Some(&s) = self.buf.get(self.pos) else {
                if self.pending.is_some() {
                    return self.finish();
                }
                match self.open_next(target) {
                    Ok(true) => continue,
                    Ok(false) => return self.finish(),
                    Err(e) => return self.fail(e),
                }
            };
            if s.t < target {
                self.pos += 1;
                continue;
            }
            if s.t > self.maxt {
                return self.finish();
            }
            if !self.deleted.is_empty() && self.is_deleted(s.t) {
                self.pos += 1;
                continue;
            }
            self.on = true;
            self.cur = s;
            return ValueKind::Float;
        }
    }

    /// `next` past the clean run: into the next chunk, or through per-sample checks.
    #[inline(never)]
    fn next_slow(&mut self) -> ValueKind {
        if !self.on {
            return self.advance(self.mint);
        }
        self.pos += 1;
        self.advance(self.cur.t.saturating_add(1))
    }

    /// When the current chunk is used up, decodes the next chunk straight into `out` if it
    /// holds at most `left` samples, all after the current one and in the range, strictly
    /// increasing, none deleted and no error: returns how many samples it appended. Otherwise
    /// appends nothing: the chunk is left to `next_slow`, or, once decoded, kept in the buffer
    /// as `open_next` would, to be read from by `advance` to the target returned.
    fn chunk_into(&mut self, out: &mut Vec<Sample>, left: usize) -> Direct {
        let used_up = if self.on {
            self.pos + 1 >= self.buf.len()
        } else {
            self.pos >= self.buf.len()
        };
        if !used_up || self.done || self.pending.is_some() {
            return Direct::NotTaken;
        }
        let target = if self.on {
            self.cur.t.saturating_add(1).max(self.mint)
        } else {
            self.mint
        };
        while self.chunks.get(self.idx).is_some_and(|c| c.maxt < target) {
            self.idx += 1;
        }
        let Some(c) = self.chunks.get(self.idx) else {
            return Direct::NotTaken;
        };
        if c.mint < target || c.maxt > self.maxt {
            return Direct::NotTaken;
        }
        // Errors and other encodings: `open_next` reports them.
        let Ok((1, data, len)) = self.reader.chunk_ext(c.chunk_ref) else {
            return Direct::NotTaken;
        };
        if xor_num_samples(data.get(..len).unwrap_or(data)).map_or(true, |n| n > left) {
            return Direct::NotTaken;
        }
        let start = out.len();
        let (err, increasing) = decode_xor_append_in(data, len, out);
        let clean = match (err.is_none() && increasing, out.get(start), out.last()) {
            (true, Some(first), Some(last)) => {
                first.t >= target
                    && last.t <= self.maxt
                    && !self
                        .deleted
                        .iter()
                        .any(|&(a, b)| a <= last.t && first.t <= b)
            }
            _ => false,
        };
        self.idx += 1;
        self.cur_maxt = c.maxt;
        self.buf.clear();
        self.pos = 0;
        self.end = 0;
        if clean {
            if let Some(last) = out.last() {
                self.cur = *last;
                self.on = true;
                return Direct::Appended(out.len() - start);
            }
        }
        // As `open_next` leaves it: the samples in the buffer, then on to the first kept.
        self.buf
            .extend_from_slice(out.get(start..).unwrap_or_default());
        out.truncate(start);
        self.pending = err;
        self.end = self.clean_run(increasing);
        Direct::Buffered(target)
    }
}

/// What [`BlockIter::chunk_into`] did with the next chunk.
enum Direct {
    /// Appended this many samples to the caller's buffer.
    Appended(usize),
    /// Decoded it into the iterator's buffer: `advance` to this target reads on.
    Buffered(i64),
    /// Left it alone.
    NotTaken,
}

impl SampleIterator for BlockIter<'_> {
    #[inline]
    fn next(&mut self) -> ValueKind {
        let p = self.pos + 1;
        if self.on && p < self.end {
            if let Some(s) = self.buf.get(p) {
                self.pos = p;
                self.cur = *s;
                return ValueKind::Float;
            }
        }
        self.next_slow()
    }

    /// Copies the clean run of the decoded chunk whole, and decodes a next chunk that needs no
    /// per-sample check straight into `out`; other chunk changes and samples that need checks
    /// go through `next`'s slow path one at a time.
    fn next_batch(&mut self, out: &mut Vec<Sample>, max: usize) -> ValueKind {
        let mut left = max;
        while left > 0 {
            let from = self.pos + 1;
            if self.on && from < self.end {
                let to = from + left.min(self.end - from);
                if let Some(run @ [.., last]) = self.buf.get(from..to) {
                    out.extend_from_slice(run);
                    left -= run.len();
                    self.pos = to - 1;
                    self.cur = *last;
                    continue;
                }
            }
            let k = match self.chunk_into(out, left) {
                Direct::Appended(n) => {
                    left -= n;
                    continue;
                }
                Direct::Buffered(target) => self.advance(target),
                Direct::NotTaken => self.next_slow(),
            };
            match k {
                ValueKind::Float => {
                    out.push(self.cur);
                    left -= 1;
                }
                k => return k,
            }
        }
        ValueKind::Float
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        if self.on && self.cur.t >= t {
            return ValueKind::Float;
        }
        if self.pos < self.buf.len() && self.cur_maxt < t {
            // Nothing in this chunk reaches `t`.
            self.pos = self.buf.len();
        } else if let Some(rest) = self.buf.get(self.pos..) {
            self.pos += rest.partition_point(|s| s.t < t);
        }
        self.advance(t)
    }

    #[inline]
    fn at(&self) -> Sample {
        self.cur
    }

    #[inline]
    fn at_t(&self) -> i64 {
        self.cur.t
    }

    fn err(&self) -> Option<&ModelError> {
        self.err.as_ref()
    }
}

/// Buffers reused from one series of a query to the next, so building a series costs one
/// allocation for its labels and one for its chunk list, and symbols shared by the series
/// are looked up once.
#[derive(Debug, Default)]
struct Scratch<'a> {
    pairs: Vec<(&'a str, &'a str)>,
    labels: String,
    symbols: SymbolCache<'a>,
}

impl Block {
    /// The series of `id` as a query result: `None` when no chunk meets `[mint, maxt]` or
    /// every such chunk lies inside a deleted interval.
    fn query_series<'a>(
        &'a self,
        id: u32,
        mint: i64,
        maxt: i64,
        scratch: &mut Scratch<'a>,
    ) -> Result<Option<BlockSeries<'a>>, Error> {
        scratch.pairs.clear();
        let mut chunks = Vec::new();
        self.index().series_into_cached(
            id,
            &mut scratch.pairs,
            &mut chunks,
            &mut scratch.symbols,
        )?;
        let deleted = self.tombstones().get(id as u64);
        chunks.retain(|c| {
            c.maxt >= mint
                && c.mint <= maxt
                && !deleted.iter().any(|&(a, b)| a <= c.mint && c.maxt <= b)
        });
        if chunks.is_empty() {
            return Ok(None);
        }
        Ok(Some(BlockSeries {
            labels: labels_from_index(&scratch.pairs, &mut scratch.labels),
            chunks,
            deleted,
            reader: self.chunks(),
            mint,
            maxt,
        }))
    }

    fn matching_ids(&self, matchers: &[Matcher]) -> Result<roaring::RoaringBitmap, ModelError> {
        self.index()
            .postings_for_matchers(matchers)
            .map_err(ModelError::storage)
    }

    /// Label sets of the series matching `matchers` with data in `[mint, maxt]`.
    fn matching_labels(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, ModelError> {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        for id in self.matching_ids(matchers)? {
            if let Some(s) = self
                .query_series(id, mint, maxt, &mut scratch)
                .map_err(ModelError::storage)?
            {
                out.push(s.labels);
            }
        }
        Ok(out)
    }
}

impl Querier for Block {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        _hints: &SelectHints,
    ) -> Result<SeriesSet<'a>, ModelError> {
        let ids = self.matching_ids(matchers)?;
        let mut scratch = Scratch::default();
        let it = ids.into_iter().filter_map(move |id| {
            match self.query_series(id, mint, maxt, &mut scratch) {
                Ok(Some(s)) => Some(Ok(Box::new(s) as Box<dyn Series + 'a>)),
                Ok(None) => None,
                Err(e) => Some(Err(ModelError::storage(e))),
            }
        });
        Ok(Box::new(it))
    }

    fn label_names(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        if matchers.is_empty() && self.overlaps(mint, maxt) {
            return Ok(self.index().label_names());
        }
        Ok(crate::merge::names_of(
            &self.matching_labels(mint, maxt, matchers)?,
        ))
    }

    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        if matchers.is_empty() && self.overlaps(mint, maxt) {
            return Ok(self.index().label_values(name));
        }
        Ok(crate::merge::values_of(
            &self.matching_labels(mint, maxt, matchers)?,
            name,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::block_writer::{BlockWriter, ChunkToWrite, ENCODING_XOR};
    use crate::meta::Compaction;
    use crate::tombstones::Tombstones;
    use crate::xor::XorChunk;

    /// Drives `it` with a pseudo-random mix (drawn from `seed`) of `next`, `seek` (up to
    /// `span` ms past the current sample, or past `base` before the first) and runs of up to 9
    /// (sometimes 299) samples read as one `next_batch` (`batches`) or
    /// as single `next`/`at` steps, logging every sample and kind reached. Two iterators over
    /// the same samples give the same log with and without batches.
    pub(crate) fn drive(
        it: &mut dyn SampleIterator,
        seed: u64,
        base: i64,
        span: u64,
        batches: bool,
    ) -> Vec<(ValueKind, i64, u64)> {
        let mut rand = crate::testing::xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut log = Vec::new();
        let mut buf = Vec::new();
        for _ in 0..400 {
            let r = rand();
            let k = match r % 5 {
                0 => it.seek(it.at_t().max(base).saturating_add(((r >> 8) % span) as i64)),
                1 | 2 => {
                    // Mostly short runs, sometimes one long enough to take whole chunks.
                    let max = if (r >> 40) & 3 == 0 {
                        (r >> 8) as usize % 300
                    } else {
                        (r >> 8) as usize % 10
                    };
                    if batches {
                        buf.clear();
                        let k = it.next_batch(&mut buf, max);
                        assert_eq!(k == ValueKind::Float, buf.len() == max);
                        log.extend(buf.iter().map(|s| (ValueKind::Float, s.t, s.v.to_bits())));
                        k
                    } else {
                        let mut k = ValueKind::Float;
                        for _ in 0..max {
                            k = it.next();
                            if k != ValueKind::Float {
                                break;
                            }
                            let s = it.at();
                            log.push((k, s.t, s.v.to_bits()));
                        }
                        k
                    }
                }
                _ => it.next(),
            };
            let s = if k == ValueKind::Float {
                it.at()
            } else {
                NO_SAMPLE
            };
            log.push((k, s.t, s.v.to_bits()));
            if k == ValueKind::Float {
                assert_eq!(it.at_t(), s.t);
            }
        }
        log.push((ValueKind::None, i64::from(it.err().is_some()), 0));
        log
    }

    /// Reads every sample in batches of 7 from `b`, and in one unbounded batch from `c`,
    /// checking both against `next`/`at` on `a`.
    pub(crate) fn check_drain(
        a: &mut dyn SampleIterator,
        b: &mut dyn SampleIterator,
        c: &mut dyn SampleIterator,
    ) {
        let mut want = Vec::new();
        while a.next() == ValueKind::Float {
            want.push(a.at());
        }
        let mut got = Vec::new();
        while b.next_batch(&mut got, 7) == ValueKind::Float {}
        assert_eq!(
            got.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>(),
            want.iter()
                .map(|s| (s.t, s.v.to_bits()))
                .collect::<Vec<_>>()
        );
        assert_eq!(b.next(), ValueKind::None);
        assert_eq!(a.err().is_some(), b.err().is_some());
        let mut all = Vec::new();
        assert_eq!(c.next_batch(&mut all, usize::MAX), ValueKind::None);
        assert_eq!(
            all.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>(),
            want.iter()
                .map(|s| (s.t, s.v.to_bits()))
                .collect::<Vec<_>>()
        );
        assert_eq!(a.err().is_some(), c.err().is_some());
    }

    /// Checks every series `q` selects over each of `ranges` (no matchers): whole drains in
    /// batches against `next`/`at` ([`check_drain`]), and `seeds` random mixes of calls with
    /// and without batches ([`drive`], seeks from `base`). Returns how many series it checked.
    pub(crate) fn check_batches(
        q: &dyn Querier,
        ranges: &[(i64, i64)],
        seeds: u64,
        base: i64,
    ) -> usize {
        let mut series = 0;
        for &(mint, maxt) in ranges {
            let set: Vec<_> = q
                .select(mint, maxt, &[], &SelectHints::default())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for s in &set {
                series += 1;
                check_drain(&mut *s.iter(), &mut *s.iter(), &mut *s.iter());
                for seed in 0..seeds {
                    let want = drive(&mut *s.iter(), seed, base, 200_000, false);
                    assert_eq!(drive(&mut *s.iter(), seed, base, 200_000, true), want);
                }
            }
        }
        series
    }

    const START: i64 = 1_700_006_400_000;

    /// A block of a few series shaped to hit every path of the block iterator: regular and
    /// irregular spacing, several chunks, a chunk with repeated and decreasing timestamps, a
    /// truncated chunk; tombstones on some.
    fn test_block(dir: &std::path::Path) -> Block {
        let mut w = BlockWriter::create(dir, START, START + 7_200_000).unwrap();
        let mut rand = crate::testing::xorshift(7);
        for i in 0..6 {
            let labels: Labels = format!(r#"m{{i="{i}"}}"#).parse().unwrap();
            if i == 3 {
                // Hand-made chunks: times going back and repeating, then a truncated one.
                let mut c = XorChunk::new();
                for (t, v) in [
                    (10, 1.0),
                    (20, 2.0),
                    (20, 3.0),
                    (15, 4.0),
                    (30, 5.0),
                    (40, 6.0),
                ] {
                    c.append(START + t * 1000, v).unwrap();
                }
                let a = c.into_bytes();
                let mut c = XorChunk::new();
                for k in 0..50 {
                    c.append(START + 100_000 + k * 1000, k as f64 * 1.5)
                        .unwrap();
                }
                let mut b = c.into_bytes();
                b.truncate(b.len() - 20);
                let chunks = [
                    ChunkToWrite {
                        mint: START + 10_000,
                        maxt: START + 40_000,
                        encoding: ENCODING_XOR,
                        data: &a,
                    },
                    ChunkToWrite {
                        mint: START + 100_000,
                        maxt: START + 149_000,
                        encoding: ENCODING_XOR,
                        data: &b,
                    },
                ];
                w.add_series(&labels, &chunks).unwrap();
                continue;
            }
            let mut t = START;
            let mut v = 0.0;
            let mut samples = Vec::new();
            while t < START + 7_200_000 {
                samples.push((t, v));
                let r = rand();
                t += if i % 2 == 0 {
                    15_000
                } else {
                    1 + (r % 40_000) as i64
                };
                v += (r >> 20) as f64 % 100.0;
            }
            w.add_series_samples(&labels, samples).unwrap();
        }
        let meta = w.finish(Compaction::default()).unwrap();
        let bdir = dir.join(&meta.ulid);
        let b = Block::open(&bdir).unwrap();
        let ids = b.index().postings("", "").unwrap();
        let mut ts = Tombstones::new();
        ts.add(ids[1] as u64, START + 600_000, START + 1_200_000);
        ts.add(ids[1] as u64, START + 3_000_000, START + 3_000_000);
        ts.add(ids[2] as u64, START, START + 15_000);
        ts.add(ids[3] as u64, START + 20_000, START + 20_000);
        ts.add(ids[4] as u64, START + 1_800_000, START + 7_200_000);
        ts.write(&bdir).unwrap();
        drop(b);
        Block::open(&bdir).unwrap()
    }

    #[test]
    fn block_next_batch_matches_next_and_at() {
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let b = test_block(tmp.path());
        let ranges = [
            (i64::MIN, i64::MAX),
            (START + 30_000, START + 3_600_000),
            (START + 7_000, START + 7_000),
            (START + 1_000_000, START + 1_000_000 + 90_000),
        ];
        let series = check_batches(&b, &ranges, 40, START - 20_000);
        assert!(series > 15, "{series}");
    }
}

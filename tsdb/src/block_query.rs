//! Reading a [`Block`] through [`lookout_model::Querier`], as Prometheus' `blockQuerier`:
//! matchers become postings (see [`IndexReader::postings_for_matchers`]), series come in
//! index order (sorted by labels) and are decoded one at a time as the set is iterated, chunk
//! bytes are CRC-checked and decoded in place from the mapped segments when a series is
//! iterated; samples outside the range or inside tombstoned intervals never come out.

use std::collections::BTreeSet;

use lookout_model::{
    Error as ModelError, Labels, Matcher, Querier, Sample, SampleIterator, SelectHints, Series,
    SeriesSet, ValueKind,
};

use crate::block::{Block, ChunkMeta, ChunkReader};
use crate::error::Error;
use crate::index::labels_from_index;
use crate::xor::decode_xor_into;

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
/// not deleted) is marked by `end`, so `next` within it only steps and copies.
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
            let (enc, data) = self.reader.chunk(c.chunk_ref)?;
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
            self.pending = decode_xor_into(data, &mut self.buf);
            self.pos = 0;
            self.cur_maxt = c.maxt;
            self.end = self.clean_run();
            return Ok(true);
        }
        Ok(false)
    }

    /// The length of the buffer's prefix that needs no per-sample check: strictly
    /// increasing, at most `maxt`, clear of every deleted interval.
    fn clean_run(&self) -> usize {
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
        let increasing = run
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

impl Block {
    /// The series of `id` as a query result: `None` when no chunk meets `[mint, maxt]` or
    /// every such chunk lies inside a deleted interval.
    fn query_series(
        &self,
        id: u32,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<BlockSeries<'_>>, Error> {
        // Room for typical series up front: growing these showed in profiles.
        let mut pairs = Vec::with_capacity(16);
        let mut chunks = Vec::new();
        self.index().series_into(id, &mut pairs, &mut chunks)?;
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
            labels: labels_from_index(&pairs),
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
        for id in self.matching_ids(matchers)? {
            if let Some(s) = self
                .query_series(id, mint, maxt)
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
        let it = ids
            .into_iter()
            .filter_map(move |id| match self.query_series(id, mint, maxt) {
                Ok(Some(s)) => Some(Ok(Box::new(s) as Box<dyn Series + 'a>)),
                Ok(None) => None,
                Err(e) => Some(Err(ModelError::storage(e))),
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
        let mut names = BTreeSet::new();
        for ls in self.matching_labels(mint, maxt, matchers)? {
            for l in ls.iter() {
                if !names.contains(l.name) {
                    names.insert(l.name.to_string());
                }
            }
        }
        Ok(names.into_iter().collect())
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
        let mut values = BTreeSet::new();
        for ls in self.matching_labels(mint, maxt, matchers)? {
            if let Some(v) = ls.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        }
        Ok(values.into_iter().collect())
    }
}

//! Merging queriers, as Prometheus' `storage.NewMergeQuerier` with `ChainedSeriesMerge`:
//! [`MergeQuerier`] merges the sorted series sets of several queriers (blocks and the head),
//! series with equal labels become one whose samples are merged by time with duplicate
//! timestamps dropped. [`open_read_only`] opens a whole data directory that way, as
//! `promtool tsdb dump` does (Prometheus' `DBReadOnly`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lookout_model::{
    Error as ModelError, Labels, Matcher, Querier, Sample, SampleIterator, SelectHints, Series,
    SeriesSet, ValueKind,
};

use crate::block::{numbered_block_dirs, Block};
use crate::error::{Error, Result};
use crate::head::{Head, HeadOptions, ReplayStats};

/// Several queriers read as one. Series sets are merged by labels; a series present in more
/// than one querier is read as the chain of its parts: samples in time order, a timestamp
/// seen in several parts given once, from the part listed last (later blocks and the head win,
/// as they hold the newer writes).
#[derive(Default)]
pub struct MergeQuerier<'q> {
    queriers: Vec<&'q (dyn Querier + 'q)>,
}

impl std::fmt::Debug for MergeQuerier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeQuerier")
            .field("queriers", &self.queriers.len())
            .finish()
    }
}

impl<'q> MergeQuerier<'q> {
    /// Merges `queriers`, listed oldest first (blocks by time, then the head).
    pub fn new(queriers: Vec<&'q (dyn Querier + 'q)>) -> MergeQuerier<'q> {
        MergeQuerier { queriers }
    }

    /// Adds a querier after the others.
    pub fn push(&mut self, q: &'q (dyn Querier + 'q)) {
        self.queriers.push(q);
    }
}

impl Querier for MergeQuerier<'_> {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<SeriesSet<'a>, ModelError> {
        if let [q] = self.queriers[..] {
            return q.select(mint, maxt, matchers, hints);
        }
        let mut sets = Vec::with_capacity(self.queriers.len());
        for q in &self.queriers {
            sets.push(q.select(mint, maxt, matchers, hints)?);
        }
        Ok(merge_series_sets(sets))
    }

    fn label_names(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        sorted_union(
            self.queriers
                .iter()
                .map(|q| q.label_names(mint, maxt, matchers)),
        )
    }

    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        sorted_union(
            self.queriers
                .iter()
                .map(|q| q.label_values(mint, maxt, name, matchers)),
        )
    }
}

/// The sorted, unique label names of some label sets (`label_names` with matchers).
pub(crate) fn names_of<'l>(sets: impl IntoIterator<Item = &'l Labels>) -> Vec<String> {
    let mut names = BTreeSet::new();
    for ls in sets {
        for l in ls.iter() {
            if !names.contains(l.name) {
                names.insert(l.name.to_string());
            }
        }
    }
    names.into_iter().collect()
}

/// The sorted, unique values of label `name` in some label sets (`label_values` with
/// matchers).
pub(crate) fn values_of<'l>(sets: impl IntoIterator<Item = &'l Labels>, name: &str) -> Vec<String> {
    let mut values = BTreeSet::new();
    for ls in sets {
        if let Some(v) = ls.get(name) {
            if !values.contains(v) {
                values.insert(v.to_string());
            }
        }
    }
    values.into_iter().collect()
}

/// The sorted, deduplicated union of several queriers' label names or values; the first
/// error wins.
pub(crate) fn sorted_union(
    lists: impl IntoIterator<Item = Result<Vec<String>, ModelError>>,
) -> Result<Vec<String>, ModelError> {
    let mut all = BTreeSet::new();
    for list in lists {
        all.extend(list?);
    }
    Ok(all.into_iter().collect())
}

/// Merges sorted series sets into one sorted set; equal label sets become one chained series.
pub fn merge_series_sets<'a>(sets: Vec<SeriesSet<'a>>) -> SeriesSet<'a> {
    let n = sets.len();
    Box::new(MergedSets {
        sets,
        peeked: (0..n).map(|_| None).collect(),
        started: false,
    })
}

type BoxSeries<'a> = Box<dyn Series + 'a>;

struct MergedSets<'a> {
    sets: Vec<SeriesSet<'a>>,
    peeked: Vec<Option<BoxSeries<'a>>>,
    started: bool,
}

impl<'a> MergedSets<'a> {
    /// Fills the peek slot of set `i`; an error from the set is returned.
    fn fill(&mut self, i: usize) -> Result<(), ModelError> {
        if self.peeked[i].is_none() {
            match self.sets[i].next() {
                Some(Ok(s)) => self.peeked[i] = Some(s),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        Ok(())
    }
}

impl<'a> Iterator for MergedSets<'a> {
    type Item = Result<BoxSeries<'a>, ModelError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for i in 0..self.sets.len() {
                if let Err(e) = self.fill(i) {
                    return Some(Err(e));
                }
            }
        }
        // The first of the smallest label sets among the peeked series.
        let mut min: Option<(usize, &Labels)> = None;
        for (i, p) in self.peeked.iter().enumerate() {
            if let Some(s) = p {
                if min.is_none_or(|(_, l)| s.labels() < l) {
                    min = Some((i, s.labels()));
                }
            }
        }
        let (m, labels) = min.map(|(i, l)| (i, l.clone()))?;
        let mut parts: Vec<BoxSeries<'a>> = Vec::new();
        for i in m..self.peeked.len() {
            if self.peeked[i]
                .as_ref()
                .is_none_or(|s| *s.labels() != labels)
            {
                continue;
            }
            if let Some(s) = self.peeked[i].take() {
                parts.push(s);
            }
            if let Err(e) = self.fill(i) {
                return Some(Err(e));
            }
        }
        if parts.len() == 1 {
            return parts.pop().map(Ok);
        }
        Some(Ok(Box::new(ChainSeries { labels, parts })))
    }
}

/// A series present in several queriers.
struct ChainSeries<'a> {
    labels: Labels,
    parts: Vec<BoxSeries<'a>>,
}

impl Series for ChainSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChainIter::new(
            self.parts.iter().map(|p| p.iter()).collect(),
        ))
    }
}

/// How many samples a part of a [`ChainIter`] reads ahead.
const PART_BATCH: usize = 256;

/// What [`ChainIter::at`] returns when it stands on no sample.
const NO_SAMPLE: Sample = Sample {
    t: i64::MIN,
    v: f64::NAN,
};

/// One iterator of a chain with the samples it has read ahead (with `next_batch`), so the
/// merge compares and steps plain values instead of calling through the iterator per sample.
struct Part<'a> {
    it: Box<dyn SampleIterator + 'a>,
    // Samples read ahead; `buf[pos]` is the part's current one, none when `pos` is past the
    // end and `more` is false.
    buf: Vec<Sample>,
    pos: usize,
    // Whether `it` may hold samples after `buf`.
    more: bool,
}

impl Part<'_> {
    #[inline]
    fn head(&self) -> Option<i64> {
        self.buf.get(self.pos).map(|s| s.t)
    }

    /// Reads the next samples ahead into an empty buffer.
    fn refill(&mut self) {
        self.buf.clear();
        self.pos = 0;
        if self.more && self.it.next_batch(&mut self.buf, PART_BATCH) != ValueKind::Float {
            // The end, an error, or a kind the chain does not read: the part is done.
            self.more = false;
        }
    }

    /// Moves past every sample at or before `t`.
    fn skip_through(&mut self, t: i64) {
        loop {
            while self.buf.get(self.pos).is_some_and(|s| s.t <= t) {
                self.pos += 1;
            }
            if self.pos < self.buf.len() || !self.more {
                return;
            }
            self.refill();
        }
    }

    /// Moves to the first sample at or after `t` (staying put when already there).
    fn seek(&mut self, t: i64) {
        if let Some(rest) = self.buf.get(self.pos..) {
            self.pos += rest.partition_point(|s| s.t < t);
        }
        if self.pos < self.buf.len() || !self.more {
            return;
        }
        // `it` stands on the last sample read ahead, which is before `t`.
        self.buf.clear();
        self.pos = 0;
        match self.it.seek(t) {
            ValueKind::Float => self.buf.push(self.it.at()),
            _ => self.more = false,
        }
    }
}

/// Merges sample iterators by time; on equal timestamps the last iterator wins, the others'
/// samples at that time are skipped. Each part reads ahead in batches (so an error of a part
/// may show in [`err`](SampleIterator::err) before the samples read ahead of it are out;
/// iteration still ends only after them).
struct ChainIter<'a> {
    parts: Vec<Part<'a>>,
    // The part standing on the current sample.
    cur: Option<usize>,
    started: bool,
}

impl<'a> ChainIter<'a> {
    fn new(its: Vec<Box<dyn SampleIterator + 'a>>) -> ChainIter<'a> {
        ChainIter {
            parts: its
                .into_iter()
                .map(|it| Part {
                    it,
                    buf: Vec::new(),
                    pos: 0,
                    more: true,
                })
                .collect(),
            cur: None,
            started: false,
        }
    }

    /// Stands on the earliest head of the parts, the last part among equals.
    fn pick(&mut self) -> ValueKind {
        let mut best: Option<(usize, i64)> = None;
        for (i, p) in self.parts.iter().enumerate() {
            let Some(t) = p.head() else { continue };
            match best {
                Some((_, bt)) if bt < t => {}
                _ => best = Some((i, t)),
            }
        }
        self.cur = best.map(|(i, _)| i);
        if self.cur.is_some() {
            ValueKind::Float
        } else {
            ValueKind::None
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            for p in &mut self.parts {
                p.refill();
            }
        }
    }

    /// The earliest head among the parts other than `c`.
    fn bound(&self, c: usize) -> i64 {
        self.parts
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != c)
            .filter_map(|(_, p)| p.head())
            .min()
            .unwrap_or(i64::MAX)
    }
}

impl SampleIterator for ChainIter<'_> {
    fn next(&mut self) -> ValueKind {
        if !self.started {
            self.start();
            return self.pick();
        }
        let Some(c) = self.cur else {
            return ValueKind::None;
        };
        let last = self.parts[c].head().unwrap_or(i64::MIN);
        for p in &mut self.parts {
            p.skip_through(last);
        }
        self.pick()
    }

    /// Each step is `next`; the part it lands on then contributes its following samples
    /// directly while they increase and stay before every other part's head.
    fn next_batch(&mut self, out: &mut Vec<Sample>, max: usize) -> ValueKind {
        let mut left = max;
        while left > 0 {
            let k = self.next();
            let Some(c) = self.cur.filter(|_| k == ValueKind::Float) else {
                return k;
            };
            let bound = if left > 1 { self.bound(c) } else { i64::MIN };
            let p = &mut self.parts[c];
            // The current sample, then those that follow it in this part's buffer while they
            // increase and come before every other part's head.
            let rest = p.buf.get(p.pos..).unwrap_or_default();
            if rest.is_empty() {
                // Not reached: `next` stood on `rest[0]`.
                return ValueKind::None;
            }
            let n = 1 + rest[..rest.len().min(left)]
                .windows(2)
                .take_while(|w| w[0].t < w[1].t && w[1].t < bound)
                .count();
            out.extend_from_slice(&rest[..n]);
            p.pos += n - 1;
            left -= n;
        }
        ValueKind::Float
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        self.start();
        if self.at_t() >= t && self.cur.is_some() {
            return ValueKind::Float;
        }
        for p in &mut self.parts {
            if p.head().is_some_and(|h| h < t) {
                p.seek(t);
            }
        }
        self.pick()
    }

    fn at(&self) -> Sample {
        self.cur
            .and_then(|c| self.parts[c].buf.get(self.parts[c].pos))
            .copied()
            .unwrap_or(NO_SAMPLE)
    }

    fn at_t(&self) -> i64 {
        self.at().t
    }

    fn err(&self) -> Option<&ModelError> {
        self.parts.iter().find_map(|p| p.it.err())
    }
}

/// A data directory opened read-only (Prometheus' `DBReadOnly`): every block, sorted by
/// `minTime`, and the head replayed from `wal/`. Nothing on disk changes. Blocks that fail to
/// open are listed in [`ReadOnlyDb::failed`] and left out; the others stay readable.
#[derive(Debug)]
pub struct ReadOnlyDb {
    dir: PathBuf,
    blocks: Vec<Block>,
    failed: Vec<(PathBuf, Error)>,
    head: Head,
    replay: ReplayStats,
    // The end of the last block by minTime: the head is read only for queries reaching it
    // (Prometheus 2.42 keeps every replayed WAL sample, even older ones).
    head_from: i64,
}

/// Opens data directory `dir` read-only: its blocks and its WAL head. A block that cannot be
/// opened does not fail the call (see [`ReadOnlyDb::failed`]); an unreadable directory or WAL
/// does.
pub fn open_read_only(dir: &Path) -> Result<ReadOnlyDb> {
    let mut blocks = Vec::new();
    let mut failed = Vec::new();
    for d in numbered_block_dirs(dir)? {
        match Block::open(&d) {
            Ok(b) => blocks.push(b),
            Err(e) => failed.push((d, e)),
        }
    }
    blocks.sort_by_key(|b| b.meta().min_time);
    let head_from = blocks.last().map_or(i64::MIN, |b| b.meta().max_time);
    let (head, replay) = Head::open_read_only(dir, HeadOptions::default())?;
    Ok(ReadOnlyDb {
        dir: dir.to_path_buf(),
        blocks,
        failed,
        head,
        replay,
        head_from,
    })
}

impl ReadOnlyDb {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blocks that opened, sorted by `minTime`.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The block directories that failed to open, with why.
    pub fn failed(&self) -> &[(PathBuf, Error)] {
        &self.failed
    }

    /// The head replayed from the WAL.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// What the WAL replay found (including a corrupt tail that was not read).
    pub fn replay_stats(&self) -> &ReplayStats {
        &self.replay
    }

    /// Runs `f` with a querier over the blocks meeting `[mint, maxt]` and (when the blocks
    /// do not cover `maxt`) the head, as Prometheus' `DBReadOnly.Querier` builds it.
    pub fn with_querier<R>(&self, mint: i64, maxt: i64, f: impl FnOnce(&dyn Querier) -> R) -> R {
        let mut m = MergeQuerier::default();
        for b in &self.blocks {
            if b.overlaps(mint, maxt) {
                m.push(b);
            }
        }
        if self.head_from <= maxt {
            m.push(&self.head);
        }
        f(&m)
    }
}

impl Querier for ReadOnlyDb {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<SeriesSet<'a>, ModelError> {
        let mut sets: Vec<SeriesSet<'a>> = Vec::new();
        for b in &self.blocks {
            if b.overlaps(mint, maxt) {
                sets.push(b.select(mint, maxt, matchers, hints)?);
            }
        }
        if self.head_from <= maxt {
            sets.push(self.head.select(mint, maxt, matchers, hints)?);
        }
        if sets.len() == 1 {
            if let Some(s) = sets.pop() {
                return Ok(s);
            }
        }
        Ok(merge_series_sets(sets))
    }

    fn label_names(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        self.with_querier(mint, maxt, |q| q.label_names(mint, maxt, matchers))
    }

    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        self.with_querier(mint, maxt, |q| q.label_values(mint, maxt, name, matchers))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::block_query::tests::{check_drain, drive};
    use lookout_model::SliceIterator;

    /// Parts of random samples, sorted with some repeated timestamps (which `SliceIterator`
    /// passes on and the chain must drop), overlapping or one after another, some longer
    /// than a part reads ahead.
    fn parts(seed: u64) -> Vec<Vec<Sample>> {
        let mut rand = crate::testing::xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let n = 1 + rand() % 4;
        let mut start = 0i64;
        (0..n)
            .map(|p| {
                let len = if rand().is_multiple_of(3) {
                    rand() % 900
                } else {
                    rand() % 60
                };
                let mut t = if rand().is_multiple_of(2) {
                    start
                } else {
                    start / 2
                };
                let v: Vec<Sample> = (0..len)
                    .map(|_| {
                        t += (rand() % 4) as i64;
                        Sample::new(t, (p * 1000) as f64 + (rand() % 100) as f64)
                    })
                    .collect();
                start = t + 1;
                v
            })
            .collect()
    }

    fn boxed(parts: &[Vec<Sample>]) -> Vec<Box<dyn SampleIterator + '_>> {
        parts
            .iter()
            .map(|p| Box::new(SliceIterator::new(p)) as Box<dyn SampleIterator>)
            .collect()
    }

    fn chain(parts: &[Vec<Sample>]) -> ChainIter<'_> {
        ChainIter::new(boxed(parts))
    }

    /// The chain as it was before parts read ahead: the reference for `next` and `seek`.
    struct RefChain<'a> {
        its: Vec<Box<dyn SampleIterator + 'a>>,
        live: Vec<bool>,
        cur: Option<usize>,
        started: bool,
    }

    impl RefChain<'_> {
        fn pick(&mut self) -> ValueKind {
            let mut best: Option<(usize, i64)> = None;
            for (i, it) in self.its.iter().enumerate() {
                if !self.live[i] {
                    continue;
                }
                let t = it.at_t();
                match best {
                    Some((_, bt)) if bt < t => {}
                    _ => best = Some((i, t)),
                }
            }
            self.cur = best.map(|(i, _)| i);
            if self.cur.is_some() {
                ValueKind::Float
            } else {
                ValueKind::None
            }
        }

        fn start(&mut self) {
            if !self.started {
                self.started = true;
                self.live = self
                    .its
                    .iter_mut()
                    .map(|it| it.next() == ValueKind::Float)
                    .collect();
            }
        }
    }

    impl SampleIterator for RefChain<'_> {
        fn next(&mut self) -> ValueKind {
            if !self.started {
                self.start();
                return self.pick();
            }
            let Some(c) = self.cur else {
                return ValueKind::None;
            };
            let last = self.its[c].at_t();
            for (i, it) in self.its.iter_mut().enumerate() {
                while self.live[i] && it.at_t() <= last {
                    self.live[i] = it.next() == ValueKind::Float;
                }
            }
            self.pick()
        }

        fn seek(&mut self, t: i64) -> ValueKind {
            self.start();
            if let Some(c) = self.cur {
                if self.its[c].at_t() >= t {
                    return ValueKind::Float;
                }
            }
            for (i, it) in self.its.iter_mut().enumerate() {
                if self.live[i] && it.at_t() < t {
                    self.live[i] = it.seek(t) == ValueKind::Float;
                }
            }
            self.pick()
        }

        fn at(&self) -> Sample {
            self.cur.map_or(NO_SAMPLE, |c| self.its[c].at())
        }

        fn at_t(&self) -> i64 {
            self.cur.map_or(i64::MIN, |c| self.its[c].at_t())
        }
    }

    fn reference(parts: &[Vec<Sample>]) -> RefChain<'_> {
        RefChain {
            its: boxed(parts),
            live: Vec::new(),
            cur: None,
            started: false,
        }
    }

    #[test]
    fn chain_next_batch_matches_next_and_at() {
        for seed in 0..300 {
            let ps = parts(seed);
            check_drain(&mut reference(&ps), &mut chain(&ps), &mut chain(&ps));
            // Seeks of a few samples, and long ones past the parts' read-ahead.
            for span in [12, 800] {
                let want = drive(&mut reference(&ps), seed, -5, span, false);
                let got = drive(&mut chain(&ps), seed, -5, span, false);
                assert_eq!(got, want, "seed {seed}");
                let got = drive(&mut chain(&ps), seed, -5, span, true);
                assert_eq!(got, want, "seed {seed}");
            }
        }
    }
}

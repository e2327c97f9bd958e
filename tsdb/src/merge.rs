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
/// seen in several parts given once. Which part's sample that is follows Prometheus' merge
/// querier step for step (see [`merge_series_sets`]): usually the part listed later (later
/// blocks and the head, which hold the newer writes), but not always.
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
///
/// The sets are ordered as Prometheus' merge series set orders them (a Go `container/heap`
/// by labels), so the parts of a chained series come in the order Prometheus chains them;
/// that order decides which sample wins on a timestamp with conflicting values.
pub fn merge_series_sets<'a>(sets: Vec<SeriesSet<'a>>) -> SeriesSet<'a> {
    let n = sets.len();
    Box::new(MergedSets {
        sets,
        peeked: (0..n).map(|_| None).collect(),
        heap: Vec::with_capacity(n),
        current: Vec::with_capacity(n),
        started: false,
    })
}

type BoxSeries<'a> = Box<dyn Series + 'a>;

struct MergedSets<'a> {
    sets: Vec<SeriesSet<'a>>,
    // The series each set stands on; taken out while it is part of the series returned last.
    peeked: Vec<Option<BoxSeries<'a>>>,
    // Sets with a peeked series, as a Go heap by its labels.
    heap: Vec<usize>,
    // The sets of the series returned last, in the order they left the heap.
    current: Vec<usize>,
    started: bool,
}

impl<'a> MergedSets<'a> {
    /// Advances set `i` and puts it back into the heap unless it has ended; an error from
    /// the set is returned.
    fn advance(&mut self, i: usize) -> Result<(), ModelError> {
        if self.peeked[i].is_none() {
            match self.sets[i].next() {
                Some(Ok(s)) => self.peeked[i] = Some(s),
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
        let peeked = &self.peeked;
        go_heap::push(&mut self.heap, i, |a, b| labels_less(peeked, a, b));
        Ok(())
    }
}

fn labels_less(peeked: &[Option<BoxSeries<'_>>], a: usize, b: usize) -> bool {
    match (&peeked[a], &peeked[b]) {
        (Some(a), Some(b)) => a.labels() < b.labels(),
        _ => false,
    }
}

impl<'a> Iterator for MergedSets<'a> {
    type Item = Result<BoxSeries<'a>, ModelError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Prometheus pre-advances every set in order, then on each step advances the sets of
        // the previous series (in the order they left the heap) before popping.
        if !self.started {
            self.started = true;
            self.current.extend(0..self.sets.len());
        }
        let mut advance = std::mem::take(&mut self.current);
        for &i in &advance {
            if let Err(e) = self.advance(i) {
                return Some(Err(e));
            }
        }
        advance.clear();
        self.current = advance;
        let top = *self.heap.first()?;
        let labels = self.peeked[top].as_ref()?.labels().clone();
        while let Some(&i) = self.heap.first() {
            if self.peeked[i]
                .as_ref()
                .is_none_or(|s| *s.labels() != labels)
            {
                break;
            }
            let peeked = &self.peeked;
            go_heap::pop(&mut self.heap, |a, b| labels_less(peeked, a, b));
            self.current.push(i);
        }
        let mut parts: Vec<BoxSeries<'a>> = self
            .current
            .iter()
            .filter_map(|&i| self.peeked[i].take())
            .collect();
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
    // end and `more` is false. A part not yet started has an empty `buf` and `more` set.
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

    /// Steps to the next sample (the first one of a part not yet started).
    #[inline]
    fn advance(&mut self) {
        if self.pos < self.buf.len() {
            self.pos += 1;
        }
        if self.pos >= self.buf.len() && self.more {
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
        // `it` stands on the last sample read ahead, which is before `t` (or has not
        // started).
        self.buf.clear();
        self.pos = 0;
        match self.it.seek(t) {
            ValueKind::Float => self.buf.push(self.it.at()),
            _ => self.more = false,
        }
    }
}

/// The time of part `i`'s current sample (`i64::MAX` past its end: such parts are never in
/// the heap).
#[inline]
fn head_t(parts: &[Part<'_>], i: usize) -> i64 {
    parts[i].head().unwrap_or(i64::MAX)
}

/// Merges sample iterators by time exactly as Prometheus' chain sample iterator
/// (`storage.ChainSampleIteratorFromSeries`) does, including which sample wins when several
/// iterators hold the same timestamp: the current iterator goes on while it is strictly
/// before every other one; otherwise it goes into a Go heap ordered by time and the heap's
/// top comes out, so on ties the winner is whatever Go's sift order surfaces (usually, not
/// always, the later part); a timestamp equal to the previous one is skipped. Each part
/// reads ahead in batches (so an error of a part may show in [`err`](SampleIterator::err)
/// before the samples read ahead of it are out; iteration still ends only after them).
struct ChainIter<'a> {
    parts: Vec<Part<'a>>,
    // The parts other than `cur` that have a sample, as a Go heap by time.
    heap: Vec<usize>,
    // The part standing on the current sample.
    cur: Option<usize>,
    // The time of the sample returned last (Go's `lastT`).
    last: i64,
    started: bool,
}

impl<'a> ChainIter<'a> {
    fn new(its: Vec<Box<dyn SampleIterator + 'a>>) -> ChainIter<'a> {
        ChainIter {
            heap: Vec::with_capacity(its.len()),
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
            last: i64::MIN,
            started: false,
        }
    }

    fn push(&mut self, i: usize) {
        let parts = &self.parts;
        go_heap::push(&mut self.heap, i, |a, b| {
            head_t(parts, a) < head_t(parts, b)
        });
    }

    fn pop(&mut self) -> Option<usize> {
        let parts = &self.parts;
        go_heap::pop(&mut self.heap, |a, b| head_t(parts, a) < head_t(parts, b))
    }
}

impl SampleIterator for ChainIter<'_> {
    fn next(&mut self) -> ValueKind {
        if !self.started {
            // The first part becomes current without stepping; the others step to their
            // first sample and go into the heap in order.
            self.started = true;
            self.heap.clear();
            for i in 1..self.parts.len() {
                self.parts[i].advance();
                if self.parts[i].head().is_some() {
                    self.push(i);
                }
            }
            self.cur = (!self.parts.is_empty()).then_some(0);
        }
        let Some(mut c) = self.cur else {
            return ValueKind::None;
        };
        let t = loop {
            self.parts[c].advance();
            if let Some(t) = self.parts[c].head() {
                if t == self.last {
                    continue;
                }
                match self.heap.first() {
                    None => break t,
                    Some(&top) if t < head_t(&self.parts, top) => break t,
                    Some(_) if self.heap.len() == 1 => {
                        // Go's push then pop on a heap of one hands back the other element
                        // (on ties too): a swap.
                        c = std::mem::replace(&mut self.heap[0], c);
                        let t = head_t(&self.parts, c);
                        if t != self.last {
                            break t;
                        }
                        continue;
                    }
                    Some(_) => self.push(c),
                }
            } else if self.heap.is_empty() {
                self.cur = None;
                return ValueKind::None;
            }
            let Some(top) = self.pop() else {
                // Not reached: the heap is not empty here.
                self.cur = None;
                return ValueKind::None;
            };
            c = top;
            let t = head_t(&self.parts, c);
            if t != self.last {
                break t;
            }
        };
        self.cur = Some(c);
        self.last = t;
        ValueKind::Float
    }

    /// Each step is `next`; the part it lands on then contributes its following samples
    /// directly while they increase and stay before the heap's top, which is what `next`
    /// would do sample by sample.
    fn next_batch(&mut self, out: &mut Vec<Sample>, max: usize) -> ValueKind {
        let mut left = max;
        while left > 0 {
            let k = self.next();
            let Some(c) = self.cur.filter(|_| k == ValueKind::Float) else {
                return k;
            };
            let bound = self
                .heap
                .first()
                .map_or(i64::MAX, |&i| head_t(&self.parts, i));
            let p = &mut self.parts[c];
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
            self.last = rest[n - 1].t;
            p.pos += n - 1;
            left -= n;
        }
        ValueKind::Float
    }

    /// As Prometheus: a no-op when the current sample is at or after `t`, else every part
    /// seeks to `t` and the heap is built anew from them in order.
    fn seek(&mut self, t: i64) -> ValueKind {
        if self.cur.is_some() && self.last >= t {
            return ValueKind::Float;
        }
        self.started = true;
        self.heap.clear();
        for i in 0..self.parts.len() {
            self.parts[i].seek(t);
            if self.parts[i].head().is_some() {
                self.push(i);
            }
        }
        self.cur = self.pop();
        match self.cur {
            Some(c) => {
                self.last = head_t(&self.parts, c);
                ValueKind::Float
            }
            None => ValueKind::None,
        }
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

/// Appends to `out` what [`ChainIter`] yields over parts given as decoded samples (in chain
/// order): Prometheus' chain sample iterator, step for step, in one loop over the slices.
pub(crate) fn chain_decoded(parts: &[Vec<Sample>], out: &mut Vec<Sample>) {
    if parts.is_empty() {
        return;
    }
    // `next[i]`: how many samples of part `i` it has stepped onto; it stands on the last.
    let mut next = vec![0usize; parts.len()];
    let head = |next: &[usize], i: usize| -> i64 {
        next[i]
            .checked_sub(1)
            .and_then(|k| parts[i].get(k))
            .map_or(i64::MAX, |s| s.t)
    };
    let mut heap: Vec<usize> = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate().skip(1) {
        if !p.is_empty() {
            next[i] = 1;
            go_heap::push(&mut heap, i, |a, b| head(&next, a) < head(&next, b));
        }
    }
    let mut c = 0;
    let mut last = i64::MIN;
    loop {
        // Go's loop body: step the current part.
        next[c] += 1;
        let stepped = parts[c].get(next[c] - 1).copied();
        if let Some(s) = stepped {
            if s.t == last {
                continue;
            }
            let bound = heap.first().map_or(i64::MAX, |&o| head(&next, o));
            if s.t < bound {
                out.push(s);
                last = s.t;
                // Following samples of the same part that `next` would also take at once:
                // increasing and before the heap's top.
                let p = &parts[c];
                let mut k = next[c];
                while let Some(&x) = p.get(k) {
                    if x.t <= last || x.t >= bound {
                        break;
                    }
                    out.push(x);
                    last = x.t;
                    k += 1;
                }
                next[c] = k;
                continue;
            }
            if heap.len() == 1 {
                c = std::mem::replace(&mut heap[0], c);
            } else {
                go_heap::push(&mut heap, c, |a, b| head(&next, a) < head(&next, b));
                match go_heap::pop(&mut heap, |a, b| head(&next, a) < head(&next, b)) {
                    Some(o) => c = o,
                    None => return,
                }
            }
        } else {
            // Past the part's end (stay there).
            next[c] = parts[c].len() + 1;
            match go_heap::pop(&mut heap, |a, b| head(&next, a) < head(&next, b)) {
                Some(o) => c = o,
                None => return,
            }
        }
        let t = head(&next, c);
        if t != last {
            if let Some(&s) = next[c].checked_sub(1).and_then(|k| parts[c].get(k)) {
                out.push(s);
                last = t;
            }
        }
    }
}

/// Go's `container/heap` over indices, step for step, with a caller's strict "less". Among
/// equal keys the element that surfaces depends on the order of pushes and pops exactly as
/// in Go, which is what makes Prometheus' merges pick the sample or series order they do.
pub(crate) mod go_heap {
    /// Go's `up`: sifts element `j` towards the root while it is less than its parent.
    fn up(h: &mut [usize], mut j: usize, less: &impl Fn(usize, usize) -> bool) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !less(h[j], h[i]) {
                break;
            }
            h.swap(i, j);
            j = i;
        }
    }

    /// Go's `down` over the first `n` elements: sifts element `i` towards the leaves while a
    /// child (the right one only when strictly less than the left) is less than it.
    fn down(h: &mut [usize], mut i: usize, n: usize, less: &impl Fn(usize, usize) -> bool) {
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && less(h[j1 + 1], h[j1]) {
                j = j1 + 1;
            }
            if !less(h[j], h[i]) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
    }

    /// Go's `heap.Push`: appends `x` and sifts it up.
    pub(crate) fn push(h: &mut Vec<usize>, x: usize, less: impl Fn(usize, usize) -> bool) {
        h.push(x);
        let j = h.len() - 1;
        up(h, j, &less);
    }

    /// Go's `heap.Pop`: swaps the root with the last element, sifts the new root down over
    /// the others and removes the old root from the end.
    pub(crate) fn pop(h: &mut Vec<usize>, less: impl Fn(usize, usize) -> bool) -> Option<usize> {
        let n = h.len().checked_sub(1)?;
        h.swap(0, n);
        down(h, 0, n, &less);
        h.pop()
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

    /// Prometheus' chain sample iterator transcribed step for step over the plain iterators
    /// (no read-ahead): the reference for `next`, `next_batch` and `seek`.
    struct RefChain<'a> {
        its: Vec<Box<dyn SampleIterator + 'a>>,
        // Whether each iterator stands on a sample.
        live: Vec<bool>,
        heap: Vec<usize>,
        cur: Option<usize>,
        last: i64,
        started: bool,
    }

    impl RefChain<'_> {
        fn less(&self) -> impl Fn(usize, usize) -> bool + '_ {
            |a, b| self.its[a].at_t() < self.its[b].at_t()
        }

        fn step(&mut self, i: usize) -> bool {
            self.live[i] = self.its[i].next() == ValueKind::Float;
            self.live[i]
        }
    }

    impl SampleIterator for RefChain<'_> {
        fn next(&mut self) -> ValueKind {
            if !self.started {
                self.started = true;
                self.live = vec![false; self.its.len()];
                for i in 1..self.its.len() {
                    if self.step(i) {
                        let mut h = std::mem::take(&mut self.heap);
                        go_heap::push(&mut h, i, self.less());
                        self.heap = h;
                    }
                }
                self.cur = Some(0);
            }
            let Some(mut c) = self.cur else {
                return ValueKind::None;
            };
            loop {
                if self.step(c) {
                    let t = self.its[c].at_t();
                    if t == self.last {
                        continue;
                    }
                    if self.heap.is_empty() || t < self.its[self.heap[0]].at_t() {
                        break;
                    }
                    let mut h = std::mem::take(&mut self.heap);
                    go_heap::push(&mut h, c, self.less());
                    self.heap = h;
                } else if self.heap.is_empty() {
                    self.cur = None;
                    return ValueKind::None;
                }
                let mut h = std::mem::take(&mut self.heap);
                c = go_heap::pop(&mut h, self.less()).unwrap();
                self.heap = h;
                if self.its[c].at_t() != self.last {
                    break;
                }
            }
            self.cur = Some(c);
            self.last = self.its[c].at_t();
            ValueKind::Float
        }

        fn seek(&mut self, t: i64) -> ValueKind {
            if self.cur.is_some() && self.last >= t {
                return ValueKind::Float;
            }
            if !self.started {
                self.started = true;
                self.live = vec![false; self.its.len()];
            }
            let mut h = Vec::new();
            for i in 0..self.its.len() {
                // A Go iterator's Seek stays put when it already stands at or after `t`.
                if !(self.live[i] && self.its[i].at_t() >= t) {
                    self.live[i] = self.its[i].seek(t) == ValueKind::Float;
                }
                if self.live[i] {
                    go_heap::push(&mut h, i, self.less());
                }
            }
            self.cur = go_heap::pop(&mut h, self.less());
            self.heap = h;
            match self.cur {
                Some(c) => {
                    self.last = self.its[c].at_t();
                    ValueKind::Float
                }
                None => ValueKind::None,
            }
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
            heap: Vec::new(),
            cur: None,
            last: i64::MIN,
            started: false,
        }
    }

    /// Go's `container/heap` with equal keys, worked through by hand from its sift rules:
    /// pushing 0, 1, 2 pops 0, 2, 1; a 2-element heap pops its root.
    #[test]
    fn go_heap_tie_order() {
        let eq = |_: usize, _: usize| false;
        let mut h = Vec::new();
        for i in 0..3 {
            go_heap::push(&mut h, i, eq);
        }
        let order: Vec<usize> = std::iter::from_fn(|| go_heap::pop(&mut h, eq)).collect();
        assert_eq!(order, [0, 2, 1]);
        let key = [5, 3, 4, 3];
        let less = |a: usize, b: usize| key[a] < key[b];
        let mut h = Vec::new();
        for i in 0..4 {
            go_heap::push(&mut h, i, less);
        }
        // [0] -> [0,1] -> up: 1<0 -> [1,0] -> push 2 (4 < 3? no) -> [1,0,2] -> push 3: parent
        // of 3 is 1 (key 5): 3 < 5 -> [1,3,2,0]; parent 0 (key 3): 3 < 3 no.
        assert_eq!(h, [1, 3, 2, 0]);
        let order: Vec<usize> = std::iter::from_fn(|| go_heap::pop(&mut h, less)).collect();
        assert_eq!(order, [1, 3, 2, 0]);
    }

    /// The 2-source case where Prometheus keeps the older value: the newer part was current
    /// when both reached the shared timestamp, so it went into the heap behind the older one.
    /// `promtool tsdb dump` of two blocks holding these samples prints 1, 2, 1.
    #[test]
    fn chain_tie_goes_to_the_heap_top() {
        let older = vec![Sample::new(1, 1.0), Sample::new(3, 1.0)];
        let newer = vec![Sample::new(2, 2.0), Sample::new(3, 2.0)];
        let ps = [older, newer];
        let mut it = chain(&ps);
        let mut got = Vec::new();
        while it.next() == ValueKind::Float {
            got.push((it.at().t, it.at().v));
        }
        assert_eq!(got, [(1, 1.0), (2, 2.0), (3, 1.0)]);
    }

    #[test]
    fn chain_next_batch_matches_next_and_at() {
        for seed in 0..300 {
            let ps = parts(seed);
            check_drain(&mut reference(&ps), &mut chain(&ps), &mut chain(&ps));
            let mut want = Vec::new();
            let mut r = reference(&ps);
            while r.next() == ValueKind::Float {
                want.push((r.at().t, r.at().v.to_bits()));
            }
            let mut got = Vec::new();
            chain_decoded(&ps, &mut got);
            let got: Vec<(i64, u64)> = got.iter().map(|s| (s.t, s.v.to_bits())).collect();
            assert_eq!(got, want, "seed {seed}: chain_decoded");
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

//! Compaction planning as Prometheus' `LeveledCompactor` plans it (2.42 `tsdb/compact.go`):
//! overlapping blocks first (vertical compaction), then aligned groups of the next larger
//! range, then blocks with many tombstones. Also the writing of blocks from the head and from
//! other blocks (`LeveledCompactor.Write` / `Compact`).

use std::path::Path;

use lookout_model::{Labels, Sample, SampleIterator, ValueKind};

use crate::block::Block;
use crate::block_writer::{BlockWriter, ChunkToWrite, ENCODING_XOR};
use crate::error::{Error, Result};
use crate::head::{Head, SeriesRef};
use crate::head_chunks::ChunkData;
use crate::merge::{chain_decoded, go_heap};
use crate::meta::{BlockMeta, Compaction};
use crate::tombstones::Tombstones;
use crate::xor::{decode_xor_into, XorChunk, XorIterator};

/// What the planner needs to know of a block (a projection of its `meta.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanBlock {
    /// The block's ULID (its directory name).
    pub ulid: String,
    /// First timestamp (inclusive).
    pub min_time: i64,
    /// End of the block (exclusive).
    pub max_time: i64,
    /// Series in the block.
    pub num_series: u64,
    /// Tombstones in the block.
    pub num_tombstones: u64,
    /// Whether an earlier compaction of this block failed (`compaction.failed`).
    pub failed: bool,
}

/// Prometheus' `ExponentialBlockRanges(min, steps, step_size)`: `min × step_size^k` for
/// `k = 0..steps`.
pub fn exponential_block_ranges(min: i64, steps: usize, step_size: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut r = min.max(1);
    for _ in 0..steps {
        out.push(r);
        r = match r.checked_mul(step_size) {
            Some(v) => v,
            None => break,
        };
    }
    out
}

/// The compaction ranges Prometheus uses: 10 ranges of `block_range × 3^k`, cut before the first
/// range above `max_block_duration` (when positive).
pub fn compaction_ranges(block_range: i64, max_block_duration: i64) -> Vec<i64> {
    let mut ranges = exponential_block_ranges(block_range, 10, 3);
    if max_block_duration > 0 {
        if let Some(i) = ranges.iter().position(|&r| r > max_block_duration) {
            ranges.truncate(i);
        }
    }
    ranges
}

/// `--storage.tsdb.max-block-duration`'s default: 10 % of the retention time, at most 31 days
/// (and with no time retention, 31 days); never below `block_range`.
pub fn default_max_block_duration(retention_ms: i64, block_range: i64) -> i64 {
    const DAY31: i64 = 31 * 24 * 3_600_000;
    let d = if retention_ms > 0 {
        (retention_ms / 10).min(DAY31)
    } else {
        DAY31
    };
    d.max(block_range)
}

/// The ULIDs of the blocks to compact next, empty when nothing is due. `blocks` in any order.
pub fn plan(blocks: &[PlanBlock], ranges: &[i64]) -> Vec<String> {
    let mut dms: Vec<&PlanBlock> = blocks.iter().collect();
    dms.sort_by_key(|b| b.min_time);
    let overlapping = select_overlapping(&dms);
    if !overlapping.is_empty() {
        return overlapping;
    }
    if dms.is_empty() {
        return Vec::new();
    }
    // Leave out the newest block (by min time): users get a full block range to back up
    // new data piecewise.
    dms.pop();
    let selected = select_dirs(&dms, ranges);
    if !selected.is_empty() {
        return selected.iter().map(|b| b.ulid.clone()).collect();
    }
    // Blocks of a large enough range with more than 5 % tombstones, newest first.
    let half = ranges.get(ranges.len() / 2).copied().unwrap_or(i64::MAX);
    for b in dms.iter().rev() {
        if b.max_time - b.min_time < half {
            // Entirely deleted blocks qualify whatever their size.
            if b.num_tombstones > 0 && b.num_tombstones >= b.num_series {
                return vec![b.ulid.clone()];
            }
            break;
        }
        if b.num_tombstones as f64 / (b.num_series + 1) as f64 > 0.05 {
            return vec![b.ulid.clone()];
        }
    }
    Vec::new()
}

/// The first run of blocks (sorted by min time) that overlap in time.
fn select_overlapping(ds: &[&PlanBlock]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(first) = ds.first() else {
        return out;
    };
    let mut global_maxt = first.max_time;
    for (i, d) in ds.iter().enumerate().skip(1) {
        if d.min_time < global_maxt {
            if out.is_empty() {
                out.push(ds[i - 1].ulid.clone());
            }
            out.push(d.ulid.clone());
        } else if !out.is_empty() {
            break;
        }
        global_maxt = global_maxt.max(d.max_time);
    }
    out
}

/// The first group, over ranges from the second smallest up, that fills its aligned range or
/// lies before the newest block, and has more than one block.
fn select_dirs<'a>(ds: &[&'a PlanBlock], ranges: &[i64]) -> Vec<&'a PlanBlock> {
    if ranges.len() < 2 || ds.is_empty() {
        return Vec::new();
    }
    let high_time = ds[ds.len() - 1].min_time;
    for &iv in &ranges[1..] {
        for p in split_by_range(ds, iv) {
            if p.iter().any(|b| b.failed) {
                continue;
            }
            let mint = p[0].min_time;
            let maxt = p[p.len() - 1].max_time;
            if (maxt - mint == iv || maxt <= high_time) && p.len() > 1 {
                return p;
            }
        }
    }
    Vec::new()
}

/// Groups consecutive blocks (sorted by min time) that fall into the same aligned window of
/// width `tr`; blocks wider than their window are skipped.
pub(crate) fn split_by_range<'a>(ds: &[&'a PlanBlock], tr: i64) -> Vec<Vec<&'a PlanBlock>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ds.len() {
        let m = ds[i];
        let t0 = if m.min_time >= 0 {
            tr * (m.min_time / tr)
        } else {
            tr * ((m.min_time - tr + 1) / tr)
        };
        if m.max_time > t0 + tr {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < ds.len() {
            if ds[i].max_time > t0 + tr {
                break;
            }
            group.push(ds[i]);
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

/// The end of the aligned window of width `width` holding `t` (Prometheus' `rangeForTimestamp`).
pub fn range_for_timestamp(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width + width
}

// ---------------------------------------------------------------------------------------------
// Writing blocks from the head and from other blocks, chunk by chunk.

/// The bytes of an input chunk: borrowed from a block's mapped segments, shared with the
/// head, or re-encoded here (a chunk cleared of deleted samples, or merged).
#[derive(Clone)]
enum ChunkBytes<'a> {
    Borrowed(&'a [u8]),
    Head(ChunkData),
    Owned(std::rc::Rc<[u8]>),
}

impl std::ops::Deref for ChunkBytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Borrowed(b) => b,
            ChunkBytes::Head(d) => d,
            ChunkBytes::Owned(d) => d,
        }
    }
}

#[derive(Clone)]
struct InChunk<'a> {
    mint: i64,
    maxt: i64,
    enc: u8,
    data: ChunkBytes<'a>,
}

/// One series of one input: its chunks in time order, as Prometheus' compaction reads them
/// (see [`trim_and_delete`]).
struct InSeries<'a> {
    labels: Labels,
    chunks: Vec<InChunk<'a>>,
}

/// An input of a compaction: series in label order.
trait Source<'a> {
    fn next_series(&mut self) -> Result<Option<InSeries<'a>>>;
}

/// What Prometheus' block chunk series set and its `populateWithDelChunkSeriesIterator` make
/// of one series' chunks for a compaction into `[mint, maxt)`: chunks outside the range, or
/// inside one deleted interval, are dropped; if any kept chunk sticks out of the range, the
/// parts outside count as deleted too; a chunk touched by a deleted interval is re-encoded as
/// one chunk of its remaining samples (bounds from those samples), the others stay as they
/// are. Prometheus ends the whole series when such a chunk has no sample left (an upstream
/// bug that drops the series' later chunks); here only that chunk is dropped.
fn trim_and_delete<'a>(
    labels: &Labels,
    chunks: Vec<InChunk<'a>>,
    deleted: &[(i64, i64)],
    mint: i64,
    maxt: i64,
) -> Result<Vec<InChunk<'a>>> {
    let last = maxt.saturating_sub(1);
    let mut ivs = deleted.to_vec();
    let (mut front, mut back) = (false, false);
    let mut kept = Vec::with_capacity(chunks.len());
    for c in chunks {
        if c.maxt < mint || c.mint > last {
            continue;
        }
        if ivs.iter().any(|&(a, b)| a <= c.mint && c.maxt <= b) {
            continue;
        }
        front |= c.mint < mint;
        back |= c.maxt > last;
        kept.push(c);
    }
    if front {
        ivs.push((i64::MIN, mint.saturating_sub(1)));
    }
    if back {
        ivs.push((last.saturating_add(1), i64::MAX));
    }
    if ivs.is_empty() {
        return Ok(kept);
    }
    let mut out = Vec::with_capacity(kept.len());
    for c in kept {
        if !ivs.iter().any(|&(a, b)| a <= c.maxt && c.mint <= b) {
            out.push(c);
            continue;
        }
        let mut it = xor_samples(labels, &c)?;
        let mut chunk = XorChunk::new();
        let (mut first, mut lt) = (None, 0);
        while it.next() == ValueKind::Float {
            let s = it.at();
            if ivs.iter().any(|&(a, b)| a <= s.t && s.t <= b) {
                continue;
            }
            first.get_or_insert(s.t);
            chunk.append(s.t, s.v)?;
            lt = s.t;
        }
        if let Some(e) = it.error() {
            return Err(Error::InvalidBlock(format!("series {labels}: {e}")));
        }
        if let Some(first) = first {
            out.push(InChunk {
                mint: first,
                maxt: lt,
                enc: ENCODING_XOR,
                data: ChunkBytes::Owned(chunk.into_bytes().into()),
            });
        }
    }
    Ok(out)
}

/// An iterator over a chunk's float samples; only XOR chunks can be re-encoded.
fn xor_samples<'c>(labels: &Labels, c: &'c InChunk<'_>) -> Result<XorIterator<'c>> {
    if c.enc != ENCODING_XOR {
        return Err(Error::InvalidBlock(format!(
            "series {labels}: cannot merge chunks of encoding {}",
            c.enc
        )));
    }
    Ok(XorIterator::new(&c.data))
}

struct BlockSource<'a> {
    block: &'a Block,
    ids: roaring::bitmap::IntoIter,
    mint: i64,
    maxt: i64,
}

impl<'a> Source<'a> for BlockSource<'a> {
    fn next_series(&mut self) -> Result<Option<InSeries<'a>>> {
        for id in self.ids.by_ref() {
            let (labels, metas) = self.block.index().series(id)?;
            let mut chunks = Vec::with_capacity(metas.len());
            for m in metas {
                if m.maxt < self.mint || m.mint >= self.maxt {
                    continue;
                }
                let (enc, data) = self.block.chunks().chunk(m.chunk_ref)?;
                chunks.push(InChunk {
                    mint: m.mint,
                    maxt: m.maxt,
                    enc,
                    data: ChunkBytes::Borrowed(data),
                });
            }
            let deleted = self.block.tombstones().get(u64::from(id));
            let chunks = trim_and_delete(&labels, chunks, deleted, self.mint, self.maxt)?;
            if chunks.is_empty() {
                continue;
            }
            return Ok(Some(InSeries { labels, chunks }));
        }
        Ok(None)
    }
}

struct HeadSource<'a> {
    head: &'a Head,
    list: std::vec::IntoIter<(Labels, u64)>,
    tombs: &'a Tombstones,
    mint: i64,
    maxt: i64,
}

impl<'a> Source<'a> for HeadSource<'a> {
    fn next_series(&mut self) -> Result<Option<InSeries<'a>>> {
        for (labels, id) in self.list.by_ref() {
            let Some(hc) = self.head.chunks(SeriesRef(id)) else {
                continue;
            };
            let chunks: Vec<InChunk<'a>> = hc
                .into_iter()
                .filter(|c| c.maxt >= self.mint && c.mint < self.maxt)
                .map(|c| InChunk {
                    mint: c.mint,
                    maxt: c.maxt,
                    enc: ENCODING_XOR,
                    data: ChunkBytes::Head(c.data),
                })
                .collect();
            let chunks =
                trim_and_delete(&labels, chunks, self.tombs.get(id), self.mint, self.maxt)?;
            if chunks.is_empty() {
                continue;
            }
            return Ok(Some(InSeries { labels, chunks }));
        }
        Ok(None)
    }
}

/// The first sample time at or after `t` in the head (from chunk bounds), if any.
pub(crate) fn head_min_time_from(head: &Head, t: i64) -> Option<i64> {
    head.postings_for(&[])
        .iter()
        .filter_map(|id| {
            let cs = head.chunks(SeriesRef(u64::from(id)))?;
            cs.iter().find(|c| c.maxt >= t).map(|c| c.mint.max(t))
        })
        .min()
}

/// Writes the head's samples in `[mint, maxt)` as a level-1 block under `parent` (or with the
/// given compaction meta), head chunks copied as they are where they lie inside the range and
/// carry no deletions. `None` when the range holds no samples.
pub(crate) fn write_from_head(
    parent: &Path,
    head: &Head,
    tombs: &Tombstones,
    mint: i64,
    maxt: i64,
    compaction: Option<Compaction>,
) -> Result<Option<BlockMeta>> {
    let mut list: Vec<(Labels, u64)> = head
        .postings_for(&[])
        .iter()
        .filter_map(|id| {
            let id = u64::from(id);
            head.labels(SeriesRef(id)).map(|l| (l, id))
        })
        .collect();
    list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let src = HeadSource {
        head,
        list: list.into_iter(),
        tombs,
        mint,
        maxt,
    };
    write_merged(
        parent,
        mint,
        maxt,
        vec![Box::new(src)],
        compaction.unwrap_or_default(),
    )
}

/// Merges `blocks` into one block `[mint, maxt)` under `parent` with the given compaction
/// meta, dropping tombstoned samples, as Prometheus' `LeveledCompactor.Compact` does
/// (`blocks` in its order: by time). Chunks are copied unchanged unless they overlap other
/// chunks of the series, carry deletions or stick out of the range; those are decoded,
/// merged and re-encoded as Prometheus' compacting chunk series merger does. `None` when
/// nothing is left.
pub fn write_from_blocks(
    parent: &Path,
    blocks: &[&Block],
    mint: i64,
    maxt: i64,
    compaction: Compaction,
) -> Result<Option<BlockMeta>> {
    let mut sources: Vec<Box<dyn Source<'_> + '_>> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let ids = b.index().postings_for_matchers(&[])?;
        sources.push(Box::new(BlockSource {
            block: b,
            ids: ids.into_iter(),
            mint,
            maxt,
        }));
    }
    write_merged(parent, mint, maxt, sources, compaction)
}

/// Writes the sources' series merged by labels. Series with equal labels are taken in the
/// order Prometheus' merge chunk series set pops them off its heap (sources pushed in
/// order, then back in the order they were popped), which decides the chunk merge below.
fn write_merged<'a>(
    parent: &Path,
    mint: i64,
    maxt: i64,
    mut sources: Vec<Box<dyn Source<'a> + 'a>>,
    compaction: Compaction,
) -> Result<Option<BlockMeta>> {
    let mut w = BlockWriter::create(parent, mint, maxt)?;
    let mut heads: Vec<Option<InSeries<'a>>> = Vec::with_capacity(sources.len());
    let mut heap: Vec<usize> = Vec::with_capacity(sources.len());
    let less = |heads: &[Option<InSeries<'a>>], a: usize, b: usize| match (&heads[a], &heads[b]) {
        (Some(a), Some(b)) => a.labels < b.labels,
        _ => false,
    };
    for (i, s) in sources.iter_mut().enumerate() {
        heads.push(s.next_series()?);
        if heads[i].is_some() {
            go_heap::push(&mut heap, i, |a, b| less(&heads, a, b));
        }
    }
    let mut popped: Vec<usize> = Vec::with_capacity(sources.len());
    let mut group: Vec<InSeries<'a>> = Vec::new();
    let mut scratch = MergeScratch::default();
    while let Some(&top) = heap.first() {
        let Some(labels) = heads[top].as_ref().map(|s| s.labels.clone()) else {
            break;
        };
        popped.clear();
        while let Some(&i) = heap.first() {
            if heads[i].as_ref().is_none_or(|s| s.labels != labels) {
                break;
            }
            go_heap::pop(&mut heap, |a, b| less(&heads, a, b));
            popped.push(i);
        }
        group.clear();
        group.extend(popped.iter().filter_map(|&i| heads[i].take()));
        write_group(&mut w, &group, &mut scratch)?;
        for &i in &popped {
            heads[i] = sources[i].next_series()?;
            if heads[i].is_some() {
                go_heap::push(&mut heap, i, |a, b| less(&heads, a, b));
            }
        }
    }
    if w.num_series() == 0 {
        w.abort()?;
        return Ok(None);
    }
    w.finish(compaction).map(Some)
}

/// Samples per re-encoded chunk, as Prometheus' series-to-chunk encoder.
const MERGE_SAMPLES_PER_CHUNK: usize = 120;

/// Writes one series from its inputs (in heap order). One input: its chunks as they are.
/// Several: Prometheus' compacting chunk series merger step for step — the inputs' chunk
/// iterators in a Go heap by (min time, max time); the popped chunk collects every chunk
/// from the heap that starts before the collection's end (a chunk equal in bounds and
/// bytes to the one collected last is skipped); a chunk that collected nothing is written
/// as it is; otherwise the collected chunks, then the popped one, are chained sample by
/// sample as Prometheus' chain iterator does (which decides the winner at equal
/// timestamps), cut into chunks of 120 samples, the first written and the rest put back
/// into the heap as one more iterator.
fn write_group(
    w: &mut BlockWriter,
    group: &[InSeries<'_>],
    scratch: &mut MergeScratch,
) -> Result<()> {
    let Some(first) = group.first() else {
        return Ok(());
    };
    if group.len() == 1 {
        let chunks: Vec<ChunkToWrite<'_>> = first.chunks.iter().map(to_write).collect();
        return w.add_series(&first.labels, &chunks);
    }
    // No chunk overlapping another (the usual compaction of adjacent blocks): the heap below
    // would give every chunk unchanged in time order.
    let mut all: Vec<ChunkToWrite<'_>> = group
        .iter()
        .flat_map(|s| s.chunks.iter().map(to_write))
        .collect();
    all.sort_by_key(|c| c.mint);
    if all.windows(2).all(|p| p[0].maxt < p[1].mint) {
        return w.add_series(&first.labels, &all);
    }
    drop(all);
    // Each iterator's chunks and the index of its current one plus one (0: not started).
    let mut its: Vec<(Vec<InChunk<'_>>, usize)> =
        group.iter().map(|s| (s.chunks.clone(), 0)).collect();
    fn at<'x, 'a>(its: &'x [(Vec<InChunk<'a>>, usize)], i: usize) -> Option<&'x InChunk<'a>> {
        let (cs, n) = &its[i];
        n.checked_sub(1).and_then(|k| cs.get(k))
    }
    fn step(its: &mut [(Vec<InChunk<'_>>, usize)], i: usize) -> bool {
        let (cs, n) = &mut its[i];
        if *n < cs.len() {
            *n += 1;
            true
        } else {
            false
        }
    }
    let less =
        |its: &[(Vec<InChunk<'_>>, usize)], a: usize, b: usize| match (at(its, a), at(its, b)) {
            (Some(x), Some(y)) if x.mint == y.mint => x.maxt < y.maxt,
            (Some(x), Some(y)) => x.mint < y.mint,
            _ => false,
        };
    let mut heap = Vec::with_capacity(its.len() + 1);
    for i in 0..its.len() {
        if step(&mut its, i) {
            go_heap::push(&mut heap, i, |a, b| less(&its, a, b));
        }
    }
    let mut out: Vec<InChunk<'_>> = Vec::new();
    while let Some(i) = go_heap::pop(&mut heap, |a, b| less(&its, a, b)) {
        let Some(curr) = at(&its, i).cloned() else {
            continue;
        };
        if step(&mut its, i) {
            go_heap::push(&mut heap, i, |a, b| less(&its, a, b));
        }
        let mut overlapping: Vec<InChunk<'_>> = Vec::new();
        let mut omax = curr.maxt;
        while let Some(&top) = heap.first() {
            let Some(next) = at(&its, top) else { break };
            if next.mint > omax {
                break;
            }
            let prev = overlapping.last().unwrap_or(&curr);
            if !(next.mint == prev.mint && next.maxt == prev.maxt && *next.data == *prev.data) {
                omax = omax.max(next.maxt);
                overlapping.push(next.clone());
            }
            go_heap::pop(&mut heap, |a, b| less(&its, a, b));
            if step(&mut its, top) {
                go_heap::push(&mut heap, top, |a, b| less(&its, a, b));
            }
        }
        if overlapping.is_empty() {
            out.push(curr);
            continue;
        }
        overlapping.push(curr);
        let mut merged = chain_chunks(&first.labels, &overlapping, scratch)?.into_iter();
        if let Some(c) = merged.next() {
            out.push(c);
        }
        let rest: Vec<InChunk<'_>> = merged.collect();
        if !rest.is_empty() {
            its.push((rest, 1));
            let k = its.len() - 1;
            go_heap::push(&mut heap, k, |a, b| less(&its, a, b));
        }
    }
    let chunks: Vec<ChunkToWrite<'_>> = out.iter().map(to_write).collect();
    w.add_series(&first.labels, &chunks)
}

fn to_write<'c>(c: &'c InChunk<'_>) -> ChunkToWrite<'c> {
    ChunkToWrite {
        mint: c.mint,
        maxt: c.maxt,
        encoding: c.enc,
        data: &c.data,
    }
}

/// Buffers [`chain_chunks`] reuses across clusters: decoded parts and merged samples.
#[derive(Default)]
struct MergeScratch {
    parts: Vec<Vec<Sample>>,
    merged: Vec<Sample>,
}

/// Chains the samples of `parts` (in this order) as Prometheus' chain sample iterator and
/// cuts them into XOR chunks of [`MERGE_SAMPLES_PER_CHUNK`] samples.
fn chain_chunks<'a>(
    labels: &Labels,
    parts: &[InChunk<'_>],
    scratch: &mut MergeScratch,
) -> Result<Vec<InChunk<'a>>> {
    let mut bufs = Vec::with_capacity(parts.len());
    for p in parts {
        if p.enc != ENCODING_XOR {
            return Err(Error::InvalidBlock(format!(
                "series {labels}: cannot merge chunks of encoding {}",
                p.enc
            )));
        }
        let mut buf = scratch.parts.pop().unwrap_or_default();
        if let Some(e) = decode_xor_into(&p.data, &mut buf) {
            return Err(Error::InvalidBlock(format!("series {labels}: {e}")));
        }
        bufs.push(buf);
    }
    let samples = &mut scratch.merged;
    samples.clear();
    chain_decoded(&bufs, samples);
    scratch.parts.extend(bufs);
    let mut out = Vec::with_capacity(samples.len().div_ceil(MERGE_SAMPLES_PER_CHUNK));
    for run in samples.chunks(MERGE_SAMPLES_PER_CHUNK) {
        let (Some(a), Some(b)) = (run.first(), run.last()) else {
            continue;
        };
        let mut c = XorChunk::new();
        for s in run {
            c.append(s.t, s.v)?;
        }
        out.push(InChunk {
            mint: a.t,
            maxt: b.t,
            enc: ENCODING_XOR,
            data: ChunkBytes::Owned(c.into_bytes().into()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(id: &str, mint: i64, maxt: i64) -> PlanBlock {
        PlanBlock {
            ulid: id.to_string(),
            min_time: mint,
            max_time: maxt,
            num_series: 1,
            num_tombstones: 0,
            failed: false,
        }
    }

    // Cases from Prometheus' TestLeveledCompactor_plan (ranges 20, 60, 180, 540, 1620).
    #[test]
    fn leveled_plan_cases() {
        let ranges = [20, 60, 180, 540, 1620];
        let cases: Vec<(Vec<PlanBlock>, Vec<&str>)> = vec![
            (vec![], vec![]),
            (vec![b("1", 0, 20)], vec![]),
            (vec![b("1", 0, 20), b("2", 20, 40)], vec![]),
            (vec![b("1", 0, 20), b("2", 20, 40), b("3", 40, 60)], vec![]),
            (
                vec![
                    b("1", 0, 20),
                    b("2", 20, 40),
                    b("3", 40, 60),
                    b("4", 60, 80),
                ],
                vec!["1", "2", "3"],
            ),
            (
                vec![
                    b("2", 20, 40),
                    b("4", 60, 120),
                    b("5", 960, 980),
                    b("6", 120, 180),
                    b("7", 720, 960),
                ],
                vec!["2", "4", "6"],
            ),
            (
                vec![
                    b("1", 0, 20),
                    b("2", 20, 40),
                    b("3", 40, 60),
                    b("4", 60, 120),
                ],
                vec!["1", "2", "3"],
            ),
            (
                vec![
                    b("1", 0, 20),
                    b("2", 20, 40),
                    b("3", 40, 60),
                    b("4", 60, 120),
                    b("5", 120, 180),
                    b("6", 180, 200),
                ],
                vec!["1", "2", "3"],
            ),
            (
                vec![
                    b("1", 0, 60),
                    b("4", 60, 120),
                    b("5", 120, 180),
                    b("6", 180, 200),
                ],
                vec!["1", "4", "5"],
            ),
            (
                vec![
                    b("1", 0, 540),
                    b("2", 540, 1080),
                    b("3", 1080, 1620),
                    b("4", 1620, 1640),
                ],
                vec!["1", "2", "3"],
            ),
            // Regression case of Prometheus: the fresh block is the one with the newest min
            // time, not the newest ULID.
            (
                vec![
                    b("5", 0, 360),
                    b("6", 540, 560),
                    b("7", 360, 420),
                    b("8", 420, 540),
                ],
                vec!["7", "8"],
            ),
            (
                vec![
                    b("1", 0, 540),
                    b("2", 540, 1080),
                    b("3", 1080, 1620),
                    b("4", 1620, 1640),
                    b("5", 1640, 1660),
                    b("6", 1660, 1680),
                ],
                vec!["1", "2", "3"],
            ),
            // Overlapping blocks come first.
            (
                vec![b("1", 0, 20), b("2", 19, 40), b("3", 40, 60)],
                vec!["1", "2"],
            ),
            (
                vec![b("1", 0, 20), b("2", 20, 40), b("3", 30, 50)],
                vec!["2", "3"],
            ),
            (
                vec![b("1", 0, 20), b("2", 10, 40), b("3", 30, 50)],
                vec!["1", "2", "3"],
            ),
        ];
        for (i, (blocks, want)) in cases.into_iter().enumerate() {
            assert_eq!(plan(&blocks, &ranges), want, "case {i}");
        }
    }

    #[test]
    fn tombstone_plans() {
        let ranges = [20, 60, 180, 540, 1620];
        let mut big = b("1", 0, 540);
        big.num_series = 10;
        big.num_tombstones = 3;
        let newest = b("2", 540, 560);
        assert_eq!(plan(&[big.clone(), newest.clone()], &ranges), ["1"]);
        big.num_tombstones = 0;
        assert!(plan(&[big, newest.clone()], &ranges).is_empty());
        // Small blocks with some tombstones are not rewritten; nor blocks without series.
        let mut s60 = b("1", 0, 60);
        s60.num_series = 10;
        s60.num_tombstones = 3;
        assert!(plan(&[s60, b("2", 60, 80)], &ranges).is_empty());
        let mut zero = b("1", 0, 540);
        zero.num_series = 0;
        assert!(plan(&[zero, b("2", 540, 560)], &ranges).is_empty());
        let mut small = b("1", 520, 540);
        small.num_series = 2;
        small.num_tombstones = 2;
        assert_eq!(plan(&[small, newest], &ranges), ["1"]);
    }

    #[test]
    fn failed_blocks_are_skipped() {
        let ranges = [20, 60, 180];
        let mut blocks = vec![
            b("1", 0, 20),
            b("2", 20, 40),
            b("3", 40, 60),
            b("4", 60, 80),
        ];
        blocks[1].failed = true;
        assert!(plan(&blocks, &ranges).is_empty());
    }

    fn read_all(b: &Block) -> Vec<(String, Vec<(i64, f64)>)> {
        use lookout_model::{Querier, SelectHints};
        b.select(i64::MIN, i64::MAX, &[], &SelectHints::default())
            .unwrap()
            .map(|s| {
                let s = s.unwrap();
                let mut it = s.iter();
                let mut v = Vec::new();
                while it.next() == ValueKind::Float {
                    v.push((it.at().t, it.at().v));
                }
                (s.labels().to_string(), v)
            })
            .collect()
    }

    #[test]
    fn merge_overlapping_with_duplicates_and_tombstones() {
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let a: Labels = r#"a{x="1"}"#.parse().unwrap();
        let b: Labels = r#"b{x="1"}"#.parse().unwrap();
        let mk = |mint: i64, maxt: i64, series: &[(&Labels, Vec<(i64, f64)>)]| {
            let mut w = BlockWriter::create(tmp.path(), mint, maxt).unwrap();
            for (l, s) in series {
                w.add_series_samples(l, s.iter().copied()).unwrap();
            }
            let m = w.finish(Compaction::default()).unwrap();
            tmp.path().join(m.ulid)
        };
        // Block 1: a at 0..=300 step 10 (value 1), b at 0..=100 (value 5).
        let d1 = mk(
            0,
            1000,
            &[
                (&a, (0..=30).map(|i| (i * 10, 1.0)).collect()),
                (&b, (0..=10).map(|i| (i * 10, 5.0)).collect()),
            ],
        );
        // Block 2 overlaps: a at 200..=500 step 10 (value 2); the later block wins at 200..=300.
        let d2 = mk(
            150,
            1000,
            &[(&a, (20..=50).map(|i| (i * 10, 2.0)).collect())],
        );
        // Delete a in [100, 149] in block 1.
        let mut t = Tombstones::new();
        t.add(0, 0, -1);
        let b1 = Block::open(&d1).unwrap();
        let aref = b1
            .index()
            .postings_for_matchers(&[lookout_model::Matcher::equal("__name__", "a")])
            .unwrap()
            .iter()
            .next()
            .unwrap();
        t.add(u64::from(aref), 100, 149);
        t.write(&d1).unwrap();
        let b1 = Block::open(&d1).unwrap();
        let b2 = Block::open(&d2).unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let m = write_from_blocks(&out, &[&b1, &b2], 0, 1000, Compaction::default())
            .unwrap()
            .unwrap();
        let got = read_all(&Block::open(&out.join(&m.ulid)).unwrap());
        let mut want_a: Vec<(i64, f64)> = (0..10).map(|i| (i * 10, 1.0)).collect();
        want_a.extend((15..20).map(|i| (i * 10, 1.0)));
        want_a.extend((20..=50).map(|i| (i * 10, 2.0)));
        assert_eq!(got[0].1, want_a);
        assert_eq!(
            got[1].1,
            (0..=10).map(|i| (i * 10, 5.0)).collect::<Vec<_>>()
        );
        assert_eq!(m.stats.num_samples as usize, want_a.len() + 11);
        // Everything deleted: nothing written.
        let mut t = Tombstones::new();
        for id in b2.index().postings_for_matchers(&[]).unwrap() {
            t.add(u64::from(id), i64::MIN, i64::MAX);
        }
        t.write(&d2).unwrap();
        let b2 = Block::open(&d2).unwrap();
        assert!(
            write_from_blocks(&out, &[&b2], 150, 1000, Compaction::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn ranges() {
        let h2 = 7_200_000;
        assert_eq!(
            compaction_ranges(h2, default_max_block_duration(15 * 86_400_000, h2)),
            [h2, 3 * h2, 9 * h2]
        );
        assert_eq!(compaction_ranges(h2, 0).len(), 10);
        assert_eq!(range_for_timestamp(7_199_999, h2), h2);
        assert_eq!(range_for_timestamp(-1, h2), 0);
    }
}

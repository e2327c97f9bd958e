//! Reading the head through [`lookout_model::Querier`].

use lookout_model::{
    Error as ModelError, Labels, Matcher, Querier, Sample, SampleIterator, SelectHints, Series,
    SeriesSet, ValueKind,
};

use crate::head::Head;
use crate::head_chunks::ChunkData;
use crate::xor::XorIterator;

/// A chunk captured for reading: its time range and bytes (shared with the head for completed
/// chunks, copied for the open one).
#[derive(Debug, Clone)]
struct ChunkSnap {
    maxt: i64,
    data: ChunkData,
}

/// One series of a head query: its labels and the chunks overlapping the query range.
#[derive(Debug)]
struct HeadSeries {
    labels: Labels,
    chunks: Vec<ChunkSnap>,
    mint: i64,
    maxt: i64,
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChunksIter {
            chunks: &self.chunks,
            idx: 0,
            cur: None,
            mint: self.mint,
            maxt: self.maxt,
            on: false,
            done: false,
            err: None,
        })
    }
}

/// Iterates several chunks of one series in order, clipped to `[mint, maxt]`, decoding the
/// chunk bytes in place.
#[derive(Debug)]
struct ChunksIter<'a> {
    chunks: &'a [ChunkSnap],
    idx: usize,
    cur: Option<XorIterator<'a>>,
    mint: i64,
    maxt: i64,
    // Whether the iterator stands on a sample.
    on: bool,
    done: bool,
    err: Option<ModelError>,
}

impl ChunksIter<'_> {
    fn finish(&mut self) -> ValueKind {
        if let Some(mut c) = self.cur.take() {
            self.err = c.take_err();
        }
        self.on = false;
        self.done = true;
        ValueKind::None
    }

    /// Moves to the first sample >= `target` (and >= mint), going through chunks.
    fn advance(&mut self, target: i64, step: bool) -> ValueKind {
        let target = target.max(self.mint);
        let mut step = step;
        loop {
            if self.done {
                return ValueKind::None;
            }
            let Some(cur) = self.cur.as_mut() else {
                while let Some(c) = self.chunks.get(self.idx) {
                    if c.maxt >= target {
                        break;
                    }
                    self.idx += 1;
                }
                let Some(c) = self.chunks.get(self.idx) else {
                    return self.finish();
                };
                self.idx += 1;
                self.cur = Some(XorIterator::new(&c.data));
                step = false;
                continue;
            };
            let kind = if step {
                step = false;
                match cur.next() {
                    ValueKind::Float if cur.at_t() < target => cur.seek(target),
                    k => k,
                }
            } else {
                cur.seek(target)
            };
            match kind {
                ValueKind::Float => {
                    if cur.at_t() > self.maxt {
                        return self.finish();
                    }
                    self.on = true;
                    return ValueKind::Float;
                }
                _ => {
                    if cur.err().is_some() {
                        return self.finish();
                    }
                    self.cur = None;
                }
            }
        }
    }
}

impl SampleIterator for ChunksIter<'_> {
    #[inline]
    fn next(&mut self) -> ValueKind {
        if self.on {
            self.advance(self.at_t().saturating_add(1), true)
        } else {
            self.advance(self.mint, false)
        }
    }

    /// Steps the current chunk's decoder directly while its samples increase and stay within
    /// `maxt`; anything else (a chunk change, the end) goes through `advance` as in `next`.
    fn next_batch(&mut self, out: &mut Vec<Sample>, max: usize) -> ValueKind {
        let mut left = max;
        while left > 0 {
            let k = match (self.on, self.cur.as_mut()) {
                (true, Some(cur)) => {
                    let mut last = cur.at_t();
                    while left > 0 && cur.next() == ValueKind::Float {
                        let s = cur.at();
                        if s.t <= last || s.t > self.maxt {
                            break;
                        }
                        out.push(s);
                        left -= 1;
                        last = s.t;
                    }
                    if left == 0 {
                        return ValueKind::Float;
                    }
                    // The decoder stands past `last` (or failed): `advance` takes it from there.
                    self.advance(last.saturating_add(1), false)
                }
                _ => self.next(),
            };
            match k {
                ValueKind::Float => {
                    out.push(self.at());
                    left -= 1;
                }
                k => return k,
            }
        }
        ValueKind::Float
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        if self.on && self.at_t() >= t {
            return ValueKind::Float;
        }
        self.advance(t, false)
    }

    fn at(&self) -> Sample {
        self.cur.as_ref().map_or(
            Sample {
                t: i64::MIN,
                v: f64::NAN,
            },
            |c| c.at(),
        )
    }

    fn at_t(&self) -> i64 {
        self.cur.as_ref().map_or(i64::MIN, |c| c.at_t())
    }

    fn err(&self) -> Option<&ModelError> {
        self.err.as_ref()
    }
}

impl Head {
    fn snapshot(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Vec<HeadSeries> {
        let ids = self.postings_for(matchers);
        let mut out = Vec::with_capacity(ids.len() as usize);
        for id in ids {
            let Some(s) = self.series_by_id(id as u64) else {
                continue;
            };
            let d = s.data.lock();
            let mut chunks = Vec::new();
            for c in &d.closed {
                if c.maxt >= mint && c.mint <= maxt {
                    chunks.push(ChunkSnap {
                        maxt: c.maxt,
                        data: c.data.clone(),
                    });
                }
            }
            if let Some(c) = &d.open {
                if c.maxt >= mint && c.mint <= maxt {
                    chunks.push(ChunkSnap {
                        maxt: c.maxt,
                        data: ChunkData::heap(c.chunk.bytes()),
                    });
                }
            }
            drop(d);
            if !chunks.is_empty() {
                out.push(HeadSeries {
                    labels: s.labels.clone(),
                    chunks,
                    mint,
                    maxt,
                });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn matching_labels(&self, matchers: &[Matcher]) -> Vec<Labels> {
        self.postings_for(matchers)
            .iter()
            .filter_map(|id| self.series_by_id(id as u64).map(|s| s.labels.clone()))
            .collect()
    }
}

impl Querier for Head {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        _hints: &SelectHints,
    ) -> Result<SeriesSet<'a>, ModelError> {
        let found = self.snapshot(mint, maxt, matchers);
        Ok(Box::new(
            found
                .into_iter()
                .map(|s| Ok(Box::new(s) as Box<dyn Series + 'a>)),
        ))
    }

    fn label_names(
        &self,
        _mint: i64,
        _maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        if matchers.is_empty() {
            let p = self.postings.read();
            let mut names: Vec<String> = p
                .by_name
                .iter()
                .filter(|(_, v)| v.values().any(|bm| !bm.is_empty()))
                .map(|(n, _)| n.clone())
                .collect();
            names.sort();
            return Ok(names);
        }
        Ok(crate::merge::names_of(&self.matching_labels(matchers)))
    }

    fn label_values(
        &self,
        _mint: i64,
        _maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        if matchers.is_empty() {
            let p = self.postings.read();
            return Ok(p.by_name.get(name).map_or_else(Vec::new, |v| {
                v.iter()
                    .filter(|(_, bm)| !bm.is_empty())
                    .map(|(k, _)| k.clone())
                    .collect()
            }));
        }
        Ok(crate::merge::values_of(
            &self.matching_labels(matchers),
            name,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::block_query::tests::check_batches;
    use crate::head::HeadOptions;

    #[test]
    fn head_next_batch_matches_next_and_at() {
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let (head, _) = Head::open(tmp.path(), HeadOptions::default()).unwrap();
        let mut rand = crate::testing::xorshift(99);
        let labels: Vec<Labels> = (0..4)
            .map(|i| format!(r#"m{{i="{i}"}}"#).parse().unwrap())
            .collect();
        let mut ts = [0i64; 4];
        for k in 0..700 {
            let mut app = head.appender();
            for (i, l) in labels.iter().enumerate() {
                let r = rand();
                ts[i] += if i % 2 == 0 {
                    15_000
                } else {
                    1 + (r % 29_999) as i64
                };
                app.append(l, ts[i], k as f64).unwrap();
            }
            app.commit().unwrap();
        }
        let ranges = [(i64::MIN, i64::MAX), (1_000_000, 6_000_000), (7, 7)];
        let series = check_batches(&head, &ranges, 30, -1);
        assert!(series >= 8, "{series}");
    }
}

//! The read side of storage: what a query engine asks of a store.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::Error;
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::sample::{Sample, SampleIterator, SliceIterator};

/// Hints a query engine passes to [`Querier::select`] about how the data will be used. A store
/// may use them to read less; it must return correct results whatever they say.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SelectHints {
    /// The evaluation step of a range query in milliseconds (0 for instant queries).
    pub step: i64,
    /// The range of a range-vector selector in milliseconds (0 for instant selectors).
    pub range: i64,
    /// The function that will consume the series, such as `rate`, if known.
    pub func: Option<String>,
    /// Labels the result will be grouped by (`by`) or without (`without`), if aggregated.
    pub grouping: Vec<String>,
    /// Whether `grouping` lists the `by` labels (true) or the `without` labels (false).
    pub by: bool,
}

/// One series returned by a [`Querier`]: its labels and a way to iterate its samples.
pub trait Series {
    /// The series' labels.
    fn labels(&self) -> &Labels;
    /// A fresh iterator over the series' samples in the selected time range. May be called any
    /// number of times; each iterator starts at the beginning.
    fn iter(&self) -> Box<dyn SampleIterator + '_>;
}

/// The series a [`Querier::select`] returns, sorted by labels, each label set once.
pub type SeriesSet<'a> = Box<dyn Iterator<Item = Result<Box<dyn Series + 'a>, Error>> + 'a>;

/// The read interface of a time-series store, implemented by `lookout-tsdb` and by
/// [`MemStorage`], consumed by `lookout-promql`. Users can implement it over their own store.
///
/// All methods take an inclusive millisecond time range `[mint, maxt]`. Implementations must
/// not return samples outside it; they may leave out series that have no samples in it.
pub trait Querier {
    /// Series whose labels satisfy every matcher (a missing label reads as `""`), sorted by
    /// labels.
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<SeriesSet<'a>, Error>;

    /// The sorted, unique label names of the series that satisfy `matchers` (all series when
    /// `matchers` is empty).
    fn label_names(&self, mint: i64, maxt: i64, matchers: &[Matcher])
        -> Result<Vec<String>, Error>;

    /// The sorted, unique values of label `name` among the series that satisfy `matchers`.
    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, Error>;
}

impl<Q: Querier + ?Sized> Querier for &Q {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        m: &[Matcher],
        h: &SelectHints,
    ) -> Result<SeriesSet<'a>, Error> {
        (**self).select(mint, maxt, m, h)
    }
    fn label_names(&self, mint: i64, maxt: i64, m: &[Matcher]) -> Result<Vec<String>, Error> {
        (**self).label_names(mint, maxt, m)
    }
    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        n: &str,
        m: &[Matcher],
    ) -> Result<Vec<String>, Error> {
        (**self).label_values(mint, maxt, n, m)
    }
}

impl<Q: Querier + ?Sized> Querier for Arc<Q> {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        m: &[Matcher],
        h: &SelectHints,
    ) -> Result<SeriesSet<'a>, Error> {
        (**self).select(mint, maxt, m, h)
    }
    fn label_names(&self, mint: i64, maxt: i64, m: &[Matcher]) -> Result<Vec<String>, Error> {
        (**self).label_names(mint, maxt, m)
    }
    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        n: &str,
        m: &[Matcher],
    ) -> Result<Vec<String>, Error> {
        (**self).label_values(mint, maxt, n, m)
    }
}

/// A simple in-memory store: series kept as sorted sample vectors. Meant for tests, examples and
/// small embedded uses; `lookout-tsdb` is the compressed, durable store.
///
/// ```
/// use lookout_model::{Labels, MemStorage, Querier, SelectHints, parse_selector};
/// let mut db = MemStorage::new();
/// db.append(&"up{job=\"a\"}".parse().unwrap(), 1000, 1.0);
/// let ms = parse_selector("up").unwrap();
/// let set = db.select(0, 2000, &ms, &SelectHints::default()).unwrap();
/// assert_eq!(set.count(), 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    series: BTreeMap<Labels, Vec<Sample>>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Adds a sample. Samples may come in any order; one at an existing timestamp replaces the
    /// old value.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        let samples = match self.series.get_mut(labels) {
            Some(s) => s,
            None => self.series.entry(labels.clone()).or_default(),
        };
        match samples.last() {
            Some(last) if last.t < t => samples.push(Sample::new(t, v)),
            None => samples.push(Sample::new(t, v)),
            _ => match samples.binary_search_by_key(&t, |s| s.t) {
                Ok(i) => samples[i].v = v,
                Err(i) => samples.insert(i, Sample::new(t, v)),
            },
        }
    }

    /// Removes every series.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// The number of series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    fn matching(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Vec<(&Labels, &[Sample])> {
        self.series
            .iter()
            .filter_map(|(ls, samples)| {
                if !matchers.iter().all(|m| m.matches_labels(ls)) {
                    return None;
                }
                let lo = samples.partition_point(|s| s.t < mint);
                let hi = samples.partition_point(|s| s.t <= maxt);
                (lo < hi).then(|| (ls, &samples[lo..hi]))
            })
            .collect()
    }
}

#[derive(Debug)]
struct MemSeries<'a> {
    labels: &'a Labels,
    samples: &'a [Sample],
}

impl Series for MemSeries<'_> {
    fn labels(&self) -> &Labels {
        self.labels
    }
    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(SliceIterator::new(self.samples))
    }
}

impl Querier for MemStorage {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        _hints: &SelectHints,
    ) -> Result<SeriesSet<'a>, Error> {
        let found = self.matching(mint, maxt, matchers);
        Ok(Box::new(found.into_iter().map(|(labels, samples)| {
            Ok(Box::new(MemSeries { labels, samples }) as Box<dyn Series + 'a>)
        })))
    }

    fn label_names(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, Error> {
        let mut names: Vec<String> = Vec::new();
        for (ls, _) in self.matching(mint, maxt, matchers) {
            for l in ls.iter() {
                if let Err(i) = names.binary_search_by(|n| n.as_str().cmp(l.name)) {
                    names.insert(i, l.name.to_string());
                }
            }
        }
        Ok(names)
    }

    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, Error> {
        let mut values: Vec<String> = Vec::new();
        for (ls, _) in self.matching(mint, maxt, matchers) {
            if let Some(v) = ls.get(name) {
                if let Err(i) = values.binary_search_by(|x| x.as_str().cmp(v)) {
                    values.insert(i, v.to_string());
                }
            }
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::parse_selector;
    use crate::sample::ValueKind;

    fn db() -> MemStorage {
        let mut db = MemStorage::new();
        for (s, t, v) in [
            (r#"up{job="a",instance="1"}"#, 10, 1.0),
            (r#"up{job="a",instance="1"}"#, 5, 0.5),
            (r#"up{job="a",instance="1"}"#, 20, 2.0),
            (r#"up{job="b",instance="2"}"#, 10, 1.0),
            (r#"other{job="a"}"#, 30, 3.0),
        ] {
            db.append(&s.parse().unwrap(), t, v);
        }
        db
    }

    #[test]
    fn select_sorted_and_trimmed() {
        let db = db();
        let ms = parse_selector(r#"{job="a"}"#).unwrap();
        let set: Vec<_> = db
            .select(6, 20, &ms, &SelectHints::default())
            .unwrap()
            .collect();
        assert_eq!(set.len(), 1, "other has no sample in range");
        let s = set[0].as_ref().unwrap();
        assert_eq!(
            s.labels().to_string(),
            r#"{__name__="up", instance="1", job="a"}"#
        );
        let mut it = s.iter();
        let mut got = vec![];
        while it.next() == ValueKind::Float {
            got.push(it.at());
        }
        assert_eq!(got, vec![Sample::new(10, 1.0), Sample::new(20, 2.0)]);
    }

    #[test]
    fn label_queries() {
        let db = db();
        assert_eq!(
            db.label_names(0, 100, &[]).unwrap(),
            ["__name__", "instance", "job"]
        );
        let ms = parse_selector("up").unwrap();
        assert_eq!(db.label_values(0, 100, "job", &ms).unwrap(), ["a", "b"]);
        assert_eq!(
            db.label_values(0, 100, "__name__", &[]).unwrap(),
            ["other", "up"]
        );
    }
}

//! Samples, the stale marker, and sample iterators.

/// The bit pattern of Prometheus' staleness marker, a NaN that no arithmetic produces.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Prometheus' staleness marker as an `f64`.
#[inline]
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// The bit pattern of Go's `math.NaN()`, which `strconv.ParseFloat("NaN")` returns: the NaN
/// Prometheus stores for every `NaN` it parses from text, so chunk bytes depend on it.
pub const GO_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Go's `math.NaN()` as an `f64` (bits [`GO_NAN_BITS`]).
#[inline]
pub fn go_nan() -> f64 {
    f64::from_bits(GO_NAN_BITS)
}

/// Whether `v` is the staleness marker (compares bits: an ordinary NaN is not stale).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A float sample: a millisecond Unix timestamp and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value; may be NaN, ±Inf or the stale marker.
    pub v: f64,
}

impl Sample {
    /// A sample at `t` with value `v`.
    pub fn new(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    /// Whether this sample is a staleness marker.
    pub fn is_stale(&self) -> bool {
        is_stale_nan(self.v)
    }
}

/// What kind of sample an iterator stands on. Native histograms will be added as new variants,
/// so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    /// No sample: the iterator is exhausted (or failed; see [`SampleIterator::err`]).
    None,
    /// A float sample, read with [`SampleIterator::at`].
    Float,
}

/// Iterates the samples of one series in increasing time order, as Prometheus'
/// `chunkenc.Iterator` does: advance with [`next`](SampleIterator::next) or
/// [`seek`](SampleIterator::seek), which return the kind of the sample reached, then read it.
/// Implementations decode in place and allocate nothing per sample.
pub trait SampleIterator {
    /// Advances to the next sample.
    fn next(&mut self) -> ValueKind;

    /// Advances to the first sample with timestamp `>= t`. If the current sample already
    /// qualifies, stays on it. Never moves backwards.
    fn seek(&mut self, t: i64) -> ValueKind;

    /// The current float sample. Only meaningful after `next` or `seek` returned
    /// [`ValueKind::Float`].
    fn at(&self) -> Sample;

    /// The timestamp of the current sample, whatever its kind.
    fn at_t(&self) -> i64;

    /// Advances over up to `max` float samples in one call, appending each to `out` (which is
    /// not cleared): the samples `next` and `at` would read one at a time, for callers that
    /// consume whole runs (a query draining a series) without a dynamic call per sample.
    ///
    /// Returns [`ValueKind::Float`] when `max` samples were appended: the iterator stands on
    /// the last of them, as after that many `next` calls, so `at`, `next`, `seek` and further
    /// batches continue from there (with `max == 0` nothing moves). Otherwise it returns the
    /// kind `next` returned for the sample after the last one appended, and the iterator
    /// stands there, as after that `next`: [`ValueKind::None`] at the end (or on an error, see
    /// [`err`](SampleIterator::err)), and a kind other than `Float` to be read with its own
    /// accessor. Batches and single steps mix freely.
    ///
    /// The default calls `next` and `at` per sample; iterators that hold decoded runs override
    /// it to copy them whole. Nothing is allocated per sample beyond `out`'s growth: callers
    /// reuse one buffer.
    fn next_batch(&mut self, out: &mut Vec<Sample>, max: usize) -> ValueKind {
        for _ in 0..max {
            match self.next() {
                ValueKind::Float => out.push(self.at()),
                k => return k,
            }
        }
        ValueKind::Float
    }

    /// The error that ended iteration early, if any (a corrupt chunk, say).
    fn err(&self) -> Option<&crate::Error> {
        None
    }
}

/// A [`SampleIterator`] over a slice of samples.
#[derive(Debug, Clone)]
pub struct SliceIterator<'a> {
    samples: &'a [Sample],
    // Index of the current sample plus one; 0 before the first call.
    pos: usize,
}

impl<'a> SliceIterator<'a> {
    /// Iterates `samples`, which must be sorted by time.
    pub fn new(samples: &'a [Sample]) -> SliceIterator<'a> {
        SliceIterator { samples, pos: 0 }
    }
}

impl SampleIterator for SliceIterator<'_> {
    fn next(&mut self) -> ValueKind {
        if self.pos < self.samples.len() {
            self.pos += 1;
            ValueKind::Float
        } else {
            self.pos = self.samples.len() + 1;
            ValueKind::None
        }
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        if self.pos > self.samples.len() {
            return ValueKind::None;
        }
        let cur = self.pos.saturating_sub(1);
        if self.pos > 0 && self.samples[cur].t >= t {
            return ValueKind::Float;
        }
        let idx = cur + self.samples[cur..].partition_point(|s| s.t < t);
        self.pos = idx + 1;
        if idx < self.samples.len() {
            ValueKind::Float
        } else {
            ValueKind::None
        }
    }

    fn next_batch(&mut self, out: &mut Vec<Sample>, max: usize) -> ValueKind {
        let rest = self.samples.get(self.pos..).unwrap_or_default();
        let k = rest.len().min(max);
        out.extend_from_slice(&rest[..k]);
        self.pos += k;
        if k == max {
            ValueKind::Float
        } else {
            self.next()
        }
    }

    fn at(&self) -> Sample {
        self.samples
            .get(self.pos.wrapping_sub(1))
            .copied()
            .unwrap_or(Sample {
                t: i64::MIN,
                v: f64::NAN,
            })
    }

    fn at_t(&self) -> i64 {
        self.at().t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker() {
        assert!(is_stale_nan(stale_nan()));
        assert!(stale_nan().is_nan());
        assert!(!is_stale_nan(f64::NAN));
        assert_eq!(stale_nan().to_bits(), 0x7ff0000000000002);
    }

    #[test]
    fn slice_iterator_seek() {
        let s: Vec<Sample> = (0..10).map(|i| Sample::new(i * 10, i as f64)).collect();
        let mut it = SliceIterator::new(&s);
        assert_eq!(it.seek(25), ValueKind::Float);
        assert_eq!(it.at().t, 30);
        assert_eq!(it.seek(5), ValueKind::Float);
        assert_eq!(it.at().t, 30, "seek never moves back");
        assert_eq!(it.next(), ValueKind::Float);
        assert_eq!(it.at().t, 40);
        assert_eq!(it.seek(1000), ValueKind::None);
        assert_eq!(it.next(), ValueKind::None);
        let mut it = SliceIterator::new(&s);
        let mut n = 0;
        while it.next() == ValueKind::Float {
            n += 1;
        }
        assert_eq!(n, 10);
    }

    /// Wraps a slice iterator so the trait's default `next_batch` is what runs.
    struct Stepwise<'a>(SliceIterator<'a>);

    impl SampleIterator for Stepwise<'_> {
        fn next(&mut self) -> ValueKind {
            self.0.next()
        }
        fn seek(&mut self, t: i64) -> ValueKind {
            self.0.seek(t)
        }
        fn at(&self) -> Sample {
            self.0.at()
        }
        fn at_t(&self) -> i64 {
            self.0.at_t()
        }
    }

    /// Drives `it` with a pseudo-random mix of `next`, `seek` and `next_batch` (the choices
    /// drawn from `seed`), recording every sample reached and every kind returned.
    fn drive(it: &mut dyn SampleIterator, seed: u64, batches: bool) -> Vec<(ValueKind, i64)> {
        let mut state = seed | 1;
        let mut log = Vec::new();
        let mut buf = Vec::new();
        for _ in 0..60 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let k = match state % 4 {
                0 => it.seek(it.at_t().max(0) + (state >> 8) as i64 % 40),
                1 if batches => {
                    buf.clear();
                    let max = (state >> 8) as usize % 6;
                    let k = it.next_batch(&mut buf, max);
                    log.extend(buf.iter().map(|s| (ValueKind::Float, s.t)));
                    assert!(k != ValueKind::Float || buf.len() == max);
                    k
                }
                1 => {
                    let max = (state >> 8) as usize % 6;
                    let mut k = ValueKind::Float;
                    for _ in 0..max {
                        k = it.next();
                        if k != ValueKind::Float {
                            break;
                        }
                        log.push((k, it.at().t));
                    }
                    k
                }
                _ => it.next(),
            };
            log.push((k, if k == ValueKind::Float { it.at().t } else { 0 }));
        }
        log
    }

    #[test]
    fn next_batch_matches_next_and_at() {
        let s: Vec<Sample> = (0..50).map(|i| Sample::new(i * 3, i as f64)).collect();
        for seed in 0..200u64 {
            let want = drive(&mut SliceIterator::new(&s), seed, false);
            assert_eq!(drive(&mut SliceIterator::new(&s), seed, true), want);
            assert_eq!(
                drive(&mut Stepwise(SliceIterator::new(&s)), seed, true),
                want
            );
        }
        let mut it = SliceIterator::new(&s);
        let mut out = Vec::new();
        assert_eq!(it.next_batch(&mut out, 0), ValueKind::Float);
        assert!(out.is_empty());
        assert_eq!(it.next_batch(&mut out, 100), ValueKind::None);
        assert_eq!(out, s);
        assert_eq!(it.next_batch(&mut out, 100), ValueKind::None);
        assert_eq!(it.next(), ValueKind::None);
    }
}

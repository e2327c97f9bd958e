//! The Prometheus protobuf exposition format: `io.prometheus.client.MetricFamily` messages,
//! each preceded by its length as a uvarint (`encoding=delimited`).
//!
//! The structs mirror client_model's `metrics.proto` field for field (same numbers and wire
//! types; proto2 and Prometheus' proto3 copy are wire-compatible), native histogram fields
//! included. [`decode_delimited`] walks a payload; [`flatten`] turns a family into the samples
//! Prometheus' protobuf parser produces for classic types.

use crate::error::{Error, ProtoProblem};
use crate::number::format_om_float;
use crate::types::MetricType;

/// A label pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPair {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A gauge value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// Milliseconds since the epoch.
    pub fn millis(&self) -> i64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos / 1_000_000))
    }
}

/// An exemplar.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Its labels.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// When it was observed (optional).
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

/// A counter value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counter {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// An exemplar.
    #[prost(message, optional, tag = "2")]
    pub exemplar: Option<Exemplar>,
    /// When the counter was created.
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

/// One quantile of a summary.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Quantile {
    /// The quantile (0..1).
    #[prost(double, tag = "1")]
    pub quantile: f64,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
}

/// A summary.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// Observation count.
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    /// Observation sum.
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    /// Quantiles.
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
    /// When the summary was created.
    #[prost(message, optional, tag = "4")]
    pub created_timestamp: Option<Timestamp>,
}

/// An untyped value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Untyped {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// A classic histogram bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Bucket {
    /// Cumulative count (integer histograms).
    #[prost(uint64, tag = "1")]
    pub cumulative_count: u64,
    /// Cumulative count (float histograms); overrides the integer when > 0.
    #[prost(double, tag = "4")]
    pub cumulative_count_float: f64,
    /// Inclusive upper bound.
    #[prost(double, tag = "2")]
    pub upper_bound: f64,
    /// An exemplar.
    #[prost(message, optional, tag = "3")]
    pub exemplar: Option<Exemplar>,
}

/// A run of populated native histogram buckets.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span (or the starting index, for the first span).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// A histogram: classic buckets and/or native (sparse, exponential) buckets.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Observation count (integer histograms).
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    /// Observation count (float histograms); overrides the integer when > 0.
    #[prost(double, tag = "4")]
    pub sample_count_float: f64,
    /// Observation sum.
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    /// Classic buckets, sorted by upper bound.
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// When the histogram was created.
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
    /// Native: resolution, −4..8.
    #[prost(sint32, tag = "5")]
    pub schema: i32,
    /// Native: width of the zero bucket.
    #[prost(double, tag = "6")]
    pub zero_threshold: f64,
    /// Native: zero bucket count (integer).
    #[prost(uint64, tag = "7")]
    pub zero_count: u64,
    /// Native: zero bucket count (float).
    #[prost(double, tag = "8")]
    pub zero_count_float: f64,
    /// Native: negative bucket spans.
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Native: negative bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Native: negative bucket counts (float histograms).
    #[prost(double, repeated, tag = "11")]
    pub negative_count: Vec<f64>,
    /// Native: positive bucket spans.
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Native: positive bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "13")]
    pub positive_delta: Vec<i64>,
    /// Native: positive bucket counts (float histograms).
    #[prost(double, repeated, tag = "14")]
    pub positive_count: Vec<f64>,
    /// Native: exemplars (must carry timestamps).
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<Exemplar>,
}

impl Histogram {
    /// Whether this is a native histogram, by Prometheus' rule: any span, a zero bucket
    /// threshold, or an integer zero count (an empty native histogram carries a no-op span).
    pub fn is_native(&self) -> bool {
        !self.positive_span.is_empty()
            || !self.negative_span.is_empty()
            || self.zero_threshold > 0.0
            || self.zero_count > 0
    }

    /// The observation count, float or integer.
    pub fn count(&self) -> f64 {
        if self.sample_count_float > 0.0 {
            self.sample_count_float
        } else {
            self.sample_count as f64
        }
    }

    /// The populated native buckets of one side as (index, absolute count), checking that the
    /// spans and counts agree.
    pub fn native_buckets(&self, positive: bool) -> Result<Vec<(i32, f64)>, ProtoProblem> {
        let (spans, deltas, counts) = if positive {
            (
                &self.positive_span,
                &self.positive_delta,
                &self.positive_count,
            )
        } else {
            (
                &self.negative_span,
                &self.negative_delta,
                &self.negative_count,
            )
        };
        let want: usize = spans.iter().map(|s| s.length as usize).sum();
        let float = !counts.is_empty();
        let have = if float { counts.len() } else { deltas.len() };
        if want != have {
            return Err(ProtoProblem::SpanMismatch {
                spans: want,
                buckets: have,
            });
        }
        let mut out = Vec::with_capacity(want);
        let mut idx: i64 = 0;
        let mut k = 0usize;
        let mut acc: i64 = 0;
        for s in spans {
            // The first offset is absolute, later ones are gaps after the previous span.
            idx += i64::from(s.offset);
            for _ in 0..s.length {
                let c = if float {
                    counts.get(k).copied().unwrap_or(0.0)
                } else {
                    acc = acc.wrapping_add(deltas.get(k).copied().unwrap_or(0));
                    acc as f64
                };
                let index = i32::try_from(idx)
                    .map_err(|_| ProtoProblem::Invalid("bucket index out of range"))?;
                out.push((index, c));
                idx += 1;
                k += 1;
            }
        }
        Ok(out)
    }
}

/// One metric (label set) of a family.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Its labels (the metric name excluded).
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Gauge value.
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// Counter value.
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    /// Summary value.
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    /// Untyped value.
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    /// Histogram value.
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
    /// Timestamp in milliseconds (0 = none).
    #[prost(int64, tag = "6")]
    pub timestamp_ms: i64,
}

/// A metric family.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricFamily {
    /// Family name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Help text.
    #[prost(string, tag = "2")]
    pub help: String,
    /// Type: COUNTER 0, GAUGE 1, SUMMARY 2, UNTYPED 3, HISTOGRAM 4, GAUGE_HISTOGRAM 5.
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    /// The metrics.
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

impl MetricFamily {
    /// The family's type, `None` for a number this format does not define.
    pub fn metric_type(&self) -> Option<MetricType> {
        Some(match self.r#type {
            0 => MetricType::Counter,
            1 => MetricType::Gauge,
            2 => MetricType::Summary,
            3 => MetricType::Untyped,
            4 => MetricType::Histogram,
            5 => MetricType::GaugeHistogram,
            _ => return None,
        })
    }
}

/// The largest single message [`decode_delimited`] accepts by default (Prometheus' scrape
/// body limit is configurable; 64 MiB keeps a hostile prefix from allocating more).
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// Iterates over the length-delimited `MetricFamily` messages of a payload.
#[derive(Debug)]
pub struct Delimited<'a> {
    input: &'a [u8],
    pos: usize,
    max_message: usize,
    failed: bool,
}

impl Delimited<'_> {
    /// Sets the largest message accepted (bytes).
    pub fn max_message(mut self, limit: usize) -> Self {
        self.max_message = limit;
        self
    }
}

/// Decodes a varint-delimited stream of `MetricFamily` messages.
///
/// ```
/// use lookout_exposition::proto::{decode_delimited, encode_delimited, MetricFamily};
/// let fam = MetricFamily { name: "up".into(), r#type: 1, ..Default::default() };
/// let mut buf = Vec::new();
/// encode_delimited(&fam, &mut buf);
/// let back: Vec<MetricFamily> = decode_delimited(&buf).collect::<Result<_, _>>()?;
/// assert_eq!(back, vec![fam]);
/// # Ok::<(), lookout_exposition::Error>(())
/// ```
pub fn decode_delimited(input: &[u8]) -> Delimited<'_> {
    Delimited {
        input,
        pos: 0,
        max_message: DEFAULT_MAX_MESSAGE,
        failed: false,
    }
}

/// Appends `family` to `out` with its uvarint length prefix.
pub fn encode_delimited(family: &MetricFamily, out: &mut Vec<u8>) {
    use prost::Message;
    // Writing into a Vec cannot run out of space.
    let _ = family.encode_length_delimited(out);
}

impl Iterator for Delimited<'_> {
    type Item = Result<MetricFamily, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        use prost::Message;
        if self.failed || self.pos >= self.input.len() {
            return None;
        }
        let start = self.pos;
        let rest = self.input.get(start..)?;
        let fail = |this: &mut Self, problem| {
            this.failed = true;
            Some(Err(Error::Protobuf {
                offset: start,
                problem,
            }))
        };
        // Prometheus' decoder reads a uvarint of at most 5 bytes.
        let mut len: u64 = 0;
        let mut used = 0;
        for (i, b) in rest.iter().take(5).enumerate() {
            len |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                used = i + 1;
                break;
            }
        }
        if used == 0 {
            return fail(self, ProtoProblem::BadLengthPrefix);
        }
        let len = len as usize;
        if len > self.max_message {
            self.failed = true;
            return Some(Err(Error::TooLarge {
                what: "protobuf message",
                size: len,
                limit: self.max_message,
            }));
        }
        let body_start = start + used;
        let Some(body) = self.input.get(body_start..body_start + len) else {
            let left = self.input.len() - body_start;
            return fail(
                self,
                ProtoProblem::Truncated {
                    announced: len,
                    left,
                },
            );
        };
        match MetricFamily::decode(body) {
            Ok(f) => {
                self.pos = body_start + len;
                Some(Ok(f))
            }
            Err(e) => fail(self, ProtoProblem::Decode(e.to_string())),
        }
    }
}

/// An exemplar of a [`FlatSample`]: labels, value, timestamp in milliseconds.
pub type FlatExemplar<'f> = (Vec<(&'f str, &'f str)>, f64, Option<i64>);

/// A sample derived from a protobuf metric.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FlatSample<'f> {
    /// Series name (family name plus `_sum`, `_count`, `_bucket` where the type asks).
    pub name: String,
    /// Labels, the metric's own plus `le` or `quantile`.
    pub labels: Vec<(&'f str, String)>,
    /// Value.
    pub value: f64,
    /// Timestamp in milliseconds, if the metric has one.
    pub timestamp: Option<i64>,
    /// The family type.
    pub metric_type: MetricType,
    /// An exemplar: labels, value, timestamp in milliseconds.
    pub exemplar: Option<FlatExemplar<'f>>,
}

fn exemplar_of(e: &Exemplar) -> FlatExemplar<'_> {
    (
        e.label
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect(),
        e.value,
        e.timestamp.map(|t| t.millis()),
    )
}

/// Calls `f` with the float samples Prometheus' protobuf parser produces for a family's classic
/// series: counters, gauges and untyped values as they are; summaries as quantiles, `_sum` and
/// `_count`; histograms as `_count`, `_sum` and cumulative `_bucket` series (an implicit
/// `+Inf` bucket added when missing), which is also the classic view Prometheus ingests of a
/// native histogram when native histograms are off. The native buckets themselves are
/// available through [`Histogram::native_buckets`] (checked here against their spans).
pub fn flatten<'f>(
    family: &'f MetricFamily,
    mut f: impl FnMut(FlatSample<'f>),
) -> Result<(), Error> {
    let mtype = family.metric_type().ok_or(Error::Protobuf {
        offset: 0,
        problem: ProtoProblem::Invalid("unknown metric type"),
    })?;
    let name = family.name.as_str();
    for m in &family.metric {
        let base: Vec<(&str, String)> = m
            .label
            .iter()
            .map(|l| (l.name.as_str(), l.value.clone()))
            .collect();
        let ts = (m.timestamp_ms != 0).then_some(m.timestamp_ms);
        let mut emit = |suffix: &str,
                        extra: Option<(&'f str, String)>,
                        value: f64,
                        ex: Option<&'f Exemplar>| {
            let mut labels = base.clone();
            if let Some(e) = extra {
                labels.push(e);
            }
            f(FlatSample {
                name: format!("{name}{suffix}"),
                labels,
                value,
                timestamp: ts,
                metric_type: mtype,
                exemplar: ex.map(exemplar_of),
            });
        };
        match mtype {
            MetricType::Counter => {
                let c = m.counter.as_ref();
                emit(
                    "",
                    None,
                    c.map_or(0.0, |c| c.value),
                    c.and_then(|c| c.exemplar.as_ref()),
                );
            }
            MetricType::Gauge => emit("", None, m.gauge.as_ref().map_or(0.0, |g| g.value), None),
            MetricType::Untyped => {
                emit("", None, m.untyped.as_ref().map_or(0.0, |u| u.value), None)
            }
            MetricType::Summary => {
                let Some(s) = m.summary.as_ref() else {
                    continue;
                };
                emit("_count", None, s.sample_count as f64, None);
                emit("_sum", None, s.sample_sum, None);
                for q in &s.quantile {
                    emit(
                        "",
                        Some(("quantile", format_om_float(q.quantile))),
                        q.value,
                        None,
                    );
                }
            }
            _ => {
                let Some(h) = m.histogram.as_ref() else {
                    continue;
                };
                if h.is_native() {
                    h.native_buckets(true)
                        .map_err(|problem| Error::Protobuf { offset: 0, problem })?;
                    h.native_buckets(false)
                        .map_err(|problem| Error::Protobuf { offset: 0, problem })?;
                }
                // Prometheus names the series `_count` and `_sum` for gauge histograms too.
                emit("_count", None, h.count(), None);
                emit("_sum", None, h.sample_sum, None);
                let mut saw_inf = false;
                for b in &h.bucket {
                    let v = if b.cumulative_count_float > 0.0 {
                        b.cumulative_count_float
                    } else {
                        b.cumulative_count as f64
                    };
                    saw_inf |= b.upper_bound == f64::INFINITY;
                    emit(
                        "_bucket",
                        Some(("le", format_om_float(b.upper_bound))),
                        v,
                        b.exemplar.as_ref(),
                    );
                }
                if !saw_inf {
                    emit("_bucket", Some(("le", "+Inf".to_string())), h.count(), None);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_spans_expand() {
        let h = Histogram {
            schema: 0,
            positive_span: vec![
                BucketSpan {
                    offset: -1,
                    length: 2,
                },
                BucketSpan {
                    offset: 2,
                    length: 1,
                },
            ],
            positive_delta: vec![2, 1, -2],
            ..Default::default()
        };
        assert!(h.is_native());
        assert_eq!(
            h.native_buckets(true).unwrap(),
            vec![(-1, 2.0), (0, 3.0), (3, 1.0)]
        );
        let bad = Histogram {
            positive_span: vec![BucketSpan {
                offset: 0,
                length: 3,
            }],
            positive_delta: vec![1],
            ..Default::default()
        };
        assert_eq!(
            bad.native_buckets(true),
            Err(ProtoProblem::SpanMismatch {
                spans: 3,
                buckets: 1
            })
        );
    }

    #[test]
    fn truncated_and_oversized_prefixes_fail() {
        assert!(decode_delimited(&[0x05, 1]).next().unwrap().is_err());
        assert!(decode_delimited(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
            .next()
            .unwrap()
            .is_err());
        let r = decode_delimited(&[0x80, 0x80, 0x80, 0x08])
            .max_message(10)
            .next()
            .unwrap();
        assert!(matches!(r, Err(Error::TooLarge { .. })));
    }

    #[test]
    fn histogram_flattens_with_implicit_inf() {
        let fam = MetricFamily {
            name: "h".into(),
            r#type: 4,
            metric: vec![Metric {
                histogram: Some(Histogram {
                    sample_count: 3,
                    sample_sum: 1.5,
                    bucket: vec![Bucket {
                        cumulative_count: 1,
                        upper_bound: 1.0,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut got = Vec::new();
        flatten(&fam, |s| got.push((s.name, s.labels, s.value))).unwrap();
        assert_eq!(
            got,
            vec![
                ("h_count".to_string(), vec![], 3.0),
                ("h_sum".to_string(), vec![], 1.5),
                ("h_bucket".to_string(), vec![("le", "1.0".to_string())], 1.0),
                (
                    "h_bucket".to_string(),
                    vec![("le", "+Inf".to_string())],
                    3.0
                ),
            ]
        );
    }
}

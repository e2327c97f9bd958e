//! Prometheus remote write 1.0: `prometheus.WriteRequest` protobuf messages in a snappy block.
//!
//! [`encode_write_request`] produces the HTTP body and [`HEADERS`] the headers a sender must
//! set; [`decode_write_request`] reads a body with bounded decompressed and message sizes.

use prost::Message;

use crate::error::{Error, ProtoProblem};

/// The headers of a remote-write 1.0 request (besides `User-Agent`).
pub const HEADERS: [(&str, &str); 3] = [
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// A label.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A float sample.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Timestamp in milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// An exemplar.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Its labels.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Timestamp in milliseconds.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A native histogram bucket span.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span (absolute index for the first).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// A native histogram sample (integer counts as deltas, or float counts).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Count (integer histograms).
    #[prost(uint64, tag = "1")]
    pub count_int: u64,
    /// Count (float histograms).
    #[prost(double, tag = "2")]
    pub count_float: f64,
    /// Sum.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Schema.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Zero bucket width.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Zero bucket count (integer).
    #[prost(uint64, tag = "6")]
    pub zero_count_int: u64,
    /// Zero bucket count (float).
    #[prost(double, tag = "7")]
    pub zero_count_float: f64,
    /// Negative spans.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative deltas.
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative counts (float).
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Positive spans.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive deltas.
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive counts (float).
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Reset hint: UNKNOWN 0, YES 1, NO 2, GAUGE 3.
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    /// Timestamp in milliseconds.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Custom bucket bounds (schema −53).
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

/// One series and its samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars.
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histogram samples.
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// Metric family metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// UNKNOWN 0, COUNTER 1, GAUGE 2, HISTOGRAM 3, GAUGEHISTOGRAM 4, SUMMARY 5, INFO 6,
    /// STATESET 7.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

impl MetricMetadata {
    /// The remote-write type number of a [`MetricType`](crate::MetricType).
    pub fn type_number(t: crate::MetricType) -> i32 {
        use crate::MetricType as T;
        match t {
            T::Counter => 1,
            T::Gauge => 2,
            T::Histogram => 3,
            T::GaugeHistogram => 4,
            T::Summary => 5,
            T::Info => 6,
            T::StateSet => 7,
            _ => 0,
        }
    }
}

/// A remote-write 1.0 request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metadata.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// Bounds applied while decoding a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Limits {
    /// The most bytes the snappy block may decompress to.
    pub max_decompressed: usize,
    /// The most labels one series may carry.
    pub max_labels_per_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed: 32 << 20,
            max_labels_per_series: 1024,
        }
    }
}

/// Encodes and snappy-compresses a request into a remote-write HTTP body.
///
/// ```
/// use lookout_exposition::remote::{decode_write_request, encode_write_request, Label, Limits,
///     Sample, TimeSeries, WriteRequest};
/// let req = WriteRequest {
///     timeseries: vec![TimeSeries {
///         labels: vec![Label { name: "__name__".into(), value: "up".into() }],
///         samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
///         ..Default::default()
///     }],
///     metadata: vec![],
/// };
/// let mut body = Vec::new();
/// encode_write_request(&req, &mut Vec::new(), &mut body);
/// assert_eq!(decode_write_request(&body, Limits::default())?, req);
/// # Ok::<(), lookout_exposition::Error>(())
/// ```
pub fn encode_write_request(req: &WriteRequest, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
    scratch.clear();
    encode_raw(req, scratch);
    let need = snap::raw::max_compress_len(scratch.len());
    // Grow without clearing first: only bytes beyond the current length get zeroed.
    if out.len() < need {
        out.resize(need, 0);
    }
    let mut enc = snap::raw::Encoder::new();
    // The output buffer is sized by max_compress_len, which is the documented bound.
    let n = enc.compress(scratch, out).unwrap_or(0);
    out.truncate(n);
}

/// Appends `req` in protobuf wire format, byte for byte what prost's `encode` writes, but in
/// one pass over the series: their lengths are summed once instead of once per nesting level.
fn encode_raw(req: &WriteRequest, buf: &mut Vec<u8>) {
    use prost::encoding::message;
    let series_len = |ts: &TimeSeries| -> usize {
        let mut n = 0;
        for l in &ts.labels {
            n += nested_len(label_len(l));
        }
        n += ts
            .samples
            .iter()
            .map(|s| nested_len(sample_len(s)))
            .sum::<usize>();
        n += ts
            .exemplars
            .iter()
            .map(|e| nested_len(e.encoded_len()))
            .sum::<usize>();
        n += ts
            .histograms
            .iter()
            .map(|h| nested_len(h.encoded_len()))
            .sum::<usize>();
        n
    };
    for ts in &req.timeseries {
        buf.push(0x0a);
        put_varint(series_len(ts) as u64, buf);
        for l in &ts.labels {
            buf.push(0x0a);
            put_varint(label_len(l) as u64, buf);
            for (key, s) in [(0x0a, &l.name), (0x12, &l.value)] {
                if !s.is_empty() {
                    buf.push(key);
                    put_varint(s.len() as u64, buf);
                    buf.extend_from_slice(s.as_bytes());
                }
            }
        }
        for smp in &ts.samples {
            buf.push(0x12);
            put_varint(sample_len(smp) as u64, buf);
            // proto3 leaves out default values (0.0 and -0.0 alike, as prost does).
            if smp.value != 0.0 {
                buf.push(0x09);
                buf.extend_from_slice(&smp.value.to_le_bytes());
            }
            if smp.timestamp != 0 {
                buf.push(0x10);
                put_varint(smp.timestamp as u64, buf);
            }
        }
        for e in &ts.exemplars {
            message::encode(3, e, buf);
        }
        for h in &ts.histograms {
            message::encode(4, h, buf);
        }
    }
    for m in &req.metadata {
        message::encode(3, m, buf);
    }
}

/// Appends a base-128 varint.
#[inline]
fn put_varint(v: u64, buf: &mut Vec<u8>) {
    let mut v = v;
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Length of a nested message field with a one-byte key: key, length varint, body.
#[inline]
fn nested_len(body: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(body as u64) + body
}

#[inline]
fn label_len(l: &Label) -> usize {
    let field = |s: &String| {
        if s.is_empty() {
            0
        } else {
            nested_len(s.len())
        }
    };
    field(&l.name) + field(&l.value)
}

#[inline]
fn sample_len(s: &Sample) -> usize {
    let v = if s.value != 0.0 { 9 } else { 0 };
    let t = if s.timestamp != 0 {
        1 + prost::encoding::encoded_len_varint(s.timestamp as u64)
    } else {
        0
    };
    v + t
}

/// Decompresses and decodes a remote-write 1.0 body, within `limits`.
pub fn decode_write_request(body: &[u8], limits: Limits) -> Result<WriteRequest, Error> {
    let size = snap::raw::decompress_len(body).map_err(Error::Snappy)?;
    if size > limits.max_decompressed {
        return Err(Error::TooLarge {
            what: "decompressed remote-write body",
            size,
            limit: limits.max_decompressed,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(Error::Snappy)?;
    let req = WriteRequest::decode(raw.as_slice()).map_err(|e| Error::Protobuf {
        offset: 0,
        problem: ProtoProblem::Decode(e.to_string()),
    })?;
    for ts in &req.timeseries {
        if ts.labels.len() > limits.max_labels_per_series {
            return Err(Error::TooLarge {
                what: "labels of one series",
                size: ts.labels.len(),
                limit: limits.max_labels_per_series,
            });
        }
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arb_request() -> impl proptest::strategy::Strategy<Value = WriteRequest> {
        use proptest::prelude::*;
        let label = ("[a-z_]{0,3}", ".{0,200}").prop_map(|(name, value)| Label { name, value });
        let float = prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            any::<f64>(),
            (0u32..1000).prop_map(f64::from)
        ];
        let ts = prop_oneof![Just(0i64), any::<i64>(), 0i64..300];
        let sample =
            (float.clone(), ts.clone()).prop_map(|(value, timestamp)| Sample { value, timestamp });
        let exemplar = (proptest::collection::vec(label.clone(), 0..3), float, ts).prop_map(
            |(labels, value, timestamp)| Exemplar {
                labels,
                value,
                timestamp,
            },
        );
        let hist = (
            any::<u64>(),
            any::<i32>(),
            proptest::collection::vec(any::<i64>(), 0..4),
        )
            .prop_map(|(count_int, schema, positive_deltas)| Histogram {
                count_int,
                schema,
                positive_deltas,
                ..Default::default()
            });
        let series = (
            proptest::collection::vec(label, 0..5),
            proptest::collection::vec(sample, 0..4),
            proptest::collection::vec(exemplar, 0..2),
            proptest::collection::vec(hist, 0..2),
        )
            .prop_map(|(labels, samples, exemplars, histograms)| TimeSeries {
                labels,
                samples,
                exemplars,
                histograms,
            });
        let meta =
            (0i32..8, "[a-z]{0,5}", ".{0,10}").prop_map(|(r#type, n, help)| MetricMetadata {
                r#type,
                metric_family_name: n,
                help,
                unit: String::new(),
            });
        (
            proptest::collection::vec(series, 0..6),
            proptest::collection::vec(meta, 0..3),
        )
            .prop_map(|(timeseries, metadata)| WriteRequest {
                timeseries,
                metadata,
            })
    }

    proptest::proptest! {
        /// The one-pass writer produces exactly prost's bytes.
        #[test]
        fn direct_encoding_matches_prost(req in arb_request()) {
            let mut ours = Vec::new();
            encode_raw(&req, &mut ours);
            proptest::prop_assert_eq!(ours, req.encode_to_vec());
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::default(); 3],
                ..Default::default()
            }],
            metadata: vec![],
        };
        let mut body = Vec::new();
        encode_write_request(&req, &mut Vec::new(), &mut body);
        let tight = Limits {
            max_labels_per_series: 2,
            ..Limits::default()
        };
        assert!(matches!(
            decode_write_request(&body, tight),
            Err(Error::TooLarge { .. })
        ));
        let tiny = Limits {
            max_decompressed: 1,
            ..Limits::default()
        };
        assert!(matches!(
            decode_write_request(&body, tiny),
            Err(Error::TooLarge { .. })
        ));
        assert!(decode_write_request(b"\xff\xff\xff\xff\x0f", Limits::default()).is_err());
    }
}

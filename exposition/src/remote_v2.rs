//! Prometheus remote write 2.0: `io.prometheus.write.v2.Request`, where every string (label
//! names and values, help, unit) is interned once in a symbol table and referenced by index.
//!
//! Field numbers follow the 2.0.0 specification (`symbols = 4`, `timeseries = 5`; a series
//! holds `labels_refs = 1`, `samples = 2`, `histograms = 3`, `exemplars = 4`, `metadata = 5`,
//! `created_timestamp = 6`). Build requests with [`RequestBuilder`], read them with
//! [`decode_request`], which checks every reference, and turn one into remote write 1.0 with
//! [`Request::to_v1`].

use prost::Message;

use crate::error::{Error, ProtoProblem};
use crate::remote::{self, Limits};

/// The headers of a remote-write 2.0 request (besides `User-Agent`).
pub const HEADERS: [(&str, &str); 3] = [
    ("Content-Encoding", "snappy"),
    (
        "Content-Type",
        "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    ),
    ("X-Prometheus-Remote-Write-Version", "2.0.0"),
];

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

/// An exemplar, its labels as symbol references.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Pairs of (name, value) references into the symbol table.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Timestamp in milliseconds.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// Per-series metadata.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Metadata {
    /// UNSPECIFIED 0, COUNTER 1, GAUGE 2, HISTOGRAM 3, GAUGEHISTOGRAM 4, SUMMARY 5, INFO 6,
    /// STATESET 7 (the numbers of remote write 1.0's metadata).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Help text reference (0 = none).
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Unit reference (0 = none).
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// One series.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Pairs of (name, value) references into the symbol table, sorted by name.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples (same message as remote write 1.0).
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<remote::Histogram>,
    /// Exemplars.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// Metadata.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    /// When the counter or histogram was created, in milliseconds (0 = unknown).
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

/// A remote-write 2.0 request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// The symbol table; the first symbol is always the empty string.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// An exemplar for [`RequestBuilder::series`]: labels, value, timestamp in milliseconds.
pub type ExemplarInput<'x> = (&'x [(&'x str, &'x str)], f64, i64);

/// Builds a [`Request`], interning strings as it goes.
#[derive(Debug, Default)]
pub struct RequestBuilder {
    symbols: Vec<String>,
    index: std::collections::HashMap<String, u32>,
    series: Vec<TimeSeries>,
}

impl RequestBuilder {
    /// An empty request (its symbol table holds only `""`).
    pub fn new() -> RequestBuilder {
        let mut b = RequestBuilder::default();
        b.intern("");
        b
    }

    /// The reference of `s`, adding it to the table if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.symbols.len()).unwrap_or(u32::MAX);
        self.symbols.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// Adds a series: its labels (sorted by name here), samples, exemplars (labels, value,
    /// timestamp) and metadata (type number, help, unit).
    pub fn series(
        &mut self,
        labels: &[(&str, &str)],
        samples: &[Sample],
        exemplars: &[ExemplarInput<'_>],
        metadata: Option<(i32, &str, &str)>,
    ) -> &mut Self {
        let mut sorted = labels.to_vec();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let labels_refs = self.refs(&sorted);
        let exemplars = exemplars
            .iter()
            .map(|(ls, value, timestamp)| Exemplar {
                labels_refs: self.refs(ls),
                value: *value,
                timestamp: *timestamp,
            })
            .collect();
        let metadata = metadata.map(|(t, help, unit)| Metadata {
            r#type: t,
            help_ref: self.intern(help),
            unit_ref: self.intern(unit),
        });
        self.series.push(TimeSeries {
            labels_refs,
            samples: samples.to_vec(),
            histograms: Vec::new(),
            exemplars,
            metadata,
            created_timestamp: 0,
        });
        self
    }

    fn refs(&mut self, labels: &[(&str, &str)]) -> Vec<u32> {
        let mut out = Vec::with_capacity(labels.len() * 2);
        for (n, v) in labels {
            out.push(self.intern(n));
            out.push(self.intern(v));
        }
        out
    }

    /// The finished request.
    pub fn build(self) -> Request {
        Request {
            symbols: self.symbols,
            timeseries: self.series,
        }
    }
}

/// Encodes and snappy-compresses a 2.0 request into an HTTP body.
///
/// ```
/// use lookout_exposition::remote_v2::{decode_request, encode_request, RequestBuilder, Sample};
/// use lookout_exposition::remote::Limits;
/// let mut b = RequestBuilder::new();
/// b.series(&[("__name__", "up"), ("job", "api")], &[Sample { value: 1.0, timestamp: 5 }], &[], Some((2, "Up.", "")));
/// let req = b.build();
/// let mut body = Vec::new();
/// encode_request(&req, &mut Vec::new(), &mut body);
/// let back = decode_request(&body, Limits::default())?;
/// assert_eq!(back, req);
/// let v1 = back.to_v1()?;
/// assert_eq!(v1.timeseries[0].labels[1].value, "api");
/// assert_eq!(v1.metadata[0].help, "Up.");
/// # Ok::<(), lookout_exposition::Error>(())
/// ```
pub fn encode_request(req: &Request, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
    scratch.clear();
    // Encoding into a Vec cannot run out of space.
    let _ = req.encode(scratch);
    out.clear();
    out.resize(snap::raw::max_compress_len(scratch.len()), 0);
    // The buffer is sized by max_compress_len, the documented bound.
    let n = snap::raw::Encoder::new()
        .compress(scratch, out)
        .unwrap_or(0);
    out.truncate(n);
}

/// Decompresses and decodes a 2.0 body within `limits`, and checks that the symbol table starts
/// with `""` and every reference is in range and paired.
pub fn decode_request(body: &[u8], limits: Limits) -> Result<Request, Error> {
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
    let req = Request::decode(raw.as_slice()).map_err(|e| Error::Protobuf {
        offset: 0,
        problem: ProtoProblem::Decode(e.to_string()),
    })?;
    let invalid = |m| Error::Protobuf {
        offset: 0,
        problem: ProtoProblem::Invalid(m),
    };
    if req.symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(invalid("the first symbol must be the empty string"));
    }
    let n = req.symbols.len();
    let ok = |r: &u32| (*r as usize) < n;
    for ts in &req.timeseries {
        if ts.labels_refs.len() % 2 != 0
            || ts.exemplars.iter().any(|e| e.labels_refs.len() % 2 != 0)
        {
            return Err(invalid("label references must come in pairs"));
        }
        if ts.labels_refs.len() / 2 > limits.max_labels_per_series {
            return Err(Error::TooLarge {
                what: "labels of one series",
                size: ts.labels_refs.len() / 2,
                limit: limits.max_labels_per_series,
            });
        }
        let meta_ok = ts
            .metadata
            .is_none_or(|m| ok(&m.help_ref) && ok(&m.unit_ref));
        if !ts.labels_refs.iter().all(ok)
            || !ts.exemplars.iter().all(|e| e.labels_refs.iter().all(ok))
            || !meta_ok
        {
            return Err(invalid("symbol reference out of range"));
        }
    }
    Ok(req)
}

impl Request {
    fn sym(&self, r: u32) -> Result<&str, Error> {
        self.symbols
            .get(r as usize)
            .map(String::as_str)
            .ok_or(Error::Protobuf {
                offset: 0,
                problem: ProtoProblem::Invalid("symbol reference out of range"),
            })
    }

    fn labels(&self, refs: &[u32]) -> Result<Vec<remote::Label>, Error> {
        refs.chunks(2)
            .map(|p| match p {
                [n, v] => Ok(remote::Label {
                    name: self.sym(*n)?.to_string(),
                    value: self.sym(*v)?.to_string(),
                }),
                _ => Err(Error::Protobuf {
                    offset: 0,
                    problem: ProtoProblem::Invalid("label references must come in pairs"),
                }),
            })
            .collect()
    }

    /// The same data as a remote write 1.0 request: labels resolved, and one metadata entry per
    /// metric name that carries metadata.
    pub fn to_v1(&self) -> Result<remote::WriteRequest, Error> {
        let mut out = remote::WriteRequest::default();
        let mut seen = std::collections::HashSet::new();
        for ts in &self.timeseries {
            let labels = self.labels(&ts.labels_refs)?;
            if let Some(m) = ts.metadata {
                let name = labels
                    .iter()
                    .find(|l| l.name == "__name__")
                    .map(|l| l.value.clone())
                    .unwrap_or_default();
                if seen.insert(name.clone()) {
                    out.metadata.push(remote::MetricMetadata {
                        r#type: m.r#type,
                        metric_family_name: name,
                        help: self.sym(m.help_ref)?.to_string(),
                        unit: self.sym(m.unit_ref)?.to_string(),
                    });
                }
            }
            let exemplars = ts
                .exemplars
                .iter()
                .map(|e| {
                    Ok(remote::Exemplar {
                        labels: self.labels(&e.labels_refs)?,
                        value: e.value,
                        timestamp: e.timestamp,
                    })
                })
                .collect::<Result<_, Error>>()?;
            out.timeseries.push(remote::TimeSeries {
                labels,
                samples: ts
                    .samples
                    .iter()
                    .map(|s| remote::Sample {
                        value: s.value,
                        timestamp: s.timestamp,
                    })
                    .collect(),
                exemplars,
                histograms: ts.histograms.clone(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_references_are_rejected() {
        let req = Request {
            symbols: vec![String::new(), "a".into()],
            timeseries: vec![TimeSeries {
                labels_refs: vec![1, 7],
                ..Default::default()
            }],
        };
        let mut body = Vec::new();
        encode_request(&req, &mut Vec::new(), &mut body);
        assert!(decode_request(&body, Limits::default()).is_err());
        let req = Request {
            symbols: vec!["x".into()],
            timeseries: vec![],
        };
        encode_request(&req, &mut Vec::new(), &mut body);
        assert!(decode_request(&body, Limits::default()).is_err());
    }

    #[test]
    fn strings_are_interned_once() {
        let mut b = RequestBuilder::new();
        let s = [Sample {
            value: 1.0,
            timestamp: 1,
        }];
        b.series(&[("job", "a"), ("__name__", "up")], &s, &[], None);
        b.series(&[("__name__", "up"), ("job", "b")], &s, &[], None);
        let req = b.build();
        assert_eq!(req.symbols, vec!["", "__name__", "up", "job", "a", "b"]);
        assert_eq!(req.timeseries[0].labels_refs, vec![1, 2, 3, 4]);
    }
}

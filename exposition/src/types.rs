//! Metric types and the exposition formats.

use std::fmt;

/// The type of a metric family, as declared by `# TYPE` (or the protobuf `type` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// A monotonic counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A (classic or native) histogram.
    Histogram,
    /// An OpenMetrics gauge histogram.
    GaugeHistogram,
    /// A summary.
    Summary,
    /// An OpenMetrics info metric.
    Info,
    /// An OpenMetrics state set.
    StateSet,
    /// OpenMetrics `unknown`.
    Unknown,
    /// Prometheus text `untyped` (also the protobuf `UNTYPED`).
    Untyped,
}

impl MetricType {
    /// The name as written after `# TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
            MetricType::Untyped => "untyped",
        }
    }

    /// Reads a Prometheus text 0.0.4 type name.
    pub(crate) fn from_prom(s: &[u8]) -> Option<MetricType> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" => MetricType::Untyped,
            _ => return None,
        })
    }

    /// Reads an OpenMetrics type name.
    pub(crate) fn from_om(s: &[u8]) -> Option<MetricType> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"gaugehistogram" => MetricType::GaugeHistogram,
            b"summary" => MetricType::Summary,
            b"info" => MetricType::Info,
            b"stateset" => MetricType::StateSet,
            b"unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// Whether `rest` is one of [`suffixes`](Self::suffixes), compared against literals (the
    /// per-sample check of the parsers, where a slice search costs a call per entry).
    #[inline]
    pub(crate) fn allows_suffix(self, rest: &str) -> bool {
        match self {
            MetricType::Counter => matches!(rest, "" | "_total" | "_created"),
            MetricType::Histogram => {
                matches!(rest, "_bucket" | "_sum" | "_count" | "_created" | "")
            }
            MetricType::GaugeHistogram => matches!(rest, "_bucket" | "_gsum" | "_gcount" | ""),
            MetricType::Summary => matches!(rest, "" | "_sum" | "_count" | "_created"),
            MetricType::Info => rest == "_info",
            _ => rest.is_empty(),
        }
    }

    /// The sample-name suffixes a family of this type may use (the empty suffix included
    /// where the bare family name carries samples). Prometheus text counters are commonly named
    /// with `_total` already, so the bare name is allowed for counters too.
    pub(crate) fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["", "_total", "_created"],
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created", ""],
            MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount", ""],
            MetricType::Summary => &["", "_sum", "_count", "_created"],
            MetricType::Info => &["_info"],
            _ => &[""],
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exposition format, as chosen by a scrape's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetricsText,
    /// Prometheus protobuf, varint-delimited `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

impl Format {
    /// The `Content-Type` an exposer of this format sends.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetricsText => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }
}

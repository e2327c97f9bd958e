//! Every way metrics are exposed and shipped: parsers and encoders for the Prometheus text
//! format 0.0.4 and OpenMetrics 1.0 text, the Prometheus protobuf exposition format, and
//! Prometheus remote write 1.0 and 2.0.
//!
//! - [`TextParser`] streams over a byte slice and borrows names, label values and help text
//!   from it unless an escape forces a copy; label buffers are reused, so unescaped input costs
//!   no allocation per sample. Its lenient mode accepts what Prometheus' scrape loop accepts
//!   (including Prometheus 3's rewriting of `le`/`quantile` values into canonical floats);
//!   [`Mode::Strict`] also enforces the OpenMetrics specification's family rules. An error
//!   names the line and column; samples before it were already returned, and the parser
//!   resumes at the next line if asked.
//! - [`TextEncoder`] writes either text format into a `&mut` writer, a family or a sample at a
//!   time, the `# EOF` trailer separately, and refuses (per call) what its parser would not
//!   read back unchanged.
//! - [`negotiate`] picks the format from a `Content-Type` header as Prometheus does.
//! - [`proto`]: varint-delimited `io.prometheus.client.MetricFamily` messages, native
//!   histogram fields included; [`remote`] and [`remote_v2`]: remote-write requests with
//!   snappy compression and bounded decoding.
//!
//! ```
//! use lookout_exposition::{Entry, Mode, TextParser};
//!
//! let payload = concat!(
//!     "# TYPE http_requests counter\n",
//!     "http_requests_total{code=\"200\"} 1027 1395066363.000\n",
//!     "# EOF\n",
//! );
//! let mut parser = TextParser::openmetrics(payload.as_bytes(), Mode::Strict);
//! while let Some(entry) = parser.next_entry()? {
//!     if let Entry::Sample(s) = entry {
//!         assert_eq!(s.name, "http_requests_total");
//!         assert_eq!(s.labels[0].1, "200");
//!         assert_eq!(s.value, 1027.0);
//!         assert_eq!(s.timestamp, Some(1_395_066_363_000));
//!     }
//! }
//! # Ok::<(), lookout_exposition::Error>(())
//! ```
#![forbid(unsafe_code)]

mod encode;
mod error;
mod negotiate;
mod number;
pub mod proto;
pub mod remote;
pub mod remote_v2;
mod strict;
mod text;
mod types;

pub use crate::encode::{ExemplarRef, TextEncoder};
pub use crate::error::{Error, ProtoProblem, TextProblem};
pub use crate::negotiate::{negotiate, Negotiated, SCRAPE_ACCEPT_HEADER};
pub use crate::text::{Entry, Exemplar, LabelPair, Mode, TextParser, TextSample};
pub use crate::types::{Format, MetricType};

//! The shared vocabulary of Lookout.
//!
//! Every Lookout crate speaks in these types: [`Labels`] (a series' identity), [`Matcher`]
//! (label matchers with Prometheus' regex semantics and fast paths), [`Sample`] and the stale
//! marker, [`Alert`], Go-compatible regexes ([`GoRegex`]), Prometheus durations and timestamps,
//! and the read side of storage ([`Querier`]), which `lookout-tsdb` implements and
//! `lookout-promql` consumes.
//!
//! ```
//! use lookout_model::{parse_selector, Labels, MemStorage, Querier, SelectHints};
//!
//! let series: Labels = r#"http_requests_total{job="api", code="500"}"#.parse()?;
//! let mut store = MemStorage::new();
//! store.append(&series, 1_000, 42.0);
//!
//! let matchers = parse_selector(r#"http_requests_total{code=~"5.."}"#)?;
//! for s in store.select(0, 2_000, &matchers, &SelectHints::default())? {
//!     println!("{}", s?.labels());
//! }
//! # Ok::<(), lookout_model::Error>(())
//! ```
#![forbid(unsafe_code)]

mod alert;
mod error;
mod format;
mod labels;
mod matcher;
mod name;
mod quote;
mod regex;
mod sample;
mod small_str;
mod storage;
mod time;

pub use crate::alert::Alert;
pub use crate::error::{Error, ParseMessage};
pub use crate::format::{format_api_float, format_go_g};
pub use crate::labels::{
    Label, LabelIndex, LabelIndexBuf, LabelRef, LabelView, Labels, LabelsBuilder, LabelsIter,
};
pub use crate::matcher::{parse_selector, parse_selector_with, MatchType, Matcher};
pub use crate::name::{is_legacy_label_name, is_legacy_metric_name, NameValidation, METRIC_NAME};
pub use crate::quote::{go_quote, parse_go_string, write_go_quoted};
pub use crate::regex::{GoRegex, RegexOptions};
pub use crate::sample::{
    go_nan, is_stale_nan, stale_nan, Sample, SampleIterator, SliceIterator, ValueKind, GO_NAN_BITS,
    STALE_NAN_BITS,
};
pub use crate::small_str::SmallStr;
pub use crate::storage::{MemStorage, Querier, SelectHints, Series, SeriesSet};
pub use crate::time::{
    civil_from_days, days_in_month, format_duration, parse_duration, parse_timestamp,
};

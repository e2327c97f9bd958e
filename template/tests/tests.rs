//! Integration tests: Go `text/template` semantics, and Prometheus' template functions checked
//! against the real `promtool test rules`.
#![allow(clippy::unwrap_used)]

mod go_semantics;
mod promtool_diff;

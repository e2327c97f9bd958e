//! Integration tests for lookout-promql: upstream scripts, the expression table, round trips
//! and the differential test against Prometheus 2.42.

mod diff;
mod eval_diff;
mod roundtrip;
mod table;
mod upstream;
mod upstream_eval;

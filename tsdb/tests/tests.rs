//! Conformance and differential tests of `lookout-tsdb`: golden chunks from Prometheus 2.42,
//! chunk property tests, the head against promtool's chunk cutting, WAL crash recovery and
//! Prometheus-written WALs.
#![allow(clippy::unwrap_used)]

mod block_read;
mod block_write;
mod db;
mod golden;
mod vertical;
mod wal;
mod xor_props;

//! Conformance, property and differential tests of lookout-relabel (one test binary).
#![allow(clippy::unwrap_used)]

mod allocations;
mod common;
mod conformance;
mod differential;
mod properties;

//! Conformance, property and interop tests of `lookout-exposition` (one test binary).
#![allow(clippy::unwrap_used)]

mod conformance;
mod interop;
mod protobuf;
mod roundtrip;
mod strict;

//! Property tests for `lookout-model`: text round trips, matcher semantics against a reference
//! regex, and hash stability.
#![allow(clippy::unwrap_used)]

mod properties;

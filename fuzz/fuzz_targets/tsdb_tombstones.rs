//! Decoding a `tombstones` file never panics; whatever decodes re-encodes to bytes that decode
//! to the same tombstones, with sorted, disjoint, non-adjacent intervals.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lookout_tsdb::tombstones::Tombstones;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = Tombstones::decode(data, Path::new("tombstones")) else {
        return;
    };
    for (_, ivs) in t.iter() {
        for w in ivs.windows(2) {
            assert!(w[0].0 <= w[0].1);
            assert!(w[0].1 < w[1].0.saturating_sub(1));
        }
    }
    let again = Tombstones::decode(&t.encode(), Path::new("tombstones")).unwrap();
    assert_eq!(again, t);
});

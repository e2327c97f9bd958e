//! Parsing `meta.json` never panics; whatever parses serializes to JSON that parses back to
//! the same meta.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lookout_tsdb::meta::BlockMeta;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = BlockMeta::from_json(data, Path::new("meta.json")) else {
        return;
    };
    let again = BlockMeta::from_json(&m.to_json(), Path::new("meta.json")).unwrap();
    assert_eq!(again, m);
});

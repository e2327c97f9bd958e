//! The delimited MetricFamily decoder and the flattening into samples never panic, and a
//! decoded family re-encodes to bytes that decode to the same family.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_exposition::proto::{decode_delimited, encode_delimited, flatten};

fuzz_target!(|data: &[u8]| {
    for fam in decode_delimited(data).take(64) {
        let Ok(fam) = fam else { break };
        let _ = flatten(&fam, |_| {});
        let mut buf = Vec::new();
        encode_delimited(&fam, &mut buf);
        let back: Vec<_> = decode_delimited(&buf).collect();
        assert_eq!(back.len(), 1);
        match &back[0] {
            // Compare the bytes: NaN payloads make PartialEq unreliable.
            Ok(b) => {
                let mut again = Vec::new();
                encode_delimited(b, &mut again);
                assert_eq!(again, buf);
            }
            Err(e) => panic!("re-encoded family does not decode: {e}"),
        }
    }
});

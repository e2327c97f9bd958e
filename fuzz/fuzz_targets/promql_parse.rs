//! PromQL parsing never panics, whatever the options, and errors point inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_promql::{parse_with, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for opts in [
        ParseOptions::default(),
        ParseOptions::all(),
        ParseOptions::prometheus2(),
    ] {
        if let Err(e) = parse_with(s, &opts) {
            assert!(e.span().start <= s.len(), "{e:?}");
            let _ = e.render(s);
        }
    }
});

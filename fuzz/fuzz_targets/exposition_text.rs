//! The Prometheus text parser never panics or hangs, keeps going after errors, and every
//! sample it reports has a valid name and distinct label names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_exposition::{Entry, TextParser};

fuzz_target!(|data: &[u8]| {
    let mut p = TextParser::prometheus(data);
    loop {
        match p.next_entry() {
            Ok(None) => break,
            Ok(Some(Entry::Sample(s))) => {
                assert!(!s.name.is_empty());
                let _ = s.to_labels();
            }
            Ok(Some(_)) | Err(_) => {}
        }
    }
});

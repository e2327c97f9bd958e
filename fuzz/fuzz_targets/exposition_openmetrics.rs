//! The OpenMetrics parser, lenient and strict, never panics or hangs; whatever strict mode
//! accepts, lenient mode accepts too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_exposition::{Mode, TextParser};

fn run(data: &[u8], mode: Mode) -> (usize, bool) {
    let mut p = TextParser::openmetrics(data, mode);
    let (mut n, mut ok) = (0, true);
    loop {
        match p.next_entry() {
            Ok(None) => break,
            Ok(Some(_)) => n += 1,
            Err(_) => ok = false,
        }
    }
    (n, ok)
}

fuzz_target!(|data: &[u8]| {
    let (n_strict, strict_ok) = run(data, Mode::Strict);
    let (n_lenient, lenient_ok) = run(data, Mode::Lenient);
    if strict_ok {
        assert!(lenient_ok);
        assert_eq!(n_strict, n_lenient);
    }
});

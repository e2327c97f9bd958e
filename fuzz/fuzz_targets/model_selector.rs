//! Selector, label-set and Go-regex parsing never panic, and printed forms parse back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_model::{parse_selector, GoRegex, Labels};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ms) = parse_selector(s) {
        for m in &ms {
            let text = format!("{{{m}}}");
            let back = parse_selector(&text).expect("printed matcher parses");
            assert_eq!(back.len(), 1);
            assert_eq!(&back[0], m, "{text}");
        }
    }
    if let Ok(ls) = s.parse::<Labels>() {
        let back: Labels = ls.to_string().parse().expect("printed labels parse");
        assert_eq!(back, ls);
    }
    if s.len() < 256 {
        if let Ok(re) = GoRegex::new(s) {
            let _ = re.is_match(s);
        }
    }
});

//! Whatever the text parser reads, both encoders write so that the parsers read it back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_exposition::{Entry, Mode, TextEncoder, TextParser};

type Owned = (String, Vec<(String, String)>, f64, Option<i64>);

fn parse(data: &[u8], om: bool) -> Vec<Owned> {
    let mut p = if om {
        TextParser::openmetrics(data, Mode::Lenient)
    } else {
        TextParser::prometheus(data)
    };
    let mut out = Vec::new();
    loop {
        match p.next_entry() {
            Ok(None) => break,
            Ok(Some(Entry::Sample(s))) => out.push((
                s.name.to_string(),
                s.labels
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                s.value,
                s.timestamp,
            )),
            Ok(Some(_)) => {}
            Err(e) => panic!("re-parse failed: {e}\n{}", String::from_utf8_lossy(data)),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut p = TextParser::prometheus(data);
    let mut samples: Vec<Owned> = Vec::new();
    loop {
        match p.next_entry() {
            Ok(None) => break,
            Ok(Some(Entry::Sample(s))) => samples.push((
                s.name.to_string(),
                s.labels
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                s.value,
                s.timestamp,
            )),
            Ok(Some(_)) | Err(_) => {}
        }
    }
    for om in [false, true] {
        let mut out = Vec::new();
        let mut enc = if om {
            TextEncoder::openmetrics(&mut out)
        } else {
            TextEncoder::prometheus(&mut out)
        };
        let mut written = Vec::new();
        for s @ (n, ls, v, t) in &samples {
            let labels: Vec<(&str, &str)> =
                ls.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            match enc.sample(n, &labels, *v, *t, None) {
                Ok(()) => written.push(s),
                // OpenMetrics seconds cannot hold every i64 millisecond count exactly; the
                // encoder refuses those rather than write something else.
                Err(e) => assert!(om && t.is_some(), "{e}"),
            }
        }
        enc.finish().expect("finish");
        let back = parse(&out, om);
        assert_eq!(back.len(), written.len());
        for (a, b) in back.iter().zip(written) {
            assert_eq!((&a.0, &a.1, a.3), (&b.0, &b.1, b.3));
            assert!(a.2 == b.2 || (a.2.is_nan() && b.2.is_nan()));
        }
    }
});

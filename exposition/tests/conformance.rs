//! Upstream inputs: Prometheus' parser error cases and benchmark payloads.

use lookout_exposition::{Entry, Error, Mode, TextParser};

/// Parses a whole payload, stopping at the first error, and counts samples.
fn parse_all(input: &[u8], om: bool, mode: Mode) -> Result<usize, Error> {
    let mut p = if om {
        TextParser::openmetrics(input, mode)
    } else {
        TextParser::prometheus(input)
    };
    let mut n = 0;
    while let Some(e) = p.next_entry()? {
        if let Entry::Sample(_) = e {
            n += 1;
        }
    }
    Ok(n)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn textparse_error_cases() {
    let Some(path) = lookout_testkit::shared_path("conformance/exposition/textparse_errors.json")
    else {
        return;
    };
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let (mut passed, mut failed, skipped) = (0, 0, 0);
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let format = c["format"].as_str().unwrap();
        let input = match (c["input"].as_str(), c["input_hex"].as_str()) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(h)) => hex(h),
            _ => panic!("case {i} has no input"),
        };
        let om = format.starts_with("openmetrics");
        let want_ok = c["expect"] == "ok";
        let got = parse_all(&input, om, Mode::Lenient);
        if got.is_ok() == want_ok {
            passed += 1;
        } else {
            failed += 1;
            failures.push(format!(
                "#{i} {} {:?}: want {}, got {:?}",
                c["test"].as_str().unwrap_or(""),
                String::from_utf8_lossy(&input),
                c["expect"],
                got
            ));
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    println!("textparse_errors: {passed} passed, {failed} failed, {skipped} skipped");
    assert_eq!(failed, 0, "{failures:#?}");
    assert_eq!(passed, 109);
}

#[test]
fn upstream_payloads_parse() {
    let files = [
        ("alltypes.237mfs.prom.txt", false),
        ("alltypes.237mfs.nometa.prom.txt", false),
        ("promtestdata.txt", false),
        ("promtool/metrics-test.prom", false),
        ("alltypes.5mfs.om.txt", true),
        ("1histogram.om.txt", true),
    ];
    for (f, om) in files {
        let Some(p) = lookout_testkit::shared_path(&format!("conformance/exposition/{f}")) else {
            return;
        };
        let data = std::fs::read(&p).unwrap();
        let n = parse_all(&data, om, Mode::Lenient).unwrap_or_else(|e| panic!("{f}: {e}"));
        // Every line that is not a comment, metadata or blank is one sample.
        let expected = data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
            .count();
        assert_eq!(n, expected, "{f}");
    }
}

#[test]
fn strict_rejects_alltypes_om() {
    // SOURCE.txt: this file breaks strict OpenMetrics rules (negative-le histogram with _sum,
    // negative summary _sum) that Prometheus does not check.
    let Some(p) = lookout_testkit::shared_path("conformance/exposition/alltypes.5mfs.om.txt")
    else {
        return;
    };
    let data = std::fs::read(p).unwrap();
    assert!(parse_all(&data, true, Mode::Strict).is_err());
    let Some(p) = lookout_testkit::shared_path("conformance/exposition/1histogram.om.txt") else {
        return;
    };
    let data = std::fs::read(p).unwrap();
    parse_all(&data, true, Mode::Strict).unwrap();
}

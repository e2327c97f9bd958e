//! `lookout promql parse` end to end. Expected texts are Prometheus' `String()` forms from its
//! printer tests.

use std::process::Command;

fn parse(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("promql")
        .arg("parse")
        .args(args)
        .output()
        .expect("run lookout");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn prints_canonical_form() {
    for (input, want) in [
        (
            r#"sum by(code) (task:errors:rate10s{job="s"})"#,
            r#"sum by (code) (task:errors:rate10s{job="s"})"#,
        ),
        ("a - on(b) group_left c", "a - on (b) group_left () c"),
        ("a @ 10", "a @ 10.000"),
        ("a - ignoring() c", "a - c"),
    ] {
        let (ok, out, err) = parse(&[input]);
        assert!(ok, "{input}: {err}");
        assert_eq!(out.trim_end(), want);
    }
}

#[test]
fn error_exits_1_with_position_and_caret() {
    let (ok, out, err) = parse(&["{a=~\".*\"}"]);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(
        err.starts_with(
            "1:1: parse error: vector selector must contain at least one non-empty matcher"
        ),
        "{err}"
    );
    assert!(err.contains("^~~~"), "{err}");
}

#[test]
fn experimental_syntax_needs_the_flag() {
    let (ok, _, err) = parse(&["a + fill(0) b"]);
    assert!(!ok);
    assert!(
        err.contains("binop fill modifiers are experimental and not enabled"),
        "{err}"
    );
    let (ok, out, err) = parse(&["--experimental", "a + fill(0) b"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim_end(), "a + fill (0) b");
}

#[test]
fn pretty_splits_long_expressions() {
    let q = "sum by (job) (rate(http_requests_total{code=~\"5..\",handler=\"/api/v1/query_range\"}[5m])) / sum by (job) (rate(http_requests_total[5m]))";
    let (ok, out, err) = parse(&["--pretty", q]);
    assert!(ok, "{err}");
    assert!(out.lines().count() > 1, "{out}");
    assert!(out.lines().any(|l| l.trim() == "/"), "{out}");
}

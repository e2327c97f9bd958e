//! `lookout promql test FILE...` end to end, on scripts whose expectations come from
//! Prometheus' own test data (`functions.test`: `rate(http_requests_total[50m])` at 50m).

use std::process::Command;

const SCRIPT: &str = r#"
load 5m
  http_requests_total{job="api-server", instance="0", group="production"} 0+10x10
  http_requests_total{job="api-server", instance="1", group="production"} 0+20x10

eval instant at 50m rate(http_requests_total[50m])
  {job="api-server", instance="0", group="production"} 0.03333333333333333
  {job="api-server", instance="1", group="production"} 0.06666666666666667

eval instant at 50m resets(http_requests_total[50m])
  {job="api-server", instance="0", group="production"} 0
  {job="api-server", instance="1", group="production"} 0
"#;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["promql", "test"])
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
fn passing_and_failing_scripts() {
    let dir = lookout_testkit::tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.test");
    std::fs::write(&good, SCRIPT).expect("write");
    let bad = dir.path().join("bad.test");
    std::fs::write(&bad, SCRIPT.replace("0.06666666666666667", "7")).expect("write");

    let (ok, out, _) = run(&[good.to_str().expect("utf-8 path")]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].ends_with("good.test: 2 passed, 0 failed, 0 skipped"),
        "{out}"
    );
    assert_eq!(lines[1], "2 passed, 0 failed, 0 skipped");

    let (ok, out, err) = run(&[
        good.to_str().expect("utf-8 path"),
        bad.to_str().expect("utf-8 path"),
    ]);
    assert!(!ok);
    assert!(out.ends_with("3 passed, 1 failed, 0 skipped\n"), "{out}");
    assert!(
        err.contains("bad.test:6: rate(http_requests_total[50m])"),
        "{err}"
    );
}

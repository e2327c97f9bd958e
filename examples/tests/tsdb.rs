//! `lookout tsdb dump` over data dirs: Prometheus 2.42's own (compared line for line with
//! `promtool tsdb dump`).
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn lookout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
}

fn sorted_lines(b: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(b)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn dump_matches_promtool_on_prometheus_selfscrape() {
    let Some(src) =
        lookout_testkit::shared_path("datasets/metrics/prometheus-2.42-generated/selfscrape-data")
    else {
        return;
    };
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    lookout_testkit::copy_dir(&src, tmp.path());
    let ours = lookout()
        .args(["tsdb", "dump"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    // The dump did not touch the directory.
    let wal: Vec<_> = std::fs::read_dir(tmp.path().join("wal")).unwrap().collect();
    assert_eq!(wal.len(), 1);
    let theirs = Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(theirs.status.success());
    let (a, b) = (sorted_lines(&ours.stdout), sorted_lines(&theirs.stdout));
    assert_eq!(a.len(), 67_162);
    let failed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    println!(
        "tsdb dump vs promtool: {} passed, {failed} failed, 0 skipped",
        a.len() - failed
    );
    assert_eq!(a, b);

    // --match and the time range.
    let ours = lookout()
        .args(["tsdb", "dump", "--match", "up", "--max-time", "-1"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(ours.status.success());
    assert!(ours.stdout.is_empty());
    let ours = lookout()
        .args(["tsdb", "dump", "--match", "up"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let lines = sorted_lines(&ours.stdout);
    assert!(!lines.is_empty());
    assert!(lines
        .iter()
        .all(|l| l.starts_with("{__name__=\"up\"") && l.contains("} 1 ")));
}

#[test]
fn dump_rejects_bad_input() {
    let out = lookout()
        .args(["tsdb", "dump", "/no/such/dir"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let out = lookout()
        .args(["tsdb", "dump", "--match", "{"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

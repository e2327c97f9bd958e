//! `lookout tsdb import openmetrics` against `promtool tsdb create-blocks-from openmetrics`
//! (Prometheus 2.42) on the same input: same blocks byte for byte (apart from ULIDs), same
//! printed table, same `promtool tsdb dump`, same errors.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lookout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
}

/// Block dirs of a data dir, by min time.
fn blocks(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").is_file())
        .map(|p| {
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p.join("meta.json")).unwrap()).unwrap();
            (m["minTime"].as_i64().unwrap(), p)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// The printed table with ULIDs blanked.
fn table(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            if l.starts_with("BLOCK ULID") {
                l.to_string()
            } else {
                format!("ULID{}", l.get(26..).unwrap_or(""))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn promtool_dump(promtool: &Path, dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    let o = Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Imports `input` with both tools and compares everything.
fn compare(promtool: &Path, input: &Path, expect_blocks: usize) {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let (theirs, ours) = (tmp.path().join("promtool"), tmp.path().join("lookout"));
    let pt = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(input)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(
        pt.status.success(),
        "{}",
        String::from_utf8_lossy(&pt.stderr)
    );
    let lo = lookout()
        .args(["tsdb", "import", "openmetrics"])
        .arg(input)
        .arg(&ours)
        .output()
        .unwrap();
    assert!(
        lo.status.success(),
        "{}",
        String::from_utf8_lossy(&lo.stderr)
    );
    assert_eq!(table(&lo), table(&pt));

    let (a, b) = (blocks(&ours), blocks(&theirs));
    assert_eq!(a.len(), expect_blocks);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        for f in ["index", "chunks/000001", "tombstones"] {
            assert!(
                std::fs::read(x.join(f)).unwrap() == std::fs::read(y.join(f)).unwrap(),
                "{f} of {} differs from promtool's {}",
                x.display(),
                y.display()
            );
        }
        let ux = x.file_name().unwrap().to_str().unwrap();
        let uy = y.file_name().unwrap().to_str().unwrap();
        let mx = std::fs::read_to_string(x.join("meta.json")).unwrap();
        let my = std::fs::read_to_string(y.join("meta.json")).unwrap();
        assert_eq!(mx.replace(ux, uy), my);
    }

    let dump_theirs = promtool_dump(promtool, &theirs);
    let dump_ours = promtool_dump(promtool, &ours);
    assert!(!dump_ours.is_empty());
    assert!(dump_ours == dump_theirs, "promtool tsdb dump differs");
    // Our own reader agrees.
    let o = lookout()
        .args(["tsdb", "dump"])
        .arg(&ours)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8(o.stdout).unwrap() == dump_theirs,
        "lookout tsdb dump differs"
    );
}

#[test]
fn import_golden_input_like_promtool() {
    let Some(input) =
        lookout_testkit::shared_path("datasets/metrics/prometheus-2.42-generated/block/input.om")
    else {
        return;
    };
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    compare(&promtool, &input, 1);
}

/// Several families over 7 h (four 2 h windows), fractional-second timestamps, histogram
/// buckets with `le="1"` (kept as written by 2.42), escaped label values, NaN and ±Inf, and
/// an out-of-order and a duplicate sample inside the first batch (dropped by both).
fn generated_input() -> String {
    let mut s = String::new();
    let t0 = 1_700_001_000i64;
    s.push_str("# HELP gen_requests requests\n# TYPE gen_requests counter\n");
    s.push_str("gen_requests_total{shard=\"0\"} 1 1700001000.000\n");
    s.push_str("gen_requests_total{shard=\"0\"} 0 1700000990.5\n");
    s.push_str("gen_requests_total{shard=\"0\"} 1 1700001000\n");
    for shard in 0..6 {
        let mut v = 0u64;
        for k in 1..(7 * 240 - shard * 50) {
            v += (k * 7 + shard) as u64 % 11;
            let ms = (k * 37 + shard) % 1000;
            writeln!(
                s,
                "gen_requests_total{{shard=\"{shard}\",path=\"/a\\\"b\\\\c\\nd\"}} {v} {}.{ms:03}",
                t0 + k * 15
            )
            .unwrap();
        }
    }
    s.push_str("# TYPE gen_latency histogram\n");
    for le in ["0.1", "1", "10", "+Inf"] {
        for k in 0..(7 * 120) {
            writeln!(
                s,
                "gen_latency_bucket{{le=\"{le}\"}} {} {}",
                k * le.len() as i64,
                t0 + k * 30
            )
            .unwrap();
        }
    }
    for k in 0..(7 * 120) {
        writeln!(s, "gen_latency_count {} {}", k * 4, t0 + k * 30).unwrap();
        writeln!(s, "gen_latency_sum {}.25 {}", k * 3, t0 + k * 30).unwrap();
    }
    s.push_str("# TYPE gen_temp gauge\n");
    for k in 0..(7 * 60) {
        let v = match k % 17 {
            3 => "NaN".to_string(),
            5 => "+Inf".to_string(),
            7 => "-Inf".to_string(),
            _ => format!("{}", (k as f64) * 0.1 - 20.0),
        };
        writeln!(s, "gen_temp{{room=\"é\"}} {v} {}", t0 + k * 60).unwrap();
    }
    s.push_str("# EOF\n");
    s
}

#[test]
fn import_generated_multi_block_input_like_promtool() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let input = tmp.path().join("gen.om");
    std::fs::write(&input, generated_input()).unwrap();
    compare(&promtool, &input, 4);
}

#[test]
fn import_errors_like_promtool() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let mut ooo = String::new();
    for i in 0..5000 {
        writeln!(ooo, "m{{i=\"{}\"}} 1 {}", i % 3, 1_700_000_000 + i).unwrap();
    }
    ooo.push_str("m{i=\"0\"} 1 1700000001\n# EOF\n");
    for (name, text) in [
        ("noeof", "a 1 1700000000\n".to_string()),
        ("nots", "a 1 1700000000\na 2\n# EOF\n".to_string()),
        ("ooo_across_batches", ooo),
        ("empty", "# EOF\n".to_string()),
    ] {
        let input = tmp.path().join(format!("{name}.om"));
        std::fs::write(&input, text).unwrap();
        let pt = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(tmp.path().join(format!("{name}-promtool")))
            .output()
            .unwrap();
        let lo = lookout()
            .args(["tsdb", "import", "openmetrics"])
            .arg(&input)
            .arg(tmp.path().join(format!("{name}-lookout")))
            .output()
            .unwrap();
        assert_eq!(lo.status.success(), pt.status.success(), "{name}");
        let (le, pe) = (
            String::from_utf8_lossy(&lo.stderr),
            String::from_utf8_lossy(&pt.stderr),
        );
        // The same message up to the parser's own wording of the problem.
        let head = |s: &str| s.split(": ").take(2).collect::<Vec<_>>().join(": ");
        assert_eq!(head(&le), head(&pe), "{name}: {le} vs {pe}");
        assert_eq!(lo.stdout.is_empty(), pt.stdout.is_empty(), "{name}");
    }
}

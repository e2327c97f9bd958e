//! `lookout expo parse` end to end, on the shared datasets.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

fn lookout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
}

/// The sample lines of a text payload (not blank, not `#`), as (name+labels text, value text).
fn sample_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample line has a value");
            (series.to_string(), value.to_string())
        })
        .collect()
}

fn go_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().expect("float"),
    }
}

/// Every sample of the file comes out, in order, with the value the file gives.
fn check_dataset(rel: &str, format: &str) {
    let Some(path) = lookout_testkit::shared_path(rel) else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let out = lookout()
        .args(["expo", "parse", "--format", format])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let want = sample_lines(&text);
    let got: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), want.len(), "{rel}");
    for (g, (series, value)) in got.iter().zip(&want) {
        let name = g["name"].as_str().unwrap();
        assert!(series.starts_with(name), "{series} vs {g}");
        let v = go_value(g["value"].as_str().unwrap());
        let w = go_value(value);
        assert!(v == w || (v.is_nan() && w.is_nan()), "{series}: {v} vs {w}");
        for (k, val) in g["labels"].as_object().unwrap() {
            let needle = format!("{k}=\"{}\"", val.as_str().unwrap());
            // `le`/`quantile` values are normalised (1 → 1.0); compare the others verbatim.
            if k != "le" && k != "quantile" && !val.as_str().unwrap().contains(['\\', '"', '\n']) {
                assert!(series.contains(&needle), "{series} lacks {needle}");
            }
        }
    }
}

#[test]
fn node_exporter_payload() {
    check_dataset("datasets/metrics/node-exporter-e2e/e2e-output.txt", "prom");
}

#[test]
fn demo_scrape_payloads() {
    check_dataset(
        "datasets/metrics/prometheus-demo-scrape/alltypes.237mfs.prom.txt",
        "prom",
    );
}

#[test]
fn openmetrics_payload_with_exemplars_and_timestamps() {
    let input = "# TYPE foo counter\nfoo_total{a=\"b\"} 17.0 1520879607.789 # {id=\"x\"} 5 1520879607.5\nfoo_created{a=\"b\"} 1520430000.123\n# EOF\n";
    let mut child = lookout()
        .args(["expo", "parse", "--format", "openmetrics", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Values from Prometheus' openmetricsparse_test.go expectations for this input.
    assert_eq!(lines[0]["name"], "foo_total");
    assert_eq!(lines[0]["value"], "17");
    assert_eq!(lines[0]["timestamp"], 1520879607789i64);
    assert_eq!(lines[0]["type"], "counter");
    assert_eq!(lines[0]["exemplar"]["labels"]["id"], "x");
    assert_eq!(lines[0]["exemplar"]["timestamp"], 1520879607500i64);
    assert_eq!(lines[1]["value"], "1520430000.123");
}

#[test]
fn special_values_are_spelled_as_the_api_does() {
    let mut child = lookout()
        .args(["expo", "parse"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a NaN\nb +Inf\nc -Inf\nd 1.5e3 1000\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"name\":\"a\",\"labels\":{},\"value\":\"NaN\"}\n\
         {\"name\":\"b\",\"labels\":{},\"value\":\"+Inf\"}\n\
         {\"name\":\"c\",\"labels\":{},\"value\":\"-Inf\"}\n\
         {\"name\":\"d\",\"labels\":{},\"value\":\"1500\",\"timestamp\":1000}\n"
    );
}

#[test]
fn errors_name_source_line_and_column_and_keep_earlier_samples() {
    let dir = std::env::temp_dir().join(format!("lookout-expo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.prom");
    std::fs::write(&file, "ok 1\nbad{c=} 2\n").unwrap();
    let out = lookout()
        .args(["expo", "parse", "--format", "prom"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{}:2:7: ", file.display())),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"name\":\"ok\",\"labels\":{},\"value\":\"1\"}\n"
    );
    // OpenMetrics without `# EOF` is invalid as a whole.
    std::fs::write(&file, "a 1\n").unwrap();
    let out = lookout()
        .args(["expo", "parse", "--format", "openmetrics"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":2:1: data does not end with # EOF"));
    // A missing file.
    let out = lookout()
        .args(["expo", "parse"])
        .arg(dir.join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn protobuf_payload() {
    // A hand-assembled delimited MetricFamily: name "up", type GAUGE (1), one metric with
    // label job="x", gauge 1, timestamp 5.
    let metric: Vec<u8> = [
        &[0x0a, 0x08, 0x0a, 0x03][..],
        b"job",
        &[0x12, 0x01],
        b"x",
        &[0x12, 0x09, 0x09],
        &1.0f64.to_le_bytes(),
        &[0x30, 0x05],
    ]
    .concat();
    let mut fam = vec![0x0a, 0x02];
    fam.extend_from_slice(b"up");
    fam.extend_from_slice(&[0x18, 0x01, 0x22, metric.len() as u8]);
    fam.extend_from_slice(&metric);
    let mut payload = vec![fam.len() as u8];
    payload.extend_from_slice(&fam);
    let mut child = lookout()
        .args(["expo", "parse", "--format", "protobuf"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&payload).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"name\":\"up\",\"labels\":{\"job\":\"x\"},\"value\":\"1\",\"timestamp\":5,\"type\":\"gauge\"}\n"
    );
    // Truncated: exit 1 with a position.
    let mut child = lookout()
        .args(["expo", "parse", "--format", "protobuf"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&payload[..payload.len() - 3])
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("<stdin>:1:1: "));
}

#[test]
fn le_values_are_normalised_unless_prometheus2() {
    let input = b"# TYPE h histogram\nh_bucket{le=\"1\"} 2\n";
    let run = |extra: &[&str]| {
        let mut child = lookout()
            .args(["expo", "parse"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    // Prometheus 3 stores le="1.0" for this input (promparse_test.go expectations).
    assert!(run(&[]).contains("\"le\":\"1.0\""));
    assert!(run(&["--compat", "prometheus2"]).contains("\"le\":\"1\""));
}

//! `lookout query --data DIR` against Prometheus 2.42's `/api/v1/query_range` and
//! `/api/v1/query` on the same data: the promtool-written golden block, and a data directory
//! our database wrote and compacted.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lookout_testkit::http;

fn lookout_query(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("query")
        .arg("--data")
        .arg(dir)
        .args(args)
        .arg("--compat")
        .arg("prometheus2")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lookout query {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Prom {
    _guard: lookout_testkit::ChildGuard,
    port: u16,
}

fn start_prometheus(prom: &Path, data: &Path, cfg_dir: &Path) -> Prom {
    let cfg = cfg_dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let port = lookout_testkit::free_port();
    let child = Command::new(prom)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = lookout_testkit::ChildGuard(child);
    assert!(lookout_testkit::wait_for_port(
        port,
        Duration::from_secs(30)
    ));
    // Wait until the TSDB is loaded.
    for _ in 0..100 {
        if let Ok(r) = http::get(port, "/-/ready") {
            if r.status == 200 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Prom {
        _guard: guard,
        port,
    }
}

fn prom_data(p: &Prom, path: &str) -> serde_json::Value {
    let r = http::get(p.port, path).unwrap();
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["data"].take()
}

/// Equal JSON, except that sample values (strings) may differ in the last bits: Prometheus
/// 2.42's `rate` multiplies and divides in another order than our engine (a PromQL-engine
/// matter, not storage); returns the number of values that differed at all.
fn approx_eq(a: &serde_json::Value, b: &serde_json::Value, what: &str) -> usize {
    use serde_json::Value as V;
    match (a, b) {
        (V::String(x), V::String(y)) if x != y => {
            let (fx, fy): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!(
                (fx - fy).abs() <= 1e-12 * fx.abs().max(fy.abs()),
                "{what}: {x} vs {y}"
            );
            1
        }
        (V::Array(x), V::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{what}: {a} vs {b}");
            x.iter().zip(y).map(|(x, y)| approx_eq(x, y, what)).sum()
        }
        (V::Object(x), V::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{what}"
            );
            x.iter().map(|(k, v)| approx_eq(v, &y[k], what)).sum()
        }
        _ => {
            assert_eq!(a, b, "{what}");
            0
        }
    }
}

fn compare(p: &Prom, dir: &Path, expr: &str, start: i64, end: i64, step: i64) -> usize {
    let e = http::encode(expr);
    let theirs = prom_data(
        p,
        &format!("/api/v1/query_range?query={e}&start={start}&end={end}&step={step}"),
    );
    let ours = lookout_query(
        dir,
        &[
            expr,
            "--start",
            &start.to_string(),
            "--end",
            &end.to_string(),
            "--step",
            &step.to_string(),
        ],
    );
    let d1 = approx_eq(&ours, &theirs, &format!("query_range {expr}"));
    let t = (start + end) / 2;
    let theirs = prom_data(p, &format!("/api/v1/query?query={e}&time={t}"));
    let ours = lookout_query(dir, &[expr, "--time", &t.to_string()]);
    let d2 = approx_eq(&ours, &theirs, &format!("query {expr}"));
    if d1 + d2 > 0 {
        println!("{expr}: {} values differ in the last bits", d1 + d2);
    }
    if !expr.contains('(') {
        // Raw samples come straight from storage: exact.
        assert_eq!(d1 + d2, 0, "{expr}");
    }
    theirs["result"].as_array().map_or(0, |a| a.len())
}

const EXPRS: &[&str] = &[
    "http_requests_total",
    "rate(http_requests_total[5m])",
    "sum by (code) (increase(http_requests_total[10m]))",
    "temp",
    "max_over_time(temp[7m])",
    "avg(temp) + 1",
];

#[test]
fn query_matches_prometheus_on_golden_block() {
    let Some(prom) = lookout_testkit::oracle("prometheus") else {
        return;
    };
    let Some(block) = lookout_testkit::shared_path(
        "datasets/metrics/prometheus-2.42-generated/block/01M80EW3P5VYV0B203ZE6FRZ3F",
    ) else {
        lookout_testkit::skip("shared datasets missing");
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    for d in [&ours, &theirs] {
        lookout_testkit::copy_dir(&block, &d.join("01M80EW3P5VYV0B203ZE6FRZ3F"));
        std::fs::create_dir_all(d.join("wal")).unwrap();
    }
    let p = start_prometheus(&prom, &theirs, tmp.path());
    let mut results = 0;
    for e in EXPRS {
        results += compare(&p, &ours, e, 1_700_000_000, 1_700_006_000, 60);
    }
    assert!(results > 6, "{results}");
}

/// A data directory our `Db` wrote (head cut into blocks, compacted, plus WAL) queried by both.
#[test]
fn query_matches_prometheus_on_our_compacted_dir() {
    let Some(prom) = lookout_testkit::oracle("prometheus") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let db = lookout_tsdb::Db::open(
        &ours,
        lookout_tsdb::DbOptions::default()
            .compaction_interval(None)
            .retention(0),
    )
    .unwrap();
    let start = 1_700_000_000_000i64;
    let hour = 3_600_000;
    let mut app = db.appender();
    let series: Vec<(lookout_model::Labels, bool)> = [
        (r#"http_requests_total{job="api",code="200"}"#, true),
        (r#"http_requests_total{job="api",code="500"}"#, true),
        (r#"temp{room="a"}"#, false),
        (r#"temp{room="b"}"#, false),
    ]
    .iter()
    .map(|(s, c)| (s.parse().unwrap(), *c))
    .collect();
    let mut t = start;
    let mut i = 0i64;
    while t < start + 20 * hour {
        for (k, (l, counter)) in series.iter().enumerate() {
            let v = if *counter {
                (i * (k as i64 + 1)) as f64
            } else {
                20.0 + ((i * 7 + k as i64) % 13) as f64 / 4.0
            };
            app.append(l, t + k as i64 * 37, v).unwrap();
        }
        t += 15_000;
        i += 1;
    }
    app.commit().unwrap();
    let stats = db.compact().unwrap();
    assert!(stats.compactions > 0, "{stats:?}");
    db.close().unwrap();
    let theirs = tmp.path().join("theirs");
    lookout_testkit::copy_dir(&ours, &theirs);
    let _ = std::fs::remove_file(theirs.join("lock"));
    let p = start_prometheus(&prom, &theirs, tmp.path());
    let s = start / 1000;
    let mut results = 0;
    for e in EXPRS {
        results += compare(&p, &ours, e, s, s + 20 * 3600, 300);
    }
    assert!(results > 6, "{results}");
}

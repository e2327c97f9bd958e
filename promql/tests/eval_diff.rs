//! Differential test of the engine against Prometheus 2.42: the same generated series are
//! written as OpenMetrics, turned into blocks by `promtool tsdb create-blocks-from openmetrics`
//! and served by `prometheus`, and loaded into a `MemStorage` for our engine in Prometheus 2
//! mode. A few hundred queries run as instant queries at several times and as range queries
//! over two grids; the `data` members of the API responses must match ours (same result type,
//! same series, same timestamps, values equal within Prometheus' test tolerance).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use lookout_model::{Labels, MemStorage};
use lookout_promql::engine::{Engine, EngineOptions};
use lookout_promql::promqltest::almost_equal;
use lookout_testkit::{free_port, http, oracle, tempfile, wait_for_port, ChildGuard};

/// 2020-09-13T12:26:40Z: recent enough for any retention setting we pass.
const T0: i64 = 1_600_000_000_000;
const STEP: i64 = 15_000;
const N: i64 = 480; // 2 h

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// The generated series: labels and (ms, value) samples.
fn series() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut rng = Lcg(42);
    let mut out = Vec::new();
    for instance in 0..4 {
        for code in ["200", "500"] {
            let l = Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("code", code),
                ("instance", &instance.to_string()),
                ("job", "api"),
            ]);
            let mut v = 0.0;
            let mut pts = Vec::new();
            for i in 0..N {
                // Fractional steps: ties in topk/bottomk would make Prometheus' choice
                // depend on Go's map order.
                v += (rng.next() % 1000) as f64 / 128.0;
                if instance == 1 && i == 200 {
                    v = 3.0; // a counter reset
                }
                pts.push((T0 + i * STEP, v));
            }
            out.push((l, pts));
        }
        let l = Labels::from_pairs([
            ("__name__", "memory_bytes"),
            ("instance", &instance.to_string()),
            ("job", "api"),
        ]);
        let mut v = 5e8;
        let mut pts = Vec::new();
        for i in 0..N {
            v += (rng.next() % 2_000_000) as f64 - 1e6;
            // Instance 3 stops reporting for 20 minutes.
            if instance == 3 && (200..280).contains(&i) {
                continue;
            }
            pts.push((T0 + i * STEP, v));
        }
        out.push((l, pts));
    }
    for instance in 0..2 {
        let mut counts = [0.0; 4];
        let mut all: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 4];
        for i in 0..N {
            let mut acc = 0.0;
            for (b, c) in counts.iter_mut().enumerate() {
                acc += (rng.next() % (3 + b as u64)) as f64;
                *c += acc;
                all[b].push((T0 + i * STEP, *c));
            }
        }
        for (b, le) in ["0.1", "0.5", "1", "+Inf"].iter().enumerate() {
            let l = Labels::from_pairs([
                ("__name__", "latency_bucket"),
                ("instance", &instance.to_string()),
                ("job", "api"),
                ("le", le),
            ]);
            out.push((l, all[b].clone()));
        }
    }
    out
}

fn openmetrics(series: &[(Labels, Vec<(i64, f64)>)]) -> String {
    // OpenMetrics wants each family's samples together: order by labels (name first).
    let mut sorted: Vec<_> = series.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (l, pts) in sorted {
        // Values here need no escaping.
        let mut desc = l.metric_name().unwrap_or("").to_string();
        let pairs: Vec<String> = l
            .iter()
            .filter(|x| x.name != "__name__")
            .map(|x| format!("{}=\"{}\"", x.name, x.value))
            .collect();
        let _ = write!(desc, "{{{}}}", pairs.join(","));
        for (t, v) in pts {
            let _ = writeln!(out, "{desc} {v} {}.{:03}", t / 1000, t % 1000);
        }
    }
    out.push_str("# EOF\n");
    out
}

fn queries() -> Vec<String> {
    let mut q = Vec::new();
    for f in [
        "rate",
        "increase",
        "delta",
        "irate",
        "idelta",
        "deriv",
        "resets",
        "changes",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "last_over_time",
        "present_over_time",
    ] {
        for sel in ["http_requests_total", "memory_bytes"] {
            for r in ["1m", "5m", "17m"] {
                q.push(format!("{f}({sel}[{r}])"));
            }
        }
    }
    for a in [
        "sum", "avg", "min", "max", "count", "stddev", "stdvar", "group",
    ] {
        for g in ["", " by (instance)", " without (code)"] {
            q.push(format!("{a}{g} (rate(http_requests_total[5m]))"));
        }
    }
    q.extend(
        [
            "memory_bytes",
            "memory_bytes offset 7m",
            "memory_bytes @ 1600003600",
            "rate(http_requests_total[5m] offset 10m)",
            "quantile_over_time(0.3, memory_bytes[5m])",
            "predict_linear(memory_bytes[10m], 600)",
            "holt_winters(memory_bytes[10m], 0.3, 0.6)",
            "absent_over_time(nope[5m])",
            "absent(nope{a=\"b\"})",
            "topk(3, memory_bytes)",
            "bottomk(2, rate(http_requests_total[5m]))",
            "quantile(0.7, memory_bytes)",
            "quantile by (code) (0.25, rate(http_requests_total[1m]))",
            "count_values(\"v\", floor(memory_bytes / 1e8))",
            "rate(http_requests_total[5m]) / on (instance) group_left sum by (instance) (rate(http_requests_total[5m]))",
            "sum by (instance) (rate(http_requests_total[5m])) * on (instance) group_right memory_bytes",
            "memory_bytes > bool 5e8",
            "memory_bytes > 5e8",
            "5e8 < memory_bytes",
            "http_requests_total and on (instance) memory_bytes",
            "memory_bytes unless on (instance) http_requests_total{instance=\"2\"}",
            "memory_bytes or http_requests_total",
            "memory_bytes - memory_bytes offset 5m",
            "-memory_bytes",
            "2 ^ (memory_bytes / 1e9)",
            "memory_bytes % 7",
            "memory_bytes atan2 (memory_bytes offset 1m)",
            "http_requests_total{code=\"200\"} / ignoring (code) http_requests_total{code=\"500\"}",
            "histogram_quantile(0.9, rate(latency_bucket[5m]))",
            "histogram_quantile(0.5, sum by (le) (rate(latency_bucket[5m])))",
            "histogram_quantile(0.99, latency_bucket)",
            "max_over_time(rate(http_requests_total[1m])[10m:1m])",
            "avg_over_time(memory_bytes[10m:])",
            "sum_over_time(memory_bytes[7m:45s] offset 3m)",
            "abs(-memory_bytes)",
            "ceil(memory_bytes / 1e6)",
            "round(memory_bytes / 1e6, 5)",
            "clamp(memory_bytes, 4.9e8, 5.1e8)",
            "clamp_min(memory_bytes, 5e8)",
            "clamp_max(memory_bytes, 5e8)",
            "sqrt(memory_bytes)",
            "ln(memory_bytes)",
            "exp(memory_bytes / 1e9)",
            "sgn(delta(memory_bytes[5m]))",
            "timestamp(memory_bytes)",
            "time()",
            "vector(1)",
            "scalar(sum(memory_bytes))",
            "label_replace(memory_bytes, \"x\", \"i$1\", \"instance\", \"(.*)\")",
            "label_join(memory_bytes, \"y\", \"-\", \"job\", \"instance\")",
            "day_of_week()",
            "hour(memory_bytes / 1e3)",
            "minute()",
            "days_in_month()",
            "sort_desc(memory_bytes)",
            "count(memory_bytes) by (job)",
            "sum(memory_bytes) + 1",
            "1 + 2 * 3",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    q
}

/// A result in comparable form: type and, per series (labels as sorted JSON), its points.
type Normal = (String, BTreeMap<String, Vec<(f64, f64)>>);

fn normalize(data: &serde_json::Value) -> Result<Normal, String> {
    let ty = data["resultType"]
        .as_str()
        .ok_or("no resultType")?
        .to_string();
    let point = |p: &serde_json::Value| -> Result<(f64, f64), String> {
        let t = p[0].as_f64().ok_or("bad time")?;
        let v: f64 = match p[1].as_str().ok_or("bad value")? {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            s => s.parse().map_err(|_| format!("bad value {s}"))?,
        };
        Ok((t, v))
    };
    let mut out = BTreeMap::new();
    match ty.as_str() {
        "scalar" | "string" => {
            if ty == "scalar" {
                out.insert(String::new(), vec![point(&data["result"])?]);
            }
        }
        _ => {
            for s in data["result"].as_array().ok_or("no result")? {
                let key = serde_json::to_string(&s["metric"]).map_err(|e| e.to_string())?;
                let pts = if ty == "vector" {
                    vec![point(&s["value"])?]
                } else {
                    s["values"]
                        .as_array()
                        .ok_or("no values")?
                        .iter()
                        .map(point)
                        .collect::<Result<_, _>>()?
                };
                out.insert(key, pts);
            }
        }
    }
    Ok((ty, out))
}

fn same(a: &Normal, b: &Normal) -> bool {
    a.0 == b.0
        && a.1.len() == b.1.len()
        && a.1.iter().zip(&b.1).all(|((ka, pa), (kb, pb))| {
            ka == kb
                && pa.len() == pb.len()
                && pa
                    .iter()
                    .zip(pb)
                    .all(|(x, y)| x.0 == y.0 && almost_equal(x.1, y.1))
        })
}

fn api(port: u16, path: &str) -> Result<serde_json::Value, String> {
    let resp = http::get(port, path).map_err(|e| format!("http: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&resp.body).map_err(|e| format!("json: {e}"))?;
    if v["status"] == "success" {
        Ok(v["data"].clone())
    } else {
        Err(v["error"].as_str().unwrap_or("?").to_string())
    }
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[test]
fn engine_matches_prometheus_2_42() {
    let (Some(prom), Some(promtool)) = (oracle("prometheus"), oracle("promtool")) else {
        return;
    };
    let series = series();
    let dir = tempfile::tempdir().expect("tempdir");
    let om = dir.path().join("data.om");
    std::fs::write(&om, openmetrics(&series)).expect("write openmetrics");
    let data = dir.path().join("data");
    let status = std::process::Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&om)
        .arg(&data)
        .output()
        .expect("run promtool");
    assert!(
        status.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").expect("write config");
    let port = free_port();
    let child = std::process::Command::new(prom)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _guard = ChildGuard(child);
    assert!(
        wait_for_port(port, Duration::from_secs(30)),
        "prometheus did not start"
    );
    let probe = format!(
        "/api/v1/query?query=count(memory_bytes)&time={}",
        secs(T0 + 60_000)
    );
    let mut ready = false;
    for _ in 0..100 {
        if api(port, &probe).is_ok_and(|d| d["result"].as_array().is_some_and(|r| !r.is_empty())) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "prometheus API not ready or blocks not loaded");

    let mut db = MemStorage::new();
    for (l, pts) in &series {
        for (t, v) in pts {
            db.append(l, *t, *v);
        }
    }
    let engine = Engine::new(EngineOptions::prometheus2());
    let times = [
        T0 + 600_000,
        T0 + 3_667_000,
        T0 + N * STEP - 1_000,
        T0 + N * STEP + 180_000,
        T0 + N * STEP + 600_000,
    ];
    let grids = [
        (T0, T0 + N * STEP, 300_000),
        (T0 + 1_807_000, T0 + 3_000_000, 37_000),
    ];
    let (mut passed, mut failed) = (0, Vec::new());
    for q in queries() {
        let mut check = |path: String, ours: Result<String, String>, what: String| {
            let theirs = api(port, &path);
            let ok = match (&theirs, &ours) {
                (Ok(t), Ok(o)) => {
                    let o: serde_json::Value = serde_json::from_str(o).expect("our JSON parses");
                    match (normalize(t), normalize(&o)) {
                        (Ok(a), Ok(b)) => same(&a, &b),
                        _ => false,
                    }
                }
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if ok {
                passed += 1;
            } else {
                failed.push(format!("{what}: prometheus {theirs:?}\n    ours {ours:?}"));
            }
        };
        for t in times {
            let ours = engine
                .instant_query(&db, &q, t)
                .map(|r| r.value.to_json())
                .map_err(|e| e.to_string());
            let path = format!("/api/v1/query?query={}&time={}", http::encode(&q), secs(t));
            check(path, ours, format!("{q} @ {}", secs(t)));
        }
        for (s, e, st) in grids {
            let ours = engine
                .range_query(&db, &q, s, e, st)
                .map(|r| r.value.to_json())
                .map_err(|e| e.to_string());
            let path = format!(
                "/api/v1/query_range?query={}&start={}&end={}&step={}",
                http::encode(&q),
                secs(s),
                secs(e),
                secs(st)
            );
            check(
                path,
                ours,
                format!("{q} range {}..{} step {}", secs(s), secs(e), secs(st)),
            );
        }
    }
    // Byte-for-byte: the `data` member as Prometheus writes it (fractional timestamps too).
    for (q, t) in [
        ("memory_bytes", T0 + 600_500),
        ("scalar(sum(memory_bytes))", T0 + 601_050),
        ("label_join(vector(time()), \"a\", \"<&>\", \"b\")", T0 - 7),
        ("\"a string\\n\"", T0 + 5),
    ] {
        let path = format!("/api/v1/query?query={}&time={}", http::encode(q), secs(t));
        let body = http::get(port, &path).expect("query").text();
        let ours = engine
            .instant_query(&db, q, t)
            .expect("our query")
            .value
            .to_json();
        let want = format!("{{\"status\":\"success\",\"data\":{ours}}}");
        if body == want {
            passed += 1;
        } else {
            failed.push(format!(
                "bytes of {q} @ {t}: prometheus {body}\n    ours {want}"
            ));
        }
    }
    println!(
        "engine vs prometheus 2.42: {passed} passed, {} failed, 0 skipped",
        failed.len()
    );
    for f in failed.iter().take(20) {
        println!("FAIL {f}");
    }
    assert!(failed.is_empty(), "{} mismatches", failed.len());
}

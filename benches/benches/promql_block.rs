//! PromQL over one on-disk block, Lookout's engine against Prometheus 2.42's HTTP API (issue #8,
//! performance item 2: median latency ≤ 0.5× Prometheus', peak memory per query).
//!
//! The data: 10,000 series × 2 h at 15 s (4.8 M samples) in one block, written by
//! `promtool tsdb create-blocks-from openmetrics` from a generated OpenMetrics file —
//! `http_requests_total` (5 jobs × 10 instances × 10 paths × 5 codes = 2,500 counters) and the
//! classic histogram `http_request_duration_seconds` (500 label sets × 13 buckets + `_sum` +
//! `_count` = 7,500 series). The block is generated once into `$LOOKOUT_BENCH_DATA` (default
//! `$TMPDIR/lookout-bench-query-10k`) and reused.
//!
//! Each query runs as a range query over the 2 h (step `$STEP`, default 60 s) and as an
//! instant query at the end. Prometheus is started on that data directory (127.0.0.1, a free
//! port, no scrape jobs), warmed up, timed `$RUNS` times per query through `/api/v1/query` and
//! `/api/v1/query_range` (the clock covers the request until the last body byte: HTTP on
//! loopback, evaluation and JSON), then stopped. Only then is our engine timed on the same
//! directory in-process (`Db::open_read_only`, as `lookout query` opens it, Prometheus 2
//! semantics): parse + evaluation + encoding the API's `data` JSON, which excludes HTTP
//! transport. The two never run at the same time. Results are compared (same series, values
//! within 1e-9 relative; the check column says `exact` when every value is bit-identical) so
//! neither side can cheat. Peak memory is our heap high-water mark
//! during one run of the query above what was allocated before it (a counting global
//! allocator); for Prometheus the process' peak RSS (VmHWM, reset through
//! `/proc/PID/clear_refs` before each query) is shown for reference.
//!
//! Run through `scripts/bench-query-10k.sh`, or
//! `cargo bench -p lookout-benches --bench promql_block`. Environment: `RUNS` (default 11),
//! `STEP` (seconds, default 60), `QUERIES` (substring filter on `range EXPR` / `instant EXPR`), `LOOKOUT_BENCH_DATA`,
//! `PROMETHEUS`/`PROMTOOL` (binaries; default from `PATH`), `SKIP_PROMETHEUS=1` (ours only).
// A bench binary: failing loudly on a broken environment is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lookout_benches::CountingAlloc;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lookout_promql::engine::{Engine, EngineOptions};
use lookout_tsdb::Db;
use serde_json::Value as Json;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// 2023-11-14T22:00:00Z, a 2 h boundary: the samples make exactly one block.
const T0: i64 = 1_699_999_200;
const SCRAPE: i64 = 15;
const SAMPLES_PER_SERIES: i64 = 2 * 3600 / SCRAPE;

const JOBS: [&str; 5] = ["api", "auth", "billing", "search", "web"];
const INSTANCES: usize = 10;
const PATHS: [&str; 10] = [
    "/",
    "/api/v1/items",
    "/api/v1/orders",
    "/api/v1/users",
    "/health",
    "/login",
    "/logout",
    "/metrics",
    "/search",
    "/static",
];
const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];
const BUCKETS: [&str; 13] = [
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

const QUERIES: [&str; 8] = [
    "rate(http_requests_total[5m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
    "topk(5, rate(http_requests_total[5m]))",
    // Many ties: checks that they are settled as Prometheus settles them.
    "bottomk(5, rate(http_requests_total[5m]))",
    r#"rate(http_requests_total{code="500"}[5m]) / ignoring(code) group_left rate(http_requests_total{code="200"}[5m])"#,
    "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])",
];

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn binary(env: &str, name: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Writes the OpenMetrics input: series-major, each series' samples in time order.
fn write_openmetrics(path: &Path) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut series = 0u64;
    let inst = |j: usize, i: usize| format!("10.0.{j}.{i}:9090");
    writeln!(w, "# HELP http_requests Requests served.")?;
    writeln!(w, "# TYPE http_requests counter")?;
    for (j, job) in JOBS.iter().enumerate() {
        for i in 0..INSTANCES {
            let instance = inst(j, i);
            for path in PATHS {
                for (c, code) in CODES.iter().enumerate() {
                    series += 1;
                    // Busy series for 200, rarer errors; each series its own rate.
                    let scale = [200, 20, 10, 5, 2][c] * (1 + rng.below(4));
                    let mut v = rng.below(1000);
                    for k in 0..SAMPLES_PER_SERIES {
                        v += rng.below(scale + 1);
                        writeln!(
                            w,
                            "http_requests_total{{job=\"{job}\",instance=\"{instance}\",path=\"{path}\",code=\"{code}\"}} {v} {}",
                            T0 + k * SCRAPE
                        )?;
                    }
                }
            }
        }
    }
    writeln!(w, "# HELP http_request_duration_seconds Request latency.")?;
    writeln!(w, "# TYPE http_request_duration_seconds histogram")?;
    let bounds: Vec<f64> = BUCKETS
        .iter()
        .map(|b| b.parse::<f64>().unwrap_or(f64::INFINITY))
        .collect();
    for (j, job) in JOBS.iter().enumerate() {
        for i in 0..INSTANCES {
            let instance = inst(j, i);
            for path in PATHS {
                // Cumulative state of this label set over time, then written bucket-major.
                let mut counts = vec![0u64; BUCKETS.len()];
                let mut sum = 0f64;
                let mut total = 0u64;
                let mean = 0.01 + rng.unit() * 0.3;
                let mut rows: Vec<(Vec<u64>, f64, u64)> = Vec::new();
                for _ in 0..SAMPLES_PER_SERIES {
                    let n = rng.below(40);
                    for _ in 0..n {
                        // Exponential latency around `mean`, in whole microseconds.
                        let lat = (-(1.0 - rng.unit()).ln() * mean * 1e6).round() / 1e6;
                        sum += lat;
                        total += 1;
                        for (b, &ub) in bounds.iter().enumerate() {
                            if lat <= ub {
                                counts[b] += 1;
                            }
                        }
                    }
                    rows.push((counts.clone(), (sum * 1e6).round() / 1e6, total));
                }
                let labels = format!("job=\"{job}\",instance=\"{instance}\",path=\"{path}\"");
                for (b, le) in BUCKETS.iter().enumerate() {
                    series += 1;
                    for (k, r) in rows.iter().enumerate() {
                        writeln!(
                            w,
                            "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {} {}",
                            r.0[b],
                            T0 + k as i64 * SCRAPE
                        )?;
                    }
                }
                series += 2;
                for (k, r) in rows.iter().enumerate() {
                    writeln!(
                        w,
                        "http_request_duration_seconds_sum{{{labels}}} {} {}",
                        r.1,
                        T0 + k as i64 * SCRAPE
                    )?;
                }
                for (k, r) in rows.iter().enumerate() {
                    writeln!(
                        w,
                        "http_request_duration_seconds_count{{{labels}}} {} {}",
                        r.2,
                        T0 + k as i64 * SCRAPE
                    )?;
                }
            }
        }
    }
    writeln!(w, "# EOF")?;
    w.flush()?;
    Ok(series)
}

/// The data directory with the block, generated on first use.
fn data_dir(promtool: Option<&Path>) -> PathBuf {
    let root = std::env::var_os("LOOKOUT_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lookout-bench-query-10k"));
    let data = root.join("data");
    let done = root.join("data.done");
    if done.exists() {
        return data;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let om = root.join("input.om");
    let t = Instant::now();
    let series = write_openmetrics(&om).unwrap();
    eprintln!(
        "generated {series} series × {SAMPLES_PER_SERIES} samples in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(series, 10_000);
    let promtool = promtool.expect("promtool is needed to create the block (set PROMTOOL)");
    let t = Instant::now();
    let st = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "promtool create-blocks-from failed");
    eprintln!(
        "promtool created the block in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_file(&om).unwrap();
    std::fs::write(&done, b"").unwrap();
    data
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One GET on 127.0.0.1; returns the time until the last byte, the status and the raw body.
fn timed_get(port: u16, path: &str) -> std::io::Result<(Duration, u16, Vec<u8>)> {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::with_capacity(1 << 20);
    s.read_to_end(&mut raw)?;
    let el = t.elapsed();
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    Ok((el, status, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// A query as both sides run it.
#[derive(Clone)]
struct Case {
    expr: &'static str,
    /// `Some((start, end, step))` (seconds) for range queries; instant at `end` otherwise.
    range: Option<(i64, i64, i64)>,
    end: i64,
}

impl Case {
    fn label(&self) -> String {
        let kind = if self.range.is_some() {
            "range"
        } else {
            "instant"
        };
        format!("{kind} {}", self.expr)
    }

    fn api_path(&self) -> String {
        match self.range {
            Some((s, e, st)) => format!(
                "/api/v1/query_range?query={}&start={s}&end={e}&step={st}",
                encode(self.expr)
            ),
            None => format!(
                "/api/v1/query?query={}&time={}",
                encode(self.expr),
                self.end
            ),
        }
    }
}

#[derive(Default)]
struct Row {
    prom_ms: Option<f64>,
    prom_hwm_mib: Option<f64>,
    prom_data: Option<Json>,
    ours_ms: f64,
    ours_peak_mib: f64,
    series: usize,
    check: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn vm_hwm_kib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGTERM for a clean shutdown (the head is empty: nothing is written), then reap.
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(bin: &Path, data: &Path, work: &Path) -> Prometheus {
    let port = free_port();
    let config = work.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    let log = std::fs::File::create(work.join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let p = Prometheus { child, port };
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok((_, 200, _)) = timed_get(port, "/-/ready") {
            break;
        }
        assert!(Instant::now() < end, "prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    p
}

fn run_prometheus(bin: &Path, data: &Path, work: &Path, cases: &[Case], runs: usize) -> Vec<Row> {
    let p = start_prometheus(bin, data, work);
    let pid = p.child.id();
    let mut rows = Vec::new();
    for c in cases {
        let path = c.api_path();
        // Warm-up: page cache, Go heap, postings caches.
        for _ in 0..2 {
            timed_get(p.port, &path).unwrap();
        }
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        let mut times = Vec::with_capacity(runs);
        let mut body = Vec::new();
        for _ in 0..runs {
            let (t, status, b) = timed_get(p.port, &path).unwrap();
            assert_eq!(
                status,
                200,
                "prometheus: {}: {}",
                c.expr,
                String::from_utf8_lossy(&b)
            );
            times.push(t.as_secs_f64() * 1e3);
            body = b;
        }
        let hwm = vm_hwm_kib(pid).map(|k| k / 1024.0);
        let mut resp: Json = serde_json::from_slice(&body).unwrap();
        rows.push(Row {
            prom_ms: Some(median(times)),
            prom_hwm_mib: hwm,
            prom_data: Some(resp["data"].take()),
            ..Row::default()
        });
        eprintln!("prometheus: {} done", c.label());
    }
    rows
}

fn run_ours(data: &Path, c: &Case, runs: usize, row: &mut Row) {
    let db = Db::open_read_only(data).unwrap();
    let q = db.querier(i64::MIN, i64::MAX);
    let engine = Engine::new(EngineOptions::prometheus2());
    let run = || {
        let res = match c.range {
            Some((s, e, st)) => engine.range_query(&q, c.expr, s * 1000, e * 1000, st * 1000),
            None => engine.instant_query(&q, c.expr, c.end * 1000),
        }
        .unwrap();
        res.value.to_json()
    };
    // Warm-up (page cache) and the peak-heap run.
    let _ = run();
    let base = CountingAlloc::reset_peak();
    let json = run();
    row.ours_peak_mib = (CountingAlloc::peak() - base) as f64 / (1 << 20) as f64;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let j = std::hint::black_box(run());
        times.push(t.elapsed().as_secs_f64() * 1e3);
        drop(j);
    }
    row.ours_ms = median(times);
    let ours: Json = serde_json::from_str(&json).unwrap();
    row.series = ours["result"].as_array().map_or(0, Vec::len);
    row.check = match &row.prom_data {
        Some(theirs) => match compare(&ours, theirs) {
            // "exact": every value bit for bit; "equal": within 1e-9 relative.
            Ok(()) if series_of(&ours).ok() == series_of(theirs).ok() => "exact".into(),
            Ok(()) => "equal".into(),
            Err(e) => format!("DIFFERENT: {e}"),
        },
        None => "-".into(),
    };
}

fn parse_value(v: &Json) -> Option<f64> {
    // Rust's parser takes "NaN", "+Inf" and "-Inf" (case-insensitively).
    v.as_str()?.parse().ok()
}

type Points = Vec<(f64, f64)>;

/// Series of an API `data` object keyed by their labels.
fn series_of(data: &Json) -> Result<BTreeMap<Vec<(String, String)>, Points>, String> {
    let mut out = BTreeMap::new();
    for s in data["result"].as_array().ok_or("no result array")? {
        let metric: Vec<(String, String)> = s["metric"]
            .as_object()
            .ok_or("no metric")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let mut points = Vec::new();
        let pts: Vec<&Json> = match s.get("values") {
            Some(vs) => vs.as_array().ok_or("bad values")?.iter().collect(),
            None => vec![&s["value"]],
        };
        for p in pts {
            let t = p[0].as_f64().ok_or("bad timestamp")?;
            let v = parse_value(&p[1]).ok_or("bad value")?;
            points.push((t, v));
        }
        if out.insert(metric.clone(), points).is_some() {
            return Err(format!("duplicate series {metric:?}"));
        }
    }
    Ok(out)
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// The first time at which two results differ, with both sides' samples at it.
fn first_difference(ours: &Json, theirs: &Json) -> String {
    type AtTime = BTreeMap<u64, Vec<(String, f64)>>;
    let by_time = |d: &Json| -> AtTime {
        let mut m: AtTime = BTreeMap::new();
        for (labels, points) in series_of(d).unwrap_or_default() {
            let name = labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            for (t, v) in points {
                m.entry(t.to_bits()).or_default().push((name.clone(), v));
            }
        }
        m
    };
    let (a, b) = (by_time(ours), by_time(theirs));
    for (t, xs) in &a {
        let ys = b.get(t).cloned().unwrap_or_default();
        let same = xs.len() == ys.len()
            && xs
                .iter()
                .zip(&ys)
                .all(|(x, y)| x.0 == y.0 && close(x.1, y.1));
        if !same {
            return format!("at {}: ours {xs:?} prometheus {ys:?}", f64::from_bits(*t));
        }
    }
    String::new()
}

fn compare(ours: &Json, theirs: &Json) -> Result<(), String> {
    compare_series(ours, theirs).map_err(|e| {
        if std::env::var_os("SHOW_DIFF").is_some() {
            format!("{e}; {}", first_difference(ours, theirs))
        } else {
            e
        }
    })
}

fn compare_series(ours: &Json, theirs: &Json) -> Result<(), String> {
    if ours["resultType"] != theirs["resultType"] {
        return Err(format!(
            "result type {} vs {}",
            ours["resultType"], theirs["resultType"]
        ));
    }
    let a = series_of(ours)?;
    let b = series_of(theirs)?;
    if a.len() != b.len() {
        return Err(format!("{} series vs {}", a.len(), b.len()));
    }
    for ((la, pa), (lb, pb)) in a.iter().zip(&b) {
        if la != lb {
            return Err(format!("labels {la:?} vs {lb:?}"));
        }
        if pa.len() != pb.len() {
            return Err(format!("{la:?}: {} points vs {}", pa.len(), pb.len()));
        }
        for (x, y) in pa.iter().zip(pb) {
            if x.0 != y.0 || !close(x.1, y.1) {
                return Err(format!("{la:?}: {x:?} vs {y:?}"));
            }
        }
    }
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs benches without it: keep
    // that a no-op so test runs stay fast.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = env_or("RUNS", 11);
    let step: i64 = env_or("STEP", 60);
    let filter = std::env::var("QUERIES").unwrap_or_default();
    let promtool = binary("PROMTOOL", "promtool");
    let prometheus = if std::env::var("SKIP_PROMETHEUS").is_ok_and(|v| v == "1") {
        None
    } else {
        binary("PROMETHEUS", "prometheus")
    };
    let data = data_dir(promtool.as_deref());
    let work = data.parent().unwrap().to_path_buf();

    let end = T0 + 2 * 3600;
    let mut cases = Vec::new();
    for expr in QUERIES {
        cases.push(Case {
            expr,
            range: Some((T0, end, step)),
            end,
        });
        cases.push(Case {
            expr,
            range: None,
            end,
        });
    }
    cases.retain(|c| c.label().contains(&filter));

    let mut rows = match &prometheus {
        Some(bin) => run_prometheus(bin, &data, &work, &cases, runs),
        None => {
            eprintln!("SKIP: prometheus not run (not on PATH or SKIP_PROMETHEUS=1)");
            cases.iter().map(|_| Row::default()).collect()
        }
    };
    for (c, row) in cases.iter().zip(&mut rows) {
        run_ours(&data, c, runs, row);
        eprintln!("lookout: {} done", c.label());
    }

    println!(
        "\n10,000 series × 2 h @ 15 s, one block; range queries step {step}s ({} steps); median of {runs}",
        2 * 3600 / step + 1
    );
    println!(
        "{:<8} {:>9} {:>9} {:>6} {:>9} {:>9} {:>7}  {:<6} query",
        "kind", "prom ms", "ours ms", "ratio", "ours MiB", "prom HWM", "series", "check"
    );
    let mut worst: f64 = 0.0;
    for (c, r) in cases.iter().zip(&rows) {
        let ratio = r.prom_ms.map(|p| r.ours_ms / p);
        if let Some(x) = ratio {
            worst = worst.max(x);
        }
        let fmt = |x: Option<f64>, prec: usize| {
            x.map_or_else(|| "-".to_string(), |v| format!("{v:.prec$}"))
        };
        println!(
            "{:<8} {:>9} {:>9.1} {:>6} {:>9.1} {:>9} {:>7}  {:<6} {}",
            if c.range.is_some() {
                "range"
            } else {
                "instant"
            },
            fmt(r.prom_ms, 1),
            r.ours_ms,
            fmt(ratio, 2),
            r.ours_peak_mib,
            fmt(r.prom_hwm_mib, 0),
            r.series,
            r.check,
            c.expr
        );
    }
    if prometheus.is_some() {
        println!(
            "worst ratio {worst:.2} (target ≤ 0.50): {}",
            if worst <= 0.5 { "PASS" } else { "MISS" }
        );
    }
    if rows.iter().any(|r| r.check.starts_with("DIFFERENT")) {
        eprintln!("FAIL: results differ from Prometheus'");
        std::process::exit(1);
    }
}

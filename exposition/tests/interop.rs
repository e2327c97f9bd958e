//! Interop with the real Prometheus 2.42 and prometheus-node-exporter on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout_exposition::proto::{decode_delimited, flatten};
use lookout_exposition::remote::{
    encode_write_request, Exemplar, Label, MetricMetadata, Sample, TimeSeries, WriteRequest,
    HEADERS,
};
use lookout_exposition::{negotiate, Entry, Format, MetricType, Mode, TextEncoder, TextParser};
use lookout_model::format_api_float;
use lookout_testkit::{free_port, http, oracle, wait_for_port, ChildGuard, StaticServer};

type Series = BTreeMap<String, String>;

fn api_float(v: f64) -> String {
    let mut s = String::new();
    format_api_float(v, &mut s);
    s
}

/// Starts `prometheus` with `config` in a temp dir; returns the guard, the port and the dir.
fn start_prometheus(
    bin: &Path,
    config: &str,
    extra: &[&str],
) -> (ChildGuard, u16, lookout_testkit::tempfile::TempDir) {
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    assert!(
        wait_for_port(port, Duration::from_secs(15)),
        "prometheus did not start"
    );
    // Ready means the TSDB is open.
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        if http::get(port, "/-/ready").is_ok_and(|r| r.status == 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (guard, port, dir)
}

/// Runs an instant query and returns (labels, value) per series.
fn query(port: u16, expr: &str, time: Option<f64>) -> Vec<(Series, String)> {
    let mut path = format!("/api/v1/query?query={}", http::encode(expr));
    if let Some(t) = time {
        path.push_str(&format!("&time={t}"));
    }
    let r = http::get(port, &path).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "success", "{}", r.text());
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (labels, s["value"][1].as_str().unwrap().to_string())
        })
        .collect()
}

fn series(name: &str, labels: &[(&str, &str)], extra: &[(&str, &str)]) -> Series {
    let mut m: Series = labels
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    m.insert("__name__".into(), name.into());
    m
}

type StaticSample = (&'static str, Vec<(&'static str, &'static str)>, f64);

struct Fam {
    name: &'static str,
    mtype: MetricType,
    samples: Vec<StaticSample>,
}

fn payload_families() -> Vec<Fam> {
    vec![
        Fam {
            name: "lookout_requests",
            mtype: MetricType::Counter,
            samples: vec![
                ("lookout_requests_total", vec![("code", "200")], 1027.0),
                (
                    "lookout_requests_total",
                    vec![("code", "500"), ("path", "/a \"b\"\\c\nd")],
                    3.0,
                ),
            ],
        },
        Fam {
            name: "lookout_temperature_celsius",
            mtype: MetricType::Gauge,
            samples: vec![
                ("lookout_temperature_celsius", vec![("room", "é")], -12.5),
                ("lookout_temperature_celsius", vec![("room", "b")], 1e-5),
                ("lookout_temperature_celsius", vec![("room", "c")], 1.5e300),
                (
                    "lookout_temperature_celsius",
                    vec![("room", "d")],
                    f64::INFINITY,
                ),
            ],
        },
        Fam {
            name: "lookout_latency_seconds",
            mtype: MetricType::Histogram,
            samples: vec![
                ("lookout_latency_seconds_bucket", vec![("le", "0.5")], 3.0),
                ("lookout_latency_seconds_bucket", vec![("le", "+Inf")], 5.0),
                ("lookout_latency_seconds_count", vec![], 5.0),
                ("lookout_latency_seconds_sum", vec![], 7.25),
            ],
        },
        Fam {
            name: "lookout_rpc_seconds",
            mtype: MetricType::Summary,
            samples: vec![
                ("lookout_rpc_seconds", vec![("quantile", "0.5")], 0.25),
                ("lookout_rpc_seconds_count", vec![], 4.0),
                ("lookout_rpc_seconds_sum", vec![], 1.0),
            ],
        },
    ]
}

fn encode(fams: &[Fam], om: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = if om {
        TextEncoder::openmetrics(&mut out)
    } else {
        TextEncoder::prometheus(&mut out)
    };
    for f in fams {
        enc.family(f.name, f.mtype, Some("Help \\ text\nsecond line."), None)
            .unwrap();
        for (n, l, v) in &f.samples {
            // Counter totals carry an exemplar (written in OpenMetrics only).
            let ex_labels = [("trace_id", "abc123")];
            let ex =
                n.ends_with("_total")
                    .then_some((&ex_labels[..], 0.5, Some(1_700_000_000_123)));
            enc.sample(n, l, *v, None, ex).unwrap();
        }
    }
    enc.finish().unwrap();
    out
}

fn scrape_and_check(om: bool) {
    let Some(bin) = oracle("prometheus") else {
        return;
    };
    let fams = payload_families();
    let body = encode(&fams, om);
    let format = if om {
        Format::OpenMetricsText
    } else {
        Format::PrometheusText
    };
    let ctype = format.content_type().to_string();
    let server = StaticServer::start(move |_| (ctype.clone(), body.clone()));
    let target = format!("127.0.0.1:{}", server.port);
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: lookout\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{target}']\n"
    );
    let (_guard, port, _dir) =
        start_prometheus(&bin, &config, &["--enable-feature=exemplar-storage"]);
    let want: Vec<(Series, String)> = fams
        .iter()
        .flat_map(|f| f.samples.iter())
        .map(|(n, l, v)| {
            (
                series(n, l, &[("job", "lookout"), ("instance", &target)]),
                api_float(*v),
            )
        })
        .collect();
    let expr = "{__name__=~\"lookout_.+\"}";
    let end = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while Instant::now() < end {
        got = query(port, expr, None);
        if got.len() >= want.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Values compare as numbers: Prometheus' API switches to exponent form below 1e-6 and from
    // 1e21 on, which `format_api_float` does not do yet (reported to the model's owner).
    let num = |v: &str| -> f64 {
        match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap(),
        }
    };
    let mut got: Vec<(Series, f64)> = got.into_iter().map(|(s, v)| (s, num(&v))).collect();
    let mut want: Vec<(Series, f64)> = want.into_iter().map(|(s, v)| (s, num(&v))).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
    // The scrape itself succeeded.
    let up = query(port, "up", None);
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, "1");
    if om {
        // Prometheus read the exemplars of both counter series.
        let path = format!(
            "/api/v1/query_exemplars?query={}&start=1699999999&end=1700000001",
            http::encode("lookout_requests_total")
        );
        let r = http::get(port, &path).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let exemplars: Vec<&serde_json::Value> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["exemplars"].as_array().unwrap())
            .collect();
        assert_eq!(exemplars.len(), 2, "{}", r.text());
        for e in exemplars {
            assert_eq!(e["labels"]["trace_id"], "abc123");
            assert_eq!(e["value"], "0.5");
            assert_eq!(e["timestamp"], 1_700_000_000.123);
        }
    }
}

#[test]
fn prometheus_scrapes_our_text_output() {
    scrape_and_check(false);
}

#[test]
fn prometheus_scrapes_our_openmetrics_output() {
    scrape_and_check(true);
}

#[test]
fn prometheus_receives_our_remote_write() {
    let Some(bin) = oracle("prometheus") else {
        return;
    };
    let (_guard, port, _dir) = start_prometheus(
        &bin,
        "global:\n  scrape_interval: 1h\n",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
        ],
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let label = |n: &str, v: &str| Label {
        name: n.into(),
        value: v.into(),
    };
    let mut timeseries = Vec::new();
    for i in 0..20 {
        timeseries.push(TimeSeries {
            labels: vec![
                label("__name__", "lookout_rw_total"),
                label("job", "rw"),
                label("shard", &i.to_string()),
            ],
            samples: vec![
                Sample {
                    value: f64::from(i),
                    timestamp: now - 2000,
                },
                Sample {
                    value: f64::from(i) + 0.5,
                    timestamp: now - 1000,
                },
            ],
            exemplars: vec![Exemplar {
                labels: vec![label("trace_id", &format!("t{i}"))],
                value: 1.0,
                timestamp: now - 1000,
            }],
            histograms: vec![],
        });
    }
    let req = WriteRequest {
        timeseries,
        metadata: vec![MetricMetadata {
            r#type: MetricMetadata::type_number(MetricType::Counter),
            metric_family_name: "lookout_rw_total".into(),
            help: "Remote-written.".into(),
            unit: String::new(),
        }],
    };
    let mut body = Vec::new();
    encode_write_request(&req, &mut Vec::new(), &mut body);
    let mut headers: Vec<(&str, &str)> = HEADERS.to_vec();
    headers.push(("User-Agent", "lookout-test"));
    let r = http::post(port, "/api/v1/write", &headers, &body).unwrap();
    assert!(
        r.status == 204 || r.status == 200,
        "{} {}",
        r.status,
        r.text()
    );

    let t = (now - 1000) as f64 / 1000.0;
    let got = query(port, "lookout_rw_total", Some(t));
    assert_eq!(got.len(), 20);
    for (labels, value) in got {
        let shard: f64 = labels["shard"].parse().unwrap();
        assert_eq!(value, api_float(shard + 0.5));
        assert_eq!(labels["job"], "rw");
    }
    let older = query(
        port,
        "lookout_rw_total{shard=\"7\"}",
        Some((now - 2000) as f64 / 1000.0),
    );
    assert_eq!(older[0].1, "7");

    // Exemplars went in too.
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        http::encode("lookout_rw_total"),
        (now - 5000) as f64 / 1000.0,
        (now + 5000) as f64 / 1000.0
    );
    let r = http::get(port, &path).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let n: usize = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["exemplars"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 20, "{}", r.text());
}

fn names_of_text(body: &[u8], format: Format) -> (usize, std::collections::BTreeSet<String>) {
    let mut p = match format {
        Format::OpenMetricsText => TextParser::openmetrics(body, Mode::Lenient),
        _ => TextParser::prometheus(body),
    };
    let mut n = 0;
    let mut fams = std::collections::BTreeSet::new();
    while let Some(e) = p.next_entry().unwrap() {
        match e {
            Entry::Sample(_) => n += 1,
            Entry::Type { name, .. } => {
                fams.insert(name.into_owned());
            }
            _ => {}
        }
    }
    (n, fams)
}

#[test]
fn parses_a_live_node_exporter_scrape() {
    let Some(bin) = oracle("prometheus-node-exporter") else {
        return;
    };
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = ChildGuard(child);
    assert!(wait_for_port(port, Duration::from_secs(10)));

    // Text 0.0.4 (what a plain GET returns).
    let r = http::get(port, "/metrics").unwrap();
    assert_eq!(r.status, 200);
    let ctype = r
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap();
    let format = negotiate(&ctype, None).unwrap().format;
    assert_eq!(format, Format::PrometheusText);
    let (n_text, fams_text) = names_of_text(&r.body, format);
    let lines = r
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .count();
    assert_eq!(n_text, lines);
    assert!(fams_text.contains("node_exporter_build_info"));

    // Protobuf, as Prometheus asks for it.
    let accept = Format::Protobuf.content_type();
    let r = http::request(port, "GET", "/metrics", &[("Accept", accept)], &[]).unwrap();
    let ctype = r
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(negotiate(&ctype, None).unwrap().format, Format::Protobuf);
    let mut fams_proto = std::collections::BTreeSet::new();
    let mut n_proto = 0;
    for f in decode_delimited(&r.body) {
        let f = f.unwrap();
        flatten(&f, |_| n_proto += 1).unwrap();
        fams_proto.insert(f.name.clone());
    }
    assert_eq!(fams_proto, fams_text);
    assert!(n_proto > 100);

    // OpenMetrics, when offered.
    let r = http::request(
        port,
        "GET",
        "/metrics",
        &[("Accept", Format::OpenMetricsText.content_type())],
        &[],
    )
    .unwrap();
    let ctype = r
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap();
    let format = negotiate(&ctype, None).unwrap().format;
    let (n, _) = names_of_text(&r.body, format);
    assert!(n > 100);
}

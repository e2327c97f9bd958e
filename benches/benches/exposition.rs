//! Exposition parse and encode throughput (MB/s), and remote-write encode+compress time, side
//! by side with the peer crates `prometheus-parse` and `openmetrics-parser` (feature `peers`).
#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lookout_benches::shared_dir;
use lookout_exposition::remote::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use lookout_exposition::{Entry, MetricType, TextEncoder, TextParser};

fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    let dir = shared_dir();
    let mut out = Vec::new();
    for (name, rel) in [
        ("promtestdata", "conformance/exposition/promtestdata.txt"),
        (
            "node-exporter",
            "datasets/metrics/node-exporter-e2e/e2e-output.txt",
        ),
        (
            "demo-237mfs",
            "datasets/metrics/prometheus-demo-scrape/alltypes.237mfs.prom.txt",
        ),
    ] {
        if let Ok(b) = std::fs::read(dir.join(rel)) {
            out.push((name, b));
        }
    }
    out.push(("synthetic-many-labels", synthetic()));
    out
}

/// 4,000 series with 12 labels each, about 1.5 MB.
fn synthetic() -> Vec<u8> {
    let mut s = String::from(
        "# HELP synthetic_requests_total Requests.\n# TYPE synthetic_requests_total counter\n",
    );
    for i in 0..4000 {
        s.push_str("synthetic_requests_total{");
        for l in 0..12 {
            s.push_str(&format!(
                "label_{l}=\"value-{}-{}\",",
                i % (7 + l),
                "abcdefghij".repeat(1 + l % 3)
            ));
        }
        s.push_str(&format!("pod=\"pod-{i}\"}} {} 1700000000000\n", i * 17));
    }
    s.into_bytes()
}

/// Parses a payload and touches every label, as a scrape loop does.
fn lookout_parse(b: &[u8]) -> usize {
    let mut p = TextParser::prometheus(b);
    let mut n = 0usize;
    while let Ok(Some(e)) = p.next_entry() {
        if let Entry::Sample(s) = e {
            n += s.labels.len() + s.name.len();
            for (k, v) in s.labels {
                n += k.len() + v.len();
            }
            black_box(s.value);
        }
    }
    n
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("exposition/parse");
    for (name, data) in payloads() {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_with_input(BenchmarkId::new("lookout", name), &data, |b, d| {
            b.iter(|| lookout_parse(black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("lookout+Labels", name), &data, |b, d| {
            b.iter(|| {
                let mut p = TextParser::prometheus(black_box(d));
                let mut n = 0usize;
                while let Ok(Some(e)) = p.next_entry() {
                    if let Entry::Sample(s) = e {
                        n += s.to_labels().len();
                    }
                }
                n
            })
        });
        #[cfg(feature = "peers")]
        {
            let text = String::from_utf8_lossy(&data).into_owned();
            g.bench_with_input(BenchmarkId::new("prometheus-parse", name), &text, |b, t| {
                b.iter(|| {
                    let lines = t.lines().map(|l| Ok(l.to_owned()));
                    prometheus_parse::Scrape::parse(lines).map(|s| s.samples.len())
                })
            });
            g.bench_with_input(
                BenchmarkId::new("openmetrics-parser", name),
                &text,
                |b, t| {
                    b.iter(|| {
                        openmetrics_parser::prometheus::parse_prometheus(black_box(t))
                            .map(|e| e.families.len())
                            .unwrap_or(0)
                    })
                },
            );
        }
    }
    g.finish();
}

type Owned = (String, Vec<(String, String)>, f64, Option<i64>);

fn owned_samples(data: &[u8]) -> Vec<Owned> {
    let mut p = TextParser::prometheus(data);
    let mut out = Vec::new();
    while let Ok(Some(e)) = p.next_entry() {
        if let Entry::Sample(s) = e {
            out.push((
                s.name.to_string(),
                s.labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                s.value,
                s.timestamp,
            ));
        }
    }
    out
}

fn encode_all(samples: &[Owned], om: bool, out: &mut Vec<u8>) {
    out.clear();
    let mut enc = if om {
        TextEncoder::openmetrics(out)
    } else {
        TextEncoder::prometheus(out)
    };
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(16);
    let mut last = "";
    for (name, ls, v, t) in samples {
        if name != last {
            let _ = enc.family(name, MetricType::Untyped, Some("Help."), None);
            last = name;
        }
        labels.clear();
        labels.extend(ls.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        let _ = enc.sample(name, &labels, *v, *t, None);
    }
    let _ = enc.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("exposition/encode");
    for (name, data) in payloads() {
        let samples = owned_samples(&data);
        for om in [false, true] {
            let mut out = Vec::with_capacity(data.len() * 2);
            encode_all(&samples, om, &mut out);
            g.throughput(Throughput::Bytes(out.len() as u64));
            let id = if om { "openmetrics" } else { "text" };
            g.bench_function(BenchmarkId::new(id, name), |b| {
                b.iter(|| encode_all(black_box(&samples), om, &mut out))
            });
        }
    }
    g.finish();
}

fn remote_write(c: &mut Criterion) {
    let req = WriteRequest {
        timeseries: (0..10_000)
            .map(|i| TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "http_requests_total".into(),
                    },
                    Label {
                        name: "instance".into(),
                        value: format!("10.0.{}.{}:9100", i / 250, i % 250),
                    },
                    Label {
                        name: "job".into(),
                        value: "node".into(),
                    },
                    Label {
                        name: "path".into(),
                        value: format!("/api/v1/item/{}", i % 100),
                    },
                ],
                samples: vec![Sample {
                    value: f64::from(i),
                    timestamp: 1_700_000_000_000 + i64::from(i),
                }],
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    let mut g = c.benchmark_group("exposition/remote_write");
    let (mut scratch, mut body) = (Vec::new(), Vec::new());
    g.bench_function("encode+snappy 10k series x 1 sample", |b| {
        b.iter(|| {
            encode_write_request(black_box(&req), &mut scratch, &mut body);
            body.len()
        })
    });
    g.finish();
}

criterion_group!(benches, parse, encode, remote_write);
criterion_main!(benches);

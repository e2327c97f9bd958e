//! PromQL evaluation: the data shape and queries of Prometheus' `BenchmarkRangeQuery`
//! (promql/bench_test.go): series `a_*`, `b_*` and classic histograms `h_*` (le 0..9, +Inf)
//! sampled every 10 s with value `s + i / len(metrics)`, range queries of 1,000 steps of 10 s
//! ending at the last sample, evaluated in-process over `MemStorage` (parse included, as
//! upstream's benchmark includes it).
//!
//! Upstream loads 18,640 intervals of 1,443 series; only the last 1,100 intervals of the 1,300
//! `*_hundred` series can influence these queries (1,000 steps plus the 5 m range/lookback), so
//! we load just those: results are identical, memory is 23 MB instead of 430 MB.
#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use lookout_benches::CountingAlloc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lookout_model::{Labels, MemStorage};
use lookout_promql::engine::{Engine, EngineOptions};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const INTERVAL: i64 = 10_000;
const NUM_INTERVALS: i64 = 8640 + 10_000;
const STEPS: i64 = 1000;

/// Upstream's metric list, in upstream's order (the order fixes each series' value offset).
fn metrics() -> Vec<Labels> {
    let mut m: Vec<Vec<(String, String)>> = Vec::new();
    let name = |n: &str| ("__name__".to_string(), n.to_string());
    m.push(vec![name("a_one")]);
    m.push(vec![name("b_one")]);
    for j in 0..10 {
        m.push(vec![name("h_one"), ("le".into(), j.to_string())]);
    }
    m.push(vec![name("h_one"), ("le".into(), "+Inf".into())]);
    for (scale, count) in [("ten", 10), ("hundred", 100)] {
        for i in 0..count {
            let l = ("l".to_string(), i.to_string());
            m.push(vec![name(&format!("a_{scale}")), l.clone()]);
            m.push(vec![name(&format!("b_{scale}")), l.clone()]);
            for j in 0..10 {
                m.push(vec![
                    name(&format!("h_{scale}")),
                    l.clone(),
                    ("le".into(), j.to_string()),
                ]);
            }
            m.push(vec![
                name(&format!("h_{scale}")),
                l.clone(),
                ("le".into(), "+Inf".into()),
            ]);
        }
    }
    m.into_iter().map(Labels::from_pairs).collect()
}

fn storage() -> MemStorage {
    let metrics = metrics();
    let n = metrics.len() as f64;
    let mut db = MemStorage::new();
    for s in (NUM_INTERVALS - 1100)..NUM_INTERVALS {
        let ts = s * INTERVAL;
        for (i, m) in metrics.iter().enumerate() {
            if m.get("__name__").is_some_and(|x| x.ends_with("_hundred")) {
                db.append(m, ts, s as f64 + i as f64 / n);
            }
        }
    }
    db
}

fn bench(c: &mut Criterion) {
    let db = storage();
    let engine = Engine::new(EngineOptions::default());
    let end = NUM_INTERVALS * INTERVAL;
    let start = end - STEPS * INTERVAL;
    let mut g = c.benchmark_group("promql_range_query_1000_steps");
    g.sample_size(10);
    for q in [
        "a_hundred",
        "sum(a_hundred)",
        "rate(a_hundred[1m])",
        "a_hundred - b_hundred",
        "sum by (l)(h_hundred)",
        "histogram_quantile(0.9, rate(h_hundred[5m]))",
    ] {
        // Peak heap above what the store already holds, for one run of the query.
        let base = CountingAlloc::reset_peak();
        let r = engine.range_query(&db, q, start, end, INTERVAL);
        let peak = CountingAlloc::peak() - base;
        drop(r);
        println!(
            "peak heap of {q}: {:.1} MiB",
            peak as f64 / (1 << 20) as f64
        );
        g.bench_function(q, |b| {
            b.iter(|| {
                let r = engine
                    .range_query(&db, black_box(q), start, end, INTERVAL)
                    .expect("query");
                black_box(r)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

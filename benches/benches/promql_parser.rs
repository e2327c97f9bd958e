//! PromQL parsing: Prometheus' `BenchmarkParser` expressions, a typical dashboard query, and
//! throughput over every `eval` query of the upstream test scripts, side by side with the
//! `promql-parser` crate (with `--features peers`).
#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lookout_promql::{parse_with, ParseOptions, Parser};

/// The expressions of Prometheus 2.42's `BenchmarkParser` (promql/parser/parse_test.go), in
/// its order: the valid cases, then the ones that must fail (`should_fail`), so that the numbers
/// line up with `go test -bench BenchmarkParser` expression by expression.
const UPSTREAM_BENCH: &[&str] = &[
    "a",
    "metric",
    "1",
    "1 >= bool 1",
    "1 + 2/(3*1)",
    "foo or bar",
    "foo and bar unless baz or qux",
    "bar + on(foo) bla / on(baz, buz) group_right(test) blub",
    "foo / ignoring(test,blub) group_left(blub) bar",
    "foo - ignoring(test,blub) group_right(bar,foo) bar",
    r#"foo{a="b", foo!="bar", test=~"test", bar!~"baz"}"#,
    r#"min_over_time(rate(foo{bar="baz"}[2s])[5m:])[4m:3s]"#,
    "sum without(and, by, avg, count, alert, annotations)(some_metric) [30m:10s]",
    // should_fail
    "(",
    "}",
    "1 or 1",
    "1 or on(bar) foo",
    "foo unless on(bar) group_left(baz) bar",
    "test[5d] OFFSET 10s [10m:5s]",
];

const DASHBOARD: &str = r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))"#;

fn upstream_queries() -> Vec<String> {
    let mut out = Vec::new();
    for rel in [
        "conformance/promql/upstream",
        "conformance/promql/upstream-v2.42.0",
    ] {
        let dir = lookout_benches::shared_dir().join(rel);
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            for line in text.lines() {
                let line = line.trim();
                let mut words = line.split_whitespace();
                if !words.next().is_some_and(|w| w.starts_with("eval")) {
                    continue;
                }
                let skip = match words.next() {
                    Some("instant") if line.contains(" at ") => 3,
                    Some("instant") => 1,
                    Some("range") => 7,
                    _ => continue,
                };
                let mut rest = line;
                for _ in 0..=skip {
                    rest = rest.trim_start();
                    let w = rest.split_whitespace().next().unwrap_or("");
                    rest = &rest[w.len()..];
                }
                out.push(rest.trim().to_string());
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let opts = ParseOptions::all();
    let mut g = c.benchmark_group("promql_parser/upstream_bench");
    for q in UPSTREAM_BENCH {
        g.bench_function(*q, |b| b.iter(|| parse_with(black_box(q), &opts).is_ok()));
    }
    g.finish();

    let mut g = c.benchmark_group("promql_parser/dashboard");
    g.bench_function("lookout", |b| {
        b.iter(|| parse_with(black_box(DASHBOARD), &opts).is_ok())
    });
    // A reusable parser compiles the regex matcher once.
    let mut parser = Parser::new(opts);
    g.bench_function("lookout_reused_parser", |b| {
        b.iter(|| parser.parse(black_box(DASHBOARD)).is_ok())
    });
    #[cfg(feature = "peers")]
    g.bench_function("promql-parser", |b| {
        b.iter(|| promql_parser::parser::parse(black_box(DASHBOARD)).is_ok())
    });
    g.finish();

    let all = upstream_queries();
    // Compare on the queries both parsers accept, so neither side is timed on error paths.
    #[cfg(feature = "peers")]
    let all: Vec<String> = all
        .into_iter()
        .filter(|q| promql_parser::parser::parse(q).is_ok())
        .collect();
    let all: Vec<String> = all
        .into_iter()
        .filter(|q| parse_with(q, &opts).is_ok())
        .collect();
    let bytes: usize = all.iter().map(String::len).sum();
    let mut g = c.benchmark_group("promql_parser/upstream_scripts");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(format!("lookout/{}q", all.len()), |b| {
        b.iter(|| all.iter().filter(|q| parse_with(q, &opts).is_ok()).count())
    });
    let mut parser = Parser::new(opts);
    g.bench_function(format!("lookout_reused_parser/{}q", all.len()), |b| {
        b.iter(|| all.iter().filter(|q| parser.parse(q).is_ok()).count())
    });
    #[cfg(feature = "peers")]
    g.bench_function(format!("promql-parser/{}q", all.len()), |b| {
        b.iter(|| {
            all.iter()
                .filter(|q| promql_parser::parser::parse(q).is_ok())
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

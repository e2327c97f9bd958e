//! Matcher throughput over every label value of `20kseries.json` (issue: foundation).
#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.
//!
//! Matchers are built from values that occur in the data: a literal, a prefix (`abc.*`), an
//! alternation of literals, and a general regex. Throughput is reported in matches per second
//! (one `matches` call per label value).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lookout_model::{MatchType, Matcher};

fn bench(c: &mut Criterion) {
    let Some(series) = lookout_benches::load_20k_series() else {
        eprintln!(
            "skipping matcher benchmark: ../shared/datasets/metrics/20kseries.json not found"
        );
        return;
    };
    let values: Vec<&str> = series
        .iter()
        .flat_map(|ls| ls.iter().map(|(_, v)| v.as_str()))
        .collect();
    // Pick the values the matchers are built from deterministically.
    let pick = |i: usize| values[(i * 7919) % values.len()];
    let alternation: Vec<&str> = (0..5).map(|i| pick(i + 1)).collect();
    let literal = pick(0).to_string();
    let prefix = format!("{}.*", &pick(10)[..pick(10).len().min(3)]);
    let first = pick(20).chars().next().unwrap_or('a');
    let general = format!("{first}[a-m]+.*q[a-z]*");
    let cases = [
        ("literal", MatchType::Equal, literal.clone()),
        ("literal_regex", MatchType::Regex, literal),
        ("prefix", MatchType::Regex, prefix),
        ("alternation", MatchType::Regex, alternation.join("|")),
        ("regex", MatchType::Regex, general),
    ];
    let mut g = c.benchmark_group("matcher_20kseries");
    g.throughput(Throughput::Elements(values.len() as u64));
    for (name, kind, pattern) in cases {
        let Ok(m) = Matcher::new(kind, "l", &pattern) else {
            eprintln!("skipping {name}: pattern {pattern:?} does not compile");
            continue;
        };
        let hits = values.iter().filter(|v| m.matches(v)).count();
        eprintln!(
            "{name}: {pattern:?} matches {hits} of {} values",
            values.len()
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0usize;
                for v in &values {
                    n += usize::from(m.matches(black_box(v)));
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

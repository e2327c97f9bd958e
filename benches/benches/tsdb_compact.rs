//! lookout-tsdb compaction (issue 6): Prometheus' `BenchmarkCompaction` shape — 4 blocks ×
//! 10,000 series with 10 labels each, one sample per ms of random floats, compacted into one
//! block through the leveled compactor's merge (`compact::write_from_blocks`).
#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.
//!
//! - `compact/normal_4x10k_1001`: ranges `[0,1000] [2000,3000] [4000,5000] [6000,7000]`
//!   (chunks copied as they are).
//! - `compact/vertical_4x10k_1001`: ranges `[0,1000] [600,1600] [1200,2200] [1800,2800]`, 40 %
//!   overlap (every series decoded, merged and re-encoded).
//!
//! Anchor: Prometheus 2.42 compacts 13.7 M samples/s in this shape; target ≥ 2×. The run also
//! prints samples/s of one timed compaction and the peak heap during it (counting allocator)
//! and the process' peak RSS (`VmHWM`).

use lookout_benches::CountingAlloc;
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lookout_model::Labels;
use lookout_tsdb::block_writer::BlockWriter;
use lookout_tsdb::compact::write_from_blocks;
use lookout_tsdb::meta::Compaction;
use lookout_tsdb::Block;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const SERIES: usize = 10_000;
const LABELS: usize = 10;

fn series_labels() -> Vec<Labels> {
    let mut v: Vec<Labels> = (0..SERIES)
        .map(|i| {
            let text: Vec<String> = (0..LABELS)
                .map(|j| format!("labelName{j}=\"labelValue{i}\""))
                .collect();
            format!("{{{}}}", text.join(","))
                .parse()
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

/// Writes one block with every series sampled each ms over `[mint, maxt]`, random values.
fn make_block(dir: &Path, labels: &[Labels], mint: i64, maxt: i64, seed: &mut u64) -> Block {
    let Ok(mut w) = BlockWriter::create(dir, mint, maxt + 1) else {
        panic!("create block")
    };
    for l in labels {
        let samples = (mint..=maxt).map(|t| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (t, (*seed >> 11) as f64 / (1u64 << 53) as f64)
        });
        if w.add_series_samples(l, samples).is_err() {
            panic!("add series");
        }
    }
    let Ok(meta) = w.finish(Compaction::default()) else {
        panic!("finish")
    };
    let Ok(b) = Block::open(&dir.join(&meta.ulid)) else {
        panic!("open")
    };
    b
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn compact_once(out: &Path, blocks: &[&Block], mint: i64, maxt: i64) -> u64 {
    let Ok(Some(meta)) = write_from_blocks(out, blocks, mint, maxt, Compaction::default()) else {
        panic!("compaction failed")
    };
    let _ = std::fs::remove_dir_all(out.join(&meta.ulid));
    meta.stats.num_samples
}

fn bench(c: &mut Criterion) {
    let labels = series_labels();
    let cases: [(&str, [(i64, i64); 4]); 2] = [
        (
            "normal_4x10k_1001",
            [(0, 1000), (2000, 3000), (4000, 5000), (6000, 7000)],
        ),
        (
            "vertical_4x10k_1001",
            [(0, 1000), (600, 1600), (1200, 2200), (1800, 2800)],
        ),
    ];
    let mut g = c.benchmark_group("compact");
    g.sample_size(10);
    for (name, ranges) in cases {
        let Ok(tmp) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let blocks: Vec<Block> = ranges
            .iter()
            .map(|&(a, b)| make_block(tmp.path(), &labels, a, b, &mut seed))
            .collect();
        let refs: Vec<&Block> = blocks.iter().collect();
        let mint = ranges[0].0;
        let maxt = ranges.iter().map(|r| r.1).max().unwrap_or(0) + 1;
        let input: u64 = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
        let out = tmp.path().join("out");
        let _ = std::fs::create_dir_all(&out);
        // One timed run outside criterion: samples/s and peak heap.
        let base = CountingAlloc::reset_peak();
        let t0 = Instant::now();
        let written = compact_once(&out, &refs, mint, maxt);
        let secs = t0.elapsed().as_secs_f64();
        let peak = CountingAlloc::peak().saturating_sub(base);
        println!(
            "compact/{name}: {input} input samples ({written} written) in {:.1} ms = {:.1} M samples/s \
             (anchor Prometheus 2.42: 13.7 M/s); peak heap during compaction {:.1} MiB; VmHWM {} MiB",
            secs * 1e3,
            input as f64 / secs / 1e6,
            peak as f64 / (1 << 20) as f64,
            vm_hwm_kib() / 1024
        );
        g.throughput(Throughput::Elements(input));
        g.bench_function(name, |b| {
            b.iter(|| compact_once(&out, &refs, mint, maxt));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

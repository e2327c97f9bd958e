//! lookout-tsdb: XOR chunk encode/decode, head ingestion with the WAL on, WAL replay, head memory
//! per series and bytes per sample (issue 5).
#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.
//!
//! Shapes:
//! - `xor/prometheus_shape`: Prometheus 2.42's `BenchmarkXORAppender`/`BenchmarkXORIterator`
//!   data (tsdb/chunkenc/chunk_test.go): from t = 1234123324, v = 1243535.123, t += 1000 ms and
//!   v += 100 per sample; the iterator decodes one chunk of the first 250 such samples over and
//!   over, the appender appends the first 251 to a new chunk over and over. Here 400 copies of
//!   each.
//! - `xor/decode/*` reads through `XorIterator::next`/`at` (what Go's benchmark does);
//!   `xor/decode_batch/*` decodes whole chunks into a reused `Vec` (`decode_xor_into`).
//! - `xor/real_selfscrape`: the counters and gauges Prometheus 2.42 scraped from itself
//!   (`prometheus-2.42-generated/selfscrape-data`), 120-sample chunks.
//! - `xor/alp_*`: the high-entropy float datasets (ALP row groups) at 15 s spacing, 120 per chunk.
//! - `head/ingest_20k`: the label sets of `20kseries.json` (10,000 series), one commit per shard
//!   of 1,000 series per scrape, WAL on (default fsync policy), appends by series reference after
//!   the first scrape as `promtool tsdb bench write` does. `promtool` opens its TSDB with a zero
//!   `tsdb.Options`, so its WAL is uncompressed; `scrape_10k_series_wal` is that configuration,
//!   `scrape_10k_series_wal_snappy` the server default (snappy records).
//!
//! - `block/select_1000x2h`: a block of 1,000 series × 2 h of 15 s samples (480 each, written by
//!   the block writer), every series selected through `Querier::select` on the memory-mapped
//!   block and every sample decoded (target ≥ 200 M samples/s): random-increment counters in
//!   `block/select_1000x2h`, a typical mix in `block/select_1000x2h_mixed`;
//!   `block/select_10pct` selects 100 series by a regex matcher. These read samples in batches
//!   (`SampleIterator::next_batch`); `block/select_1000x2h_next` reads the first block one
//!   sample at a time through `next`/`at` for comparison. `block/select_2blocks_merged(_next)`
//!   reads it with the next 2 h block through a `MergeQuerier` (each series a chain of two).
//!
//! - `wal/load_wal/*`: WAL replay on the three exemplar-free shapes of Prometheus 2.42's
//!   `BenchmarkLoadWAL`, the same records (see `write_load_wal`), for a side-by-side ratio.
//!
//! Outside criterion the run prints the full `promtool tsdb bench write` workload
//! (10,000 series × 3,000 scrapes) in samples/s, WAL replay samples/s, head heap bytes per series
//! (counting allocator) and bytes per sample, unless a filter is given that names neither
//! `head/full_workload` nor `wal/replay` (`-- head/full_workload` runs only that part).

use lookout_benches::CountingAlloc;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lookout_model::{Labels, Querier, SampleIterator, SelectHints, ValueKind};
use lookout_tsdb::{Head, HeadOptions, SeriesRef, WalOptions, XorChunk, XorIterator};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

type Series = Vec<(i64, f64)>;

/// `chunks` copies of a chunk of the first `per_chunk` samples of Go's benchmark data.
fn prometheus_shape(chunks: usize, per_chunk: usize) -> Vec<Series> {
    let (mut t, mut v) = (1_234_123_324i64, 1_243_535.123f64);
    let one: Series = (0..per_chunk)
        .map(|_| {
            t += 1000;
            v += 100.0;
            (t, v)
        })
        .collect();
    vec![one; chunks]
}

fn selfscrape_series() -> Option<Vec<Series>> {
    let src = lookout_benches::shared_dir()
        .join("datasets/metrics/prometheus-2.42-generated/selfscrape-data/wal");
    if !src.is_dir() {
        return None;
    }
    let tmp = tempfile::tempdir().ok()?;
    std::fs::create_dir_all(tmp.path().join("wal")).ok()?;
    for e in std::fs::read_dir(&src).ok()? {
        let e = e.ok()?;
        std::fs::copy(e.path(), tmp.path().join("wal").join(e.file_name())).ok()?;
    }
    let (head, _) = Head::open(tmp.path(), HeadOptions::default()).ok()?;
    let all = lookout_model::Matcher::new(lookout_model::MatchType::Regex, "", ".*").ok()?;
    let set = head
        .select(i64::MIN, i64::MAX, &[all], &SelectHints::default())
        .ok()?;
    let mut out = Vec::new();
    for s in set {
        let s = s.ok()?;
        let mut it = s.iter();
        let mut v = Vec::new();
        while it.next() == ValueKind::Float {
            v.push((it.at().t, it.at().v));
        }
        for c in v.chunks(120) {
            out.push(c.to_vec());
        }
    }
    Some(out)
}

fn alp_series(name: &str) -> Option<Vec<Series>> {
    let b = std::fs::read(
        lookout_benches::shared_dir()
            .join("datasets/metrics/alp-float-samples")
            .join(name),
    )
    .ok()?;
    let vals: Vec<(i64, f64)> = b
        .chunks_exact(8)
        .enumerate()
        .map(|(i, c)| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            (1_700_000_000_000 + i as i64 * 15_000, f64::from_le_bytes(a))
        })
        .collect();
    Some(vals.chunks(120).map(<[_]>::to_vec).collect())
}

fn encode_all(series: &[Series]) -> Vec<Vec<u8>> {
    series
        .iter()
        .map(|s| {
            let mut c = XorChunk::new();
            for &(t, v) in s {
                c.append(t, v).expect("fits");
            }
            c.into_bytes()
        })
        .collect()
}

fn bench_xor(c: &mut Criterion) {
    // (name, series to encode, series to decode)
    let mut sets: Vec<(String, Vec<Series>, Vec<Series>)> = vec![(
        "prometheus_shape".into(),
        prometheus_shape(400, 251),
        prometheus_shape(400, 250),
    )];
    match selfscrape_series() {
        Some(s) => sets.push(("real_selfscrape".into(), s.clone(), s)),
        None => eprintln!("skipping real_selfscrape: shared data not found"),
    }
    for name in [
        "city_temperature_f_tw.bin",
        "bitcoin_transactions_f_tw.bin",
        "food_prices_tw.bin",
        "gov26_tw.bin",
        "nyc29_tw.bin",
    ] {
        if let Some(s) = alp_series(name) {
            sets.push((
                format!("alp_{}", name.trim_end_matches(".bin")),
                s.clone(),
                s,
            ));
        }
    }
    let mut g = c.benchmark_group("xor");
    for (name, enc_series, series) in &sets {
        let n: usize = series.iter().map(Vec::len).sum();
        let chunks = encode_all(series);
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        eprintln!(
            "xor/{name}: {n} samples, {:.3} bytes/sample ({:.2} bits)",
            bytes as f64 / n as f64,
            bytes as f64 * 8.0 / n as f64
        );
        let n_enc: usize = enc_series.iter().map(Vec::len).sum();
        g.throughput(Throughput::Elements(n_enc as u64));
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                for s in enc_series {
                    let mut c = XorChunk::new();
                    for &(t, v) in s {
                        c.append(t, v).expect("fits");
                    }
                    black_box(c.bytes());
                }
            })
        });
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                let mut acc = 0i64;
                for ch in &chunks {
                    let mut it = XorIterator::new(ch);
                    while it.next() == ValueKind::Float {
                        acc = acc.wrapping_add(it.at_t());
                        black_box(it.at().v);
                    }
                }
                black_box(acc)
            })
        });
        let mut buf = Vec::new();
        g.bench_function(format!("decode_batch/{name}"), |b| {
            b.iter(|| {
                let mut acc = 0i64;
                for ch in &chunks {
                    let err = lookout_tsdb::decode_xor_into(ch, &mut buf);
                    assert!(err.is_none(), "corrupt chunk");
                    for s in &buf {
                        acc = acc.wrapping_add(s.t);
                    }
                    black_box(buf.last().map(|s| s.v));
                }
                black_box(acc)
            })
        });
    }
    g.finish();
}

fn label_sets(n: usize) -> Option<Vec<Labels>> {
    let sets = lookout_benches::load_20k_series()?;
    Some(
        sets.into_iter()
            .take(n)
            .map(Labels::from_pairs)
            .collect::<Vec<_>>(),
    )
}

/// Creates every series with its first sample (one commit), returning the references.
fn first_scrape(head: &Head, labels: &[Labels], values: &mut [f64]) -> Vec<SeriesRef> {
    let mut app = head.appender();
    let refs = labels
        .iter()
        .zip(values.iter())
        .map(|(l, v)| app.append(l, 0, *v).expect("append"))
        .collect();
    app.commit().expect("commit");
    refs
}

/// One scrape: every series gets `ts`, value += 1000 (promtool's `bench write` data), one
/// commit per shard of 1,000 series as promtool's workers do.
fn scrape(head: &Head, refs: &[SeriesRef], values: &mut [f64], ts: i64) {
    for (refs, values) in refs.chunks(1000).zip(values.chunks_mut(1000)) {
        let mut app = head.appender();
        for (r, v) in refs.iter().zip(values.iter_mut()) {
            *v += 1000.0;
            app.append_ref(*r, ts, *v).expect("append");
        }
        app.commit().expect("commit");
    }
}

fn bench_head(c: &mut Criterion) {
    let Some(labels) = label_sets(10_000) else {
        eprintln!("skipping head benchmarks: 20kseries.json not found");
        return;
    };
    let mut g = c.benchmark_group("head");
    g.sample_size(10);
    g.throughput(Throughput::Elements(labels.len() as u64));
    for (name, compress) in [
        ("ingest_20k/scrape_10k_series_wal", false),
        ("ingest_20k/scrape_10k_series_wal_snappy", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let tmp = tempfile::tempdir().expect("tempdir");
                let (head, _) = Head::open(tmp.path(), head_opts(compress)).expect("open");
                let mut values: Vec<f64> = (0..labels.len()).map(|i| (i % 1000) as f64).collect();
                let refs = first_scrape(&head, &labels, &mut values);
                let start = Instant::now();
                for i in 0..iters {
                    scrape(&head, &refs, &mut values, (i as i64 + 1) * 30_000);
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

/// CPU time of the whole process (user and system), in seconds: on a shared machine the
/// ingestion rate per CPU-second is what compares with `promtool tsdb bench write`'s
/// `user + sys` time.
fn process_cpu_s() -> f64 {
    lookout_benches::cpu_time_ns(false).map_or(0.0, |ns| ns as f64 / 1e9)
}

/// Head options with the WAL snappy-compressed or not. `promtool tsdb bench write` opens its
/// TSDB with a zero `tsdb.Options`, so its WAL is not compressed: the side-by-side runs use
/// `false`; `true` is the Prometheus server's default.
fn head_opts(compress: bool) -> HeadOptions {
    let mut opts = HeadOptions::default();
    opts.wal = WalOptions::default().compress(compress);
    opts
}

/// The full `promtool tsdb bench write` workload, once: ingestion, memory, bytes per sample,
/// replay.
fn full_workload(dir: &Path, labels: &[Labels], scrapes: i64, compress: bool) {
    let before = CountingAlloc::current();
    let (head, _) = Head::open(dir, head_opts(compress)).expect("open");
    let mut values: Vec<f64> = (0..labels.len()).map(|i| (i % 1000) as f64).collect();
    let refs = first_scrape(&head, labels, &mut values);
    let after_create = CountingAlloc::current();
    let open_at_create = head.open_chunk_heap_bytes() as usize;
    // As `promtool tsdb bench write`: shards of 1,000 series ingested in parallel, in rounds
    // of 100 scrapes; here one thread per core, each owning every n-th shard.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let barrier = std::sync::Barrier::new(threads);
    let cpu0 = process_cpu_s();
    let start = Instant::now();
    let shards: Vec<(&[SeriesRef], &mut [f64])> =
        refs.chunks(1000).zip(values.chunks_mut(1000)).collect();
    let mut per_thread: Vec<Vec<(&[SeriesRef], &mut [f64])>> =
        (0..threads).map(|_| Vec::new()).collect();
    for (i, sh) in shards.into_iter().enumerate() {
        per_thread[i % threads].push(sh);
    }
    std::thread::scope(|sc| {
        for mine in per_thread {
            let (head, barrier) = (&head, &barrier);
            sc.spawn(move || {
                let mut mine = mine;
                for s in 1..scrapes {
                    if s % 100 == 0 {
                        barrier.wait();
                    }
                    for (refs, values) in mine.iter_mut() {
                        scrape(head, refs, values, s * 30_000);
                    }
                }
            });
        }
    });
    let el = start.elapsed();
    let cpu = process_cpu_s() - cpu0;
    let n = labels.len() as f64 * (scrapes - 1) as f64;
    let after = CountingAlloc::current();
    let open_heap = head.open_chunk_heap_bytes() as usize;
    let (mut chunk_bytes, mut samples) = (0usize, 0usize);
    for r in &refs {
        for ch in head.chunks(*r).expect("series") {
            chunk_bytes += ch.data.len();
            samples += lookout_tsdb::xor_num_samples(&ch.data).unwrap_or(0);
        }
    }
    let per_series = (after_create - before) as f64 / labels.len() as f64;
    let per_series_bare =
        (after_create - before).saturating_sub(open_at_create) as f64 / labels.len() as f64;
    let per_series_after =
        (after.saturating_sub(before).saturating_sub(open_heap)) as f64 / labels.len() as f64;
    eprintln!(
        "head/full_workload: {} series x {scrapes} scrapes, {threads} threads: {:.2} M samples/s ({:.2} s), WAL on{}",
        labels.len(),
        n / el.as_secs_f64() / 1e6,
        el.as_secs_f64(),
        if compress { ", snappy" } else { ", uncompressed as promtool's" }
    );
    eprintln!(
        "head/full_workload: {:.2} CPU-s: {:.2} M samples per CPU-second",
        cpu,
        n / cpu / 1e6
    );
    eprintln!(
        "head/memory: {per_series:.0} B/series after creation ({per_series_bare:.0} B without \
         the open chunk's buffer); {per_series_after:.0} B/series heap after {scrapes} scrapes \
         ({:.1} h) without chunk bytes (completed chunks m-mapped, open chunks' {:.0} B/series \
         of buffers not counted)",
        (scrapes - 1) as f64 * 30.0 / 3600.0,
        open_heap as f64 / labels.len() as f64
    );
    eprintln!(
        "head/bytes_per_sample: {:.3} ({} chunk bytes / {} samples)",
        chunk_bytes as f64 / samples as f64,
        chunk_bytes,
        samples
    );
    head.close().expect("close");
    // Replay reads on one thread and applies on up to two: on a shared machine the CPU time
    // is the steadier figure.
    let cpu0 = process_cpu_s();
    let start = Instant::now();
    let (head, st) = Head::open(dir, head_opts(compress)).expect("reopen");
    let el = start.elapsed();
    let cpu = process_cpu_s() - cpu0;
    eprintln!(
        "wal/replay{}: {} samples in {:.2} s: {:.2} M samples/s ({:.2} CPU-s)",
        if compress { " (snappy)" } else { "" },
        st.samples,
        el.as_secs_f64(),
        st.samples as f64 / el.as_secs_f64() / 1e6,
        cpu
    );
    drop(head);
}

/// Writes the WAL of Prometheus 2.42's `BenchmarkLoadWAL` (tsdb/head_test.go) into `dir/wal`:
/// `batches` series records of `per_batch` series (references `k * 101`, five labels
/// `labelName=k`, `labelName1..4=labelValue1..4`), then for each sample index `i` one samples
/// record per batch (t = 10·i ms, v = 100·i), uncompressed as Go's `wlog.New(.., false)`.
fn write_load_wal(dir: &Path, batches: u64, per_batch: u64, samples: i64) {
    use lookout_tsdb::record::{encode_samples, encode_series, RefSample};
    let mut w =
        lookout_tsdb::wal::Wal::open(&dir.join("wal"), WalOptions::default().compress(false))
            .expect("wal");
    let mut rec = Vec::new();
    for b in 0..batches {
        let labels: Vec<(u64, Labels)> = (b * per_batch..(b + 1) * per_batch)
            .map(|k| {
                let mut l = vec![("labelName".to_string(), k.to_string())];
                for j in 1..5 {
                    l.push((format!("labelName{j}"), format!("labelValue{j}")));
                }
                (k * 101, Labels::from_pairs(l))
            })
            .collect();
        rec.clear();
        encode_series(labels.iter().map(|(r, l)| (*r, l)), &mut rec);
        w.log(&[&rec]).expect("log");
    }
    for i in 0..samples {
        for b in 0..batches {
            rec.clear();
            encode_samples(
                (b * per_batch..(b + 1) * per_batch).map(|k| RefSample {
                    series_ref: k * 101,
                    t: i * 10,
                    v: i as f64 * 100.0,
                }),
                &mut rec,
            );
            w.log(&[&rec]).expect("log");
        }
    }
    w.close().expect("close");
}

/// WAL replay on the shapes of Prometheus 2.42's `BenchmarkLoadWAL` (no exemplars, no
/// m-mapped chunks; chunk range 1000 ms as there), for a side-by-side ratio with
/// `go-anchors.sh` (group `tsdb`). Each iteration opens a fresh copy of the WAL.
fn bench_load_wal(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal/load_wal");
    g.sample_size(10);
    for (batches, per_batch, samples) in
        [(10u64, 100u64, 7200i64), (10, 10_000, 50), (10, 1000, 480)]
    {
        let src = tempfile::tempdir().expect("tempdir");
        write_load_wal(src.path(), batches, per_batch, samples);
        let n = batches * per_batch * samples as u64;
        g.throughput(Throughput::Elements(n));
        let name =
            format!("batches={batches},seriesPerBatch={per_batch},samplesPerSeries={samples}");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let tmp = tempfile::tempdir().expect("tempdir");
                    let wal = tmp.path().join("wal");
                    std::fs::create_dir_all(&wal).expect("mkdir");
                    for e in std::fs::read_dir(src.path().join("wal")).expect("read_dir") {
                        let e = e.expect("entry");
                        std::fs::copy(e.path(), wal.join(e.file_name())).expect("copy");
                    }
                    let opts = head_opts(false).chunk_range(1000);
                    let start = Instant::now();
                    let (head, st) = Head::open(tmp.path(), opts).expect("open");
                    total += start.elapsed();
                    assert_eq!(st.samples, n);
                    drop(head);
                }
                total
            })
        });
    }
    g.finish();
}

fn bench_full(_c: &mut Criterion) {
    // Takes a minute: runs only when no filter is given or a filter names it.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .collect();
    if !filters.is_empty()
        && !filters.iter().any(|f| {
            ["head/full_workload", "wal/replay"]
                .iter()
                .any(|n| n.contains(f.as_str()))
        })
    {
        return;
    }
    let Some(labels) = label_sets(10_000) else {
        return;
    };
    let scrapes = std::env::var("LOOKOUT_TSDB_SCRAPES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    for compress in [false, true] {
        let tmp = tempfile::tempdir().expect("tempdir");
        full_workload(tmp.path(), &labels, scrapes, compress);
    }
}

/// A block of `n` series × 2 h of 15 s samples from `start` (a 2 h boundary) in `parent`;
/// returns its directory. With
/// `mixed`, series are shaped like a typical Prometheus: 40 % constant (`up`, info metrics),
/// 30 % counters with a steady rate, 30 % counters with random increments; without, every
/// series is a random-increment counter (the hardest case for XOR decoding).
fn bench_block_dir(parent: &Path, n: usize, mixed: bool, start: i64) -> std::path::PathBuf {
    use lookout_tsdb::block_writer::BlockWriter;
    let mut w = BlockWriter::create(parent, start, start + 7_200_000).expect("block writer");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..n {
        let labels: Labels = format!(
            r#"bench_requests_total{{instance="host-{i:05}", job="bench", zone="z{}"}}"#,
            i % 3
        )
        .parse()
        .expect("labels");
        let mut v = 0.0;
        let samples: Vec<(i64, f64)> = (0..480)
            .map(|k| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                v += match (mixed, i % 10) {
                    (true, 0..=3) => 0.0,
                    (true, 4..=6) => 10.0,
                    _ => (state % 100) as f64,
                };
                (start + k * 15_000, v)
            })
            .collect();
        w.add_series_samples(&labels, samples).expect("add series");
    }
    let meta = w
        .finish(lookout_tsdb::meta::Compaction::default())
        .expect("finish block");
    parent.join(meta.ulid)
}

/// Selects `ms` from the block and reads every sample in batches (`next_batch`), as a
/// query engine draining series does; returns the count and the sum of the values.
fn drain(b: &dyn Querier, ms: &[lookout_model::Matcher]) -> (usize, f64) {
    let set = b
        .select(i64::MIN, i64::MAX, ms, &SelectHints::default())
        .expect("select");
    let (mut n, mut sum) = (0usize, 0.0);
    let mut buf = Vec::with_capacity(1024);
    for s in set {
        let s = s.expect("series");
        let mut it = s.iter();
        loop {
            buf.clear();
            let k = it.next_batch(&mut buf, 1024);
            n += buf.len();
            for s in &buf {
                sum += s.v;
            }
            if k != ValueKind::Float {
                break;
            }
        }
    }
    (n, sum)
}

/// [`drain`] one sample at a time through `next` and `at`.
fn drain_next(b: &dyn Querier, ms: &[lookout_model::Matcher]) -> (usize, f64) {
    let set = b
        .select(i64::MIN, i64::MAX, ms, &SelectHints::default())
        .expect("select");
    let (mut n, mut sum) = (0usize, 0.0);
    for s in set {
        let s = s.expect("series");
        let mut it = s.iter();
        while it.next() == ValueKind::Float {
            sum += it.at().v;
            n += 1;
        }
    }
    (n, sum)
}

fn bench_block(c: &mut Criterion) {
    let start = 1_700_006_400_000i64;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = bench_block_dir(tmp.path(), 1000, false, start);
    let block = lookout_tsdb::Block::open(&dir).expect("open block");
    let mixed_tmp = tempfile::tempdir().expect("tempdir");
    let mixed_dir = bench_block_dir(mixed_tmp.path(), 1000, true, start);
    let mixed = lookout_tsdb::Block::open(&mixed_dir).expect("open block");
    let later_tmp = tempfile::tempdir().expect("tempdir");
    let later_dir = bench_block_dir(later_tmp.path(), 1000, false, start + 7_200_000);
    let later = lookout_tsdb::Block::open(&later_dir).expect("open block");
    let merged = lookout_tsdb::MergeQuerier::new(vec![&block, &later]);
    let all = lookout_model::parse_selector(r#"{job="bench"}"#).expect("selector");
    let some =
        lookout_model::parse_selector(r#"{instance=~"host-000[0-9][0-9]"}"#).expect("selector");
    assert_eq!(drain(&block, &all).0, 480_000);
    assert_eq!(drain(&block, &all), drain_next(&block, &all));
    assert_eq!(drain(&mixed, &all), drain_next(&mixed, &all));
    assert_eq!(drain(&merged, &all).0, 960_000);
    assert_eq!(drain(&merged, &all), drain_next(&merged, &all));
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(480_000));
    g.bench_function("select_1000x2h", |b| {
        b.iter(|| black_box(drain(&block, &all)))
    });
    g.bench_function("select_1000x2h_next", |b| {
        b.iter(|| black_box(drain_next(&block, &all)))
    });
    g.bench_function("select_1000x2h_mixed", |b| {
        b.iter(|| black_box(drain(&mixed, &all)))
    });
    g.throughput(Throughput::Elements(48_000));
    g.bench_function("select_10pct", |b| {
        b.iter(|| black_box(drain(&block, &some)))
    });
    g.throughput(Throughput::Elements(960_000));
    g.bench_function("select_2blocks_merged", |b| {
        b.iter(|| black_box(drain(&merged, &all)))
    });
    g.bench_function("select_2blocks_merged_next", |b| {
        b.iter(|| black_box(drain_next(&merged, &all)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = bench_xor, bench_head, bench_block, bench_load_wal, bench_full
}
criterion_main!(benches);

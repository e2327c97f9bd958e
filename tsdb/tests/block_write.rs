//! The block writer against Prometheus 2.42 itself: byte-identical output for the golden
//! promtool block, `promtool tsdb dump` and `promtool tsdb analyze` of blocks we write, and a
//! `prometheus` server answering range queries from them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lookout_model::{format_go_g, Labels, MemStorage};
use lookout_testkit::{free_port, oracle, shared_path, wait_for_port, ChildGuard};
use lookout_tsdb::block_writer::{write_block, BlockWriter, WriterOptions};
use lookout_tsdb::meta::{BlockMeta, Compaction};
use lookout_tsdb::tombstones::Tombstones;

const GOLDEN: &str = "datasets/metrics/prometheus-2.42-generated/block";
const GOLDEN_ULID: &str = "01M80EW3P5VYV0B203ZE6FRZ3F";

/// OpenMetrics seconds with up to 3 decimals to milliseconds, exactly.
fn om_ts_ms(s: &str) -> i64 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut frac = frac.to_string();
    frac.truncate(3);
    while frac.len() < 3 {
        frac.push('0');
    }
    secs.parse::<i64>().unwrap() * 1000 + frac.parse::<i64>().unwrap()
}

/// The samples of the golden `input.om` (simple lines only: `series value seconds`).
fn golden_input(path: &Path) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.rsplitn(3, ' ');
        let ts = om_ts_ms(parts.next().unwrap());
        let v: f64 = parts.next().unwrap().parse().unwrap();
        let ls: Labels = parts.next().unwrap().parse().unwrap();
        out.entry(ls).or_default().push((ts, v));
    }
    out
}

#[test]
fn golden_promtool_block_is_reproduced_byte_for_byte() {
    let Some(dir) = shared_path(GOLDEN) else {
        return;
    };
    let input = golden_input(&dir.join("input.om"));
    let golden = dir.join(GOLDEN_ULID);
    let want = BlockMeta::read(&golden).unwrap();
    let parent = lookout_testkit::tempfile::tempdir().unwrap();
    // promtool's importer: head chunk range = twice the 2 h block duration.
    let opts = WriterOptions::default().with_chunk_range(4 * 3_600_000);
    let mut w = BlockWriter::create_with_options(parent.path(), want.min_time, want.max_time, opts)
        .unwrap();
    for (ls, samples) in &input {
        w.add_series_samples(ls, samples.iter().copied()).unwrap();
    }
    let meta = w.finish(Compaction::default()).unwrap();
    assert_eq!(meta.stats, want.stats);
    assert_eq!(meta.compaction.level, 1);
    let ours = parent.path().join(&meta.ulid);
    assert!(!parent
        .path()
        .join(format!("{}.tmp-for-creation", meta.ulid))
        .exists());
    for f in ["index", "chunks/000001", "tombstones"] {
        let a = std::fs::read(ours.join(f)).unwrap();
        let b = std::fs::read(golden.join(f)).unwrap();
        assert!(
            a == b,
            "{f} differs from promtool's ({} vs {} bytes)",
            a.len(),
            b.len()
        );
    }
    // meta.json equals promtool's apart from the ULID.
    let a = std::fs::read_to_string(ours.join("meta.json")).unwrap();
    let b = std::fs::read_to_string(golden.join("meta.json")).unwrap();
    assert_eq!(a.replace(&meta.ulid, GOLDEN_ULID), b);
    assert!(Tombstones::read(&ours).unwrap().is_empty());
}

/// A varied data set: many series, irregular intervals, NaN, stale markers, ±Inf, huge and
/// tiny values, escaped label values; some series only in part of the range.
fn test_data(mint: i64) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..40i64 {
        let ls: Labels = format!(
            r#"bw_metric{{job="j{}", inst="{i}", path="/a\"b\\c/é"}}"#,
            i % 3
        )
        .parse()
        .unwrap();
        let mut t = mint + i * 7;
        let mut v = 0.0f64;
        let mut samples = Vec::new();
        let n = 100 + i * 37;
        for k in 0..n {
            let val = match (i + k) % 97 {
                3 => f64::from_bits(0x7FF8_0000_0000_0001),
                5 => f64::from_bits(0x7FF0_0000_0000_0002),
                7 => f64::INFINITY,
                11 => -1e300,
                13 => 1.5e-300,
                _ => {
                    v += (k % 13) as f64 * 0.25;
                    v
                }
            };
            samples.push((t, val));
            t += 15_000 + (k * 131 % 700) - 350;
        }
        samples.retain(|&(t, _)| t < mint + 7_200_000);
        out.insert(ls, samples);
    }
    // A series with exactly aligned integer samples for the range query test.
    let ls: Labels = r#"bw_aligned{job="q"}"#.parse().unwrap();
    out.insert(
        ls,
        (0..480)
            .map(|k| (mint + k * 15_000, k as f64 * 1.5))
            .collect(),
    );
    out
}

fn expected_dump(data: &BTreeMap<Labels, Vec<(i64, f64)>>) -> String {
    let mut s = String::new();
    for (ls, samples) in data {
        for &(t, v) in samples {
            s.push_str(&ls.to_string());
            s.push(' ');
            format_go_g(v, &mut s);
            s.push(' ');
            s.push_str(&t.to_string());
            s.push('\n');
        }
    }
    s
}

/// Writes `data` as one block for [mint, mint+2h) through `write_block` into `data_dir`.
fn write_test_block(
    data_dir: &Path,
    mint: i64,
    data: &BTreeMap<Labels, Vec<(i64, f64)>>,
) -> BlockMeta {
    write_test_block_with(data_dir, mint, data, WriterOptions::default())
}

fn write_test_block_with(
    data_dir: &Path,
    mint: i64,
    data: &BTreeMap<Labels, Vec<(i64, f64)>>,
    opts: WriterOptions,
) -> BlockMeta {
    let mut store = MemStorage::new();
    for (ls, samples) in data {
        for &(t, v) in samples {
            store.append(ls, t, v);
        }
    }
    std::fs::create_dir_all(data_dir.join("wal")).unwrap();
    let meta = write_block(data_dir, mint, mint + 7_200_000, &store, &opts)
        .unwrap()
        .unwrap();
    let n: usize = data.values().map(Vec::len).sum();
    assert_eq!(meta.stats.num_samples, n as u64);
    assert_eq!(meta.stats.num_series, data.len() as u64);
    meta
}

#[test]
fn our_block_reader_reads_back_what_write_block_wrote() {
    let mint = 1_699_999_200_000;
    let data = test_data(mint);
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let meta = write_test_block(dir.path(), mint, &data);
    let block = lookout_tsdb::Block::open(&dir.path().join(&meta.ulid)).unwrap();
    let mut out = Vec::new();
    lookout_tsdb::write_dump(&block, i64::MIN, i64::MAX, &[], &mut out).unwrap();
    assert!(String::from_utf8(out).unwrap() == expected_dump(&data));
    // Nothing in [mint + 2h, ...): no block.
    let store = MemStorage::new();
    let none = write_block(
        dir.path(),
        mint,
        mint + 1000,
        &store,
        &WriterOptions::default(),
    )
    .unwrap();
    assert!(none.is_none());
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            n.to_string_lossy().ends_with(".tmp-for-creation")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn promtool_dump_and_analyze_read_our_blocks() {
    let Some(promtool) = oracle("promtool") else {
        return;
    };
    let mint = 1_699_999_200_000;
    let data = test_data(mint);
    let want = expected_dump(&data);
    // Also a block spread over many small chunk segments (refs carry the segment index).
    let small = lookout_testkit::tempfile::tempdir().unwrap();
    let opts = WriterOptions::default().with_segment_size(4096);
    let m = write_test_block_with(small.path(), mint, &data, opts);
    let segs = std::fs::read_dir(small.path().join(&m.ulid).join("chunks"))
        .unwrap()
        .count();
    assert!(segs > 5, "{segs} segments");
    let out = Command::new(&promtool)
        .args(["tsdb", "dump"])
        .arg(small.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == want.as_bytes(),
        "multi-segment block dumps differently"
    );

    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let meta = write_test_block(dir.path(), mint, &data);
    let out = Command::new(&promtool)
        .args(["tsdb", "dump"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool tsdb dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).unwrap();
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("promtool: {a}\nexpected: {b}"));
        panic!(
            "promtool dump differs ({} vs {} lines); first difference:\n{first:?}",
            got.lines().count(),
            want.lines().count()
        );
    }

    let out = Command::new(&promtool)
        .args(["tsdb", "analyze"])
        .arg(dir.path())
        .arg(&meta.ulid)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool tsdb analyze: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&meta.ulid), "{stdout}");
    assert!(stdout.contains("\nSeries: 41\n"), "{stdout}");
}

#[test]
fn prometheus_serves_range_queries_from_our_block() {
    let Some(prometheus) = oracle("prometheus") else {
        return;
    };
    let mint = 1_699_999_200_000;
    let data = test_data(mint);
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let meta = write_test_block(&data_dir, mint, &data);
    std::fs::remove_dir_all(data_dir.join("wal")).unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data_dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = ChildGuard(child);
    assert!(
        wait_for_port(port, Duration::from_secs(30)),
        "prometheus did not start"
    );
    // Wait until the TSDB is open and the block loaded.
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = lookout_testkit::http::get(port, "/-/ready") {
            if r.status == 200 {
                ready = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "prometheus not ready");

    let start = mint / 1000;
    let end = start + 479 * 15;
    let q = lookout_testkit::http::encode(r#"bw_aligned{job="q"}"#);
    let r = lookout_testkit::http::get(
        port,
        &format!("/api/v1/query_range?query={q}&start={start}&end={end}&step=15"),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    let result = &v["data"]["result"];
    assert_eq!(result.as_array().unwrap().len(), 1, "{v}");
    let values = result[0]["values"].as_array().unwrap();
    let want: Vec<(i64, String)> = data[&r#"bw_aligned{job="q"}"#.parse::<Labels>().unwrap()]
        .iter()
        .map(|&(t, x)| (t / 1000, format!("{x}")))
        .collect();
    let got: Vec<(i64, String)> = values
        .iter()
        .map(|p| {
            (
                p[0].as_f64().unwrap() as i64,
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);

    // Label values come from the block's postings offset table.
    let r = lookout_testkit::http::get(port, "/api/v1/label/inst/values").unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 40, "{v}");
    // The block was loaded as written (Prometheus may delete or compact it otherwise).
    assert!(data_dir.join(&meta.ulid).join("meta.json").is_file());
}

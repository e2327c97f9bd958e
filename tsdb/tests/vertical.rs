//! Vertical compaction against the real Prometheus 2.42: random overlapping blocks with
//! conflicting values at shared timestamps, partial chunk overlaps and tombstones are
//! compacted by a `prometheus` server (started on the data dir, which compacts overlapping
//! blocks about a minute after start) and by our `Db::compact`; the resulting blocks must
//! hold the same series with the same chunks, bounds and bytes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lookout_model::Labels;
use lookout_tsdb::block_writer::BlockWriter;
use lookout_tsdb::meta::Compaction;
use lookout_tsdb::tombstones::Tombstones;
use lookout_tsdb::{Block, Db, DbOptions};

use crate::golden::Rng;

const START: i64 = 1_700_006_400_000; // a multiple of 2 h
const H: i64 = 3_600_000;

/// Writes 3 or 4 overlapping blocks of a few series into `dir`; returns their ULIDs.
fn write_blocks(dir: &Path, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let names = ["m{a=\"1\"}", "m{a=\"2\"}", "m{a=\"3\"}", "n{b=\"x\"}"];
    let blocks = 3 + rng.below(2);
    let mut ulids = Vec::new();
    for b in 0..blocks {
        // Every block spans part of the same 2 h window.
        let mint = START + rng.below(4) as i64 * 15 * 60_000;
        let maxt = START + 2 * H - rng.below(4) as i64 * 15 * 60_000;
        let mut w = BlockWriter::create(dir, mint, maxt).unwrap();
        let mut wrote = 0;
        for name in names {
            if rng.below(4) == 0 {
                continue;
            }
            let labels: Labels = name.parse().unwrap();
            let step = [1_000, 5_000, 15_000, 60_000][rng.below(4) as usize];
            let mut t = mint + rng.below(40) as i64 * 5_000;
            let n = 10 + rng.below(400);
            let mut samples = Vec::new();
            for _ in 0..n {
                if t >= maxt {
                    break;
                }
                // Values differ per block, so the winner at a shared timestamp shows.
                samples.push((t, (b * 1000 + rng.below(100)) as f64));
                t += step * (1 + rng.below(2) as i64);
            }
            if samples.is_empty() {
                continue;
            }
            w.add_series_samples(&labels, samples).unwrap();
            wrote += 1;
        }
        if wrote == 0 {
            w.abort().unwrap();
            continue;
        }
        let m = w.finish(Compaction::default()).unwrap();
        // Now and then a deletion over part of a series.
        if rng.below(2) == 0 {
            let block = Block::open(&dir.join(&m.ulid)).unwrap();
            let ids: Vec<u32> = block
                .index()
                .postings_for_matchers(&[])
                .unwrap()
                .iter()
                .collect();
            let id = ids[rng.below(ids.len() as u64) as usize];
            let from = mint + rng.below(120) as i64 * 60_000;
            let mut t = Tombstones::new();
            t.add(u64::from(id), from, from + rng.below(30) as i64 * 60_000);
            t.write(&dir.join(&m.ulid)).unwrap();
        }
        ulids.push(m.ulid);
    }
    ulids
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    v.sort();
    v
}

type Chunks = Vec<(String, Vec<(i64, i64, Vec<u8>)>)>;

/// Every series of the blocks in `dir` with its chunks (bounds and bytes), plus the blocks'
/// time ranges.
fn contents(dir: &Path) -> (Vec<(i64, i64)>, Chunks) {
    let mut ranges = Vec::new();
    let mut all = Vec::new();
    for d in block_dirs(dir) {
        let b = Block::open(&d).unwrap();
        ranges.push((b.meta().min_time, b.meta().max_time));
        for id in b.index().postings_for_matchers(&[]).unwrap() {
            let (labels, metas) = b.index().series(id).unwrap();
            let chunks = metas
                .iter()
                .map(|m| {
                    let (_, data) = b.chunks().chunk(m.chunk_ref).unwrap();
                    (m.mint, m.maxt, data.to_vec())
                })
                .collect();
            all.push((labels.to_string(), chunks));
        }
    }
    (ranges, all)
}

#[test]
fn vertical_compaction_matches_prometheus() {
    let Some(prom) = lookout_testkit::oracle("prometheus") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let cases = 4;
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for case in 0..cases {
        let theirs = tmp.path().join(format!("theirs{case}"));
        let ours = tmp.path().join(format!("ours{case}"));
        std::fs::create_dir_all(&theirs).unwrap();
        let ulids = write_blocks(&theirs, 1000 + case);
        assert!(ulids.len() >= 2, "case {case}: {} blocks", ulids.len());
        lookout_testkit::copy_dir(&theirs, &ours);
        let port = lookout_testkit::free_port();
        let cfg = tmp.path().join(format!("prometheus{case}.yml"));
        std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
        let child = Command::new(&prom)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", theirs.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        servers.push((lookout_testkit::ChildGuard(child), ulids));
        dirs.push((theirs, ours));
    }
    // Prometheus compacts about a minute after start: wait until none of the written blocks
    // is left in any directory.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let pending = dirs
            .iter()
            .zip(&servers)
            .any(|((theirs, _), (_, ulids))| ulids.iter().any(|u| theirs.join(u).exists()));
        if !pending {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not compact in time"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(servers);
    let mut series = 0;
    for (case, (theirs, ours)) in dirs.iter().enumerate() {
        let db = Db::open(
            ours,
            DbOptions::default().compaction_interval(None).retention(0),
        )
        .unwrap();
        db.compact().unwrap();
        db.close().unwrap();
        let (want_ranges, want) = contents(theirs);
        let (got_ranges, got) = contents(ours);
        assert_eq!(got_ranges, want_ranges, "case {case}: block ranges");
        assert_eq!(got.len(), want.len(), "case {case}: series");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0, w.0, "case {case}");
            let bounds =
                |c: &[(i64, i64, Vec<u8>)]| c.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>();
            assert_eq!(
                bounds(&g.1),
                bounds(&w.1),
                "case {case}: {} chunk bounds",
                g.0
            );
            if let Some(k) = g.1.iter().zip(&w.1).position(|(a, b)| a.2 != b.2) {
                panic!(
                    "case {case}: {} chunk {k} ({}..={}) differs in its bytes",
                    g.0, g.1[k].0, g.1[k].1
                );
            }
        }
        series += got.len();
    }
    println!(
        "vertical compaction vs prometheus: {cases} passed, 0 failed, 0 skipped ({series} series)"
    );
}

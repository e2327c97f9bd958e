//! The block reader on Prometheus-written blocks: the 2.42 golden block, the index-v1 block
//! from Prometheus' test data, blocks promtool builds in the test; matchers against a
//! brute-force filter; tombstones; the merge querier; corrupt and truncated files.

use std::path::{Path, PathBuf};

use lookout_model::{parse_selector, Labels, MemStorage, Querier, Sample, SelectHints, ValueKind};
use lookout_tsdb::block::{ChunkReader, IndexReader};
use lookout_tsdb::tombstones::Tombstones;
use lookout_tsdb::{open_read_only, Block, Error, MergeQuerier};

fn golden() -> Option<PathBuf> {
    lookout_testkit::shared_path(
        "datasets/metrics/prometheus-2.42-generated/block/01M80EW3P5VYV0B203ZE6FRZ3F",
    )
}

fn v1() -> Option<PathBuf> {
    lookout_testkit::shared_path("datasets/metrics/prometheus-block-index-v1/index_format_v1")
}

type Dump = Vec<(Labels, Vec<Sample>)>;

fn collect(q: &dyn Querier, mint: i64, maxt: i64, sel: &str) -> Result<Dump, String> {
    let ms = parse_selector(sel).unwrap();
    let set = q
        .select(mint, maxt, &ms, &SelectHints::default())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for s in set {
        let s = s.map_err(|e| e.to_string())?;
        let mut it = s.iter();
        let mut v = Vec::new();
        while it.next() == ValueKind::Float {
            v.push(it.at());
        }
        if let Some(e) = it.err() {
            return Err(e.to_string());
        }
        out.push((s.labels().clone(), v));
    }
    Ok(out)
}

/// Every series of a block with every sample, into a MemStorage (the brute-force oracle).
fn mem_of(b: &Block) -> MemStorage {
    let mut mem = MemStorage::new();
    for (ls, samples) in collect(b, i64::MIN, i64::MAX, "{__name__=~'(?s:.*)'}").unwrap() {
        for s in samples {
            mem.append(&ls, s.t, s.v);
        }
    }
    mem
}

fn same(a: &Dump, b: &Dump) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.0 == y.0
                && x.1.len() == y.1.len()
                && x.1
                    .iter()
                    .zip(&y.1)
                    .all(|(p, q)| p.t == q.t && p.v.to_bits() == q.v.to_bits())
        })
}

/// Selectors of every matcher kind, compared with a brute-force filter over random ranges.
fn check_matchers(b: &Block, selectors: &[&str]) -> usize {
    let mem = mem_of(b);
    let (lo, hi) = (b.meta().min_time, b.meta().max_time);
    let span = (hi - lo).max(1);
    let ranges = [
        (i64::MIN, i64::MAX),
        (lo, hi),
        (lo + span / 3, lo + span / 2),
        (lo - 10, lo),
        (hi - 1, hi + 10),
        (lo + span / 7, lo + span / 7),
    ];
    let mut n = 0;
    for sel in selectors {
        for &(mint, maxt) in &ranges {
            let got = collect(b, mint, maxt, sel).unwrap();
            let want = collect(&mem, mint, maxt, sel).unwrap();
            // A block may return a series whose chunks meet the range but whose samples do
            // not; MemStorage leaves those out.
            let got: Dump = got.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            assert!(same(&got, &want), "{sel} [{mint}, {maxt}]");
            n += 1;
        }
    }
    n
}

#[test]
fn golden_block_opens_and_answers_every_matcher_kind() {
    let Some(dir) = golden() else { return };
    let b = Block::open(&dir).unwrap();
    assert_eq!(b.meta().ulid, "01M80EW3P5VYV0B203ZE6FRZ3F");
    assert_eq!(b.index().version(), 2);
    assert_eq!(b.index().label_names(), ["__name__", "code", "job", "room"]);
    assert_eq!(
        b.index().label_values("__name__"),
        ["http_requests_total", "temp"]
    );
    assert_eq!(b.index().postings("", "").unwrap().len(), 5);
    let all = collect(&b, i64::MIN, i64::MAX, "{__name__=~'.+'}").unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all.iter().map(|s| s.1.len()).sum::<usize>(), 2000);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "sorted by labels");
    assert_eq!(
        b.label_values(i64::MIN, i64::MAX, "room", &parse_selector("temp").unwrap())
            .unwrap(),
        ["a"]
    );
    assert_eq!(
        b.label_names(i64::MIN, i64::MAX, &parse_selector("temp").unwrap())
            .unwrap(),
        ["__name__", "room"]
    );
    let n = check_matchers(
        &b,
        &[
            "http_requests_total",
            r#"{job="api"}"#,
            r#"{job!="api"}"#,
            r#"{job=~"a.*"}"#,
            r#"{job!~"a.*"}"#,
            r#"{code=""}"#,
            r#"{code!=""}"#,
            r#"{code=~"200|500", job="db"}"#,
            r#"{code=~"2.*|"}"#,
            r#"{__name__=~".+", room!~"b"}"#,
            r#"{job=~".+", job!="db"}"#,
            r#"{nope="x"}"#,
            r#"{__name__=~"temp|nope"}"#,
            r#"{job=~"(?i)API"}"#,
        ],
    );
    println!("golden block matchers: {n} passed, 0 failed, 0 skipped");
}

#[test]
fn index_v1_block_reads() {
    let Some(dir) = v1() else { return };
    let b = Block::open(&dir).unwrap();
    assert_eq!(b.index().version(), 1);
    assert_eq!(b.meta().stats.num_series, 102);
    let all = collect(&b, i64::MIN, i64::MAX, "{__name__=~'(?s:.*)'}").unwrap();
    assert_eq!(all.len(), 102);
    assert_eq!(all.iter().map(|s| s.1.len()).sum::<usize>(), 102);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "sorted by labels");
    assert_eq!(b.index().label_names(), ["bar", "foo"]);
    let n = check_matchers(
        &b,
        &[
            r#"{bar="1"}"#,
            r#"{bar=~"1.*"}"#,
            r#"{foo!=""}"#,
            r#"{bar!~"[0-9]"}"#,
            r#"{foo=~"ba."}"#,
        ],
    );
    println!("index v1 matchers: {n} passed, 0 failed, 0 skipped");
}

#[test]
fn promtool_blocks_answer_matchers() {
    let Some((_tmp, dirs)) = crate::golden::promtool_blocks() else {
        return;
    };
    let mut n = 0;
    for d in &dirs {
        let b = Block::open(d).unwrap();
        n += check_matchers(
            &b,
            &[
                r#"{job="golden"}"#,
                r#"{__name__=~"counter.*|int_gauge"}"#,
                r#"{__name__!~"fast.*"}"#,
                r#"{__name__!="gauge_random", job=~"g.*"}"#,
            ],
        );
    }
    println!("promtool block matchers: {n} passed, 0 failed, 0 skipped");
}

#[test]
fn tombstoned_samples_are_hidden() {
    let Some(src) = golden() else { return };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("01M80EW3P5VYV0B203ZE6FRZ3F");
    lookout_testkit::copy_dir(&src, &dir);
    let before = Block::open(&dir).unwrap();
    let ids = before.index().postings("", "").unwrap();
    let all = collect(&before, i64::MIN, i64::MAX, "{__name__=~'.+'}").unwrap();
    let lo = before.meta().min_time;
    let mut ts = Tombstones::new();
    // Series 0: a middle interval; series 1: everything; series 2: two intervals.
    ts.add(ids[0] as u64, lo + 600_000, lo + 1_200_000);
    ts.add(ids[1] as u64, i64::MIN, i64::MAX);
    ts.add(ids[2] as u64, lo, lo + 15_000);
    ts.add(ids[2] as u64, lo + 3_000_000, lo + 4_000_000);
    ts.write(&dir).unwrap();
    drop(before);
    let b = Block::open(&dir).unwrap();
    let got = collect(&b, i64::MIN, i64::MAX, "{__name__=~'.+'}").unwrap();
    let mut want: Dump = Vec::new();
    for (i, (ls, samples)) in all.iter().enumerate() {
        let keep: Vec<Sample> = samples
            .iter()
            .copied()
            .filter(|s| {
                let t = s.t;
                match i {
                    0 => !(lo + 600_000..=lo + 1_200_000).contains(&t),
                    1 => false,
                    2 => {
                        !(lo..=lo + 15_000).contains(&t)
                            && !(lo + 3_000_000..=lo + 4_000_000).contains(&t)
                    }
                    _ => true,
                }
            })
            .collect();
        if !keep.is_empty() {
            want.push((ls.clone(), keep));
        }
    }
    assert!(same(&got, &want));
    // Seeking into and across a deleted interval.
    let ms = parse_selector("{__name__=~'.+'}").unwrap();
    let set: Vec<_> = b
        .select(i64::MIN, i64::MAX, &ms, &SelectHints::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut it = set[0].iter();
    assert_eq!(it.seek(lo + 700_000), ValueKind::Float);
    assert!(it.at_t() > lo + 1_200_000);

    // promtool honours the same tombstones.
    if let Some(promtool) = lookout_testkit::oracle("promtool") {
        std::fs::create_dir_all(tmp.path().join("wal")).unwrap();
        let out = std::process::Command::new(promtool)
            .args(["tsdb", "dump"])
            .arg(tmp.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        let lines = String::from_utf8(out.stdout).unwrap().lines().count();
        assert_eq!(lines, want.iter().map(|s| s.1.len()).sum::<usize>());
    }
}

#[test]
fn merge_querier_chains_overlapping_series() {
    let mut a = MemStorage::new();
    let mut b = MemStorage::new();
    let x: Labels = r#"x{i="1"}"#.parse().unwrap();
    let y: Labels = r#"y{i="1"}"#.parse().unwrap();
    let z: Labels = r#"z{i="1"}"#.parse().unwrap();
    for t in [1, 2, 3, 5] {
        a.append(&x, t, 1.0);
    }
    for t in [3, 4, 5, 6] {
        b.append(&x, t, 2.0);
    }
    a.append(&z, 1, 1.0);
    b.append(&y, 1, 1.0);
    let m = MergeQuerier::new(vec![&a, &b]);
    let got = collect(&m, i64::MIN, i64::MAX, r#"{i="1"}"#).unwrap();
    let names: Vec<_> = got.iter().map(|s| s.0.to_string()).collect();
    assert_eq!(
        names,
        [
            r#"{__name__="x", i="1"}"#,
            r#"{__name__="y", i="1"}"#,
            r#"{__name__="z", i="1"}"#
        ]
    );
    let xs: Vec<(i64, f64)> = got[0].1.iter().map(|s| (s.t, s.v)).collect();
    // What `promtool tsdb dump` prints for two blocks holding these samples (seconds as
    // milliseconds): at 3 the second block wins, at 5 the first, as Prometheus' chain
    // iterator's heap has it.
    assert_eq!(
        xs,
        [(1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0), (5, 1.0), (6, 2.0)]
    );
    // Seek on a chained series.
    let ms = parse_selector("x").unwrap();
    let set: Vec<_> = m
        .select(i64::MIN, i64::MAX, &ms, &SelectHints::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut it = set[0].iter();
    assert_eq!(it.seek(4), ValueKind::Float);
    assert_eq!(it.at().t, 4);
    assert_eq!(it.next(), ValueKind::Float);
    assert_eq!(it.at().t, 5);
    assert_eq!(
        m.label_values(0, 10, "__name__", &[]).unwrap(),
        ["x", "y", "z"]
    );
}

/// Checks that an error names `file` and that nothing panicked; returns whether it failed.
fn read_everything(dir: &Path) -> Result<usize, Error> {
    let b = Block::open(dir)?;
    let mut n = 0;
    let ms = parse_selector("{__name__=~'(?s:.*)'}").unwrap();
    for name in b.index().label_names() {
        for v in b.index().label_values(&name) {
            b.index().postings(&name, &v)?;
        }
    }
    let set = b
        .select(i64::MIN, i64::MAX, &ms, &SelectHints::default())
        .map_err(|e| Error::Config(Box::leak(e.to_string().into_boxed_str())))?;
    for s in set {
        let s = s.map_err(|e| Error::Config(Box::leak(e.to_string().into_boxed_str())))?;
        let mut it = s.iter();
        while it.next() == ValueKind::Float {
            n += 1;
        }
        if let Some(e) = it.err() {
            return Err(Error::Config(Box::leak(e.to_string().into_boxed_str())));
        }
    }
    Ok(n)
}

#[test]
fn corrupt_files_are_reported_with_file_and_offset() {
    let Some(src) = golden() else { return };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("01M80EW3P5VYV0B203ZE6FRZ3F");
    lookout_testkit::copy_dir(&src, &dir);
    let index = std::fs::read(dir.join("index")).unwrap();
    let chunks = std::fs::read(dir.join("chunks/000001")).unwrap();
    let (mut errors, mut clean) = (0, 0);
    // Every single-byte flip of the index: no panic, and any error names the index.
    for i in 0..index.len() {
        let mut b = index.clone();
        b[i] ^= 0x5A;
        std::fs::write(dir.join("index"), &b).unwrap();
        match read_everything(&dir) {
            Ok(n) => {
                // Flips in padding or in the legacy sections nobody reads go unnoticed.
                assert!(n <= 2000);
                clean += 1;
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("index"), "byte {i}: {msg}");
                assert!(msg.contains("corrupt at byte"), "byte {i}: {msg}");
                errors += 1;
            }
        }
    }
    assert!(errors > index.len() / 2, "{errors} errors");
    std::fs::write(dir.join("index"), &index).unwrap();
    // Flips in chunk data are caught by the chunk CRC.
    for i in (8..chunks.len()).step_by(7) {
        let mut b = chunks.clone();
        b[i] ^= 0x01;
        std::fs::write(dir.join("chunks/000001"), &b).unwrap();
        let e = read_everything(&dir).unwrap_err().to_string();
        assert!(
            e.contains("chunks/000001") && e.contains("corrupt at byte"),
            "byte {i}: {e}"
        );
        errors += 1;
    }
    // Truncations.
    for len in [0, 4, 7, index.len() / 2, index.len() - 1] {
        std::fs::write(dir.join("index"), &index[..len]).unwrap();
        let e = read_everything(&dir).unwrap_err().to_string();
        assert!(e.contains("index"), "{len}: {e}");
    }
    std::fs::write(dir.join("index"), &index).unwrap();
    for len in [0, 5, 100, chunks.len() - 3] {
        std::fs::write(dir.join("chunks/000001"), &chunks[..len]).unwrap();
        let e = read_everything(&dir).unwrap_err().to_string();
        assert!(e.contains("chunks/000001"), "{len}: {e}");
    }
    println!("corruption: {errors} detected, {clean} harmless flips, 0 panics");
}

#[test]
fn corrupt_v1_index_is_reported() {
    let Some(src) = v1() else { return };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("01DXXFZDYD1MQW6079WK0K6EDQ");
    lookout_testkit::copy_dir(&src, &dir);
    let index = std::fs::read(dir.join("index")).unwrap();
    let mut errors = 0;
    for i in (0..index.len()).step_by(5) {
        let mut b = index.clone();
        b[i] ^= 0xA5;
        std::fs::write(dir.join("index"), &b).unwrap();
        if let Err(e) = read_everything(&dir) {
            let msg = e.to_string();
            assert!(
                msg.contains("index") && msg.contains("corrupt at byte"),
                "byte {i}: {msg}"
            );
            errors += 1;
        }
    }
    assert!(errors > index.len() / 10, "{errors} errors");
}

#[test]
fn corrupt_block_leaves_the_others_readable() {
    let (Some(g), Some(v)) = (golden(), v1()) else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    lookout_testkit::copy_dir(&g, &tmp.path().join("01M80EW3P5VYV0B203ZE6FRZ3F"));
    lookout_testkit::copy_dir(&v, &tmp.path().join("01DXXFZDYD1MQW6079WK0K6EDQ"));
    let idx = tmp.path().join("01M80EW3P5VYV0B203ZE6FRZ3F/index");
    let mut b = std::fs::read(&idx).unwrap();
    let n = b.len();
    b[n - 10] ^= 0xFF; // inside the TOC
    std::fs::write(&idx, &b).unwrap();
    let db = open_read_only(tmp.path()).unwrap();
    assert_eq!(db.failed().len(), 1);
    let msg = db.failed()[0].1.to_string();
    assert!(
        msg.contains("index") && msg.contains(&format!("byte {}", n - 52)),
        "{msg}"
    );
    assert_eq!(db.blocks().len(), 1);
    let all = collect(&db, i64::MIN, i64::MAX, "{__name__=~'(?s:.*)'}").unwrap();
    assert_eq!(all.len(), 102);
}

#[test]
fn readers_work_from_memory() {
    let Some(dir) = golden() else { return };
    let ix = IndexReader::from_vec(
        Path::new("mem-index"),
        std::fs::read(dir.join("index")).unwrap(),
    )
    .unwrap();
    let cr = ChunkReader::from_vecs(vec![(
        PathBuf::from("mem-chunks"),
        std::fs::read(dir.join("chunks/000001")).unwrap(),
    )])
    .unwrap();
    let mut samples = 0;
    for id in ix.postings("", "").unwrap() {
        let (_, metas) = ix.series(id).unwrap();
        for m in metas {
            let (enc, data) = cr.chunk(m.chunk_ref).unwrap();
            assert_eq!(enc, 1);
            samples += lookout_tsdb::xor_num_samples(data).unwrap();
        }
    }
    assert_eq!(samples, 2000);
}

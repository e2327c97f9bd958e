//! The database end to end: head cut into blocks, leveled compaction, retention, deletion,
//! snapshots, crash safety under SIGKILL, and data directories shared with Prometheus 2.42.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lookout_model::{parse_selector, Labels, Querier, SelectHints, ValueKind};
use lookout_tsdb::{Db, DbOptions};

use crate::golden::Rng;

const H: i64 = 3_600_000;

fn opts() -> DbOptions {
    DbOptions::default().compaction_interval(None).retention(0)
}

type Dump = BTreeMap<String, Vec<(i64, u64)>>;

fn dump(q: &dyn Querier, sel: &str) -> Dump {
    let ms = parse_selector(sel).unwrap();
    let mut out = BTreeMap::new();
    for s in q
        .select(i64::MIN, i64::MAX, &ms, &SelectHints::default())
        .unwrap()
    {
        let s = s.unwrap();
        let mut it = s.iter();
        let mut v = Vec::new();
        while it.next() == ValueKind::Float {
            let x = it.at();
            v.push((x.t, x.v.to_bits()));
        }
        assert!(it.err().is_none());
        if !v.is_empty() {
            out.insert(s.labels().to_string(), v);
        }
    }
    out
}

/// The samples of `expect` at or after `t`, by series.
fn since(expect: &Dump, t: i64) -> Dump {
    expect
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().copied().filter(|s| s.0 >= t).collect()))
        .collect()
}

/// Compares dumps, reporting the first difference instead of both dumps.
#[track_caller]
fn same(got: &Dump, want: &Dump) {
    let gk: Vec<&String> = got.keys().collect();
    let wk: Vec<&String> = want.keys().collect();
    assert_eq!(gk, wk, "series differ");
    for (k, w) in want {
        let g = &got[k];
        if g != w {
            let i = g
                .iter()
                .zip(w)
                .position(|(a, b)| a != b)
                .unwrap_or(g.len().min(w.len()));
            panic!(
                "{k}: {} samples, want {}; first difference at {i}: got {:?} want {:?}",
                g.len(),
                w.len(),
                g.get(i),
                w.get(i)
            );
        }
    }
}

/// Appends `series` series every `step` ms over `[from, to)`; returns what was appended.
fn fill(db: &Db, series: usize, from: i64, to: i64, step: i64, expect: &mut Dump) {
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            format!("m{{i=\"{i}\",job=\"j{}\"}}", i % 3)
                .parse()
                .unwrap()
        })
        .collect();
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for (i, l) in labels.iter().enumerate() {
            let v = (t / step) as f64 * 0.5 + i as f64;
            app.append(l, t, v).unwrap();
            expect
                .entry(l.to_string())
                .or_default()
                .push((t, v.to_bits()));
        }
        app.commit().unwrap();
        t += step;
    }
}

fn block_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 26)
        .collect();
    v.sort();
    v
}

#[test]
fn compacts_across_many_ranges_and_reads_back() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let mut expect = Dump::new();
    // 40 h of 30 s samples.
    fill(&db, 12, 0, 40 * H, 30_000, &mut expect);
    let stats = db.compact().unwrap();
    assert!(stats.head_blocks >= 18, "{stats:?}");
    assert!(stats.compactions >= 3, "{stats:?}");
    let metas = db.blocks();
    // Compaction to 6 h and 18 h blocks happened: levels above 1, no overlaps.
    assert!(metas.iter().any(|m| m.compaction.level >= 3), "{metas:?}");
    for w in metas.windows(2) {
        assert!(w[0].max_time <= w[1].min_time);
    }
    for m in &metas {
        assert!(m.compaction.level == 1 || !m.compaction.parents.is_empty());
        assert_eq!(m.max_time - m.min_time, {
            let r = m.max_time - m.min_time;
            assert!([2 * H, 6 * H, 18 * H].contains(&r), "range {r}");
            r
        });
    }
    // Only the loaded blocks are on disk (parents deleted).
    let on_disk = block_names(tmp.path());
    let mut loaded: Vec<String> = metas.iter().map(|m| m.ulid.clone()).collect();
    loaded.sort();
    assert_eq!(on_disk, loaded);
    same(&dump(&db, "m"), &expect);
    same(&dump(&db.querier(i64::MIN, i64::MAX), "m"), &expect);
    db.close().unwrap();
    // Reopen: the same.
    let db = Db::open(tmp.path(), opts()).unwrap();
    same(&dump(&db, "m"), &expect);
    // Keep ingesting after reopen.
    fill(&db, 12, 40 * H, 44 * H, 30_000, &mut expect);
    db.compact().unwrap();
    same(&dump(&db, "m"), &expect);
    db.close().unwrap();
}

/// A gap of days in the data is skipped in one step: no empty blocks, no WAL segment per empty
/// window.
#[test]
fn gaps_in_the_head_are_skipped() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let mut expect = Dump::new();
    fill(&db, 2, 0, H, 60_000, &mut expect);
    fill(&db, 2, 200 * H, 204 * H, 60_000, &mut expect);
    let stats = db.compact().unwrap();
    assert_eq!(stats.head_blocks, 2, "{stats:?}");
    let segments = std::fs::read_dir(tmp.path().join("wal"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_file())
        .count();
    assert!(segments < 6, "{segments} WAL segments");
    same(&dump(&db, "m"), &expect);
    db.close().unwrap();
}

#[test]
fn overlapping_blocks_are_compacted_vertically() {
    let a = lookout_testkit::tempfile::tempdir().unwrap();
    let b = lookout_testkit::tempfile::tempdir().unwrap();
    let mut expect = Dump::new();
    // Two databases write the same range; the second's block is moved into the first.
    let db = Db::open(a.path(), opts()).unwrap();
    fill(&db, 3, 0, 5 * H, 60_000, &mut expect);
    db.compact().unwrap();
    db.close().unwrap();
    let db2 = Db::open(b.path(), opts()).unwrap();
    let mut other = Dump::new();
    let labels: Labels = r#"other{x="1"}"#.parse().unwrap();
    let mut app = db2.appender();
    for t in (0..5 * H).step_by(45_000) {
        app.append(&labels, t, 7.0).unwrap();
        other
            .entry(labels.to_string())
            .or_default()
            .push((t, 7f64.to_bits()));
    }
    app.commit().unwrap();
    db2.compact().unwrap();
    let moved = db2.blocks();
    db2.close().unwrap();
    for m in &moved {
        std::fs::rename(b.path().join(&m.ulid), a.path().join(&m.ulid)).unwrap();
    }
    let db = Db::open(a.path(), opts()).unwrap();
    let before = db.blocks().len();
    db.compact().unwrap();
    let after = db.blocks();
    assert!(after.len() < before, "{before} -> {}", after.len());
    assert!(after.iter().any(|m| m.compaction.level == 2));
    for w in after.windows(2) {
        assert!(w[0].max_time <= w[1].min_time, "{after:?}");
    }
    // Everything, both sources; the head part of `a` too.
    let got = dump(&db, "{__name__=~\"m|other\"}");
    let moved_max = moved.iter().map(|m| m.max_time).max().unwrap();
    let mut all = expect.clone();
    for (k, v) in other {
        all.insert(k, v.into_iter().filter(|s| s.0 < moved_max).collect());
    }
    same(&got, &all);
    db.close().unwrap();
}

/// Prometheus' `WaitForAppendersOverlapping`: cutting the head waits for open appenders that
/// may still add samples to the range being cut, so a sample committed late lands in the
/// block rather than behind it.
#[test]
fn head_cut_waits_for_open_appenders() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let a: Labels = r#"m{s="a"}"#.parse().unwrap();
    let late: Labels = r#"m{s="late"}"#.parse().unwrap();
    let mut app = db.appender();
    app.append(&a, 0, 1.0).unwrap();
    app.commit().unwrap();
    // An appender opened now may append anywhere after the head's max time minus half a
    // chunk range; it holds a sample inside the first block's range, uncommitted.
    let mut slow = db.appender();
    slow.append(&late, 19 * H / 10, 7.0).unwrap();
    let mut app = db.appender();
    for t in [H, 2 * H, 7 * H / 2] {
        app.append(&a, t, 1.0).unwrap();
    }
    app.commit().unwrap();
    std::thread::scope(|s| {
        let cut = s.spawn(|| db.compact().unwrap());
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !cut.is_finished(),
            "the head was cut under an open appender"
        );
        slow.commit().unwrap();
        let stats = cut.join().unwrap();
        assert_eq!(stats.head_blocks, 1);
    });
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1);
    assert_eq!((blocks[0].min_time, blocks[0].max_time), (0, 2 * H));
    assert_eq!(
        blocks[0].stats.num_samples, 3,
        "a at 0 and 1 h, late at 1.9 h"
    );
    let got = dump(&db, r#"m{s="late"}"#);
    let samples: Vec<_> = got.into_values().collect();
    assert_eq!(samples, vec![vec![(19 * H / 10, 7f64.to_bits())]]);
}

#[test]
fn retention_by_time() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts().retention(12 * H)).unwrap();
    let mut expect = Dump::new();
    fill(&db, 2, 0, 48 * H, 60_000, &mut expect);
    db.compact().unwrap();
    let metas = db.blocks();
    let newest = metas.iter().map(|m| m.max_time).max().unwrap();
    // Blocks ending more than 12 h before the newest block's end are gone, others kept.
    assert!(
        metas.iter().all(|m| newest - m.max_time <= 12 * H),
        "{metas:?}"
    );
    let oldest_kept = metas.iter().map(|m| m.min_time).min().unwrap();
    assert!(oldest_kept <= newest - 12 * H, "{metas:?}");
    // Queries return exactly what was appended from the oldest kept block on.
    same(&dump(&db, "m"), &since(&expect, oldest_kept));
    db.close().unwrap();
}

#[test]
fn retention_by_size() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let mut expect = Dump::new();
    let db = Db::open(tmp.path(), opts()).unwrap();
    fill(&db, 20, 0, 30 * H, 15_000, &mut expect);
    db.compact().unwrap();
    let total = |dir: &Path| -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    if e.file_type().unwrap().is_dir() {
                        walk(&e.path())
                    } else {
                        e.metadata().unwrap().len()
                    }
                })
                .sum()
        }
        block_names(dir)
            .iter()
            .map(|b| walk(&dir.join(b)))
            .sum::<u64>()
            + walk(&dir.join("wal"))
            + walk(&dir.join("chunks_head"))
    };
    let full = total(tmp.path());
    let n_before = db.blocks().len();
    db.close().unwrap();
    let head_size = full
        - block_names(tmp.path())
            .iter()
            .map(|b| {
                fn walk(p: &Path) -> u64 {
                    std::fs::read_dir(p)
                        .unwrap()
                        .map(|e| {
                            let e = e.unwrap();
                            if e.file_type().unwrap().is_dir() {
                                walk(&e.path())
                            } else {
                                e.metadata().unwrap().len()
                            }
                        })
                        .sum()
                }
                walk(&tmp.path().join(b))
            })
            .sum::<u64>();
    let limit = head_size + (full - head_size) * 2 / 3;
    let db = Db::open(tmp.path(), opts().retention_size(limit)).unwrap();
    let metas = db.blocks();
    assert!(
        metas.len() < n_before && !metas.is_empty(),
        "{} of {n_before}",
        metas.len()
    );
    assert!(
        total(tmp.path()) <= limit,
        "{} > {limit}",
        total(tmp.path())
    );
    // The newest data is all there.
    let oldest_kept = metas.iter().map(|m| m.min_time).min().unwrap();
    same(&dump(&db, "m"), &since(&expect, oldest_kept));
    db.close().unwrap();
}

#[test]
fn delete_then_compaction_removes_data() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let mut expect = Dump::new();
    fill(&db, 6, 0, 10 * H, 60_000, &mut expect);
    db.compact().unwrap();
    assert!(!db.blocks().is_empty());
    let (mint, maxt) = (H + 30 * 60_000, 8 * H + 59_999);
    db.delete(&parse_selector(r#"m{job="j1"}"#).unwrap(), mint, maxt)
        .unwrap();
    for (k, v) in expect.iter_mut() {
        if k.contains("job=\"j1\"") {
            v.retain(|s| s.0 < mint || s.0 > maxt);
        }
    }
    same(&dump(&db, "m"), &expect);
    assert!(db.blocks().iter().any(|m| m.stats.num_tombstones > 0));
    db.close().unwrap();
    // Tombstones survive a reopen (blocks); cleaning rewrites the blocks without the data.
    let db = Db::open(tmp.path(), opts()).unwrap();
    let stones_before: u64 = db.blocks().iter().map(|m| m.stats.num_tombstones).sum();
    assert!(stones_before > 0);
    let before: Vec<_> = db.blocks();
    let n = db.clean_tombstones().unwrap();
    assert!(n > 0);
    assert!(db.blocks().iter().all(|m| m.stats.num_tombstones == 0));
    // Prometheus' `LeveledCompactor.Write` metadata: level 1, itself as source, old block as
    // parent.
    let mut rewritten = 0u64;
    for m in db.blocks() {
        let Some(p) = m.compaction.parents.first() else {
            continue;
        };
        let Some(old) = before.iter().find(|b| b.ulid == p.ulid) else {
            continue;
        };
        assert!(old.stats.num_tombstones > 0);
        assert_eq!(m.compaction.level, 1);
        assert_eq!(m.compaction.sources, vec![m.ulid.clone()]);
        assert_eq!(m.compaction.parents.len(), 1);
        assert_eq!((p.min_time, p.max_time), (old.min_time, old.max_time));
        rewritten += 1;
    }
    assert_eq!(rewritten, n);
    let samples: u64 = db.blocks().iter().map(|m| m.stats.num_samples).sum();
    same(&dump(&db, "m"), &expect);
    // Samples on disk went down: the deleted ones are gone, not hidden.
    let in_blocks: usize = dump(
        &db.querier(0, db.blocks().last().unwrap().max_time - 1),
        "m",
    )
    .values()
    .map(|v| {
        v.iter()
            .filter(|s| s.0 < db.blocks().last().unwrap().max_time)
            .count()
    })
    .sum();
    assert_eq!(samples as usize, in_blocks);
    db.close().unwrap();
}

#[test]
fn lock_file_and_leftovers() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert!(tmp.path().join("lock").exists());
    let err = Db::open(tmp.path(), opts()).unwrap_err();
    assert!(err.to_string().contains("lock"), "{err}");
    // --storage.tsdb.no-lockfile
    drop(Db::open(tmp.path(), opts().no_lockfile(true)).unwrap());
    db.close().unwrap();
    // Leftovers of interrupted creations and deletions are removed on open.
    for d in [
        "01BKGV7JBM69T2G1BGBGM6KB12.tmp-for-creation",
        "01BKGV7JBM69T2G1BGBGM6KB13.tmp-for-deletion",
        "wal/checkpoint.00000003.tmp",
    ] {
        std::fs::create_dir_all(tmp.path().join(d).join("chunks")).unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("not-a-block.tmp-for-creation")).unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("01BKGV")), "{names:?}");
    assert!(names.iter().any(|n| n == "not-a-block.tmp-for-creation"));
    assert!(!tmp.path().join("wal/checkpoint.00000003.tmp").exists());
    db.close().unwrap();
}

/// A crash after the compacted block was renamed into place but before its parents were
/// deleted: the next open deletes the parents. A block marked deletable is deleted on open.
#[test]
fn open_deletes_compacted_parents_and_deletable_blocks() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let aside = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let mut expect = Dump::new();
    fill(&db, 3, 0, 4 * H, 60_000, &mut expect);
    db.compact().unwrap();
    let first = db.blocks();
    assert_eq!(first.len(), 1);
    lookout_testkit::copy_dir(
        &tmp.path().join(&first[0].ulid),
        &aside.path().join(&first[0].ulid),
    );
    fill(&db, 3, 4 * H, 10 * H, 60_000, &mut expect);
    db.compact().unwrap();
    let metas = db.blocks();
    let parent_of = metas
        .iter()
        .find(|m| m.compaction.parents.iter().any(|p| p.ulid == first[0].ulid))
        .expect("the first block was compacted")
        .ulid
        .clone();
    db.close().unwrap();
    // Put the parent back, as if deletion never happened.
    lookout_testkit::copy_dir(
        &aside.path().join(&first[0].ulid),
        &tmp.path().join(&first[0].ulid),
    );
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert!(!tmp.path().join(&first[0].ulid).exists());
    assert!(db.blocks().iter().any(|m| m.ulid == parent_of));
    same(&dump(&db, "m"), &expect);
    let victim = db.blocks()[0].clone();
    db.close().unwrap();
    let mut m = victim.clone();
    m.compaction.deletable = true;
    m.write(&tmp.path().join(&victim.ulid)).unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert!(!tmp.path().join(&victim.ulid).exists());
    assert!(db.blocks().iter().all(|b| b.ulid != victim.ulid));
    db.close().unwrap();
}

#[test]
fn snapshot_with_and_without_head() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let snap = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let mut expect = Dump::new();
    fill(&db, 4, 0, 7 * H, 60_000, &mut expect);
    db.compact().unwrap();
    let metas = db.snapshot(&snap.path().join("s1"), true).unwrap();
    assert_eq!(metas.len(), db.blocks().len() + 1);
    let metas = db.snapshot(&snap.path().join("s2"), false).unwrap();
    assert_eq!(metas.len(), db.blocks().len());
    db.close().unwrap();
    let s1 = Db::open(&snap.path().join("s1"), opts()).unwrap();
    same(&dump(&s1, "m"), &expect);
    s1.close().unwrap();
    let s2 = Db::open_read_only(&snap.path().join("s2")).unwrap();
    let first_head = s2.blocks().last().unwrap().max_time;
    let want: Dump = expect
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.iter().copied().filter(|s| s.0 < first_head).collect(),
            )
        })
        .collect();
    same(&dump(&s2, "m"), &want);
}

#[test]
fn background_compaction_runs_and_stops_on_close() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(
        tmp.path(),
        opts().compaction_interval(Some(Duration::from_millis(20))),
    )
    .unwrap();
    let mut expect = Dump::new();
    fill(&db, 3, 0, 7 * H, 60_000, &mut expect);
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.blocks().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(db.blocks().len() >= 2, "{:?}", db.last_compaction_error());
    // Appends go on while the thread runs.
    fill(&db, 3, 7 * H, 8 * H, 60_000, &mut expect);
    same(&dump(&db, "m"), &expect);
    db.close().unwrap();
}

/// Random appends, deletions, compactions, tombstone cleaning and reopens, checked after every
/// step against a plain model of what should be there.
#[test]
fn random_operations_match_a_model() {
    for seed in 1..=4u64 {
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let mut rng = Rng(seed * 7919);
        let o = opts().block_range(H / 2);
        let mut db = Db::open(tmp.path(), o.clone()).unwrap();
        let mut model = Dump::new();
        let labels: Vec<Labels> = (0..8)
            .map(|i| format!("r{{i=\"{i}\",g=\"{}\"}}", i % 2).parse().unwrap())
            .collect();
        let mut t = 0i64;
        for step in 0..60 {
            let op = rng.below(10);
            match op {
                0..=5 => {
                    let mut app = db.appender();
                    for _ in 0..(1 + rng.below(40)) {
                        t += 1 + rng.below(120_000) as i64;
                        for l in &labels {
                            if rng.below(3) == 0 {
                                continue;
                            }
                            let v = rng.below(1000) as f64 / 8.0;
                            app.append(l, t, v).unwrap();
                            model
                                .entry(l.to_string())
                                .or_default()
                                .push((t, v.to_bits()));
                        }
                    }
                    app.commit().unwrap();
                }
                6 => {
                    let g = rng.below(2);
                    let a = rng.below(t.max(1) as u64) as i64;
                    let b = a + rng.below(3 * H as u64) as i64;
                    db.delete(&parse_selector(&format!("r{{g=\"{g}\"}}")).unwrap(), a, b)
                        .unwrap();
                    for (k, v) in model.iter_mut() {
                        if k.contains(&format!("g=\"{g}\"")) {
                            v.retain(|s| s.0 < a || s.0 > b);
                        }
                    }
                }
                7 => {
                    db.compact().unwrap();
                }
                8 => {
                    db.clean_tombstones().unwrap();
                }
                _ => {
                    db.close().unwrap();
                    db = Db::open(tmp.path(), o.clone()).unwrap();
                }
            }
            model.retain(|_, v| !v.is_empty());
            let got = dump(&db, "{__name__=\"r\"}");
            let ctx = format!("seed {seed} step {step}");
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                model.keys().collect::<Vec<_>>(),
                "{ctx}"
            );
            for (k, v) in &model {
                assert!(
                    got[k] == *v,
                    "{ctx}: {k}: {} vs {} samples",
                    got[k].len(),
                    v.len()
                );
            }
            let metas = db.blocks();
            for w in metas.windows(2) {
                assert!(w[0].max_time <= w[1].min_time, "{ctx}: overlapping blocks");
            }
        }
        db.close().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Crash safety.

const CRASH_ENV: &str = "LOOKOUT_TSDB_DB_CRASH_CHILD";
const CRASH_SERIES: usize = 20;
const CRASH_STEP: i64 = 60_000;

fn crash_opts(retention: bool) -> DbOptions {
    let o = opts().block_range(H / 6);
    if retention {
        o.retention(4 * H)
    } else {
        o
    }
}

/// The child of the crash tests: appends batch after batch (one sample per series, a minute
/// apart), compacting after each, and prints each committed batch number.
#[test]
fn db_crash_child_helper() {
    let Some(spec) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let spec = spec.to_string_lossy().into_owned();
    let (retention, dir) = spec.split_once(':').unwrap();
    let retention = retention == "1";
    let db = Db::open(Path::new(dir), crash_opts(retention)).unwrap();
    let mut batch = db.head().max_time().map_or_else(
        || db.blocks().last().map_or(0, |m| m.max_time / CRASH_STEP),
        |t| t / CRASH_STEP + 1,
    );
    let labels: Vec<Labels> = (0..CRASH_SERIES)
        .map(|s| format!("crash{{series=\"{s}\"}}").parse().unwrap())
        .collect();
    let mut out = std::io::stdout().lock();
    loop {
        for _ in 0..5 {
            let mut a = db.appender();
            for (s, l) in labels.iter().enumerate() {
                a.append(l, batch * CRASH_STEP, (batch * 100 + s as i64) as f64)
                    .unwrap();
            }
            a.commit().unwrap();
            use std::io::Write;
            writeln!(out, "committed {batch}").unwrap();
            out.flush().unwrap();
            batch += 1;
        }
        db.compact().unwrap();
    }
}

fn crash_rounds(retention: bool) {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(if retention { 11 } else { 5 });
    let mut last_committed: Option<i64> = None;
    let mut interrupted = 0;
    let mut round = 0;
    // At least 6 rounds; more (up to 40) until two kills landed mid-compaction or retention.
    while round < 6 || (interrupted < 2 && round < 40) {
        round += 1;
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "db::db_crash_child_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(
                CRASH_ENV,
                format!("{}:{}", u8::from(retention), tmp.path().display()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let target = 100 + rng.below(400) as usize;
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("committed ") {
                last_committed = Some(n.parse().unwrap());
                seen += 1;
                if seen >= target || Instant::now() > deadline {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        child.kill().unwrap(); // SIGKILL, likely mid-compaction
        child.wait().unwrap();
        assert!(seen > 0, "round {round}: child committed nothing");
        if interrupted_work(tmp.path()) {
            interrupted += 1;
        }
        let db = Db::open(tmp.path(), crash_opts(retention)).unwrap();
        let last = last_committed.unwrap();
        let got = dump(&db, "crash");
        assert_eq!(got.len(), CRASH_SERIES, "round {round}");
        // Blocks never overlap after recovery and only loaded blocks are on disk.
        let metas = db.blocks();
        for w in metas.windows(2) {
            assert!(w[0].max_time <= w[1].min_time, "round {round}: {metas:?}");
        }
        // What retention may have removed: everything before the oldest block.
        let floor = if retention {
            metas.first().map_or(0, |m| m.min_time / CRASH_STEP)
        } else {
            0
        };
        for (labels, samples) in &got {
            let s: i64 = labels
                .split("series=\"")
                .nth(1)
                .and_then(|x| x.split('"').next())
                .unwrap()
                .parse()
                .unwrap();
            let want: Vec<(i64, u64)> = (floor..=last)
                .map(|b| (b * CRASH_STEP, ((b * 100 + s) as f64).to_bits()))
                .collect();
            // The child may have committed more after the last line we read.
            assert!(samples.len() >= want.len(), "round {round}: {labels}");
            assert_eq!(&samples[..want.len()], &want[..], "round {round}: {labels}");
        }
        if retention {
            assert!(
                floor * CRASH_STEP >= 0 && metas.len() <= 4 * 6 + 4,
                "round {round}: {} blocks",
                metas.len()
            );
        }
        db.close().unwrap();
    }
    println!(
        "crash rounds (retention {retention}): {round}, killed mid-compaction/deletion: {interrupted}"
    );
}

/// Whether the directory shows a kill in the middle of block work: a block being written or
/// deleted, or a compacted block's parents still present.
fn interrupted_work(dir: &Path) -> bool {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    if names
        .iter()
        .any(|n| n.ends_with(".tmp-for-creation") || n.ends_with(".tmp-for-deletion"))
    {
        return true;
    }
    let blocks: Vec<&String> = names.iter().filter(|n| n.len() == 26).collect();
    blocks.iter().any(|b| {
        lookout_tsdb::meta::BlockMeta::read(&dir.join(b)).is_ok_and(|m| {
            m.compaction
                .parents
                .iter()
                .any(|p| blocks.iter().any(|x| **x == p.ulid))
        })
    })
}

#[test]
fn sigkill_during_compaction_loses_nothing() {
    crash_rounds(false);
}

#[test]
fn sigkill_during_retention_loses_only_expired_data() {
    crash_rounds(true);
}

// ---------------------------------------------------------------------------------------------
// Prometheus 2.42 interop.

/// A data directory written by Prometheus 2.42 (its WAL and head chunks, plus a promtool
/// block) opens in our Db, is queried, keeps ingesting, and compacts.
#[test]
fn opens_prometheus_data_dir_and_keeps_ingesting() {
    let Some(shared) = lookout_testkit::shared_path("datasets/metrics/prometheus-2.42-generated")
    else {
        lookout_testkit::skip("shared datasets missing");
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    lookout_testkit::copy_dir(&shared.join("selfscrape-data"), tmp.path());
    lookout_testkit::copy_dir(
        &shared.join("block/01M80EW3P5VYV0B203ZE6FRZ3F"),
        &tmp.path().join("01M80EW3P5VYV0B203ZE6FRZ3F"),
    );
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.blocks().len(), 1);
    let head_series = dump(&db, "{__name__=~\".+\"}");
    assert!(head_series.len() > 300, "{}", head_series.len());
    let max = db.head().max_time().unwrap();
    let l: Labels = r#"lookout_new{a="b"}"#.parse().unwrap();
    let mut app = db.appender();
    for i in 1..=(4 * H / 10_000) {
        app.append(&l, max + i * 10_000, i as f64).unwrap();
    }
    app.commit().unwrap();
    db.compact().unwrap();
    assert!(db.blocks().len() >= 2);
    let got = dump(&db, "lookout_new");
    assert_eq!(got.values().next().unwrap().len() as i64, 4 * H / 10_000);
    // The promtool block's series are still there.
    let promtool_block = dump(&db, r#"{__name__=~".+", instance=""}"#);
    assert!(!promtool_block.is_empty());
    db.close().unwrap();
}

/// promtool (2.42) dumps a directory our Db compacted exactly as we read it.
#[test]
fn promtool_dumps_our_compacted_dir() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let mut expect = Dump::new();
    fill(
        &db,
        5,
        1_700_000_000_000,
        1_700_000_000_000 + 30 * H,
        60_000,
        &mut expect,
    );
    // Some deletion that compaction must apply.
    db.compact().unwrap();
    db.delete(
        &parse_selector(r#"m{i="1"}"#).unwrap(),
        1_700_000_000_000 + 2 * H,
        1_700_000_000_000 + 3 * H,
    )
    .unwrap();
    db.clean_tombstones().unwrap();
    assert!(db.blocks().iter().any(|m| m.compaction.level >= 2));
    let mut ours = Vec::new();
    lookout_tsdb::write_dump(&db, i64::MIN, i64::MAX, &[], &mut ours).unwrap();
    db.close().unwrap();
    let out = Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut theirs: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    let ours = String::from_utf8(ours).unwrap();
    let mut ours: Vec<&str> = ours.lines().collect();
    theirs.sort_unstable();
    ours.sort_unstable();
    println!("promtool dump lines: {} ours: {}", theirs.len(), ours.len());
    assert_eq!(theirs.len(), ours.len());
    assert_eq!(theirs, ours);
}

/// A data directory a live Prometheus 2.42 wrote (scraping itself on 127.0.0.1, then killed)
/// opens in our Db, which keeps ingesting into it and cuts blocks.
#[test]
fn opens_live_prometheus_data_dir() {
    let Some(prom) = lookout_testkit::oracle("prometheus") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let port = lookout_testkit::free_port();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 90ms\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let child = Command::new(prom)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = lookout_testkit::ChildGuard(child);
    assert!(lookout_testkit::wait_for_port(
        port,
        Duration::from_secs(20)
    ));
    let wal0 = data.join("wal").join("00000000");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        if std::fs::metadata(&wal0).map(|m| m.len()).unwrap_or(0) > 20_000 {
            std::thread::sleep(Duration::from_millis(1000));
            break;
        }
    }
    drop(guard); // SIGKILL: the lock is released with the process
    let db = Db::open(&data, opts()).unwrap();
    let up = dump(&db, r#"up{job="self"}"#);
    assert_eq!(up.len(), 1);
    let n_up = up.values().next().unwrap().len();
    assert!(n_up >= 3, "{n_up}");
    assert!(dump(&db, "{__name__=~\"prometheus_.+\"}").len() > 50);
    // Keep ingesting 4 h past Prometheus' data; the head is cut into blocks.
    let max = db.head().max_time().unwrap();
    let l: Labels = r#"up{job="self",instance="lookout"}"#.parse().unwrap();
    let mut app = db.appender();
    for i in 1..=(4 * H / 15_000) {
        app.append(&l, max + i * 15_000, 1.0).unwrap();
    }
    app.commit().unwrap();
    db.compact().unwrap();
    assert!(!db.blocks().is_empty());
    let up = dump(&db, r#"up{job="self"}"#);
    assert_eq!(up.len(), 2);
    assert_eq!(up.values().map(Vec::len).min().unwrap(), n_up);
    db.close().unwrap();
}

//! `lookout tsdb dump` and `lookout tsdb analyze` over block directories, compared byte for
//! byte (dump) and figure for figure (analyze) with promtool 2.42: the golden block, the
//! index-v1 block, blocks promtool builds from OpenMetrics in the test (several blocks,
//! overlapping blocks, blocks plus a WAL head), `--match`, `--min-time`, `--max-time`, and
//! corrupt blocks.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lookout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

/// Runs `tsdb dump` with `args` through both tools and requires identical stdout.
fn same_dump(promtool: &Path, dir: &Path, args: &[&str], what: &str) -> usize {
    let ours = run(lookout().args(["tsdb", "dump"]).args(args).arg(dir));
    let theirs = run(Command::new(promtool)
        .args(["tsdb", "dump"])
        .args(args)
        .arg(dir));
    assert!(
        theirs.status.success(),
        "{what}: promtool: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert!(
        ours.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    if ours.stdout != theirs.stdout {
        let a = String::from_utf8_lossy(&ours.stdout);
        let b = String::from_utf8_lossy(&theirs.stdout);
        let first = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(a.lines().count().min(b.lines().count()));
        panic!(
            "{what} {args:?}: outputs differ ({} vs {} lines), first at line {first}: {:?} vs {:?}",
            a.lines().count(),
            b.lines().count(),
            a.lines().nth(first),
            b.lines().nth(first)
        );
    }
    ours.stdout.iter().filter(|&&c| c == b'\n').count()
}

/// A data dir holding one copy of the shared block at `rel` (plus an empty `wal/`, which
/// promtool 2.42 requires).
fn shared_block_dir(rel: &str, ulid: &str) -> Option<lookout_testkit::tempfile::TempDir> {
    let src = lookout_testkit::shared_path(rel)?;
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    lookout_testkit::copy_dir(&src, &tmp.path().join(ulid));
    std::fs::create_dir_all(tmp.path().join("wal")).unwrap();
    Some(tmp)
}

/// OpenMetrics text: a few metrics × label values over `hours`, 15 s / 60 s / irregular
/// intervals, with specials, starting at `start` ms; `shift` varies the values.
fn openmetrics(start: i64, hours: i64, shift: u64) -> String {
    let mut text = String::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ shift;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let end = start + hours * 3_600_000;
    let ts = |t: i64| format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000));
    for inst in ["a", "b", "c"] {
        let mut v = shift;
        text.push_str("# TYPE http_requests counter\n");
        let mut t = start;
        while t < end {
            v += next() % 10;
            text.push_str(&format!(
                "http_requests_total{{instance=\"{inst}\",code=\"200\"}} {v} {}\n",
                ts(t)
            ));
            t += 15_000;
        }
    }
    text.push_str("# TYPE cpu gauge\n");
    for core in 0..4 {
        let mut t = start + core * 1000;
        while t < end {
            let x = (next() % 10_000) as f64 / 100.0 - 20.0;
            text.push_str(&format!("cpu{{core=\"{core}\"}} {x} {}\n", ts(t)));
            t += 60_000;
        }
    }
    let specials = ["NaN", "+Inf", "-Inf", "0", "-0", "1e308", "5e-324", "0.1"];
    let mut t = start;
    while t < end {
        let s = specials[(next() % specials.len() as u64) as usize];
        text.push_str(&format!("odd {s} {}\n", ts(t)));
        t += 1 + (next() % 900_000) as i64;
    }
    text.push_str("# EOF\n");
    text
}

/// Builds blocks from `om` with promtool into `out`.
fn create_blocks(promtool: &Path, om: &str, out: &Path) {
    let input = out.with_extension("om");
    std::fs::write(&input, om).unwrap();
    let st = run(Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(out));
    assert!(
        st.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::create_dir_all(out.join("wal")).unwrap();
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    lookout_tsdb::block::numbered_block_dirs(dir).unwrap()
}

const START: i64 = 1_700_000_000_000;

#[test]
fn dump_matches_promtool_on_fixture_blocks() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let mut n = 0;
    if let Some(d) = shared_block_dir(
        "datasets/metrics/prometheus-2.42-generated/block/01M80EW3P5VYV0B203ZE6FRZ3F",
        "01M80EW3P5VYV0B203ZE6FRZ3F",
    ) {
        assert_eq!(same_dump(&promtool, d.path(), &[], "golden"), 2000);
        for args in [
            &["--match", "temp"][..],
            &["--match", r#"{code!="200"}"#],
            &["--match", r#"{job=~"d.*", code=~"500|404"}"#],
            &["--min-time", "1700000300000", "--max-time", "1700000600000"],
            &["--min-time", "1700005985015"],
            &["--max-time", "1699999999999"],
        ] {
            same_dump(&promtool, d.path(), args, "golden");
            n += 1;
        }
    }
    if let Some(d) = shared_block_dir(
        "datasets/metrics/prometheus-block-index-v1/index_format_v1",
        "01DXXFZDYD1MQW6079WK0K6EDQ",
    ) {
        assert_eq!(same_dump(&promtool, d.path(), &[], "index v1"), 102);
        same_dump(&promtool, d.path(), &["--match", r#"{bar=~"1.*"}"#], "v1");
        n += 2;
    }
    println!("fixture dumps vs promtool: {n} passed, 0 failed, 0 skipped");
}

#[test]
fn dump_matches_promtool_on_openmetrics_blocks() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    create_blocks(&promtool, &openmetrics(START, 9, 1), &dir);
    assert!(block_dirs(&dir).len() >= 4, "several 2h blocks");
    let mut n = 0;
    let total = same_dump(&promtool, &dir, &[], "openmetrics blocks");
    assert!(total > 5_000);
    let mid = START + 4 * 3_600_000;
    let t = |x: i64| x.to_string();
    let cases: Vec<Vec<String>> = vec![
        vec!["--match".into(), "http_requests_total".into()],
        vec!["--match".into(), r#"{instance!="b"}"#.into()],
        vec![
            "--match".into(),
            r#"{__name__=~"cpu|odd", core!~"[12]"}"#.into(),
        ],
        vec!["--match".into(), r#"{core=""}"#.into()],
        vec!["--match".into(), r#"{instance=~"a|c", code="200"}"#.into()],
        vec!["--min-time".into(), t(mid)],
        vec!["--max-time".into(), t(mid + 1)],
        vec![
            "--min-time".into(),
            t(START + 7_199_999),
            "--max-time".into(),
            t(START + 7_200_001),
            "--match".into(),
            "odd".into(),
        ],
        vec![
            "--min-time".into(),
            "0".into(),
            "--max-time".into(),
            "0".into(),
        ],
    ];
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        same_dump(&promtool, &dir, &args, "openmetrics blocks");
        n += 1;
    }
    println!("openmetrics block dumps vs promtool: {n} passed, 0 failed, 0 skipped");
}

#[test]
fn dump_matches_promtool_on_overlapping_blocks() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // The same series twice over overlapping ranges, the second shifted by 7.5 s (samples
    // interleave) and sharing the first's samples where the timestamps coincide.
    create_blocks(&promtool, &openmetrics(START, 5, 1), &dir);
    let second = tmp.path().join("second");
    let text = openmetrics(START + 3 * 3_600_000 + 7_500, 4, 2);
    create_blocks(&promtool, &text, &second);
    for b in block_dirs(&second) {
        std::fs::rename(&b, dir.join(b.file_name().unwrap())).unwrap();
    }
    let n = same_dump(&promtool, &dir, &[], "overlapping blocks");
    assert!(n > 5_000);
    same_dump(&promtool, &dir, &["--match", "cpu"], "overlapping blocks");
    same_dump(
        &promtool,
        &dir,
        &["--min-time", &(START + 3 * 3_600_000).to_string()],
        "overlapping blocks",
    );
}

/// Two blocks with different values at the same timestamps: one value per timestamp, the
/// one promtool's chain merge picks.
#[test]
fn dump_matches_promtool_on_conflicting_duplicates() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    create_blocks(
        &promtool,
        "m{a=\"1\"} 1 1000\nm{a=\"1\"} 1 2000\nm{a=\"1\"} 1 3000\n# EOF\n",
        &dir,
    );
    let second = tmp.path().join("second");
    create_blocks(
        &promtool,
        "m{a=\"1\"} 2 2000\nm{a=\"1\"} 2 3000\nm{a=\"1\"} 2 4000\n# EOF\n",
        &second,
    );
    for b in block_dirs(&second) {
        std::fs::rename(&b, dir.join(b.file_name().unwrap())).unwrap();
    }
    assert_eq!(same_dump(&promtool, &dir, &[], "conflicting duplicates"), 4);
}

/// Three or four blocks holding the same series at partly shared timestamps, each block with
/// its own values: at every shared timestamp one block's value wins, and which one follows
/// from the order of Prometheus' heaps (series sets by labels, then samples by time), not
/// simply from block order. Random cases, compared with promtool line for line.
#[test]
fn dump_matches_promtool_on_many_conflicting_blocks() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let series = ["m{a=\"1\"}", "m{a=\"2\"}", "n{b=\"x\"}"];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut lines = 0;
    let cases = 10;
    for case in 0..cases {
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let blocks = 3 + next() % 2;
        for b in 0..blocks {
            let mut text = String::new();
            for s in series {
                if next() % 4 == 0 {
                    continue;
                }
                for k in 0..24u64 {
                    if next() % 2 == 0 {
                        let t = START + k as i64 * 1000;
                        text.push_str(&format!("{s} {} {}\n", b * 100 + k, t / 1000));
                    }
                }
            }
            if text.is_empty() {
                continue;
            }
            text.push_str("# EOF\n");
            let out = tmp.path().join(format!("b{b}"));
            create_blocks(&promtool, &text, &out);
            std::fs::create_dir_all(&dir).unwrap();
            for d in block_dirs(&out) {
                std::fs::rename(&d, dir.join(d.file_name().unwrap())).unwrap();
            }
        }
        if !dir.is_dir() {
            continue;
        }
        std::fs::create_dir_all(dir.join("wal")).unwrap();
        lines += same_dump(
            &promtool,
            &dir,
            &[],
            &format!("conflicting blocks, case {case}"),
        );
    }
    assert!(lines > 100, "{lines} lines");
    println!("conflicting-block dumps vs promtool: {cases} passed, 0 failed, 0 skipped");
}

#[test]
fn dump_matches_promtool_on_blocks_and_wal() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    create_blocks(&promtool, &openmetrics(START, 5, 1), &dir);
    let last_max = block_dirs(&dir)
        .iter()
        .map(|d| {
            lookout_tsdb::meta::BlockMeta::read(d)
                .map(|m| (m.min_time, m.max_time))
                .unwrap()
        })
        .max()
        .unwrap()
        .1;
    std::fs::remove_dir_all(dir.join("wal")).unwrap();
    // A head whose WAL holds samples before the end of the last block (Prometheus 2.42
    // keeps them), series shared with the blocks, and new series.
    let (head, _) = lookout_tsdb::Head::open(&dir, lookout_tsdb::HeadOptions::default()).unwrap();
    let shared: lookout_model::Labels = r#"cpu{core="1"}"#.parse().unwrap();
    let fresh: lookout_model::Labels = r#"new_metric{x="y"}"#.parse().unwrap();
    let mut t = last_max - 120_000;
    for i in 0..200 {
        let mut app = head.appender();
        app.append(&shared, t, i as f64).unwrap();
        app.append(&fresh, t + 1, -(i as f64)).unwrap();
        app.commit().unwrap();
        t += 15_000;
    }
    head.close().unwrap();
    let n = same_dump(&promtool, &dir, &[], "blocks + WAL");
    assert!(n > 5_000);
    same_dump(&promtool, &dir, &["--match", "cpu"], "blocks + WAL");
    same_dump(
        &promtool,
        &dir,
        &["--max-time", &(last_max - 1).to_string()],
        "blocks + WAL",
    );
    same_dump(
        &promtool,
        &dir,
        &["--min-time", &(last_max + 30_000).to_string()],
        "blocks + WAL",
    );
}

#[test]
fn dump_reports_a_corrupt_block_and_dumps_the_rest() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    create_blocks(&promtool, &openmetrics(START, 5, 1), &dir);
    let blocks = block_dirs(&dir);
    let victim = &blocks[1];
    let index = victim.join("index");
    let mut b = std::fs::read(&index).unwrap();
    b[20] ^= 0xFF; // inside the symbol table
    std::fs::write(&index, &b).unwrap();
    let ours = run(lookout().args(["tsdb", "dump"]).arg(&dir));
    assert_eq!(ours.status.code(), Some(1));
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(
        err.contains(&index.display().to_string()) && err.contains("corrupt at byte 5"),
        "{err}"
    );
    // The rest is what promtool prints for the directory without that block.
    let moved = tmp.path().join("aside");
    std::fs::rename(victim, &moved).unwrap();
    let theirs = run(Command::new(&promtool).args(["tsdb", "dump"]).arg(&dir));
    assert!(theirs.status.success());
    assert_eq!(ours.stdout, theirs.stdout);
    std::fs::rename(&moved, victim).unwrap();

    // A flipped chunk byte: the error names the segment file and the offset.
    std::fs::write(&index, {
        b[20] ^= 0xFF;
        &b
    })
    .unwrap();
    let seg = victim.join("chunks/000001");
    let mut c = std::fs::read(&seg).unwrap();
    c[40] ^= 0x10;
    std::fs::write(&seg, &c).unwrap();
    let ours = run(lookout().args(["tsdb", "dump"]).arg(&dir));
    assert_eq!(ours.status.code(), Some(1));
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(
        err.contains(&seg.display().to_string()) && err.contains("checksum"),
        "{err}"
    );
    // Truncated segment.
    std::fs::write(&seg, &c[..c.len() / 2]).unwrap();
    let ours = run(lookout().args(["tsdb", "dump"]).arg(&dir));
    assert_eq!(ours.status.code(), Some(1));
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(err.contains(&seg.display().to_string()), "{err}");
}

/// promtool's analyze output split into its header lines and its lists (as sets: promtool
/// orders ties randomly).
type Analysis = (Vec<String>, BTreeMap<String, Vec<String>>);

fn parse_analysis(text: &str) -> Analysis {
    let mut header = Vec::new();
    let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(title) = line.strip_suffix(':') {
            cur = Some(title.to_string());
            lists.entry(title.to_string()).or_default();
            continue;
        }
        match &cur {
            Some(t) => lists.entry(t.clone()).or_default().push(line.to_string()),
            None => header.push(line.to_string()),
        }
    }
    for v in lists.values_mut() {
        v.sort();
    }
    (header, lists)
}

#[test]
fn analyze_matches_promtool() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    create_blocks(&promtool, &openmetrics(START, 5, 1), &dir);
    let mut dirs: Vec<(PathBuf, String)> = block_dirs(&dir)
        .into_iter()
        .map(|d| {
            let id = d.file_name().unwrap().to_string_lossy().into_owned();
            (dir.clone(), id)
        })
        .collect();
    for (rel, id) in [
        (
            "datasets/metrics/prometheus-2.42-generated/block/01M80EW3P5VYV0B203ZE6FRZ3F",
            "01M80EW3P5VYV0B203ZE6FRZ3F",
        ),
        (
            "datasets/metrics/prometheus-block-index-v1/index_format_v1",
            "01DXXFZDYD1MQW6079WK0K6EDQ",
        ),
    ] {
        if let Some(src) = lookout_testkit::shared_path(rel) {
            let d = tmp.path().join(id);
            lookout_testkit::copy_dir(&src, &d.join(id));
            std::fs::create_dir_all(d.join("wal")).unwrap();
            dirs.push((d, id.to_string()));
        }
    }
    let mut n = 0;
    for (d, id) in &dirs {
        let ours = run(lookout()
            .args([
                "tsdb",
                "analyze",
                "--extended",
                "--limit",
                "100000",
                "--block",
                id,
            ])
            .arg(d));
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let theirs = run(Command::new(&promtool)
            .args(["tsdb", "analyze", "--extended", "--limit", "100000"])
            .arg(d)
            .arg(id));
        assert!(theirs.status.success());
        let a = parse_analysis(&String::from_utf8_lossy(&ours.stdout));
        let b = parse_analysis(&String::from_utf8_lossy(&theirs.stdout));
        assert_eq!(a, b, "{id}");
        n += 1;
    }
    // The block as a positional argument, as promtool takes it.
    let (d, id) = &dirs[0];
    let pos = run(lookout().args(["tsdb", "analyze"]).arg(d).arg(id));
    assert!(pos.status.success());
    assert!(String::from_utf8_lossy(&pos.stdout).starts_with(&format!("Block ID: {id}\n")));
    // The default block is the last one by time; --limit cuts lists.
    let ours = run(lookout()
        .args(["tsdb", "analyze", "--limit", "1"])
        .arg(&dir));
    let theirs = run(Command::new(&promtool)
        .args(["tsdb", "analyze", "--limit", "1"])
        .arg(&dir));
    let (a, b) = (
        parse_analysis(&String::from_utf8_lossy(&ours.stdout)),
        parse_analysis(&String::from_utf8_lossy(&theirs.stdout)),
    );
    assert_eq!(a.0, b.0);
    for (k, v) in &a.1 {
        assert_eq!(v.len(), b.1[k].len(), "{k}");
    }
    println!("analyze vs promtool: {} passed, 0 failed, 0 skipped", n + 1);
}

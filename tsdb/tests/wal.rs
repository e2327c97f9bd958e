//! WAL durability and compatibility: crash recovery under SIGKILL, WALs written by
//! Prometheus 2.42 (the shared fixture and a live server run in the test).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lookout_model::{parse_selector, Querier, SelectHints, ValueKind};
use lookout_tsdb::head_chunks::read_head_chunks;
use lookout_tsdb::{ChunkFlavor, Head, HeadOptions, SeriesRef, WalOptions};

use crate::golden::Rng;

const CRASH_ENV: &str = "LOOKOUT_TSDB_CRASH_CHILD_DIR";
const SERIES: i64 = 50;

fn crash_opts() -> HeadOptions {
    // Small segments so segment cuts happen during the test.
    HeadOptions::default().wal(WalOptions::default().segment_size(64 * 1024))
}

/// The child side of `sigkill_loses_no_committed_sample`: runs only when re-invoked with the
/// environment variable set; appends batch after batch and prints each committed batch number.
#[test]
fn crash_child_helper() {
    let Some(dir) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let (head, _) = Head::open(Path::new(&dir), crash_opts()).unwrap();
    let mut batch = head.max_time().map_or(0, |t| t / 1000 + 1);
    let labels: Vec<_> = (0..SERIES)
        .map(|s| format!("crash{{series=\"{s}\"}}").parse().unwrap())
        .collect();
    let mut out = std::io::stdout().lock();
    loop {
        let mut a = head.appender();
        for (s, l) in labels.iter().enumerate() {
            a.append(l, batch * 1000, (batch * SERIES + s as i64) as f64)
                .unwrap();
        }
        a.commit().unwrap();
        use std::io::Write;
        writeln!(out, "committed {batch}").unwrap();
        out.flush().unwrap();
        batch += 1;
    }
}

fn samples_of(head: &Head, sel: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    let ms = parse_selector(sel).unwrap();
    head.select(i64::MIN, i64::MAX, &ms, &SelectHints::default())
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            let mut it = s.iter();
            let mut v = Vec::new();
            while it.next() == ValueKind::Float {
                let x = it.at();
                v.push((x.t, x.v));
            }
            assert!(it.err().is_none());
            (s.labels().to_string(), v)
        })
        .collect()
}

#[test]
fn sigkill_loses_no_committed_sample() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(7);
    let mut last_committed: Option<i64> = None;
    let mut truncations = 0;
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "wal::crash_child_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let target = 20 + rng.below(300) as usize;
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
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
        // Kill while it is writing the next batches.
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(seen > 0, "round {round}: child committed nothing");
        let (head, stats) = Head::open(tmp.path(), crash_opts()).unwrap();
        if stats.truncated.is_some() {
            truncations += 1;
        }
        let last = last_committed.unwrap();
        let got = samples_of(&head, "crash");
        assert_eq!(got.len(), SERIES as usize, "round {round}");
        for (labels, samples) in &got {
            let s: i64 = labels
                .split("series=\"")
                .nth(1)
                .and_then(|x| x.split('"').next())
                .unwrap()
                .parse()
                .unwrap();
            // Every committed batch 0..=last is there, in order, with its value.
            assert!(
                samples.len() as i64 > last,
                "round {round}: {labels} has {} samples, committed {}",
                samples.len(),
                last + 1
            );
            for (b, (t, v)) in samples.iter().enumerate() {
                assert_eq!(*t, b as i64 * 1000, "round {round}: {labels}");
                assert_eq!(
                    *v,
                    (b as i64 * SERIES + s) as f64,
                    "round {round}: {labels}"
                );
            }
        }
        head.close().unwrap();
    }
    println!("crash rounds: 6, torn tails repaired: {truncations}");

    // A torn write (power loss mid-record): cut the newest non-empty segment inside its last
    // record. Replay warns, cuts the tail, and keeps every earlier batch.
    let wal_dir = tmp.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segs.sort();
    let seg = segs.last().unwrap();
    let bytes = std::fs::read(seg).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap();
    std::fs::write(seg, &bytes[..end - 5]).unwrap();
    let (head, stats) = Head::open(tmp.path(), crash_opts()).unwrap();
    assert!(stats.truncated.is_some(), "{stats:?}");
    let last = last_committed.unwrap();
    for (labels, samples) in samples_of(&head, "crash") {
        assert!(
            samples.len() as i64 >= last,
            "{labels}: {} < {last}",
            samples.len()
        );
    }
}

/// Replays the WAL Prometheus 2.42 wrote while scraping itself, and checks that our head cut the
/// same first chunk of every series, byte for byte, as the one Prometheus m-mapped to
/// `chunks_head/`.
#[test]
fn replays_prometheus_selfscrape_wal() {
    let Some(src) =
        lookout_testkit::shared_path("datasets/metrics/prometheus-2.42-generated/selfscrape-data")
    else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    lookout_testkit::copy_dir(&src, tmp.path());
    let mmapped = read_head_chunks(&tmp.path().join("chunks_head")).unwrap();
    assert_eq!(mmapped.len(), 336);
    let opts = HeadOptions::default().flavor(ChunkFlavor::Prometheus2);
    let (head, stats) = Head::open(tmp.path(), opts).unwrap();
    // Numbers from the fixture's SOURCE.txt.
    assert_eq!(stats.records, 202);
    assert_eq!(stats.series, 336);
    assert_eq!(stats.samples + stats.dropped, 67_162);
    assert_eq!(stats.dropped, 0);
    assert!(stats.truncated.is_none());
    let (mut passed, mut failed) = (0, Vec::new());
    for rec in &mmapped {
        let ours = head.chunks(SeriesRef(rec.series_ref)).unwrap_or_default();
        match ours.first() {
            Some(c) if c.mint == rec.mint && c.maxt == rec.maxt && *c.data == rec.data[..] => {
                passed += 1
            }
            other => failed.push(format!(
                "series {}: ours {:?}",
                rec.series_ref,
                other.map(|c| (c.mint, c.maxt, c.data.len()))
            )),
        }
    }
    println!(
        "selfscrape chunks_head vs replayed head: {passed} passed, {} failed, 0 skipped",
        failed.len()
    );
    for f in &failed {
        println!("  FAILED {f}");
    }
    assert!(failed.is_empty());
    // Replay m-mapped the same chunks again: our chunks_head/ holds Prometheus' records, in
    // the same order, at the same offsets.
    let ours = read_head_chunks(&tmp.path().join("chunks_head")).unwrap();
    assert_eq!(ours.len(), mmapped.len());
    assert!(
        ours == mmapped,
        "chunks_head records differ from Prometheus'"
    );
    let first = head.chunks(SeriesRef(mmapped[0].series_ref)).unwrap();
    assert!(first[0].data.is_mapped());
    let up = samples_of(&head, "up");
    assert_eq!(up.len(), 1);
    assert!(up[0].1.iter().all(|(_, v)| *v == 1.0));
}

/// Runs Prometheus 2.42 briefly against a static target on 127.0.0.1, kills it, and replays the
/// WAL it left behind.
#[test]
fn replays_wal_of_live_prometheus() {
    let Some(prom) = lookout_testkit::oracle("prometheus") else {
        return;
    };
    let server = lookout_testkit::StaticServer::start(|_| {
        (
            "text/plain; version=0.0.4".to_string(),
            b"# TYPE lookout_test gauge\nlookout_test{kind=\"a\"} 42.5\nlookout_test{kind=\"b\"} NaN\nlookout_counter_total 7\n".to_vec(),
        )
    });
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: static\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            server.port
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let port = lookout_testkit::free_port();
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
    // Wait until a few scrapes are in the WAL.
    let deadline = Instant::now() + Duration::from_secs(20);
    let wal0 = data.join("wal").join("00000000");
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        if std::fs::metadata(&wal0).map(|m| m.len()).unwrap_or(0) > 2000 {
            std::thread::sleep(Duration::from_millis(1500));
            break;
        }
    }
    drop(guard); // SIGKILL
    let (head, stats) = Head::open(&data, HeadOptions::default()).unwrap();
    assert!(stats.samples > 10, "{stats:?}");
    let got = samples_of(&head, "lookout_test");
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].0,
        r#"{__name__="lookout_test", instance="127.0.0.1:PORT", job="static", kind="a"}"#
            .replace("PORT", &server.port.to_string())
    );
    // On a loaded machine a scrape can time out: Prometheus then writes `up 0` and stale
    // markers, which the WAL must carry too. Every other sample is the exposed value.
    let stale = |v: f64| lookout_model::is_stale_nan(v);
    let a: Vec<f64> = got[0]
        .1
        .iter()
        .map(|x| x.1)
        .filter(|v| !stale(*v))
        .collect();
    assert!(a.len() >= 3, "{:?}", got[0].1);
    assert!(a.iter().all(|v| *v == 42.5), "{:?}", got[0].1);
    assert!(got[1].1.iter().all(|(_, v)| v.is_nan()));
    assert!(got[1].1.iter().any(|(_, v)| v.is_nan() && !stale(*v)));
    let up = samples_of(&head, r#"up{job="static"}"#);
    assert_eq!(up.len(), 1);
    assert!(up[0].1.iter().all(|(_, v)| *v == 1.0 || *v == 0.0));
    assert!(up[0].1.iter().filter(|(_, v)| *v == 1.0).count() >= 3);
    // Scrapes are ~100 ms apart.
    let ts: Vec<i64> = up[0].1.iter().map(|x| x.0).collect();
    assert!(ts.windows(2).all(|w| w[1] > w[0]));
}

/// Truncating the head checkpoints the WAL; reopening from checkpoint + segments gives back every
/// sample at or after the cut-off, and the removed series stay gone.
#[test]
fn truncate_checkpoints_and_replays() {
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let opts = HeadOptions::default().wal(WalOptions::default().segment_size(32 * 1024));
    let (head, _) = Head::open(tmp.path(), opts.clone()).unwrap();
    let live: Vec<lookout_model::Labels> = (0..20)
        .map(|i| format!("live{{i=\"{i}\"}}").parse().unwrap())
        .collect();
    let gone: lookout_model::Labels = "gone".parse().unwrap();
    for step in 0..2000i64 {
        let t = step * 15_000;
        let mut a = head.appender();
        for (i, l) in live.iter().enumerate() {
            a.append(l, t, (step * 100 + i as i64) as f64).unwrap();
        }
        if step < 500 {
            a.append(&gone, t, 1.0).unwrap();
        }
        a.commit().unwrap();
    }
    let mint = 1000 * 15_000;
    let st = head.truncate(mint).unwrap();
    assert_eq!(st.series_removed, 1);
    let cp = st.checkpoint.expect("enough segments for a checkpoint");
    assert!(cp.segments_removed > 2, "{cp:?}");
    assert_eq!(cp.series, 20);
    assert!(matches!(
        head.appender().append(&live[0], mint - 1, 0.0),
        Err(lookout_tsdb::Error::OutOfBounds)
    ));
    let before: Vec<_> = samples_of(&head, "{i=~\".+\"}")
        .into_iter()
        .map(|(l, s)| (l, s.into_iter().filter(|x| x.0 >= mint).collect::<Vec<_>>()))
        .collect();
    assert!(samples_of(&head, "gone").is_empty());
    head.close().unwrap();
    let wal_dir = tmp.path().join("wal");
    assert!(wal_dir
        .join(format!("checkpoint.{:08}", cp.last_segment))
        .is_dir());
    let (head, stats) = Head::open(tmp.path(), opts).unwrap();
    assert!(stats.truncated.is_none());
    assert_eq!(stats.series, 20);
    let after = samples_of(&head, "{i=~\".+\"}");
    assert_eq!(after.len(), 20);
    assert!(after == before, "replay after checkpoint differs");
    assert_eq!(after[0].1.len(), 1000);
    assert!(samples_of(&head, "gone").is_empty());
    // A second truncation reads the first checkpoint and replaces it.
    let st = head.truncate(1500 * 15_000).unwrap();
    if let Some(cp2) = st.checkpoint {
        assert!(cp2.last_segment > cp.last_segment);
        assert!(!wal_dir
            .join(format!("checkpoint.{:08}", cp.last_segment))
            .exists());
    }
}

/// promtool 2.42 opens a data dir our head wrote (WAL and chunks_head/) and dumps exactly the
/// samples we dump.
#[test]
fn promtool_dumps_what_we_wrote() {
    let Some(promtool) = lookout_testkit::oracle("promtool") else {
        return;
    };
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    // Small WAL segments and snappy on: several segments, compressed records, cut chunks.
    let opts = HeadOptions::default().wal(WalOptions::default().segment_size(64 * 1024));
    let (head, _) = Head::open(tmp.path(), opts).unwrap();
    let mut rng = Rng(3);
    let names = ["a_total", "b", "c_seconds"];
    let start = 1_700_000_000_000i64;
    for step in 0..600i64 {
        let mut app = head.appender();
        for (i, n) in names.iter().enumerate() {
            for j in 0..4 {
                let l: lookout_model::Labels = format!("{n}{{j=\"{j}\",path=\"/x\\\"y\"}}")
                    .parse()
                    .unwrap();
                let v = match rng.below(50) {
                    0 => f64::NAN,
                    1 => lookout_model::stale_nan(),
                    2 => f64::INFINITY,
                    3 => -1.5e-7,
                    _ => (step * (i as i64 + 1) + j) as f64 / 3.0,
                };
                app.append(&l, start + step * 15_000 + j, v).unwrap();
            }
        }
        app.commit().unwrap();
    }
    let mut ours = Vec::new();
    let n = lookout_tsdb::write_dump(&head, i64::MIN, i64::MAX, &[], &mut ours).unwrap();
    assert_eq!(n, 600 * 12);
    head.close().unwrap();
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
    // promtool prints a head-only dir in series-reference order; we print in label order.
    let mut theirs: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    let ours = String::from_utf8(ours).unwrap();
    let mut ours: Vec<&str> = ours.lines().collect();
    theirs.sort_unstable();
    ours.sort_unstable();
    assert_eq!(theirs.len(), ours.len());
    let diff = theirs.iter().zip(&ours).filter(|(a, b)| a != b).count();
    println!(
        "promtool dump vs ours: {} passed, {diff} failed, 0 skipped",
        ours.len() - diff
    );
    assert_eq!(theirs, ours);
}

//! Golden chunk bytes written by Prometheus 2.42 itself: the shared fixture block and blocks
//! `promtool tsdb create-blocks-from openmetrics` builds in the test. Every chunk is decoded,
//! re-encoded with our appender and compared byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use lookout_model::Labels;
use lookout_tsdb::block::{numbered_block_dirs, ChunkMeta, ChunkReader, IndexReader};
use lookout_tsdb::{decode_xor, ChunkFlavor, XorChunk};

/// One series of a block: labels and its chunks (meta, encoding, data).
pub(crate) struct BlockSeries {
    pub(crate) labels: Labels,
    pub(crate) chunks: Vec<(ChunkMeta, u8, Vec<u8>)>,
}

pub(crate) fn read_block(dir: &Path) -> Vec<BlockSeries> {
    let index = IndexReader::open(&dir.join("index")).unwrap();
    let chunks = ChunkReader::open(&dir.join("chunks")).unwrap();
    let mut out = Vec::new();
    for id in index.postings("", "").unwrap() {
        let (labels, metas) = index.series(id).unwrap();
        let mut cs = Vec::new();
        for m in metas {
            let (enc, data) = chunks.chunk(m.chunk_ref).unwrap();
            cs.push((m, enc, data.to_vec()));
        }
        out.push(BlockSeries { labels, chunks: cs });
    }
    out
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: Vec<String>,
}

impl Tally {
    fn report(&self, what: &str) {
        println!(
            "{what}: {} passed, {} failed, 0 skipped",
            self.passed,
            self.failed.len()
        );
        for f in &self.failed {
            println!("  FAILED {f}");
        }
        assert!(self.failed.is_empty(), "{what}: failures");
        assert!(self.passed > 0, "{what}: nothing checked");
    }
}

fn check_block(dir: &Path, tally: &mut Tally) {
    for s in read_block(dir) {
        for (i, (meta, enc, data)) in s.chunks.iter().enumerate() {
            let name = format!("{} {} chunk {i}", dir.display(), s.labels);
            if *enc != 1 {
                tally.failed.push(format!("{name}: encoding {enc}"));
                continue;
            }
            let samples = match decode_xor(data) {
                Ok(x) => x,
                Err(e) => {
                    tally.failed.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let ok_range = samples.first().map(|s| s.t) == Some(meta.mint)
                && samples.last().map(|s| s.t) == Some(meta.maxt);
            let mut v2 = XorChunk::with_flavor(ChunkFlavor::Prometheus2);
            let mut v3 = XorChunk::new();
            for smp in &samples {
                v2.append(smp.t, smp.v).unwrap();
                v3.append(smp.t, smp.v).unwrap();
            }
            let stripped = match data.split_last() {
                Some((0, rest)) if rest.len() == v3.bytes().len() => rest,
                _ => &data[..],
            };
            if v2.bytes() == &data[..] && v3.bytes() == stripped && ok_range {
                tally.passed += 1;
            } else {
                tally.failed.push(format!(
                    "{name}: bytes differ (ours {} B, theirs {} B, range ok {ok_range})",
                    v2.bytes().len(),
                    data.len()
                ));
            }
        }
    }
}

#[test]
fn fixture_block_chunks_reencode_identically() {
    let Some(dir) =
        lookout_testkit::shared_path("datasets/metrics/prometheus-2.42-generated/block")
    else {
        return;
    };
    let mut tally = Tally::default();
    for b in numbered_block_dirs(&dir).unwrap() {
        check_block(&b, &mut tally);
    }
    assert_eq!(tally.passed, 15, "the fixture block holds 15 chunks");
    tally.report("fixture block chunks");
}

/// A deterministic generator (SplitMix64) so failures reproduce.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Real-shaped series for promtool: (metric name, samples as (ms, value text)).
pub(crate) fn openmetrics_series() -> Vec<(String, Vec<(i64, String)>)> {
    let mut rng = Rng(42);
    let start = 1_700_000_000_000i64;
    let mut out = Vec::new();
    // Counter with regular 15 s scrapes and small jitter.
    let mut v = 0u64;
    let s: Vec<(i64, String)> = (0..900)
        .map(|i| {
            v += rng.below(50);
            (
                start + i * 15_000 + rng.below(40) as i64 - 20,
                v.to_string(),
            )
        })
        .collect();
    out.push(("counter_jitter".to_string(), s));
    // Gauge of random floats every 10 s.
    let s = (0..700)
        .map(|i| {
            let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 1000.0 - 500.0;
            (start + i * 10_000, format!("{x}"))
        })
        .collect();
    out.push(("gauge_random".to_string(), s));
    // Specials and equal values, irregular and huge gaps (hours and days).
    let specials = [
        "NaN", "+Inf", "-Inf", "0", "-0", "1e308", "5e-324", "1", "1",
    ];
    let mut t = start;
    let s = (0..400)
        .map(|i| {
            t += match i % 37 {
                0 => 3 * 3_600_000 + 17,
                5 => 86_400_000 * 2,
                _ => 1 + rng.below(30_000) as i64,
            };
            (
                t,
                specials[rng.below(specials.len() as u64) as usize].to_string(),
            )
        })
        .collect();
    out.push(("specials_gaps".to_string(), s));
    // 100 ms scrapes, constant value (the 2.x trailing-byte case appears often).
    let s = (0..3000)
        .map(|i| (start + i * 100, "7".to_string()))
        .collect();
    out.push(("fast_constant".to_string(), s));
    // Integer gauge with occasional resets.
    let mut g = 0i64;
    let s = (0..600)
        .map(|i| {
            g = if rng.below(20) == 0 {
                0
            } else {
                g + rng.below(7) as i64 - 3
            };
            (start + i * 60_000, g.to_string())
        })
        .collect();
    out.push(("int_gauge".to_string(), s));
    out
}

pub(crate) fn openmetrics_text(series: &[(String, Vec<(i64, String)>)]) -> String {
    let mut text = String::new();
    for (name, samples) in series {
        for (t, v) in samples {
            text.push_str(&format!(
                "{name}{{job=\"golden\"}} {v} {}.{:03}\n",
                t.div_euclid(1000),
                t.rem_euclid(1000)
            ));
        }
    }
    text.push_str("# EOF\n");
    text
}

/// Runs `promtool tsdb create-blocks-from openmetrics` over our generated series and returns
/// the block dirs (with the temp dir keeping them alive).
pub(crate) fn promtool_blocks() -> Option<(lookout_testkit::tempfile::TempDir, Vec<PathBuf>)> {
    let promtool = lookout_testkit::oracle("promtool")?;
    let tmp = lookout_testkit::tempfile::tempdir().unwrap();
    let input = tmp.path().join("input.om");
    std::fs::write(&input, openmetrics_text(&openmetrics_series())).unwrap();
    let out = tmp.path().join("out");
    let st = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let dirs = numbered_block_dirs(&out).unwrap();
    Some((tmp, dirs))
}

#[test]
fn promtool_block_chunks_reencode_identically() {
    let Some((_tmp, dirs)) = promtool_blocks() else {
        return;
    };
    assert!(dirs.len() > 3, "the gaps span several 2h blocks");
    let mut tally = Tally::default();
    for d in &dirs {
        check_block(d, &mut tally);
    }
    tally.report("promtool block chunks");
}

/// Our head, fed the samples promtool turned into blocks, cuts the same chunks with the same
/// bytes (promtool's block writer appends through Prometheus' head).
#[test]
fn head_chunk_cutting_matches_promtool() {
    use lookout_tsdb::{Head, HeadOptions};
    let Some((_tmp, dirs)) = promtool_blocks() else {
        return;
    };
    let mut theirs: std::collections::BTreeMap<String, Vec<(i64, i64, Vec<u8>)>> =
        Default::default();
    for d in &dirs {
        for s in read_block(d) {
            let e = theirs.entry(s.labels.to_string()).or_default();
            for (m, _, data) in s.chunks {
                e.push((m.mint, m.maxt, data));
            }
        }
    }
    let mut tally = Tally::default();
    for (name, samples) in openmetrics_series() {
        // A head per series: they share a time range, which one head would reject as out of
        // bounds after the first series.
        let head = Head::new(HeadOptions::default().flavor(ChunkFlavor::Prometheus2));
        let labels: Labels = format!("{name}{{job=\"golden\"}}").parse().unwrap();
        // One commit per sample, as promtool's importer appends.
        let mut r = None;
        for (t, v) in samples {
            let v: f64 = match v.as_str() {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::from_bits(0x7FF8_0000_0000_0001),
                x => x.parse().unwrap(),
            };
            let mut a = head.appender();
            r = Some(a.append(&labels, t, v).unwrap());
            a.commit().unwrap();
        }
        let r = r.unwrap();
        let ours: Vec<(i64, i64, Vec<u8>)> = head
            .chunks(r)
            .unwrap()
            .into_iter()
            .map(|c| (c.mint, c.maxt, c.data.to_vec()))
            .collect();
        let want = theirs.get(&labels.to_string()).cloned().unwrap_or_default();
        let n = ours.len().max(want.len());
        for i in 0..n {
            match (ours.get(i), want.get(i)) {
                (Some(a), Some(b)) if a == b => tally.passed += 1,
                (a, b) => tally.failed.push(format!(
                    "{labels} chunk {i}: ours {:?} theirs {:?}",
                    a.map(|x| (x.0, x.1, x.2.len())),
                    b.map(|x| (x.0, x.1, x.2.len()))
                )),
            }
        }
    }
    tally.report("head chunks vs promtool");
}

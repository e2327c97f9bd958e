//! `lookout tsdb import openmetrics FILE [DIR]`: build blocks from an OpenMetrics file as
//! `promtool tsdb create-blocks-from openmetrics` (Prometheus 2.42) does.
//!
//! Like promtool: every sample needs a timestamp and the input must end with `# EOF`; blocks
//! cover aligned 2 h windows, each holding `[first sample, last sample + 1)`; samples are taken
//! in batches of 5000 as promtool's appender commits them, so within a batch a sample at or
//! before its series' latest one is dropped silently, while one before (or, with another
//! value, at) the latest sample of an earlier batch is an error. Chunks are cut as promtool's
//! head cuts them (chunk range twice the block duration), so the blocks come out
//! byte-identical to promtool's apart from their ULIDs. A table of the blocks written is
//! printed in promtool's layout.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use lookout_exposition::{Entry, Mode, TextParser};
use lookout_model::{civil_from_days, Labels};
use lookout_tsdb::block_writer::{BlockWriter, WriterOptions};
use lookout_tsdb::meta::{BlockMeta, Compaction};

/// Prometheus' default block duration (2 h) in ms.
const BLOCK_DURATION: i64 = 7_200_000;
/// promtool's `maxSamplesInAppender`: samples per appender commit.
const SAMPLES_PER_COMMIT: usize = 5000;

/// Arguments of `lookout tsdb import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    format: ImportFormat,
}

#[derive(Debug, Subcommand)]
enum ImportFormat {
    /// Import samples from an OpenMetrics file (every sample with a timestamp, ending with
    /// `# EOF`) into TSDB blocks, like `promtool tsdb create-blocks-from openmetrics`.
    Openmetrics(OpenMetricsArgs),
}

#[derive(Debug, Args)]
struct OpenMetricsArgs {
    /// OpenMetrics file to read samples from.
    file: PathBuf,
    /// Output directory for generated blocks.
    #[arg(default_value = "data/")]
    dir: PathBuf,
    /// Print human readable values.
    #[arg(short = 'r', long = "human-readable")]
    human_readable: bool,
    /// Do not print created blocks.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// Runs `lookout tsdb import …`.
pub(crate) fn run(args: ImportArgs) -> ExitCode {
    match args.format {
        ImportFormat::Openmetrics(a) => match import_openmetrics(&a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Calls `f` with every sample (labels, ms timestamp, value) of the OpenMetrics input; stops
/// at the first parse error or a sample without timestamp. `first_pass` selects promtool's
/// error wording of its min/max pass.
fn for_each_sample(
    input: &[u8],
    first_pass: bool,
    mut f: impl FnMut(&lookout_exposition::TextSample<'_, '_>, i64) -> Result<(), String>,
) -> Result<(), String> {
    // Prometheus 2.42 keeps `le` and `quantile` values as written.
    let mut p = TextParser::openmetrics(input, Mode::Lenient).normalize_float_labels(false);
    loop {
        match p.next_entry() {
            Ok(None) => return Ok(()),
            Ok(Some(Entry::Sample(s))) => {
                let Some(ts) = s.timestamp else {
                    if first_pass {
                        return Err("expected timestamp for series got none".to_string());
                    }
                    return Err(format!(
                        "expected timestamp for series {}, got none",
                        s.to_labels()
                    ));
                };
                f(&s, ts)?;
            }
            Ok(Some(_)) => {}
            Err(e) if first_pass => return Err(format!("next: {e}")),
            Err(e) => return Err(format!("parse: {e}")),
        }
    }
}

/// One series' samples in a window, with the state promtool's head would have.
#[derive(Default)]
struct SeriesBuf {
    samples: Vec<(i64, f64)>,
    /// The latest sample committed by an earlier batch.
    committed: Option<(i64, u64)>,
}

fn import_openmetrics(a: &OpenMetricsArgs) -> Result<(), String> {
    let input = std::fs::read(&a.file).map_err(|e| format!("{}: {e}", a.file.display()))?;
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    for_each_sample(&input, true, |_, ts| {
        mint = mint.min(ts);
        maxt = maxt.max(ts);
        Ok(())
    })
    .map_err(|e| format!("getting min and max timestamp: {e}"))?;
    if mint > maxt {
        // No samples: promtool writes nothing.
        return Ok(());
    }
    std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let opts = WriterOptions::default().with_chunk_range(2 * BLOCK_DURATION);
    let mut wrote_header = false;
    let mut t = BLOCK_DURATION * (mint / BLOCK_DURATION);
    while t <= maxt {
        let upper = t.saturating_add(BLOCK_DURATION);
        let (written, next) = write_window(&input, t, upper, &a.dir, opts)
            .map_err(|e| format!("block creation: process blocks: {e}"))?;
        if let Some(meta) = written {
            if !a.quiet {
                let size = dir_size(&a.dir.join(&meta.ulid));
                print!(
                    "{}",
                    block_table(&meta, size, !wrote_header, a.human_readable)
                );
                wrote_header = true;
            }
        }
        // As promtool, skip the windows without samples instead of parsing for each.
        match next {
            Some(n) => t = upper + (n - upper) / BLOCK_DURATION * BLOCK_DURATION,
            None => break,
        }
    }
    Ok(())
}

/// Writes the block of the samples in `[t, upper)`, if there are any; also returns the
/// earliest timestamp at or after `upper`.
fn write_window(
    input: &[u8],
    t: i64,
    upper: i64,
    dir: &Path,
    opts: WriterOptions,
) -> Result<(Option<BlockMeta>, Option<i64>), String> {
    let mut next: Option<i64> = None;
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut series: Vec<(Labels, SeriesBuf)> = Vec::new();
    let mut batch: Vec<(usize, i64, f64)> = Vec::with_capacity(SAMPLES_PER_COMMIT);
    let commit = |batch: &mut Vec<(usize, i64, f64)>, series: &mut Vec<(Labels, SeriesBuf)>| {
        for &(i, ts, v) in batch.iter() {
            let s = &mut series[i].1;
            if s.samples.last().is_none_or(|&(last, _)| ts > last) {
                s.samples.push((ts, v));
            }
        }
        for &(i, _, _) in batch.iter() {
            let s = &mut series[i].1;
            s.committed = s.samples.last().map(|&(ts, v)| (ts, v.to_bits()));
        }
        batch.clear();
    };
    for_each_sample(input, false, |s, ts| {
        if ts >= upper {
            next = Some(next.map_or(ts, |n| n.min(ts)));
            return Ok(());
        }
        if ts < t {
            return Ok(());
        }
        let labels = s.to_labels();
        let i = match index.get(&labels) {
            Some(&i) => i,
            None => {
                series.push((labels.clone(), SeriesBuf::default()));
                index.insert(labels, series.len() - 1);
                series.len() - 1
            }
        };
        if let Some((last, bits)) = series[i].1.committed {
            if ts < last {
                return Err("add sample: out of order sample".to_string());
            }
            if ts == last && bits != go_nan(s.value).to_bits() {
                return Err("add sample: duplicate sample for timestamp".to_string());
            }
        }
        batch.push((i, ts, go_nan(s.value)));
        if batch.len() >= SAMPLES_PER_COMMIT {
            commit(&mut batch, &mut series);
        }
        Ok(())
    })?;
    commit(&mut batch, &mut series);
    drop(index);
    series.retain(|(_, s)| !s.samples.is_empty());
    if series.is_empty() {
        return Ok((None, next));
    }
    series.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (_, s) in &series {
        if let (Some(f), Some(l)) = (s.samples.first(), s.samples.last()) {
            lo = lo.min(f.0);
            hi = hi.max(l.0);
        }
    }
    let mut w = BlockWriter::create_with_options(dir, lo, hi + 1, opts)
        .map_err(|e| format!("block writer: {e}"))?;
    for (labels, s) in &series {
        w.add_series_samples(labels, s.samples.iter().copied())
            .map_err(|e| format!("flush: {e}"))?;
    }
    let meta = w
        .finish(Compaction::default())
        .map_err(|e| format!("flush: {e}"))?;
    Ok((Some(meta), next))
}

/// Go's `strconv.ParseFloat("NaN")` is `math.NaN()` ([`lookout_model::GO_NAN_BITS`]); text
/// cannot carry any other NaN, so every parsed NaN gets those bits (the chunk bytes then
/// match). The exposition parser already returns them; this keeps the importer exact whatever
/// the parser does.
fn go_nan(v: f64) -> f64 {
    if v.is_nan() {
        lookout_model::go_nan()
    } else {
        v
    }
}

/// The total size of the files under `dir` (promtool's block size: chunks, index,
/// tombstones and meta.json).
fn dir_size(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => n += dir_size(&e.path()),
                Ok(m) => n += m.len(),
                Err(_) => {}
            }
        }
    }
    n
}

/// promtool's `printBlocks` for one block: a header (first block only) and a row, laid out by
/// Go's tabwriter (minimum cell width 13, padding 2) over just those lines.
fn block_table(meta: &BlockMeta, size: u64, header: bool, human: bool) -> String {
    let fmt_time = |ms: i64| {
        if human {
            go_utc_time(ms / 1000)
        } else {
            ms.to_string()
        }
    };
    let row = vec![
        meta.ulid.clone(),
        fmt_time(meta.min_time),
        fmt_time(meta.max_time),
        go_duration_ms(meta.max_time.saturating_sub(meta.min_time)),
        meta.stats.num_samples.to_string(),
        meta.stats.num_chunks.to_string(),
        meta.stats.num_series.to_string(),
        if human {
            base2_bytes(size)
        } else {
            size.to_string()
        },
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    if header {
        rows.push(
            [
                "BLOCK ULID",
                "MIN TIME",
                "MAX TIME",
                "DURATION",
                "NUM SAMPLES",
                "NUM CHUNKS",
                "NUM SERIES",
                "SIZE",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
    }
    rows.push(row);
    tabwrite(&rows)
}

/// Go's `text/tabwriter` with minwidth 13, padding 2, space padding: every cell but the last
/// of a line is padded to its column's width.
fn tabwrite(rows: &[Vec<String>]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for r in rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            widths[i] = widths[i].max((c.chars().count() + 2).max(13));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                let pad = widths[i].saturating_sub(c.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `time.Duration.String()` for a whole number of milliseconds.
fn go_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let neg = ms < 0;
    let u = ms.unsigned_abs();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if u < 1000 {
        let _ = write!(s, "{u}ms");
        return s;
    }
    let (h, m, sec, frac) = (u / 3_600_000, u / 60_000 % 60, u / 1000 % 60, u % 1000);
    if h > 0 {
        let _ = write!(s, "{h}h{m}m");
    } else if m > 0 {
        let _ = write!(s, "{m}m");
    }
    let _ = write!(s, "{sec}");
    if frac > 0 {
        let f = format!("{frac:03}");
        let _ = write!(s, ".{}", f.trim_end_matches('0'));
    }
    s.push('s');
    s
}

/// Go's `time.Unix(secs, 0).UTC().String()`: `2006-01-02 15:04:05 +0000 UTC`.
fn go_utc_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `units.Base2Bytes(n).String()` (alecthomas/units): `7KiB240B`, `0B`.
fn base2_bytes(mut n: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut parts: Vec<String> = Vec::new();
    for (i, u) in UNITS.iter().enumerate() {
        if !n.is_multiple_of(1024) || (i == 0 && n == 0) {
            let suffix = if i == 0 { "B" } else { "iB" };
            parts.push(format!("{}{u}{suffix}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_duration_ms(5_985_016), "1h39m45.016s");
        assert_eq!(go_duration_ms(7_200_000), "2h0m0s");
        assert_eq!(go_duration_ms(1), "1ms");
        assert_eq!(go_duration_ms(61_500), "1m1.5s");
        assert_eq!(go_duration_ms(0), "0s");
        assert_eq!(go_utc_time(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(base2_bytes(7408), "7KiB240B");
        assert_eq!(base2_bytes(0), "0B");
        assert_eq!(base2_bytes(2048), "2KiB");
        assert_eq!(base2_bytes((1 << 20) + 1), "1MiB1B");
    }
}

//! `lookout tsdb analyze`: statistics of a block's index, as `promtool tsdb analyze` prints
//! them (same sections, same figures; ties within a list are ordered by name, where promtool's
//! order is random).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lookout_tsdb::block::numbered_block_dirs;
use lookout_tsdb::{Block, Error, Result};

/// Arguments of `lookout tsdb analyze`.
#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    /// The data directory holding the blocks.
    dir: PathBuf,
    /// The block to analyze (its ULID); default: the last block by time.
    #[arg(long = "block")]
    block: Option<String>,
    /// The block to analyze, given as promtool takes it (after the directory).
    #[arg(value_name = "BLOCK_ID", conflicts_with = "block")]
    block_id: Option<String>,
    /// How many items to show in each list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Also analyze chunk fullness (reads every chunk).
    #[arg(long)]
    extended: bool,
}

/// Runs `lookout tsdb analyze`.
pub(crate) fn run(a: AnalyzeArgs) -> ExitCode {
    let mut out = String::new();
    match analyze(&a, &mut out) {
        Ok(()) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            print!("{out}");
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn open_block(a: &AnalyzeArgs) -> Result<Block> {
    let dirs = numbered_block_dirs(&a.dir)?;
    if let Some(id) = a.block.as_ref().or(a.block_id.as_ref()) {
        let Some(d) = dirs
            .iter()
            .find(|d| d.file_name().is_some_and(|n| n == id.as_str()))
        else {
            return Err(Error::Config("block not found"));
        };
        return Block::open(d);
    }
    let mut blocks = Vec::new();
    for d in &dirs {
        blocks.push(Block::open(d)?);
    }
    blocks.sort_by_key(|b| b.meta().min_time);
    blocks.pop().ok_or(Error::Config("no blocks found"))
}

/// Prints (value, key) pairs by value, descending, at most `limit`.
fn print_info(out: &mut String, title: &str, mut items: Vec<(String, u64)>, limit: usize) {
    out.push_str(&format!("\n{title}:\n"));
    items.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    for (k, v) in items.into_iter().take(limit) {
        out.push_str(&format!("{v} {k}\n"));
    }
}

fn analyze(a: &AnalyzeArgs, out: &mut String) -> Result<()> {
    let block = open_block(a)?;
    let meta = block.meta();
    let ir = block.index();
    let range = meta.max_time.wrapping_sub(meta.min_time);
    out.push_str(&format!("Block ID: {}\n", meta.ulid));
    out.push_str(&format!(
        "Duration: {}\n",
        go_duration(range.saturating_mul(1_000_000))
    ));
    out.push_str(&format!("Series: {}\n", meta.stats.num_series));
    let names = ir.label_names();
    out.push_str(&format!("Label names: {}\n", names.len()));

    let mut labels_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_count: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    let mut pairs = Vec::new();
    let mut chunks = Vec::new();
    for id in ir.postings("", "")? {
        pairs.clear();
        chunks.clear();
        ir.series_into(id, &mut pairs, &mut chunks)?;
        // The part of the block's range this series does not cover (Go's uint64 arithmetic).
        let covered = match (chunks.first(), chunks.last()) {
            (Some(f), Some(l)) => l.maxt.wrapping_sub(f.mint) as u64,
            _ => 0,
        };
        let uncovered = (range as u64).wrapping_sub(covered);
        for (n, v) in &pairs {
            let key = format!("{n}={v}");
            let e = labels_uncovered.entry((*n).to_string()).or_default();
            *e = e.wrapping_add(uncovered);
            let e = pairs_uncovered.entry(key.clone()).or_default();
            *e = e.wrapping_add(uncovered);
            *pairs_count.entry(key).or_default() += 1;
            entries += 1;
        }
    }
    out.push_str(&format!(
        "Postings (unique label pairs): {}\n",
        pairs_uncovered.len()
    ));
    out.push_str(&format!(
        "Postings entries (total label pairs): {entries}\n"
    ));
    let churn = |m: u64| (m as f64 / range as f64) as u64;
    print_info(
        out,
        "Label pairs most involved in churning",
        pairs_uncovered
            .into_iter()
            .map(|(k, m)| (k, churn(m)))
            .collect(),
        a.limit,
    );
    print_info(
        out,
        "Label names most involved in churning",
        labels_uncovered
            .into_iter()
            .map(|(k, m)| (k, churn(m)))
            .collect(),
        a.limit,
    );
    print_info(
        out,
        "Most common label pairs",
        pairs_count.into_iter().collect(),
        a.limit,
    );
    let lengths = names
        .iter()
        .map(|n| {
            let len = ir.label_values_iter(n).map(|v| v.len() as u64).sum();
            (n.clone(), len)
        })
        .collect();
    print_info(
        out,
        "Label names with highest cumulative label value length",
        lengths,
        a.limit,
    );
    let card = names
        .iter()
        .map(|n| (n.clone(), ir.label_values_iter(n).count() as u64))
        .collect();
    print_info(out, "Highest cardinality labels", card, a.limit);
    let mut metrics = Vec::new();
    for v in ir.label_values_iter("__name__") {
        metrics.push((v.to_string(), ir.postings_len("__name__", v)? as u64));
    }
    print_info(out, "Highest cardinality metric names", metrics, a.limit);
    if a.extended {
        analyze_compaction(&block, out)?;
    }
    Ok(())
}

/// promtool's `--extended` chunk fullness histogram: samples per chunk in tenths of 120.
fn analyze_compaction(block: &Block, out: &mut String) -> Result<()> {
    const MAX: u64 = 120;
    let ir = block.index();
    let mut histogram = [0u64; 10];
    let mut total = 0u64;
    let mut pairs = Vec::new();
    let mut chunks = Vec::new();
    for id in ir.postings("", "")? {
        pairs.clear();
        chunks.clear();
        ir.series_into(id, &mut pairs, &mut chunks)?;
        for c in &chunks {
            let (_, data) = block.chunks().chunk(c.chunk_ref)?;
            let n = match data {
                [a, b, ..] => u16::from_be_bytes([*a, *b]) as u64,
                _ => 0,
            };
            let size = n.min(MAX);
            if size == 0 {
                continue;
            }
            let bucket = (10 * size).div_ceil(MAX) - 1;
            histogram[bucket as usize] += 1;
            total += 1;
        }
    }
    out.push_str("\nCompaction analysis:\n");
    out.push_str("Fullness: Amount of samples in chunks (100% is 120 samples)\n");
    for (i, count) in histogram.iter().enumerate() {
        let pct = (100 * count).checked_div(total).unwrap_or(0);
        out.push_str(&format!(
            "{:7}%: {}\n",
            (i + 1) * 10,
            "#".repeat(pct as usize)
        ));
    }
    Ok(())
}

/// Go's `time.Duration.String()` for `ns` nanoseconds.
pub(crate) fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let frac = |v: u64, digits: u32| -> String {
        let p = 10u64.pow(digits);
        let (int, f) = (v / p, v % p);
        if f == 0 {
            return int.to_string();
        }
        let fs = format!("{f:0width$}", width = digits as usize);
        format!("{int}.{}", fs.trim_end_matches('0'))
    };
    if u < 1_000_000_000 {
        let s = if u < 1_000 {
            format!("{u}ns")
        } else if u < 1_000_000 {
            format!("{}µs", frac(u, 3))
        } else {
            format!("{}ms", frac(u, 6))
        };
        return format!("{sign}{s}");
    }
    let secs = frac(u % 60_000_000_000, 9);
    let mins_total = u / 60_000_000_000;
    let (h, m) = (mins_total / 60, mins_total % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::go_duration;

    #[test]
    fn durations_print_as_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(5_985_016_000_000), "1h39m45.016s");
        assert_eq!(go_duration(7_200_000_000_000), "2h0m0s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(61_000_000_000), "1m1s");
        assert_eq!(go_duration(999), "999ns");
    }
}

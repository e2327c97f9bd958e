//! `lookout tsdb …`: inspect Prometheus-format data directories.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use lookout_model::parse_selector;

use crate::tsdb_analyze::{self, AnalyzeArgs};

/// Arguments of `lookout tsdb`.
#[derive(Debug, Args)]
pub(crate) struct TsdbArgs {
    #[command(subcommand)]
    command: TsdbCommand,
}

#[derive(Debug, Subcommand)]
enum TsdbCommand {
    /// Print every sample of a data dir as `promtool tsdb dump` does:
    /// `{labels} VALUE TIMESTAMP_MS`. Reads the blocks and the head (wal/) without modifying
    /// the directory.
    Dump(DumpArgs),
    /// Print statistics of a block's index as `promtool tsdb analyze` does (cardinality,
    /// churn, label pairs).
    Analyze(AnalyzeArgs),
    /// Build blocks from other formats, like `promtool tsdb create-blocks-from`.
    Import(crate::tsdb_import::ImportArgs),
}

#[derive(Debug, Args)]
struct DumpArgs {
    /// The data directory (blocks and `wal/`).
    dir: PathBuf,
    /// Earliest timestamp to print, in milliseconds.
    #[arg(long = "min-time", default_value_t = i64::MIN, allow_hyphen_values = true)]
    min_time: i64,
    /// Latest timestamp to print, in milliseconds.
    #[arg(long = "max-time", default_value_t = i64::MAX, allow_hyphen_values = true)]
    max_time: i64,
    /// Only series matching this selector, e.g. `up{job="api"}`.
    #[arg(long = "match", default_value = "{__name__=~'(?s:.*)'}")]
    selector: String,
}

/// Runs `lookout tsdb …`.
pub(crate) fn run(args: TsdbArgs) -> ExitCode {
    match args.command {
        TsdbCommand::Dump(a) => dump(a),
        TsdbCommand::Analyze(a) => tsdb_analyze::run(a),
        TsdbCommand::Import(a) => crate::tsdb_import::run(a),
    }
}

fn dump(a: DumpArgs) -> ExitCode {
    if !a.dir.is_dir() {
        eprintln!("{}: not a directory", a.dir.display());
        return ExitCode::FAILURE;
    }
    let matchers = match parse_selector(&a.selector) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("--match: {e}");
            return ExitCode::FAILURE;
        }
    };
    let db = match lookout_tsdb::open_read_only(&a.dir) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // Unlike promtool, which refuses the whole directory, corrupt blocks are reported and
    // the readable ones dumped; the exit status says something was left out.
    for (dir, e) in db.failed() {
        eprintln!("block {} not read: {e}", dir.display());
    }
    if let Some(c) = &db.replay_stats().truncated {
        eprintln!(
            "warning: WAL segment {} is corrupt at byte {} ({}); samples after it are not shown",
            c.segment, c.offset, c.reason
        );
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let res = lookout_tsdb::write_dump(&db, a.min_time, a.max_time, &matchers, &mut out)
        .and_then(|_| out.flush());
    if !db.failed().is_empty() && res.is_ok() {
        return ExitCode::FAILURE;
    }
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

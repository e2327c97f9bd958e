//! `lookout tsdb …`: inspect Prometheus-format data directories.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use lookout_model::parse_selector;
use lookout_tsdb::{Head, HeadOptions};

/// Arguments of `lookout tsdb`.
#[derive(Debug, Args)]
pub(crate) struct TsdbArgs {
    #[command(subcommand)]
    command: TsdbCommand,
}

#[derive(Debug, Subcommand)]
enum TsdbCommand {
    /// Print every sample of a data dir as `promtool tsdb dump` does:
    /// `{labels} VALUE TIMESTAMP_MS`. Reads the head (wal/) without modifying the directory.
    Dump(DumpArgs),
}

#[derive(Debug, Args)]
struct DumpArgs {
    /// The data directory (holding `wal/`).
    dir: PathBuf,
    /// Earliest timestamp to print, in milliseconds.
    #[arg(long = "min-time", default_value_t = i64::MIN, allow_hyphen_values = true)]
    min_time: i64,
    /// Latest timestamp to print, in milliseconds.
    #[arg(long = "max-time", default_value_t = i64::MAX, allow_hyphen_values = true)]
    max_time: i64,
    /// Only series matching this selector, e.g. `up{job="api"}`.
    #[arg(long = "match")]
    selector: Option<String>,
}

/// Runs `lookout tsdb …`.
pub(crate) fn run(args: TsdbArgs) -> ExitCode {
    match args.command {
        TsdbCommand::Dump(a) => dump(a),
    }
}

fn dump(a: DumpArgs) -> ExitCode {
    if !a.dir.is_dir() {
        eprintln!("{}: not a directory", a.dir.display());
        return ExitCode::FAILURE;
    }
    let matchers = match a.selector.as_deref().map(parse_selector).transpose() {
        Ok(m) => m.unwrap_or_default(),
        Err(e) => {
            eprintln!("--match: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (head, stats) = match Head::open_read_only(&a.dir, HeadOptions::default()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(c) = &stats.truncated {
        eprintln!(
            "warning: WAL segment {} is corrupt at byte {} ({}); samples after it are not shown",
            c.segment, c.offset, c.reason
        );
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let res = lookout_tsdb::write_dump(&head, a.min_time, a.max_time, &matchers, &mut out)
        .and_then(|_| out.flush());
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

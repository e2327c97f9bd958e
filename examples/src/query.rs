//! `lookout query --data DIR EXPR [--time T | --start S --end E --step D] [--compat prometheus2]`:
//! PromQL over a Prometheus-format data directory, printed as the `data` member of Prometheus'
//! `/api/v1/query` or `/api/v1/query_range` response.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lookout_model::{parse_duration, parse_timestamp};
use lookout_promql::engine::{Engine, EngineOptions};
use lookout_tsdb::Db;

/// Arguments of `lookout query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The data directory (blocks, `wal/`, `chunks_head/`); opened read-only.
    #[arg(long)]
    data: PathBuf,
    /// The PromQL expression.
    expr: String,
    /// Evaluation time of an instant query (RFC 3339 or Unix seconds; default now).
    #[arg(long, conflicts_with_all = ["start", "end", "step"])]
    time: Option<String>,
    /// Start of a range query.
    #[arg(long, requires_all = ["end", "step"])]
    start: Option<String>,
    /// End of a range query.
    #[arg(long, requires_all = ["start", "step"])]
    end: Option<String>,
    /// Step of a range query (a duration such as `15s`, or seconds).
    #[arg(long, requires_all = ["start", "end"])]
    step: Option<String>,
    /// `prometheus2` evaluates with Prometheus 2.x semantics (closed range windows).
    #[arg(long)]
    compat: Option<String>,
}

/// A step as Prometheus' API takes it: a duration or (fractional) seconds.
fn parse_step(s: &str) -> Result<i64, String> {
    if let Ok(ms) = parse_duration(s) {
        return Ok(ms);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok((f * 1000.0).round() as i64),
        _ => Err(format!("invalid step {s:?}")),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn query(args: &QueryArgs) -> Result<String, String> {
    let opts = match args.compat.as_deref() {
        None | Some("prometheus3") => EngineOptions::default(),
        Some("prometheus2") => EngineOptions::prometheus2(),
        Some(other) => return Err(format!("unknown --compat {other:?} (want prometheus2)")),
    };
    let db = Db::open_read_only(&args.data).map_err(|e| e.to_string())?;
    let q = db.querier(i64::MIN, i64::MAX);
    let engine = Engine::new(opts);
    let res = match (&args.start, &args.end, &args.step) {
        (Some(s), Some(e), Some(st)) => {
            let start = parse_timestamp(s).map_err(|e| e.to_string())?;
            let end = parse_timestamp(e).map_err(|e| e.to_string())?;
            let step = parse_step(st)?;
            engine.range_query(&q, &args.expr, start, end, step)
        }
        _ => {
            let t = match &args.time {
                Some(t) => parse_timestamp(t).map_err(|e| e.to_string())?,
                None => now_ms(),
            };
            engine.instant_query(&q, &args.expr, t)
        }
    }
    .map_err(|e| e.to_string())?;
    for w in res.warnings.iter().chain(&res.infos) {
        eprintln!("{w}");
    }
    Ok(res.value.to_json())
}

/// Runs `lookout query`.
pub(crate) fn run(args: QueryArgs) -> ExitCode {
    match query(&args) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

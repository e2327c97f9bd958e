//! `lookout promql test FILE...`: runs Prometheus' promqltest scripts through our engine.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use lookout_promql::engine::{Engine, EngineOptions};
use lookout_promql::promqltest::{run_script, Outcome, Summary};

/// Window semantics and names of the Prometheus the scripts were written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TestCompat {
    /// Prometheus 3 (default): left-open windows.
    Prometheus3,
    /// Prometheus 2.x: closed windows, `holt_winters`, immediate `__name__` removal.
    Prometheus2,
}

/// Arguments of `lookout promql test`.
#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Script files in promqltest format (`load`, `clear`, `eval` commands).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Semantics the scripts expect.
    #[arg(long, value_enum, default_value = "prometheus3")]
    compat: TestCompat,
}

/// Runs each file, printing `FILE: N passed, M failed, K skipped` per file and the total on
/// the last line; failing cases go to stderr as `FILE:LINE: QUERY: why`. Exit 1 when any case
/// failed or a file could not be read.
pub(crate) fn run(a: TestArgs) -> ExitCode {
    let opts = match a.compat {
        TestCompat::Prometheus3 => EngineOptions::default(),
        TestCompat::Prometheus2 => EngineOptions::prometheus2(),
    };
    let engine = Engine::new(opts);
    let mut total = Summary::default();
    let mut ok = true;
    for f in &a.files {
        let name = f.display();
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{name}: {e}");
                ok = false;
                continue;
            }
        };
        let cases = match run_script(&text, &engine) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{name}: {e}");
                ok = false;
                continue;
            }
        };
        for c in &cases {
            if let Outcome::Failed(why) = &c.outcome {
                eprintln!("{name}:{}: {}: {why}", c.line, c.query);
            }
        }
        let s = Summary::of(&cases);
        println!("{name}: {s}");
        total.add(s);
    }
    println!("{total}");
    if ok && total.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

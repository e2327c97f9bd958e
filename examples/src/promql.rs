//! `lookout promql ...`: PromQL tools.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use lookout_model::RegexOptions;
use lookout_promql::{parse_with, prettify, ParseOptions};

/// Arguments of `lookout promql`.
#[derive(Debug, Args)]
pub(crate) struct PromqlArgs {
    #[command(subcommand)]
    command: PromqlCommand,
}

#[derive(Debug, Subcommand)]
enum PromqlCommand {
    /// Parse an expression and print it as Prometheus prints it; exit 1 with the position on error.
    Parse(ParseArgs),
    /// Run promqltest script files; per file `FILE: N passed, M failed, K skipped`.
    Test(crate::promql_test::TestArgs),
}

/// Which Prometheus to be compatible with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Compat {
    /// Prometheus 3 (default).
    Prometheus3,
    /// Prometheus 2.x: `holt_winters`, `.` in regexes does not match newlines.
    Prometheus2,
}

#[derive(Debug, Args)]
struct ParseArgs {
    /// The PromQL expression (may start with `-`).
    #[arg(allow_hyphen_values = true)]
    expr: String,
    /// Print the multi-line form of `promtool promql format` instead of one line.
    #[arg(long)]
    pretty: bool,
    /// Accept all experimental syntax and functions (as all of Prometheus' PromQL feature flags).
    #[arg(long)]
    experimental: bool,
    /// Compatibility mode.
    #[arg(long, value_enum, default_value = "prometheus3")]
    compat: Compat,
}

/// Runs `lookout promql ...`.
pub(crate) fn run(args: PromqlArgs) -> ExitCode {
    match args.command {
        PromqlCommand::Parse(a) => parse_cmd(a),
        PromqlCommand::Test(a) => crate::promql_test::run(a),
    }
}

fn parse_cmd(a: ParseArgs) -> ExitCode {
    let mut opts = if a.experimental {
        ParseOptions::all()
    } else {
        ParseOptions::default()
    };
    if a.compat == Compat::Prometheus2 {
        opts = opts
            .with_legacy_functions(true)
            .with_regex(RegexOptions::PROMETHEUS2);
    }
    match parse_with(&a.expr, &opts) {
        Ok(e) => {
            if a.pretty {
                println!("{}", prettify(&e));
            } else {
                println!("{e}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}", err.render(&a.expr));
            ExitCode::FAILURE
        }
    }
}

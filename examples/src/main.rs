//! `lookout`: promtool, amtool and logcli in one, built from the Lookout crates.
//!
//! Each subcommand lives in its own module; the spellings and output formats are the contract in
//! `ARCHITECTURE.md` and the design notes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod expo;
mod promql;
mod promql_test;
mod query;
mod relabel;
mod rules;
mod tsdb;
mod tsdb_analyze;
mod tsdb_import;
mod util;

/// Lookout: an embeddable observability toolkit compatible with Prometheus, Alertmanager and Loki.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check and print series selectors and label sets the way Prometheus reads them.
    Selector(util::SelectorArgs),
    /// Parse exposition payloads (Prometheus text, OpenMetrics, protobuf).
    Expo(expo::ExpoArgs),
    /// Parse and print PromQL expressions.
    Promql(promql::PromqlArgs),
    /// Apply a YAML list of relabel configs to label sets given as JSON lines.
    Relabel(relabel::RelabelArgs),
    /// Check rule files and run rule unit tests (`promtool check rules`, `promtool test rules`).
    Rules(rules::RulesArgs),
    /// Inspect Prometheus-format TSDB data directories.
    Tsdb(tsdb::TsdbArgs),
    /// Evaluate PromQL over a data directory; prints the `data` member of Prometheus' query API.
    Query(query::QueryArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Selector(args) => util::selector(args),
        Command::Expo(args) => expo::run(args),
        Command::Promql(args) => promql::run(args),
        Command::Relabel(args) => relabel::run(args),
        Command::Rules(args) => rules::run(args),
        Command::Tsdb(args) => tsdb::run(args),
        Command::Query(args) => query::run(args),
    }
}

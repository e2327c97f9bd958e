//! `lookout rules check FILE...` and `lookout rules test FILE...`: `promtool check rules` and
//! `promtool test rules` over our rule engine, with the same verdicts, exit codes and output.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use lookout_promql::rules::{
    parse_rule_file, run_unit_test_file, RuleFile, RuleFileOptions, RuleKind, UnitTestOptions,
};

/// Which Prometheus the files were written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Compat {
    /// Prometheus 3 (default): UTF-8 names, left-open windows.
    Prometheus3,
    /// Prometheus 2.x: legacy names, closed windows, its PromQL dialect.
    Prometheus2,
}

/// Arguments of `lookout rules`.
#[derive(Debug, Args)]
pub(crate) struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Check rule files for errors, like `promtool check rules`.
    Check(FilesArgs),
    /// Run rule unit-test files, like `promtool test rules`.
    Test(FilesArgs),
}

#[derive(Debug, Args)]
struct FilesArgs {
    /// The files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Semantics the files expect.
    #[arg(long, value_enum, default_value = "prometheus3")]
    compat: Compat,
}

/// Runs `lookout rules …`.
pub(crate) fn run(a: RulesArgs) -> ExitCode {
    match a.command {
        RulesCommand::Check(f) => check(f),
        RulesCommand::Test(f) => test(f),
    }
}

fn check(a: FilesArgs) -> ExitCode {
    let opts = match a.compat {
        Compat::Prometheus3 => RuleFileOptions::default(),
        Compat::Prometheus2 => RuleFileOptions::prometheus2(),
    };
    let mut failed = false;
    for f in &a.files {
        let name = f.display();
        if !f.exists() {
            eprintln!("lookout: error: path '{name}' does not exist, try --help");
            return ExitCode::FAILURE;
        }
        println!("Checking {name}");
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("  FAILED:\n{name}: {e}");
                println!();
                failed = true;
                continue;
            }
        };
        match parse_rule_file(&text, &opts) {
            Ok(rf) => {
                let dups = duplicates(&rf);
                if dups.is_empty() {
                    println!("  SUCCESS: {} rules found", rf.num_rules());
                } else {
                    // A lint finding, reported as promtool does but not fatal.
                    let mut msg = format!("lint error {} duplicate rule(s) found.\n", dups.len());
                    for (metric, labels) in &dups {
                        msg.push_str(&format!("Metric: {metric}\nLabel(s):\n"));
                        for (k, v) in labels {
                            msg.push_str(&format!("\t{k}: {v}\n"));
                        }
                    }
                    msg.push_str("Might cause inconsistency while recording expressions");
                    eprintln!("  FAILED:\n{msg}");
                }
            }
            Err(errs) => {
                eprintln!("  FAILED:");
                for e in errs {
                    eprintln!("{name}: {e}");
                }
                failed = true;
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

type Key = (String, Vec<(String, String)>);

/// Rules with the same name and labels, in promtool's order (sorted), each listed once.
fn duplicates(rf: &RuleFile) -> Vec<Key> {
    let mut keys: Vec<Key> = rf
        .groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .map(|r| {
            let name = match &r.kind {
                RuleKind::Record { record } => record.clone(),
                RuleKind::Alert { alert, .. } => alert.clone(),
                _ => String::new(),
            };
            (name, r.labels.clone())
        })
        .collect();
    keys.sort();
    let mut dups: Vec<Key> = Vec::new();
    for w in keys.windows(2) {
        // A rule written three times is one duplicate, as promtool counts.
        if w[0] == w[1] && dups.last() != Some(&w[1]) {
            dups.push(w[1].clone());
        }
    }
    dups
}

fn test(a: FilesArgs) -> ExitCode {
    let opts = match a.compat {
        Compat::Prometheus3 => UnitTestOptions::default(),
        Compat::Prometheus2 => UnitTestOptions::prometheus2(),
    };
    let mut failed = false;
    for f in &a.files {
        if !f.exists() {
            eprintln!(
                "lookout: error: path '{}' does not exist, try --help",
                f.display()
            );
            return ExitCode::FAILURE;
        }
        println!("Unit Testing:  {}", f.display());
        let out = run_unit_test_file(f, &opts);
        for w in &out.warnings {
            eprintln!("{w}");
        }
        if out.passed() {
            println!("  SUCCESS");
        } else {
            failed = true;
            eprintln!("  FAILED:");
            for e in &out.failures {
                eprintln!("{e}");
                println!();
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

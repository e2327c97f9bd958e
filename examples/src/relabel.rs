//! `lookout relabel --config FILE [INPUT|-]`: apply a `relabel_configs` list to label sets.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use lookout_model::Labels;
use lookout_relabel::{Options, Relabeler};
use serde_json::{Map, Value};

/// Which Prometheus the semantics follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Compat {
    /// Prometheus 3: UTF-8 label names, `.` in regexes matches newlines.
    Prometheus3,
    /// Prometheus 2.x: classic label names, `.` does not match newlines.
    Prometheus2,
}

/// Arguments of `lookout relabel`.
#[derive(Debug, Args)]
pub(crate) struct RelabelArgs {
    /// A YAML list of relabel configs, as Prometheus' `relabel_configs` or
    /// `metric_relabel_configs`.
    #[arg(long)]
    config: PathBuf,
    /// Semantics to follow.
    #[arg(long, value_enum, default_value = "prometheus3")]
    compat: Compat,
    /// JSON lines, one label object per line (`{"job":"x"}`); `-` or nothing reads stdin.
    input: Option<PathBuf>,
}

/// Reads one JSON line as a label set.
fn parse_line(line: &str) -> Result<Labels, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let Value::Object(obj) = v else {
        return Err("expected a JSON object of label names to string values".to_string());
    };
    let mut pairs = Vec::with_capacity(obj.len());
    for (k, v) in &obj {
        let Value::String(s) = v else {
            return Err(format!("label {k:?}: value is not a string"));
        };
        pairs.push((k.as_str(), s.as_str()));
    }
    Ok(Labels::from_pairs(pairs))
}

fn to_json(l: &Labels) -> Value {
    let mut m = Map::new();
    for l in l.iter() {
        m.insert(l.name.to_string(), Value::String(l.value.to_string()));
    }
    Value::Object(m)
}

/// `lookout relabel`: prints one JSON line per input line, `null` for a dropped set.
pub(crate) fn run(args: RelabelArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let opts = match args.compat {
        Compat::Prometheus3 => Options::PROMETHEUS,
        Compat::Prometheus2 => Options::PROMETHEUS2,
    };
    let relabeler = match Relabeler::from_yaml(&text, opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let (source, reader): (String, Box<dyn BufRead>) = match &args.input {
        None => ("-".to_string(), Box::new(std::io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => ("-".to_string(), Box::new(std::io::stdin().lock())),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => (
                p.display().to_string(),
                Box::new(std::io::BufReader::new(f)),
            ),
            Err(e) => {
                eprintln!("{}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut code = ExitCode::SUCCESS;
    for (i, line) in reader.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{source}:{}: {e}", i + 1);
                return ExitCode::FAILURE;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let labels = match parse_line(&line) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{source}:{}: {e}", i + 1);
                code = ExitCode::FAILURE;
                continue;
            }
        };
        let result = match relabeler.process(&labels) {
            Some(l) => to_json(&l),
            None => Value::Null,
        };
        if writeln!(out, "{result}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    code
}

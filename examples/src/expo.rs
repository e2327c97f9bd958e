//! `lookout expo`: read exposition payloads.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use lookout_exposition::proto::FlatExemplar;
use lookout_exposition::{Entry, Error, LabelPair, Mode, TextParser};
use lookout_model::format_api_float;

/// Arguments of `lookout expo`.
#[derive(Debug, Args)]
pub(crate) struct ExpoArgs {
    #[command(subcommand)]
    command: ExpoCommand,
}

#[derive(Debug, Subcommand)]
enum ExpoCommand {
    /// Parse an exposition payload and print one JSON object per sample:
    /// `{"name","labels":{},"value","timestamp"?,"type"?}`.
    Parse(ParseArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// Prometheus text format 0.0.4.
    Prom,
    /// OpenMetrics 1.0 text.
    Openmetrics,
    /// Prometheus protobuf (varint-delimited `io.prometheus.client.MetricFamily`).
    Protobuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Compat {
    /// Prometheus 2.x behaviour.
    Prometheus2,
}

#[derive(Debug, Args)]
struct ParseArgs {
    /// The payload format.
    #[arg(long, value_enum, default_value = "prom")]
    format: FormatArg,
    /// Enforce the OpenMetrics specification's family rules (with `--format openmetrics`).
    #[arg(long)]
    strict: bool,
    /// `prometheus2` keeps `le` and `quantile` label values as written, as Prometheus 2 does
    /// (Prometheus 3 rewrites them into canonical floats: `1` becomes `1.0`).
    #[arg(long, value_enum)]
    compat: Option<Compat>,
    /// The payload file, or `-` for standard input.
    #[arg(default_value = "-")]
    file: PathBuf,
}

/// `lookout expo ...`.
pub(crate) fn run(args: ExpoArgs) -> ExitCode {
    match args.command {
        ExpoCommand::Parse(a) => parse(a),
    }
}

fn parse(args: ParseArgs) -> ExitCode {
    let stdin = args.file.as_os_str() == "-";
    let source = if stdin {
        "<stdin>".to_string()
    } else {
        args.file.display().to_string()
    };
    let mut data = Vec::new();
    let read = if stdin {
        std::io::stdin().read_to_end(&mut data).map(|_| ())
    } else {
        std::fs::read(&args.file).map(|d| data = d)
    };
    if let Err(e) = read {
        eprintln!("{source}: {e}");
        return ExitCode::FAILURE;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let normalize = args.compat != Some(Compat::Prometheus2);
    let result = match args.format {
        FormatArg::Prom => print_text(
            TextParser::prometheus(&data).normalize_float_labels(normalize),
            &mut out,
        ),
        FormatArg::Openmetrics => {
            let mode = if args.strict {
                Mode::Strict
            } else {
                Mode::Lenient
            };
            print_text(
                TextParser::openmetrics(&data, mode).normalize_float_labels(normalize),
                &mut out,
            )
        }
        FormatArg::Protobuf => print_protobuf(&data, &mut out),
    };
    let flushed = out.flush();
    let broken_pipe = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    match result {
        Ok(()) if flushed.is_ok() => ExitCode::SUCCESS,
        // `lookout expo parse … | head`: the reader went away; that is not an error.
        Ok(()) if flushed.as_ref().is_err_and(broken_pipe) => ExitCode::SUCCESS,
        Err(Error::Io(e)) if broken_pipe(&e) => ExitCode::SUCCESS,
        Ok(()) => {
            eprintln!("{source}: write failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            match e {
                Error::Text {
                    line,
                    column,
                    problem,
                } => eprintln!("{source}:{line}:{column}: {problem}"),
                // Binary payloads have one "line"; the column is the 1-based byte offset.
                Error::Protobuf { offset, problem } => {
                    eprintln!("{source}:1:{}: {problem}", offset + 1)
                }
                other => eprintln!("{source}:1:1: {other}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// One output line, as the CLI contract spells it.
struct Line<'x> {
    name: &'x str,
    labels: Vec<(&'x str, &'x str)>,
    value: f64,
    timestamp: Option<i64>,
    mtype: Option<&'static str>,
    exemplar: Option<FlatExemplar<'x>>,
}

fn write_labels(buf: &mut String, labels: &mut [(&str, &str)]) {
    labels.sort_by(|a, b| a.0.cmp(b.0));
    buf.push('{');
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        buf.push_str(&serde_json::Value::from(*n).to_string());
        buf.push(':');
        buf.push_str(&serde_json::Value::from(*v).to_string());
    }
    buf.push('}');
}

fn write_line(out: &mut impl Write, buf: &mut String, mut line: Line<'_>) -> Result<(), Error> {
    buf.clear();
    buf.push_str("{\"name\":");
    buf.push_str(&serde_json::Value::from(line.name).to_string());
    buf.push_str(",\"labels\":");
    write_labels(buf, &mut line.labels);
    buf.push_str(",\"value\":\"");
    format_api_float(line.value, buf);
    buf.push('"');
    if let Some(t) = line.timestamp {
        buf.push_str(&format!(",\"timestamp\":{t}"));
    }
    if let Some(t) = line.mtype {
        buf.push_str(",\"type\":\"");
        buf.push_str(t);
        buf.push('"');
    }
    if let Some((mut labels, value, ts)) = line.exemplar {
        buf.push_str(",\"exemplar\":{\"labels\":");
        write_labels(buf, &mut labels);
        buf.push_str(",\"value\":\"");
        format_api_float(value, buf);
        buf.push('"');
        if let Some(t) = ts {
            buf.push_str(&format!(",\"timestamp\":{t}"));
        }
        buf.push('}');
    }
    buf.push_str("}\n");
    out.write_all(buf.as_bytes())?;
    Ok(())
}

fn pairs<'x>(labels: &'x [LabelPair<'_>]) -> Vec<(&'x str, &'x str)> {
    labels
        .iter()
        .map(|(n, v)| (n.as_ref(), v.as_ref()))
        .collect()
}

fn print_text(mut parser: TextParser<'_>, out: &mut impl Write) -> Result<(), Error> {
    let mut buf = String::new();
    while let Some(entry) = parser.next_entry()? {
        if let Entry::Sample(s) = entry {
            let line = Line {
                name: s.name,
                labels: pairs(s.labels),
                value: s.value,
                timestamp: s.timestamp,
                mtype: s.metric_type.map(|t| t.as_str()),
                exemplar: s.exemplar.map(|e| (pairs(e.labels), e.value, e.timestamp)),
            };
            write_line(out, &mut buf, line)?;
        }
    }
    Ok(())
}

fn print_protobuf(data: &[u8], out: &mut impl Write) -> Result<(), Error> {
    use lookout_exposition::proto::{decode_delimited, flatten};
    let mut buf = String::new();
    for family in decode_delimited(data) {
        let family = family?;
        let mut lines = Vec::new();
        flatten(&family, |s| lines.push(s))?;
        for s in &lines {
            let line = Line {
                name: &s.name,
                labels: s.labels.iter().map(|(n, v)| (*n, v.as_str())).collect(),
                value: s.value,
                timestamp: s.timestamp,
                mtype: Some(s.metric_type.as_str()),
                exemplar: s.exemplar.clone(),
            };
            write_line(out, &mut buf, line)?;
        }
    }
    Ok(())
}

//! Every `eval` query of the upstream promqltest scripts must parse with all options on.

use lookout_promql::{parse_with, ParseOptions};

/// The query of an `eval` header line, if the line is one.
pub(crate) fn eval_query(line: &str) -> Option<&str> {
    let line = line.trim();
    let first = line.split_whitespace().next()?;
    if !first.starts_with("eval") {
        return None;
    }
    // Skip words: the command, then `instant [at T]` or `range from A to B step S`.
    let mut rest = line[first.len()..].trim_start();
    let take = |rest: &mut &str| -> Option<String> {
        let w = rest.split_whitespace().next()?.to_string();
        *rest = rest[w.len()..].trim_start();
        Some(w)
    };
    match take(&mut rest)?.as_str() {
        "instant" => {
            if rest.starts_with("at ") {
                take(&mut rest)?;
                take(&mut rest)?;
            }
        }
        "range" => {
            for _ in 0..6 {
                take(&mut rest)?;
            }
        }
        _ => return None,
    }
    Some(rest)
}

fn run_dir(rel: &str) -> (usize, Vec<String>) {
    let Some(dir) = lookout_testkit::shared_path(rel) else {
        return (0, vec![]);
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let opts = ParseOptions::all();
    let mut passed = 0;
    let mut failed = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read test file");
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for (i, line) in text.lines().enumerate() {
            let Some(q) = eval_query(line) else { continue };
            match parse_with(q, &opts) {
                Ok(e) => {
                    // The printed form must parse back to the same tree.
                    let printed = e.to_string();
                    match parse_with(&printed, &opts) {
                        Ok(e2) if e2 == e => passed += 1,
                        Ok(_) => {
                            failed.push(format!("{name}:{}: {q}: reprint {printed} differs", i + 1))
                        }
                        Err(err) => {
                            failed.push(format!("{name}:{}: {q}: reprint {printed}: {err}", i + 1))
                        }
                    }
                }
                Err(err) => failed.push(format!("{name}:{}: {q}: {err}", i + 1)),
            }
        }
    }
    (passed, failed)
}

#[test]
fn upstream_eval_queries_parse() {
    for rel in [
        "conformance/promql/upstream",
        "conformance/promql/upstream-v2.42.0",
    ] {
        let (passed, failed) = run_dir(rel);
        for f in &failed {
            println!("FAIL {f}");
        }
        println!("{rel}: {passed} passed, {} failed, 0 skipped", failed.len());
        assert!(
            failed.is_empty(),
            "{} upstream queries failed to parse",
            failed.len()
        );
    }
}

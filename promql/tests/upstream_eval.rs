//! Prometheus' own PromQL acceptance scripts run through our engine: every file of
//! `conformance/promql/upstream/` in Prometheus 3 mode and every file of
//! `conformance/promql/upstream-v2.42.0/` in Prometheus 2 mode (closed windows). Prints per file
//! `FILE: N passed, M failed, K skipped`, names each failing case by file and line, and fails
//! when fewer cases pass than recorded below.

use std::collections::{BTreeMap, HashSet};

use lookout_promql::engine::{Engine, EngineOptions};
use lookout_promql::promqltest::{run_script, Outcome, Summary};

/// Passing cases recorded for `upstream/` (raise when more pass).
const UPSTREAM_PASSED: usize = 1191;
/// Passing cases of `upstream/` that need no feature flag (840 in all).
const CORE_PASSED: usize = 828;
/// Passing cases recorded for `upstream-v2.42.0/` (566 in all).
const V242_PASSED: usize = 566;

/// `FEATURES.tsv`: (file, line) of every eval that needs no feature flag.
fn core_cases() -> HashSet<(String, usize)> {
    let Some(p) = lookout_testkit::shared_path("conformance/promql/FEATURES.tsv") else {
        return HashSet::new();
    };
    let text = std::fs::read_to_string(p).expect("read FEATURES.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let line = f.get(1)?.parse().ok()?;
            (f.get(4) == Some(&"core")).then(|| (f[0].to_string(), line))
        })
        .collect()
}

/// Runs every script of a directory; returns the totals and the totals of the core cases.
fn run_dir(dir: &str, engine: &Engine) -> Option<(Summary, Summary)> {
    let root = lookout_testkit::shared_path(&format!("conformance/promql/{dir}"))?;
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .expect("read conformance dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let core = core_cases();
    let mut total = Summary::default();
    let mut core_total = Summary::default();
    let mut skip_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for p in files {
        let name = p
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&p).expect("read script");
        let cases = run_script(&text, engine).unwrap_or_else(|e| panic!("{name}: {e}"));
        for c in &cases {
            match &c.outcome {
                Outcome::Failed(why) => {
                    println!("FAIL {dir}/{name}:{}: {}: {why}", c.line, c.query)
                }
                Outcome::Skipped(why) => {
                    if core.contains(&(name.clone(), c.line)) {
                        println!("SKIP (core) {dir}/{name}:{}: {}: {why}", c.line, c.query);
                    }
                    *skip_reasons.entry(why.clone()).or_default() += 1
                }
                Outcome::Passed => {}
            }
        }
        let core_here: Vec<_> = cases
            .iter()
            .filter(|c| core.contains(&(name.clone(), c.line)))
            .cloned()
            .collect();
        core_total.add(Summary::of(&core_here));
        let s = Summary::of(&cases);
        println!("{name}: {s}");
        total.add(s);
    }
    for (why, n) in skip_reasons {
        println!("skipped {n}: {why}");
    }
    println!("{dir}: {total}");
    if dir == "upstream" {
        println!("{dir}, cases needing no feature flag: {core_total}");
    }
    Some((total, core_total))
}

#[test]
fn upstream_scripts_prometheus3() {
    let Some((all, core)) = run_dir("upstream", &Engine::new(EngineOptions::default())) else {
        return;
    };
    assert!(
        all.passed >= UPSTREAM_PASSED,
        "regression: {} passed, {UPSTREAM_PASSED} recorded",
        all.passed
    );
    assert!(
        core.passed >= CORE_PASSED,
        "regression: {} core cases passed, {CORE_PASSED} recorded",
        core.passed
    );
}

#[test]
fn upstream_scripts_prometheus2() {
    let engine = Engine::new(EngineOptions::prometheus2());
    let Some((all, _)) = run_dir("upstream-v2.42.0", &engine) else {
        return;
    };
    assert!(
        all.passed >= V242_PASSED,
        "regression: {} passed, {V242_PASSED} recorded",
        all.passed
    );
}

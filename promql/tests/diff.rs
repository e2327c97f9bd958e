//! Differential test against Prometheus 2.42: for every upstream `eval` query and every table
//! expression that 2.42 accepts, its `/api/v1/format_query` output (its prettifier, which is
//! its one-line `String()` for short expressions) must equal our [`prettify`] output, and 2.42
//! must read our printed text back to the same formatted expression.

use std::collections::BTreeSet;
use std::time::Duration;

use lookout_promql::{parse_with, prettify, ParseOptions};
use lookout_testkit::{free_port, http, oracle, shared_path, tempfile, wait_for_port, ChildGuard};

fn format_query(port: u16, q: &str) -> Result<String, String> {
    let body = format!("query={}", http::encode(q));
    let resp = http::post(
        port,
        "/api/v1/format_query",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .map_err(|e| format!("http: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&resp.body).map_err(|e| format!("json: {e}"))?;
    match v.get("data").and_then(|d| d.as_str()) {
        Some(s) if v.get("status").and_then(|s| s.as_str()) == Some("success") => Ok(s.to_string()),
        _ => Err(v
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("?")
            .to_string()),
    }
}

fn queries() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (input, _) in crate::table::PRINTS.iter().chain(crate::table::ERRORS) {
        out.insert(input.to_string());
    }
    // Long queries, so that the prettifier splits lines.
    for q in [
        r#"sum by (job, instance) (rate(http_requests_total{code=~"5..",handler!="/metrics",job="api-server"}[5m])) / sum by (job, instance) (rate(http_requests_total{job="api-server"}[5m])) > 0.05"#,
        r#"histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket{job="api",handler=~"/api/v1/.*"}[10m])))"#,
        r#"max_over_time(sum without (instance, pod, container) (container_memory_working_set_bytes{namespace="production",container!=""})[1h:5m]) / on (namespace) group_left (team) kube_namespace_labels"#,
        r#"label_replace(avg by (node) (1 - rate(node_cpu_seconds_total{mode="idle"}[5m])), "host", "$1", "node", "([^.]+)\..*") * 100 > bool 90"#,
        r#"topk(10, sum by (pod) (increase(kube_pod_container_status_restarts_total{namespace=~"team-a|team-b|team-c"}[1h] offset 1d))) and on (pod) kube_pod_info{created_by_kind="ReplicaSet"}"#,
        r#"-(sum(rate(a_very_long_metric_name_for_testing_the_prettifier_total{label_one="value_one",label_two="value_two"}[5m])))"#,
    ] {
        out.insert(q.to_string());
    }
    for rel in [
        "conformance/promql/upstream",
        "conformance/promql/upstream-v2.42.0",
    ] {
        let Some(dir) = shared_path(rel) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            for line in text.lines() {
                if let Some(q) = crate::upstream::eval_query(line) {
                    out.insert(q.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn prometheus_2_42_formats_like_us() {
    let Some(bin) = oracle("prometheus") else {
        return;
    };
    if shared_path("conformance/promql/upstream-v2.42.0").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").expect("write config");
    let port = free_port();
    let child = std::process::Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _guard = ChildGuard(child);
    assert!(
        wait_for_port(port, Duration::from_secs(30)),
        "prometheus did not start"
    );
    // The port is open a little before the API answers.
    let mut ready = false;
    for _ in 0..100 {
        if format_query(port, "1").is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "prometheus API not ready");

    let opts = ParseOptions::prometheus2();
    let (mut passed, mut skipped) = (0, 0);
    let mut failed = Vec::new();
    for q in queries() {
        let theirs = match format_query(port, &q) {
            Ok(s) => s,
            // Newer syntax than 2.42 knows (durations as numbers, UTF-8 names, ...).
            Err(_) => {
                skipped += 1;
                continue;
            }
        };
        let ours = match parse_with(&q, &opts) {
            Ok(e) => e,
            Err(err) => {
                failed.push(format!("{q}: 2.42 accepts, we reject: {err}"));
                continue;
            }
        };
        if ours.to_string().contains('\u{fffd}') && !q.contains('\u{fffd}') {
            // A string escape makes invalid UTF-8, which Rust strings hold as U+FFFD.
            skipped += 1;
            continue;
        }
        if theirs.contains("e+") || theirs.contains("e-") {
            // 2.42 printed numbers with %v (exponent form); Prometheus 3 prints them plainly.
            skipped += 1;
            continue;
        }
        // Printer fixes made after 2.42 (we print as Prometheus 3 does; see printer_test.go).
        const FIXED_AFTER_2_42: [&str; 3] = [
            "a - ignoring() group_left c",
            "a - ignoring() group_left(__metric__) c",
            r#"{__name__="",a="x"}"#,
        ];
        if FIXED_AFTER_2_42.contains(&q.as_str()) {
            skipped += 1;
            continue;
        }
        let pretty = prettify(&ours);
        if pretty != theirs {
            failed.push(format!("{q}: 2.42 formats {theirs:?}, we {pretty:?}"));
            continue;
        }
        match format_query(port, &ours.to_string()) {
            Ok(again) if again == theirs => passed += 1,
            other => failed.push(format!(
                "{q}: our text {:?} reads back in 2.42 as {other:?}",
                ours.to_string()
            )),
        }
    }
    for f in &failed {
        println!("FAIL {f}");
    }
    println!(
        "prometheus 2.42 format_query: {passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    assert!(failed.is_empty());
    assert!(passed > 300, "too few comparisons: {passed}");
}

//! Relabeling throughput (issue: relabel).
#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.
//!
//! - `relabel_bench_json/*`: the three pipelines of Prometheus' `BenchmarkRelabel`
//!   (`shared/conformance/relabel/bench.json`), one label set per iteration.
//! - `relabel_kube/node_exporter_job`: the 17-rule kube-prometheus node-exporter job config on
//!   realistic endpoint-role target labels (about 40 `__meta_*` labels).
//! - `relabel_metric/three_rules`: a metric_relabel config (drop by name regex, labeldrop,
//!   rename) over 1000 realistic series; throughput in label sets per second.
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID` on Linux, wall time
//! elsewhere): the machines this runs on are shared, and wall time under load
//! measures the neighbours. Single-threaded code on one core is what the targets ask about.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Bencher, Criterion, Throughput};
use lookout_model::Labels;
use lookout_relabel::{Action, Options, RelabelConfig, Relabeler};
use serde_json::Value;

/// CPU time of this thread in nanoseconds, if the platform tells.
fn thread_cpu_ns() -> Option<u64> {
    lookout_benches::cpu_time_ns(true)
}

/// Runs `f` `iters` times and reports the CPU time spent (wall time if unavailable).
fn cpu_iter<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
        for _ in 0..iters {
            black_box(f());
        }
        match (cpu0, thread_cpu_ns()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => wall0.elapsed(),
        }
    })
}

fn config_of(v: &Value) -> Option<RelabelConfig> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut c = RelabelConfig::new(Action::parse(&s("action"))?)
        .source_labels(
            v.get("source_labels")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>(),
        )
        .separator(s("separator"))
        .modulus(v.get("modulus").and_then(Value::as_u64).unwrap_or(0))
        .target_label(s("target_label"))
        .replacement(s("replacement"));
    // "(.*)" in the file is Prometheus' default regex.
    if s("regex") != "(.*)" {
        c = c.regex(s("regex"));
    }
    Some(c)
}

fn bench_json(c: &mut Criterion) {
    let path = lookout_benches::shared_dir().join("conformance/relabel/bench.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipping relabel bench.json pipelines: {} not found",
            path.display()
        );
        return;
    };
    let Ok(Value::Array(cases)) = serde_json::from_str::<Value>(&text) else {
        eprintln!("skipping: {} is not a JSON array", path.display());
        return;
    };
    let mut g = c.benchmark_group("relabel_bench_json");
    g.throughput(Throughput::Elements(1));
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?").replace(' ', "_");
        let configs: Option<Vec<RelabelConfig>> = case["configs"]
            .as_array()
            .map(|a| a.iter().filter_map(config_of).collect());
        let Some(configs) = configs else { continue };
        let Ok(r) = Relabeler::new(&configs, Options::PROMETHEUS) else {
            eprintln!("skipping {name}: config does not compile");
            continue;
        };
        let input: Labels = case["input"]
            .as_object()
            .map(|o| {
                Labels::from_pairs(
                    o.iter()
                        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))),
                )
            })
            .unwrap_or_default();
        g.bench_function(name, |b| cpu_iter(b, || r.process(black_box(&input))));
    }
    g.finish();
}

/// Endpoint-role labels of one node-exporter pod, as Prometheus' Kubernetes SD produces them
/// (plus the scrape config's defaults).
fn kube_target(address: &str) -> Labels {
    let node = "ip-10-0-12-34.eu-west-1.compute.internal";
    Labels::from_pairs([
        ("__address__", address),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
        ("__scrape_interval__", "30s"),
        ("__scrape_timeout__", "10s"),
        ("job", "serviceMonitor/monitoring/kube-prometheus-stack-prometheus-node-exporter/0"),
        ("__meta_kubernetes_namespace", "monitoring"),
        ("__meta_kubernetes_endpoints_name", "kube-prometheus-stack-prometheus-node-exporter"),
        ("__meta_kubernetes_endpoints_label_app_kubernetes_io_instance", "kube-prometheus-stack"),
        ("__meta_kubernetes_endpoints_labelpresent_app_kubernetes_io_instance", "true"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "kube-prometheus-stack-prometheus-node-exporter-7xk2p"),
        ("__meta_kubernetes_endpoint_node_name", node),
        ("__meta_kubernetes_endpoint_port_name", "http-metrics"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_service_name", "kube-prometheus-stack-prometheus-node-exporter"),
        ("__meta_kubernetes_service_label_app_kubernetes_io_instance", "kube-prometheus-stack"),
        ("__meta_kubernetes_service_labelpresent_app_kubernetes_io_instance", "true"),
        ("__meta_kubernetes_service_label_app_kubernetes_io_name", "prometheus-node-exporter"),
        ("__meta_kubernetes_service_labelpresent_app_kubernetes_io_name", "true"),
        ("__meta_kubernetes_service_label_app_kubernetes_io_managed_by", "Helm"),
        ("__meta_kubernetes_service_labelpresent_app_kubernetes_io_managed_by", "true"),
        ("__meta_kubernetes_service_label_jobLabel", "node-exporter"),
        ("__meta_kubernetes_service_labelpresent_jobLabel", "true"),
        ("__meta_kubernetes_service_annotation_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_service_annotationpresent_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_pod_name", "kube-prometheus-stack-prometheus-node-exporter-7xk2p"),
        ("__meta_kubernetes_pod_ip", "10.0.12.34"),
        ("__meta_kubernetes_pod_host_ip", "10.0.12.34"),
        ("__meta_kubernetes_pod_node_name", node),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_uid", "4c586419-7f6c-448d-aeec-ca4fa5b05e60"),
        ("__meta_kubernetes_pod_container_name", "node-exporter"),
        ("__meta_kubernetes_pod_container_init", "false"),
        ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        ("__meta_kubernetes_pod_container_port_number", "9100"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_controller_kind", "DaemonSet"),
        ("__meta_kubernetes_pod_controller_name", "kube-prometheus-stack-prometheus-node-exporter"),
        ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "prometheus-node-exporter"),
        ("__meta_kubernetes_pod_label_app_kubernetes_io_instance", "kube-prometheus-stack"),
        ("__meta_kubernetes_pod_label_controller_revision_hash", "6f8d5c8b7"),
        ("__meta_kubernetes_pod_label_pod_template_generation", "4"),
        ("__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name", "true"),
        ("__meta_kubernetes_pod_labelpresent_controller_revision_hash", "true"),
        ("__meta_kubernetes_pod_annotation_cluster_autoscaler_kubernetes_io_safe_to_evict", "true"),
        ("__meta_kubernetes_pod_annotationpresent_cluster_autoscaler_kubernetes_io_safe_to_evict", "true"),
    ])
}

fn bench_kube(c: &mut Criterion) {
    let yaml = include_str!("../../relabel/testdata/kube_node_exporter.yaml");
    let r = match Relabeler::from_yaml(yaml, Options::PROMETHEUS) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skipping kube benchmark: {e}");
            return;
        }
    };
    // The config keeps shard 1 of 3: pick an address in that shard, so every rule runs.
    let Some(target) = (0..100)
        .map(|i| kube_target(&format!("10.0.12.{i}:9100")))
        .find(|t| r.process(t).is_some())
    else {
        eprintln!("skipping kube benchmark: no address kept");
        return;
    };
    let kept = r.process(&target);
    eprintln!(
        "kube node-exporter job: {} rules, {} input labels -> {kept:?}",
        r.len(),
        target.len()
    );
    let mut g = c.benchmark_group("relabel_kube");
    g.throughput(Throughput::Elements(1));
    g.bench_function("node_exporter_job", |b| {
        cpu_iter(b, || r.process(black_box(&target)))
    });
    g.finish();
}

/// Series as a node exporter behind kube-prometheus exposes them, after target labels are
/// attached.
fn series() -> Vec<Labels> {
    let names = [
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_filesystem_avail_bytes",
        "node_network_receive_bytes_total",
        "go_gc_duration_seconds",
        "go_memstats_alloc_bytes",
        "process_cpu_seconds_total",
        "promhttp_metric_handler_requests_total",
        "node_load1",
        "node_disk_io_time_seconds_total",
    ];
    let mut out = Vec::new();
    for i in 0..1000usize {
        let name = names[i % names.len()];
        let instance = format!("ip-10-0-{}-{}.eu-west-1.compute.internal", i / 250, i % 250);
        let cpu = (i % 8).to_string();
        let mut pairs = vec![
            ("__name__", name.to_string()),
            ("container", "node-exporter".to_string()),
            ("endpoint", "http-metrics".to_string()),
            ("instance", instance),
            ("job", "node-exporter".to_string()),
            ("namespace", "monitoring".to_string()),
            (
                "pod",
                format!(
                    "kube-prometheus-stack-prometheus-node-exporter-{:05x}",
                    i * 7919 % 0xfffff
                ),
            ),
            (
                "service",
                "kube-prometheus-stack-prometheus-node-exporter".to_string(),
            ),
        ];
        if name == "node_cpu_seconds_total" {
            pairs.push(("cpu", cpu));
            pairs.push((
                "mode",
                ["idle", "user", "system", "iowait"][i % 4].to_string(),
            ));
        }
        if i % 10 == 3 {
            pairs.push(("pod_template_hash", "6f8d5c8b7".to_string()));
        }
        out.push(Labels::from_pairs(pairs));
    }
    out
}

fn bench_metric(c: &mut Criterion) {
    let yaml = r#"
- source_labels: [__name__]
  regex: go_gc_.*|go_memstats_.*|promhttp_.*
  action: drop
- regex: pod_template_hash|controller_revision_hash
  action: labeldrop
- source_labels: [__name__]
  regex: node_load1
  target_label: __name__
  replacement: node_load_1m
"#;
    let r = match Relabeler::from_yaml(yaml, Options::PROMETHEUS) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skipping metric_relabel benchmark: {e}");
            return;
        }
    };
    let series = series();
    let kept = series.iter().filter(|s| r.process(s).is_some()).count();
    eprintln!("metric_relabel: {kept} of {} series kept", series.len());
    let mut g = c.benchmark_group("relabel_metric");
    g.throughput(Throughput::Elements(series.len() as u64));
    g.bench_function("three_rules", |b| {
        cpu_iter(b, || {
            let mut n = 0usize;
            for s in &series {
                n += usize::from(r.process(black_box(s)).is_some());
            }
            n
        })
    });
    g.bench_function("three_rules_borrowed", |b| {
        let views: Vec<Vec<(&str, &str)>> = series
            .iter()
            .map(|s| s.iter().map(|l| (l.name, l.value)).collect())
            .collect();
        cpu_iter(b, || {
            let mut n = 0usize;
            for v in &views {
                n += usize::from(r.process_view(black_box(v.as_slice())).is_some());
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench_json, bench_kube, bench_metric);
criterion_main!(benches);

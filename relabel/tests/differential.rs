//! Differential test against the real Prometheus 2.42: target groups with `__meta_*` labels in
//! a `file_sd` file, several scrape jobs with relabel rules (the kube-prometheus node-exporter
//! job, a config using every action, and generated rule lists), and Prometheus'
//! `/api/v1/targets?state=any` compared with our output for every target of every job.
//!
//! Prometheus runs each job's rules on the target's discovered labels, to which it first adds
//! `job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__` and `__scrape_timeout__`, and
//! then post-processes kept targets: `__meta_*` labels go, `instance` defaults to `__address__`,
//! and the API shows no `__`-prefixed label. We apply the same steps to our output. The
//! `discoveredLabels` that 2.42 reports are not reliable (its label builder shares memory with
//! the relabeled set, so they show relabeled values), so targets are matched to our input by
//! their unique `__address__` instead. Prometheus 2.42 compiles regexes without `(?s)` and checks classic label names, so
//! our side runs with `Options::PROMETHEUS2`; values hold no newlines.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use lookout_model::Labels;
use lookout_relabel::{Options, Relabeler};
use lookout_testkit::{free_port, http, oracle, wait_for_port, ChildGuard};
use serde_json::{json, Value};

use crate::common::to_map;

type Map = BTreeMap<String, String>;

thread_local! {
    /// The file_sd path, which Prometheus adds to every target as `__meta_filepath`.
    static SD_FILE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const TEXTS: &[&str] = &[
    "Straße",
    "ÀÉÎõü",
    "mixed Case-1",
    "İstanbul",
    "ǅemal",
    "plain",
    "UPPER",
    "ﬀ ligature",
    "Σίσυφος",
];

/// Realistic Kubernetes endpoint-role target labels (about 40 `__meta_*` labels), varied so
/// the rules both keep and drop.
fn target_group(rng: &mut Rng, i: usize) -> Map {
    let mut m = Map::new();
    let mut put = |k: &str, v: &str| {
        m.insert(k.to_string(), v.to_string());
    };
    let node = format!("ip-10-0-{}-{}.ec2.internal", i / 200, i % 200);
    let pod = format!(
        "{}-{:05x}",
        rng.pick(&[
            "node-exporter",
            "kube-prometheus-stack-prometheus-node-exporter",
            "api"
        ]),
        rng.next() & 0xfffff
    );
    let ip = format!("10.{}.{}.{}", rng.below(4), rng.below(250), rng.below(250));
    put(
        "__address__",
        &format!("127.0.{}.{}:9", i / 250, i % 250 + 1),
    );
    put(
        "__meta_kubernetes_namespace",
        rng.pick(&["monitoring", "kube-system", "default", "web-prod"]),
    );
    put(
        "__meta_kubernetes_service_name",
        rng.pick(&[
            "kube-prometheus-stack-prometheus-node-exporter",
            "node-exporter",
            "grafana",
        ]),
    );
    if rng.chance(85) {
        put(
            "__meta_kubernetes_service_label_app_kubernetes_io_instance",
            rng.pick(&["kube-prometheus-stack", "kube-prometheus-stack", "other"]),
        );
        put(
            "__meta_kubernetes_service_labelpresent_app_kubernetes_io_instance",
            "true",
        );
    }
    if rng.chance(85) {
        put(
            "__meta_kubernetes_service_label_app_kubernetes_io_name",
            rng.pick(&[
                "prometheus-node-exporter",
                "prometheus-node-exporter",
                "grafana",
            ]),
        );
        put(
            "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name",
            "true",
        );
    }
    if rng.chance(70) {
        put("__meta_kubernetes_service_label_jobLabel", "node-exporter");
        put("__meta_kubernetes_service_labelpresent_jobLabel", "true");
    }
    put(
        "__meta_kubernetes_service_label_app_kubernetes_io_managed_by",
        "Helm",
    );
    put(
        "__meta_kubernetes_service_labelpresent_app_kubernetes_io_managed_by",
        "true",
    );
    put(
        "__meta_kubernetes_service_annotation_prometheus_io_scrape",
        "true",
    );
    put(
        "__meta_kubernetes_service_annotationpresent_prometheus_io_scrape",
        "true",
    );
    put(
        "__meta_kubernetes_endpoint_port_name",
        rng.pick(&["http-metrics", "http-metrics", "metrics"]),
    );
    put("__meta_kubernetes_endpoint_port_protocol", "TCP");
    put(
        "__meta_kubernetes_endpoint_ready",
        rng.pick(&["true", "true", "true", "false"]),
    );
    if rng.chance(90) {
        let kind = rng.pick(&["Node", "Pod"]);
        put("__meta_kubernetes_endpoint_address_target_kind", kind);
        put(
            "__meta_kubernetes_endpoint_address_target_name",
            if kind == "Node" { &node } else { &pod },
        );
    }
    let endpoint_node = if rng.chance(80) {
        node.clone()
    } else {
        format!("{node}-x")
    };
    put("__meta_kubernetes_endpoint_node_name", &endpoint_node);
    put(
        "__meta_kubernetes_endpoints_name",
        "kube-prometheus-stack-prometheus-node-exporter",
    );
    if rng.chance(90) {
        put("__meta_kubernetes_pod_name", &pod);
    }
    put(
        "__meta_kubernetes_pod_container_name",
        rng.pick(&["node-exporter", "kube-rbac-proxy"]),
    );
    put("__meta_kubernetes_pod_container_port_name", "http-metrics");
    put("__meta_kubernetes_pod_container_port_number", "9100");
    put("__meta_kubernetes_pod_container_port_protocol", "TCP");
    put("__meta_kubernetes_pod_container_init", "false");
    put(
        "__meta_kubernetes_pod_controller_kind",
        rng.pick(&["DaemonSet", "ReplicaSet", "StatefulSet"]),
    );
    put(
        "__meta_kubernetes_pod_controller_name",
        "kube-prometheus-stack-prometheus-node-exporter",
    );
    put("__meta_kubernetes_pod_host_ip", &ip);
    put("__meta_kubernetes_pod_ip", &ip);
    put("__meta_kubernetes_pod_node_name", &node);
    put(
        "__meta_kubernetes_pod_phase",
        rng.pick(&[
            "Running",
            "Running",
            "Running",
            "Pending",
            "Failed",
            "Succeeded",
        ]),
    );
    put("__meta_kubernetes_pod_ready", rng.pick(&["true", "false"]));
    put(
        "__meta_kubernetes_pod_uid",
        &format!(
            "4c586419-7f6c-448d-aeec-{:012x}",
            rng.next() & 0xffff_ffff_ffff
        ),
    );
    put(
        "__meta_kubernetes_pod_label_app_kubernetes_io_name",
        "prometheus-node-exporter",
    );
    put(
        "__meta_kubernetes_pod_label_app_kubernetes_io_component",
        "metrics",
    );
    put(
        "__meta_kubernetes_pod_label_controller_revision_hash",
        "555b77cd7d",
    );
    put("__meta_kubernetes_pod_label_pod_template_generation", "3");
    put(
        "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name",
        "true",
    );
    put(
        "__meta_kubernetes_pod_labelpresent_controller_revision_hash",
        "true",
    );
    put(
        "__meta_kubernetes_pod_annotation_cluster_autoscaler_kubernetes_io_safe_to_evict",
        "true",
    );
    put(
        "__meta_kubernetes_pod_annotationpresent_cluster_autoscaler_kubernetes_io_safe_to_evict",
        "true",
    );
    put("__meta_custom_text", rng.pick(TEXTS));
    m
}

const SOURCES: &[&str] = &[
    "__meta_kubernetes_namespace",
    "__meta_kubernetes_pod_name",
    "__meta_kubernetes_pod_phase",
    "__meta_kubernetes_endpoint_address_target_kind",
    "__meta_kubernetes_endpoint_address_target_name",
    "__meta_kubernetes_service_label_jobLabel",
    "__meta_kubernetes_pod_ip",
    "__meta_custom_text",
    "__meta_missing",
    "__address__",
    "job",
    "out_a",
];
const REGEXES: &[&str] = &[
    "(.*)",
    "(.+)",
    "([a-z]+)-(.*)",
    "(?i)(node|pod).*",
    "N.*",
    "(.*)-([0-9a-f]{5})",
    "((?:Node|Pod));(.*)",
    "",
    "[a-z]+",
    "Running|Pending",
    "(Running|Pending)",
    "kube-(.*)",
    ".*(exporter).*",
    "(\\d+)\\.(\\d+).*",
    "(?P<first>[^;]*);(?P<second>.*)",
];
const TEMPLATES: &[&str] = &[
    "$1",
    "${2}",
    "$0",
    "x-$1",
    "$1x",
    "${1}x",
    "$$1",
    "static",
    "",
    "${1}_${2}",
    "$first.$second",
    "${second}",
    "$",
    "${",
    "$3",
];
const TARGETS: &[&str] = &[
    "out_a",
    "out_b",
    "${1}",
    "out_$2",
    "namespace",
    "pod",
    "instance",
];

fn yaml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A random rule list, valid for Prometheus 2.42.
fn random_rules(rng: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..6 + rng.below(6) {
        let n = 1 + rng.below(2);
        let sources: Vec<&str> = (0..n).map(|_| rng.pick(SOURCES)).collect();
        let src = yaml_list(&sources);
        let sep = rng.pick(&[";", ";", "/", ""]);
        let rule = match rng.below(10) {
            0..=3 => format!(
                "- source_labels: {src}\n  separator: {sep:?}\n  regex: {:?}\n  target_label: {:?}\n  replacement: {:?}\n",
                rng.pick(REGEXES),
                rng.pick(TARGETS),
                rng.pick(TEMPLATES)
            ),
            4 => format!(
                "- source_labels: {src}\n  modulus: {}\n  target_label: {:?}\n  action: hashmod\n",
                1 + rng.below(10),
                rng.pick(&["h", "out_a"])
            ),
            5 => format!(
                "- source_labels: {src}\n  target_label: {:?}\n  action: {}\n",
                rng.pick(&["lc", "out_b"]),
                rng.pick(&["lowercase", "uppercase"])
            ),
            6 => format!(
                "- source_labels: {src}\n  separator: {sep:?}\n  regex: {:?}\n  action: {}\n",
                rng.pick(&["Failed|Succeeded", "kube-system", "N.*;.*", "x", ".*o.*"]),
                rng.pick(&["keep", "drop", "drop"])
            ),
            7 => format!(
                "- regex: {:?}\n  replacement: {:?}\n  action: labelmap\n",
                rng.pick(&[
                    "__meta_kubernetes_pod_label_(.+)",
                    "__meta_kubernetes_(service|pod)_name",
                    "__meta_(custom)_text",
                    "out_(.*)",
                ]),
                rng.pick(&["$1", "lm_$1", "${1}_x", "out_b"])
            ),
            8 => format!(
                "- regex: {:?}\n  action: labeldrop\n",
                rng.pick(&["__meta_kubernetes_pod_label_.*", "out_.*", "namespace", "lm_.*"])
            ),
            _ => format!(
                "- source_labels: {src}\n  target_label: {:?}\n  action: {}\n",
                rng.pick(&["out_a", "__meta_kubernetes_pod_node_name", "job"]),
                rng.pick(&["keepequal", "dropequal"])
            ),
        };
        out.push_str(&rule);
    }
    out
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{by}{l}\n"))
        .collect()
}

/// What the targets API would show for a target that our rules produced: `None` when
/// Prometheus reports no target at all (no `__address__` left).
fn post_process(out: &Labels) -> Option<Map> {
    let addr = out.get("__address__")?;
    let mut m: Map = to_map(out)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .collect();
    m.entry("instance".to_string())
        .or_insert_with(|| addr.to_string());
    Some(m)
}

/// The labels Prometheus relabels: the target group's, plus the scrape config's defaults.
fn discovered(group: &Map, job: &str) -> Labels {
    let mut m = group.clone();
    m.insert(
        "__meta_filepath".to_string(),
        SD_FILE.with(|f| f.borrow().clone()),
    );
    for (k, v) in [
        ("job", job),
        ("__scheme__", "http"),
        ("__metrics_path__", "/metrics"),
        ("__scrape_interval__", "1h"),
        ("__scrape_timeout__", "10s"),
    ] {
        m.entry(k.to_string()).or_insert_with(|| v.to_string());
    }
    Labels::from_pairs(m.iter())
}

fn labels_of(v: &Value) -> Map {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn against_prometheus_2_42() {
    let Some(prometheus) = oracle("prometheus") else {
        return;
    };
    const GROUPS: usize = 250;
    const RANDOM_JOBS: usize = 6;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let groups: Vec<Map> = (0..GROUPS).map(|i| target_group(&mut rng, i)).collect();

    let mut jobs: Vec<(String, String)> = vec![
        (
            "kube-node-exporter".to_string(),
            include_str!("../testdata/kube_node_exporter.yaml").to_string(),
        ),
        (
            "mixed".to_string(),
            include_str!("../testdata/mixed.yaml").to_string(),
        ),
    ];
    for j in 0..RANDOM_JOBS {
        jobs.push((format!("random-{j}"), random_rules(&mut rng)));
    }

    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let sd: Vec<Value> = groups
        .iter()
        .map(|g| {
            let addr = g["__address__"].clone();
            let labels: Map = g
                .iter()
                .filter(|(k, _)| *k != "__address__")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            json!({"targets": [addr], "labels": labels})
        })
        .collect();
    let sd_path = dir.path().join("targets.json");
    SD_FILE.with(|f| *f.borrow_mut() = sd_path.display().to_string());
    std::fs::write(&sd_path, serde_json::to_string(&sd).unwrap()).unwrap();
    let mut config =
        String::from("global:\n  scrape_interval: 1h\n  scrape_timeout: 10s\nscrape_configs:\n");
    for (name, rules) in &jobs {
        config.push_str(&format!(
            "- job_name: {name}\n  file_sd_configs:\n  - files: [{:?}]\n  relabel_configs:\n{}",
            sd_path.display().to_string(),
            indent(rules, "  ")
        ));
    }
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, &config).unwrap();

    // Our side first: a rule list Prometheus would reject must fail here too.
    let relabelers: Vec<Relabeler> = jobs
        .iter()
        .map(|(name, rules)| {
            Relabeler::from_yaml(rules, Options::PROMETHEUS2)
                .unwrap_or_else(|e| panic!("job {name}: {e}\n{rules}"))
        })
        .collect();

    let port = free_port();
    let child = std::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    if !wait_for_port(port, Duration::from_secs(20)) {
        let _ = guard.0.kill();
        let out = guard.0.wait_with_output_ref();
        panic!("prometheus did not start: {out}");
    }

    // Every target group shows up once per job, as active or dropped (active targets with
    // equal final labels are merged, which we account for below).
    let expected_min: usize = relabelers
        .iter()
        .zip(&jobs)
        .map(|(r, (job, _))| {
            let mut active = BTreeSet::new();
            let mut dropped = 0;
            for g in &groups {
                match r.process(&discovered(g, job)) {
                    None => dropped += 1,
                    Some(out) => {
                        active.insert(to_map(&out));
                    }
                }
            }
            dropped + active.len()
        })
        .sum::<usize>()
        .min(GROUPS * jobs.len());
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut data = Value::Null;
    let mut seen = 0;
    while Instant::now() < deadline {
        if let Ok(resp) = http::get(port, "/api/v1/targets?state=any") {
            if let Ok(v) = serde_json::from_slice::<Value>(&resp.body) {
                let count = |k: &str| v["data"][k].as_array().map_or(0, Vec::len);
                seen = count("activeTargets") + count("droppedTargets");
                data = v["data"].clone();
                if seen >= expected_min * 9 / 10 {
                    // Give the last pools a moment, then take the final answer.
                    std::thread::sleep(Duration::from_millis(1500));
                    if let Ok(resp) = http::get(port, "/api/v1/targets?state=any") {
                        if let Ok(v) = serde_json::from_slice::<Value>(&resp.body) {
                            data = v["data"].clone();
                        }
                    }
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(seen > 0, "prometheus reported no targets");

    // Active targets name their job; dropped ones do not (2.42 reports a corrupted label set
    // for them, see above), so those are counted per address.
    let mut active: BTreeMap<(String, String), Map> = BTreeMap::new();
    for t in data["activeTargets"].as_array().into_iter().flatten() {
        let job = t["scrapePool"].as_str().unwrap_or_default().to_string();
        let addr = t["discoveredLabels"]["__address__"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        active.insert((job, addr), labels_of(&t["labels"]));
    }
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    for t in data["droppedTargets"].as_array().into_iter().flatten() {
        let addr = t["discoveredLabels"]["__address__"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *dropped.entry(addr).or_default() += 1;
    }
    let mut passed = 0usize;
    let mut failed = Vec::new();
    let mut predicted_dropped: BTreeMap<String, usize> = BTreeMap::new();
    for ((job, _), r) in jobs.iter().zip(&relabelers) {
        let outs: Vec<Option<Labels>> = groups
            .iter()
            .map(|g| r.process(&discovered(g, job)))
            .collect();
        let mut finals: BTreeMap<Map, usize> = BTreeMap::new();
        for m in outs.iter().flatten().filter_map(post_process) {
            *finals.entry(m).or_default() += 1;
        }
        for (g, ours) in groups.iter().zip(&outs) {
            let addr = g["__address__"].clone();
            let got = ours.as_ref().and_then(post_process);
            let ok = match (active.get(&(job.clone(), addr.clone())), &got) {
                (Some(want), Some(got)) => want == got,
                (Some(_), None) => false,
                (None, None) => {
                    *predicted_dropped.entry(addr.clone()).or_default() += 1;
                    true
                }
                // Prometheus keeps one of several targets with equal final labels.
                (None, Some(got)) => finals.get(got).copied().unwrap_or(0) > 1,
            };
            if ok {
                passed += 1;
            } else {
                failed.push(format!(
                    "job {job}: input {}\n  prometheus: {:?}\n  ours: {got:?}",
                    discovered(g, job),
                    active.get(&(job.clone(), addr.clone()))
                ));
            }
        }
    }
    for g in &groups {
        let addr = &g["__address__"];
        let (want, got) = (
            dropped.get(addr).copied().unwrap_or(0),
            predicted_dropped.get(addr).copied().unwrap_or(0),
        );
        if want != got {
            failed.push(format!(
                "address {addr}: prometheus dropped it in {want} jobs, we in {got}"
            ));
        }
    }

    for f in failed.iter().take(10) {
        eprintln!("FAIL {f}");
    }
    println!(
        "prometheus 2.42 differential: {passed} passed, {} failed, 0 skipped ({} jobs, {GROUPS} target groups; prometheus kept {}, dropped {})",
        failed.len(),
        jobs.len(),
        active.len(),
        dropped.values().sum::<usize>()
    );
    assert!(failed.is_empty(), "{} mismatches", failed.len());
    assert!(
        passed >= GROUPS * jobs.len() / 2,
        "too few targets compared: {passed}"
    );
}

trait OutputText {
    fn wait_with_output_ref(&mut self) -> String;
}

impl OutputText for std::process::Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut s = String::new();
        if let Some(e) = self.stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

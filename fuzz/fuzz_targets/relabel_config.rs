//! Loading a relabel config list from YAML never panics, in both compatibility modes; a list
//! that loads can be applied.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_model::Labels;
use lookout_relabel::{Options, Relabeler};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 4096 {
        return;
    }
    let input = Labels::from_pairs([
        ("__address__", "10.0.0.1:9100"),
        ("__meta_kubernetes_namespace", "web"),
        ("__meta_kubernetes_pod_name", "api-1"),
        ("job", "node"),
    ]);
    for opts in [Options::PROMETHEUS, Options::PROMETHEUS2] {
        if let Ok(r) = Relabeler::from_yaml(text, opts) {
            if let Some(out) = r.process(&input) {
                assert!(out.iter().all(|l| !l.value.is_empty()));
            }
        }
    }
});

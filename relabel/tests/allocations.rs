//! Allocation counts: one per relabeled label set (the result), none when nothing changes or
//! the set is dropped. A counting wrapper around the system allocator, per thread, measures it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lookout_model::Labels;
use lookout_relabel::{Options, Relabeler};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread-local `Cell`, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

fn kube_labels(address: &str) -> Labels {
    let mut pairs = vec![
        ("__address__".to_string(), address.to_string()),
        ("job".to_string(), "node-exporter".to_string()),
        (
            "__meta_kubernetes_namespace".to_string(),
            "monitoring".to_string(),
        ),
        (
            "__meta_kubernetes_service_label_app_kubernetes_io_instance".to_string(),
            "kube-prometheus-stack".to_string(),
        ),
        (
            "__meta_kubernetes_service_labelpresent_app_kubernetes_io_instance".to_string(),
            "true".to_string(),
        ),
        (
            "__meta_kubernetes_service_label_app_kubernetes_io_name".to_string(),
            "prometheus-node-exporter".to_string(),
        ),
        (
            "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name".to_string(),
            "true".to_string(),
        ),
        (
            "__meta_kubernetes_service_label_jobLabel".to_string(),
            "node-exporter".to_string(),
        ),
        (
            "__meta_kubernetes_service_name".to_string(),
            "kube-prometheus-stack-prometheus-node-exporter".to_string(),
        ),
        (
            "__meta_kubernetes_endpoint_port_name".to_string(),
            "http-metrics".to_string(),
        ),
        (
            "__meta_kubernetes_endpoint_address_target_kind".to_string(),
            "Pod".to_string(),
        ),
        (
            "__meta_kubernetes_endpoint_address_target_name".to_string(),
            "node-exporter-abcde".to_string(),
        ),
        (
            "__meta_kubernetes_pod_name".to_string(),
            "node-exporter-abcde".to_string(),
        ),
        (
            "__meta_kubernetes_pod_container_name".to_string(),
            "node-exporter".to_string(),
        ),
        (
            "__meta_kubernetes_pod_phase".to_string(),
            "Running".to_string(),
        ),
        (
            "__meta_kubernetes_pod_node_name".to_string(),
            "node-1".to_string(),
        ),
    ];
    for i in 0..25 {
        pairs.push((
            format!("__meta_kubernetes_pod_label_extra_{i}"),
            format!("value-{i}"),
        ));
    }
    Labels::from_pairs(pairs)
}

#[test]
fn one_allocation_per_result() {
    let r = Relabeler::from_yaml(
        include_str!("../testdata/kube_node_exporter.yaml"),
        Options::PROMETHEUS,
    )
    .unwrap();
    let inputs: Vec<Labels> = (0..60)
        .map(|i| kube_labels(&format!("10.0.0.{i}:9100")))
        .collect();
    // Warm the per-thread buffers up.
    for l in &inputs {
        let _ = r.process(l);
    }
    let mut kept = 0;
    let n = allocations(|| {
        for l in &inputs {
            kept += usize::from(r.process(l).is_some());
        }
    });
    assert!(
        kept > 0 && kept < inputs.len(),
        "the shard rule keeps some: {kept}"
    );
    assert_eq!(
        n,
        kept,
        "allocations for {kept} kept of {} targets",
        inputs.len()
    );
}

#[test]
fn no_allocation_when_unchanged_or_dropped() {
    let r = Relabeler::from_yaml(
        "- source_labels: [job]\n  regex: node-.*\n  action: keep\n- regex: nothing_.*\n  action: labeldrop\n- source_labels: [job]\n  target_label: job\n",
        Options::PROMETHEUS,
    )
    .unwrap();
    let kept = kube_labels("a:1");
    let dropped = Labels::from_pairs([("job", "api")]);
    let _ = r.process(&kept);
    let n = allocations(|| {
        for _ in 0..10 {
            assert!(r.process(&kept).is_some());
            assert!(r.process(&dropped).is_none());
        }
    });
    assert_eq!(n, 0);
}

//! Shared helpers for the Lookout benchmarks: locating `../shared` and loading its datasets.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared data folder: `$LOOKOUT_SHARED`, else `../shared` beside the workspace root.
pub fn shared_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("LOOKOUT_SHARED") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The label sets of `datasets/metrics/20kseries.json` (one JSON object per line), or `None`
/// when the shared folder is absent.
pub fn load_20k_series() -> Option<Vec<Vec<(String, String)>>> {
    let text =
        std::fs::read_to_string(shared_dir().join("datasets/metrics/20kseries.json")).ok()?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
        out.push(
            obj.into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                .collect(),
        );
    }
    Some(out)
}

/// CPU time of this thread (`thread: true`) or of the whole process, user and system, in
/// nanoseconds, if the platform tells: on shared machines CPU time measures our code rather
/// than the neighbours.
#[cfg(target_os = "linux")]
pub fn cpu_time_ns(thread: bool) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let clock = if thread {
        libc::CLOCK_THREAD_CPUTIME_ID
    } else {
        libc::CLOCK_PROCESS_CPUTIME_ID
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes to it.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// CPU time is not read on this platform.
#[cfg(not(target_os = "linux"))]
pub fn cpu_time_ns(_thread: bool) -> Option<u64> {
    None
}

/// A global allocator that forwards to the system allocator and counts the heap bytes in use
/// and their high-water mark, for benchmarks that report memory. Install it with
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`.
#[derive(Debug)]
pub struct CountingAlloc;

static HEAP_NOW: AtomicUsize = AtomicUsize::new(0);
static HEAP_PEAK: AtomicUsize = AtomicUsize::new(0);

impl CountingAlloc {
    /// Heap bytes in use now.
    pub fn current() -> usize {
        HEAP_NOW.load(Ordering::Relaxed)
    }

    /// Starts a new high-water mark at the current use; returns that use.
    pub fn reset_peak() -> usize {
        let now = Self::current();
        HEAP_PEAK.store(now, Ordering::Relaxed);
        now
    }

    /// The most heap bytes in use since the last [`CountingAlloc::reset_peak`].
    pub fn peak() -> usize {
        HEAP_PEAK.load(Ordering::Relaxed)
    }
}

fn grew(by: usize) {
    let now = HEAP_NOW.fetch_add(by, Ordering::Relaxed) + by;
    HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged
// and only updates counters; the allocator contract is the system allocator's.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) };
        HEAP_NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                HEAP_NOW.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

//! Shared helpers for the Lookout benchmarks: locating `../shared` and loading its datasets.

use std::path::PathBuf;

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

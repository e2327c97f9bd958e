#!/usr/bin/env bash
# Head ingestion side by side with `promtool tsdb bench write` (issue: tsdb 1 of 2, target
# ≥ 2× promtool). Runs promtool's benchmark on `20kseries.json` (10,000 series × 3,000
# scrapes) and prints its samples/s and its CPU time, then our identical workload (the
# `head/full_workload` lines of `cargo bench --bench tsdb`, WAL uncompressed as promtool's,
# then snappy), one after the other. On a shared machine compare samples per CPU-second.
#
# Environment: LOOKOUT_SHARED (default ../shared), CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${LOOKOUT_SHARED:-$(pwd)/../shared}
promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
  echo "SKIP: promtool not installed" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== promtool tsdb bench write (uptime: $(uptime | sed 's/.*load/load/'))"
/usr/bin/time -f "promtool: %U s user + %S s sys, %e s wall" \
  "$promtool" tsdb bench write --out="$work/out" "$shared/datasets/metrics/20kseries.json" \
  2>&1 | grep -E 'samples/sec|total samples|ingestScrapes|promtool:'
echo "== lookout (uptime: $(uptime | sed 's/.*load/load/'))"
cargo bench -q -p lookout-benches --bench tsdb -- head/full_workload 2>&1 | grep -E '^(head/full|wal/)'

#!/usr/bin/env bash
# PromQL over one block: Lookout's engine in-process vs Prometheus 2.42's HTTP API (issue #8,
# performance item 2; target: median latency ≤ 0.5× Prometheus' on every query). The data is
# 10,000 series × 2 h at 15 s (counters and a classic histogram) written into one block by
# `promtool tsdb create-blocks-from openmetrics`, generated once into LOOKOUT_BENCH_DATA and
# reused. Prometheus is started on it, warmed up and timed first; it is stopped before our
# engine is timed, so the two never compete for the CPU. Prints per query: both medians, the
# ratio, our peak heap, Prometheus' peak RSS, and whether the results are equal (same series,
# values within 1e-9 relative; the run fails if not). See benches/benches/promql_block.rs.
#
# Environment: RUNS (timed runs per query, default 11), STEP (range step in seconds, default
#   60), QUERIES (substring filter on "range EXPR" or "instant EXPR"), LOOKOUT_BENCH_DATA (data cache, default
#   $TMPDIR/lookout-bench-query-10k), SKIP_PROMETHEUS=1 (time ours only), PROMETHEUS/PROMTOOL
#   (binaries), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool > /dev/null && [ -z "${PROMTOOL:-}" ]; then
  echo "SKIP: promtool not installed (needed to write the block)" >&2
  exit 0
fi
export LOOKOUT_BENCH_DATA=${LOOKOUT_BENCH_DATA:-${TMPDIR:-/tmp}/lookout-bench-query-10k}
exec cargo bench -q -p lookout-benches --bench promql_block

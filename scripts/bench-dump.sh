#!/usr/bin/env bash
# `lookout tsdb dump` vs `promtool tsdb dump` on the same block: builds a block of SERIES series
# × HOURS h of 15 s samples with `promtool tsdb create-blocks-from openmetrics`, checks that both
# tools print the same bytes, then times both (hyperfine when installed, else the best of RUNS
# runs of each) and prints the ratio. Target: lookout ≥ 3× faster.
#
# Environment: SERIES (default 1000), HOURS (default 2), RUNS (default 5),
#   CARGO_TARGET_DIR (where the release `lookout` is built; default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
series=${SERIES:-1000}
hours=${HOURS:-2}
runs=${RUNS:-5}
target=${CARGO_TARGET_DIR:-$(pwd)/target}

promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
  echo "SKIP: promtool not installed" >&2
  exit 0
fi
cargo build --release -q -p lookout-examples --bin lookout
lookout=$target/release/lookout

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# 2023-11-14T22:00:00Z, a 2 h boundary, so the samples fall into one block per 2 h.
awk -v n="$series" -v h="$hours" 'BEGIN {
  start = 1700000000; srand(42)
  print "# TYPE bench_requests counter"
  for (i = 0; i < n; i++) {
    v = 0
    for (t = 0; t < h * 3600; t += 15) {
      v += int(rand() * 100)
      printf "bench_requests_total{instance=\"host-%05d\",job=\"bench\",zone=\"z%d\"} %d %d\n", i, i % 3, v, start + t
    }
  }
  print "# EOF"
}' > "$work/input.om"
"$promtool" tsdb create-blocks-from openmetrics "$work/input.om" "$work/data" > /dev/null
mkdir -p "$work/data/wal"
samples=$((series * hours * 240))

"$lookout" tsdb dump "$work/data" > "$work/ours.txt"
"$promtool" tsdb dump "$work/data" > "$work/theirs.txt"
if ! cmp -s "$work/ours.txt" "$work/theirs.txt"; then
  echo "FAIL: outputs differ" >&2
  exit 1
fi
echo "outputs identical: $(wc -l < "$work/ours.txt") lines ($samples samples)"

if command -v hyperfine > /dev/null; then
  hyperfine --warmup 1 --runs "$runs" \
    "$lookout tsdb dump $work/data > /dev/null" \
    "$promtool tsdb dump $work/data > /dev/null"
  exit 0
fi

best() {
  local min=
  for _ in $(seq "$runs"); do
    local t0 t1 ms
    t0=$(date +%s%N)
    "$@" > /dev/null
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    if [ -z "$min" ] || [ "$ms" -lt "$min" ]; then min=$ms; fi
  done
  echo "$min"
}
ours=$(best "$lookout" tsdb dump "$work/data")
theirs=$(best "$promtool" tsdb dump "$work/data")
echo "lookout tsdb dump:  ${ours} ms (best of $runs)"
echo "promtool tsdb dump: ${theirs} ms (best of $runs)"
awk -v a="$ours" -v b="$theirs" -v s="$samples" 'BEGIN {
  if (a < 1) a = 1
  printf "ratio: %.2fx faster (lookout %.1f M samples/s, promtool %.1f M samples/s)\n", b / a, s / a / 1000, s / b / 1000
}'

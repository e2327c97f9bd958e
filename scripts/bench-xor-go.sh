#!/usr/bin/env bash
# XOR chunks on real data, side by side with Prometheus 2.42's own chunkenc (issue: tsdb 1 of 2,
# target ≥ 5× Prometheus' appender and iterator "on Prometheus' benchmark shape and on real
# counters/gauges"). Upstream ships benchmarks for its synthetic shape only, so this script
# builds a small harness of ours (scripts/go-xor-real/xorreal_test.go) against the Prometheus
# 2.42 source that ../shared/tools/go-anchors.sh sets up, runs it, prints Go's samples/s per
# data set, then runs our `xor/` criterion benchmarks on the same data, one after the other.
#
# Needs root for the one-time Go setup (go-anchors.sh SETUP_ONLY=1 if not done yet).
# Environment: LOOKOUT_SHARED (default ../shared), GO_ANCHORS_DIR (default /var/tmp/go-anchors).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${LOOKOUT_SHARED:-$(pwd)/../shared}
work=${GO_ANCHORS_DIR:-/var/tmp/go-anchors}
if [ ! -d "$work/gopath/src/github.com/prometheus/prometheus" ]; then
  ONLY=chunkenc SETUP_ONLY=1 bash "$shared/tools/go-anchors.sh"
fi
export GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local
export GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/gocache"
pkg="$work/gopath/src/goanchors/xorreal"
mkdir -p "$pkg" "$work/bin"
cp scripts/go-xor-real/xorreal_test.go "$pkg/"
(cd "$pkg" && go test -c -o "$work/bin/xorreal.test" .)
echo "== Prometheus 2.42 chunkenc on real data (uptime: $(uptime | sed 's/.*load/load/'))"
(cd "$(mktemp -d)" && LOOKOUT_SHARED="$shared" "$work/bin/xorreal.test" -test.run '^$' \
  -test.bench . -test.benchtime "${BENCHTIME:-2s}") | awk '
  /^BenchmarkXORReal/ {
    ns = 0; n = 0
    for (i = 2; i <= NF; i++) {
      if ($i == "ns/op") ns = $(i - 1)
      if ($i == "samples/op") n = $(i - 1)
    }
    if (ns > 0) printf "go %-55s %8.2f M samples/s\n", $1, n / ns * 1000
  }'
echo "== lookout (uptime: $(uptime | sed 's/.*load/load/'))"
cargo bench -q -p lookout-benches --bench tsdb -- 'xor/(encode|decode)/(real|alp)' 2>&1 \
  | grep -E '^xor/|thrpt' || true

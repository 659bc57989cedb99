#!/usr/bin/env bash
# Collector throughput benchmark (issue 4): builds flowpulse and flowgen in a release build dir, then
# runs bench/collector_bench.py (flowpulse against nfcapd / sfacctd on the same input, same run).
# Every option is passed on: see `bench/collector_bench.sh --help`. Needs softflowd, nfdump and pmacct
# (scripts/deps installs them) and root or CAP_NET_ADMIN for the receive buffers it asks.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FLOWPULSE_BENCH_BUILD:-$root/build-bench}"
args=("$@")
for a in "$@"; do
  case "$a" in -h | --help) exec python3 "$root/bench/collector_bench.py" --help ;; esac
done
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" -j"$(nproc)" src/cli/flowpulse bench/flowgen >/dev/null
exec python3 "$root/bench/collector_bench.py" --build-dir "$build" "${args[@]}"

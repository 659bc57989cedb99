#!/usr/bin/env bash
# Loss on the veth capture paths (issue 6): builds flowpulse and pkt_blaster in a release build dir,
# then runs bench/veth_loss_bench.py (each live capture source on a veth pair, fed by the fastest
# sender here). Every option is passed on: see `bench/veth_loss_bench.sh --help`. Needs root.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FLOWPULSE_BENCH_BUILD:-$root/build-bench}"
for a in "$@"; do
  case "$a" in -h | --help) exec python3 "$root/bench/veth_loss_bench.py" --help ;; esac
done
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" -j"$(nproc)" src/cli/flowpulse bench/pkt_blaster >/dev/null
exec python3 "$root/bench/veth_loss_bench.py" --build-dir "$build" "$@"

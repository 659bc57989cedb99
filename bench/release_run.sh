#!/usr/bin/env bash
# Runs a Python bench script of this directory against a release build: builds the ninja targets it
# needs in the release build dir ($FLOWPULSE_BENCH_BUILD, or build-bench, set up if missing), then
# runs the script with --build-dir and every option given. -h/--help goes straight to the script.
# usage: bench/release_run.sh SCRIPT.py TARGET... -- [options]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FLOWPULSE_BENCH_BUILD:-$root/build-bench}"
script="$root/bench/$1"
shift
targets=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  targets+=("$1")
  shift
done
if [[ $# -gt 0 ]]; then shift; fi
for a in "$@"; do
  case "$a" in -h | --help) exec python3 "$script" --help ;; esac
done
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" -j"$(nproc)" "${targets[@]}" >/dev/null
exec python3 "$script" --build-dir "$build" "$@"

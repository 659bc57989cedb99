#!/usr/bin/env bash
# A/B of Google Benchmark binaries on a noisy machine: runs each binary in turn, ROUNDS times
# (alternating, so a slow spell of the host hits both), on one CPU, and prints per benchmark the
# median and the minimum (the least disturbed run) of the reported time.
#
#   bench/ab_bench.sh [--rounds N] [--cpu C] [--min-time S] FILTER BINARY...
#   bench/ab_bench.sh --rounds 10 'BM_Netflow9$|Worker' /tmp/before/bench_decode_netflow build-bench/bench/bench_decode_netflow
#
# Copy the "before" binary aside first (cp build-bench/bench/X /tmp/X-before), then rebuild.
set -euo pipefail
rounds=10 cpu=1 min_time=0.3
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[[ $# -ge 2 ]] || { echo "usage: $0 [--rounds N] [--cpu C] [--min-time S] FILTER BINARY..." >&2; exit 2; }
filter=$1; shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 1; i <= rounds; i++)); do
  for b in "$@"; do
    taskset -c "$cpu" "$b" --benchmark_filter="$filter" --benchmark_min_time="$min_time" 2>/dev/null |
      awk -v b="$b" '/^BM_/ {print b "\t" $1 "\t" $2 "\t" $3}' >> "$out"
  done
  echo "round $i of $rounds" >&2
done
python3 - "$out" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
unit = {}
for line in open(sys.argv[1]):
    binary, name, value, u = line.rstrip("\n").split("\t")
    runs[(name, binary)].append(float(value))
    unit[name] = u
for (name, binary), v in sorted(runs.items()):
    print("%-45s %-50s median %9.1f  min %9.1f %s  (%d runs)" % (name, binary, statistics.median(v), min(v), unit[name], len(v)))
PY

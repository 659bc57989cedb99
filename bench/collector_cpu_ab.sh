#!/usr/bin/env bash
# CPU of the flowpulse process alone for the same replay, builds and configs alternated: an A/B of
# collector changes on a machine too noisy for single runs (bench/collector_bench.py also runs the
# peer collector each time). For each round, build and config (the default set, then the default
# set with src_country and dst_asn from MaxMind's test databases) it starts `flowpulse run` with one
# worker, replays CAPTURE with flowgen at RATE datagrams/s (0 = as fast as flowgen goes) for SECONDS,
# and prints the CPU ticks (utime+stime of /proc/PID/stat, 1/100 s) and the records flowpulse parsed
# (flow_parsed_records_total); then the median records per CPU-second per build and config.
#
#   bench/collector_cpu_ab.sh [--rate R] [--rounds N] [--seconds S] CAPTURE BUILD_DIR...
#
# CAPTURE: a NetFlow v9 capture flowgen replays, e.g. the netflow9.pcap that
# `bench/collector_bench.py --protocols netflow9 --keep` leaves in its work directory (softflowd's
# export of 20,000 flows). BUILD_DIR: release build directories (src/cli/flowpulse, bench/flowgen).
set -euo pipefail
rate=100000 rounds=6 seconds=8
while [[ $# -gt 0 ]]; do
  case $1 in
    --rate) rate=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[[ $# -ge 2 ]] || { echo "usage: $0 [--rate R] [--rounds N] [--seconds S] CAPTURE BUILD_DIR..." >&2; exit 2; }
capture=$(realpath "$1"); shift
root=$(cd "$(dirname "$0")/.." && pwd)
mmdb="$root/../shared/data/mmdb"
work=$(mktemp -d)
fp=""
cleanup() { [[ -n $fp ]] && kill "$fp" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
write_config() {  # $1 = plain | enriched, $2 = UDP port, $3 = metrics port
  local labels="[exporter, protocol]" enrichment=""
  if [[ $1 == enriched ]]; then
    labels="[exporter, protocol, src_country, dst_asn]"
    enrichment=$'enrichment:\n'"  city_database: $mmdb/GeoIP2-City-Test.mmdb"$'\n'"  asn_database: $mmdb/GeoLite2-ASN-Test.mmdb"$'\n'"  labels: {country: true, asn: true}"
  fi
  cat > "$work/$1.yaml" <<YAML
listeners:
  - {protocol: netflow9, address: "127.0.0.1", port: $2, receive_buffer: 4194304}
performance: {workers: 1, batch_size: 64, table_capacity: 65536, tick: 1s}
metrics:
  address: "127.0.0.1"
  port: $3
  dimensions:
    - {name: protocol, labels: $labels}
  windows: [1m, 5m]
logging: {level: warn}
$enrichment
YAML
}
parsed() { curl -sf "127.0.0.1:$1/metrics" | awk '/^flow_parsed_records_total/ {s += $2} END {printf "%d", s}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for ((r = 1; r <= rounds; r++)); do
  for build in "$@"; do
    for cfg in plain enriched; do
      port=$(free_port) mport=$(free_port)
      write_config "$cfg" "$port" "$mport"
      "$build/src/cli/flowpulse" run -c "$work/$cfg.yaml" > "$work/flowpulse.log" 2>&1 &
      fp=$!
      for _ in $(seq 100); do parsed "$mport" > /dev/null 2>&1 && break; sleep 0.1; done
      t0=$(ticks "$fp") p0=$(parsed "$mport")
      "$build/bench/flowgen" -q -p "$port" -r "$rate" -d "$seconds" "$capture" > /dev/null
      sleep 2.5  # the last tick's hand-over (1 s ticks)
      t1=$(ticks "$fp") p1=$(parsed "$mport")
      kill "$fp"; wait "$fp" 2>/dev/null || true; fp=""
      echo "$build $cfg ticks $((t1 - t0)) records $((p1 - p0))" | tee -a "$work/runs"
    done
  done
done
python3 - "$work/runs" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    build, cfg, _, ticks, _, records = line.split()
    runs[(build, cfg)].append(int(records) / (int(ticks) / 100) / 1e6)
for (build, cfg), v in sorted(runs.items()):
    print("%-40s %-9s median %6.2f M records/CPU-s  (%s)" % (build, cfg, statistics.median(v), " ".join("%.1f" % x for x in v)))
PY

#!/usr/bin/env bash
# Raw-packet path per core (issue 6): packets per CPU-second of one worker core for parse + flow
# update, and cycles per packet, at each flow count, from
#   - in-memory bursts                 bench_meter (Google Benchmark)
#   - net_pcap, rx_pcap=F,infinite_rx  bench_dpdk_meter --vdev pcap, meter on and off (rx + release)
#   - net_ring loopback                bench_dpdk_meter --vdev ring, fed by a producer thread on the
#                                      other core, meter on and off
#   - the ceiling: dpdk-testpmd --forward-mode=rxonly on the same net_pcap vdev and the same file,
#     in the same run (its forwarding thread's CPU time read from /proc/PID/task/TID/schedstat,
#     its packets from `show port stats` at both ends of the window).
# testpmd cannot be fed on net_ring: in rxonly mode nothing enqueues into the ring (the vdev's rings
# belong to the testpmd process, and --no-huge/--no-shconf rule out a secondary process feeding
# it); the io-forward loopback it can run (`start tx_first`) only moves the same pointers around
# without touching a packet, not an rxonly ceiling.
#
# Builds nothing: it expects a release build dir (default build-bench, or $FLOWPULSE_BENCH_BUILD,
# or --build DIR) with bench/bench_meter and bench/bench_dpdk_meter built:
#   meson setup build-bench --buildtype=release && ninja -C build-bench bench/bench_meter bench/bench_dpdk_meter
# Needs root (DPDK EAL memory) and dpdk-testpmd (Debian package dpdk-dev). Every run uses
# --no-huge: no hugepages are reserved. Temporary files go to a mktemp dir under /tmp, removed at
# the end; every process it starts is killed by PID on exit. Each flow count's pcap holds
# max(flows, 1,000,000) frames, so the DPDK runs need ~4.5 GB of memory each.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FLOWPULSE_BENCH_BUILD:-$root/build-bench}"
flows_list="1000,10000,100000,1000000"
repeats=3
seconds=3
warmup=1
cpu=1
producer_cpu=0
ring_feed=prebuilt
testpmd_bin="${TESTPMD:-dpdk-testpmd}"
run_testpmd=1
results=""

usage() {
  cat <<EOF
usage: bench/packet_path_bench.sh [options]
  --build DIR          release build dir (default: \$FLOWPULSE_BENCH_BUILD or build-bench)
  --flows LIST         flow counts, comma-separated (default $flows_list)
  --repeats N          runs of every measurement (default $repeats); the table shows medians
  --seconds S          measured seconds per DPDK loop (default $seconds); bench_meter: --benchmark_min_time
  --warmup S           seconds before each DPDK measurement (default $warmup)
  --cpu C              the worker's CPU (default $cpu; testpmd forwards on CPU 1 with -l 0-1)
  --producer-cpu C     the net_ring producer's CPU (default $producer_cpu)
  --ring-feed F        prebuilt (default: one pre-built mbuf per frame, sent over and over) or
                       recycled (a NIC-like pool the producer writes each frame into); see
                       bench/dpdk_ring_feeder.hpp
  --no-testpmd         skip the dpdk-testpmd ceiling
  --results FILE       also keep every raw measurement as TSV in FILE
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --flows) flows_list="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --cpu) cpu="$2"; shift 2 ;;
    --producer-cpu) producer_cpu="$2"; shift 2 ;;
    --ring-feed) ring_feed="$2"; shift 2 ;;
    --no-testpmd) run_testpmd=0; shift ;;
    --results) results="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

bench_meter="$build/bench/bench_meter"
bench_dpdk="$build/bench/bench_dpdk_meter"
for b in "$bench_meter" "$bench_dpdk"; do
  if [[ ! -x "$b" ]]; then
    echo "missing $b: build it first: ninja -C $build bench/bench_meter bench/bench_dpdk_meter" >&2
    exit 1
  fi
done
if [[ $(id -u) -ne 0 ]]; then
  echo "DPDK needs root (EAL memory): run as root" >&2
  exit 1
fi
if [[ $run_testpmd -eq 1 ]] && ! command -v "$testpmd_bin" >/dev/null; then
  echo "dpdk-testpmd not found (apt-get install dpdk-dev), or pass --no-testpmd" >&2
  exit 1
fi

tmp="$(mktemp -d /tmp/fp-packet-path.XXXXXX)"
tsv="$tmp/results.tsv"
running=()  # PIDs of what runs now (a child first, then its `timeout`), emptied once waited for
cleanup() {
  local p
  exec 3>&- 2>/dev/null || true
  for p in "${running[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
  rm -rf /var/run/dpdk/"fp-tp-$$"-* 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf 'flows\trepeat\tpath\tmode\tmpps_cpu\tcycles_per_pkt\tbusy_cycles_per_pkt\tempty_poll_fraction\tcpu_share\tmpps_wall\n' >"$tsv"
record() {  # flows repeat path mode mpps_cpu cycles busy_cycles empty cpu_share mpps_wall
  local IFS=$'\t'
  echo "$*" >>"$tsv"
}

# key=value from a `result ...` line of bench_dpdk_meter
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

run_bench_meter() {  # flows repeat
  local out="$tmp/meter-$1-$2.json"
  if ! taskset -c "$cpu" "$bench_meter" --benchmark_filter="BM_MeterWorkerPath/$1\$" \
    --benchmark_min_time="$seconds" --benchmark_out="$out" --benchmark_out_format=json >"$tmp/meter.log" 2>&1; then
    echo "bench_meter failed:" >&2
    cat "$tmp/meter.log" >&2
    exit 1
  fi
  local line
  line=$(python3 - "$out" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))["benchmarks"][0]
print(b["items_per_second"] / 1e6, b["cycles_per_pkt"])
EOF
)
  read -r mpps cycles <<<"$line"
  record "$1" "$2" memory meter "$mpps" "$cycles" "$cycles" 0 1 ""
  printf '  %-8s %-7s %7.2f Mpps/CPU-s %7.1f cycles/pkt\n' memory meter "$mpps" "$cycles"
}

run_dpdk_meter() {  # flows repeat vdev [args...]
  local flows="$1" rep="$2" vdev="$3"
  shift 3
  local log="$tmp/dpdk-$vdev-$flows-$rep.log"
  timeout -s KILL $((120 + 4 * (${seconds%.*} + ${warmup%.*} + 5))) \
    "$bench_dpdk" --vdev "$vdev" --flows "$flows" --seconds "$seconds" --warmup "$warmup" --cpu "$cpu" \
    "$@" >"$log" 2>&1 &
  local pid=$!
  running=("$pid")
  if ! wait "$pid"; then
    running=()
    echo "bench_dpdk_meter --vdev $vdev --flows $flows failed:" >&2
    cat "$log" >&2
    exit 1
  fi
  running=()
  local line mode
  while read -r line; do
    mode=$(field "$line" mode)
    record "$flows" "$rep" "$vdev" "$mode" "$(field "$line" mpps_cpu)" "$(field "$line" cycles_per_pkt)" \
      "$(field "$line" busy_cycles_per_pkt)" "$(field "$line" empty_poll_fraction)" \
      "$(field "$line" cpu_share)" "$(field "$line" mpps_wall)"
    printf '  %-8s %-7s %7.2f Mpps/CPU-s %7.1f cycles/pkt (busy %.1f, empty polls %s, CPU share %s)\n' \
      "$vdev" "$mode" "$(field "$line" mpps_cpu)" "$(field "$line" cycles_per_pkt)" \
      "$(field "$line" busy_cycles_per_pkt)" "$(field "$line" empty_poll_fraction)" "$(field "$line" cpu_share)"
  done < <(grep '^result ' "$log")
  grep '^producer ' "$log" | sed 's/^/  /' || true
}

# CPU nanoseconds of one thread (schedstat's first field: time on a CPU).
thread_ns() { cut -d' ' -f1 "/proc/$1/task/$2/schedstat"; }

run_testpmd() {  # flows repeat pcap frames
  local flows="$1" rep="$2" pcap="$3" frames="$4"
  local log="$tmp/testpmd-$flows-$rep.log" fifo="$tmp/testpmd.fifo"
  local mem=$((512 + (frames + 8192) * 4096 / 1048576)) mbufs=1
  while ((mbufs - 1 < frames + 8192)); do mbufs=$((mbufs * 2)); done  # as DpdkPort sizes its pool
  mbufs=$((mbufs - 1))
  rm -f "$fifo"
  mkfifo "$fifo"
  # The same vdev and file as bench_dpdk_meter, the same pool size (2^20 - 1 mbufs of the default
  # size), burst 32, one forwarding core. Interactive, driven through a FIFO, so that the window is
  # ours: packets from `show port stats 0` at both ends, CPU time of the forwarding thread between.
  timeout -s KILL 300 "$testpmd_bin" --no-huge -m "$mem" --no-shconf --no-pci -l 0-1 \
    --file-prefix="fp-tp-$$-$rep" --log-level='*:warning' \
    --vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" -- \
    -i --forward-mode=rxonly --burst=32 --nb-cores=1 --rxq=1 --txq=1 \
    --total-num-mbufs="$mbufs" \
    --record-core-cycles <"$fifo" >"$log" 2>&1 &
  local tpid=$!
  running=("$tpid")
  exec 3>"$fifo"
  local i
  for ((i = 0; i < 240; i++)); do
    grep -q 'testpmd> ' "$log" && break
    if ! kill -0 "$tpid" 2>/dev/null; then
      echo "dpdk-testpmd exited early:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.5
  done
  local pid tid=""
  pid=$(pgrep -P "$tpid" -x dpdk-testpmd || true)
  [[ -n "$pid" ]] || pid="$tpid"
  running=("$pid" "$tpid")
  for t in /proc/"$pid"/task/*; do
    [[ "$(cat "$t/comm")" == rte-worker-1 || "$(cat "$t/comm")" == lcore-worker-1 ]] && tid="${t##*/}"
  done
  if [[ -z "$tid" ]]; then
    echo "dpdk-testpmd: no forwarding thread (rte-worker-1) found in /proc/$pid/task" >&2
    exit 1
  fi
  echo start >&3
  sleep "$warmup"
  local c0 c1 t0 t1
  echo "show port stats 0" >&3
  c0=$(thread_ns "$pid" "$tid")
  t0=$(date +%s.%N)
  sleep "$seconds"
  echo "show port stats 0" >&3
  c1=$(thread_ns "$pid" "$tid")
  t1=$(date +%s.%N)
  sleep 0.3
  echo stop >&3
  sleep 0.3
  echo quit >&3
  exec 3>&-
  for ((i = 0; i < 60; i++)); do
    kill -0 "$tpid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$tpid" 2>/dev/null; then
    echo "dpdk-testpmd did not quit: killing it" >&2
    kill -KILL "$pid" "$tpid" 2>/dev/null || true
  fi
  wait "$tpid" 2>/dev/null || true
  running=()
  rm -rf /var/run/dpdk/"fp-tp-$$-$rep" 2>/dev/null || true
  local line
  line=$(python3 - "$log" "$c0" "$c1" "$t0" "$t1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
c0, c1, t0, t1 = (float(x) for x in sys.argv[2:6])
rx = [int(m) for m in re.findall(r"NIC statistics for port 0.*?RX-packets:\s*(\d+)", text, re.S)]
if len(rx) < 2:
    sys.exit("dpdk-testpmd: fewer than two port statistics in its output")
packets = rx[1] - rx[0]
cpu = (c1 - c0) / 1e9
own = re.search(r"CPU cycles/packet=([\d.]+)", text)
print(packets / cpu / 1e6, cpu / (t1 - t0), packets / (t1 - t0) / 1e6, own.group(1) if own else "")
EOF
)
  local mpps share wall own
  read -r mpps share wall own <<<"$line"
  local tsc_mhz
  tsc_mhz=$(sed -n 's/.* at \([0-9]*\) MHz Clock.*/\1/p' "$log" | head -1)
  local cycles
  cycles=$(python3 -c "print(${tsc_mhz:-0} / $mpps)")
  record "$flows" "$rep" testpmd rxonly "$mpps" "$cycles" "$own" 0 "$share" "$wall"
  printf '  %-8s %-7s %7.2f Mpps/CPU-s %7.1f cycles/pkt (testpmd own cycles/packet %s, CPU share %.3f)\n' \
    testpmd rxonly "$mpps" "$cycles" "$own" "$share"
}

echo "# packet path per core: flows $flows_list, $repeats repeats, ${seconds} s per loop, worker on CPU $cpu"
echo "# $(date -u +%FT%TZ) $(uname -r) load: $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=',' read -r -a flow_counts <<<"$flows_list"
for flows in "${flow_counts[@]}"; do
  pcap="$tmp/flows-$flows.pcap"
  "$bench_dpdk" --write-pcap "$pcap" --flows "$flows" >/dev/null
  frames=$((($(stat -c %s "$pcap") - 24) / (16 + 64)))
  for ((rep = 1; rep <= repeats; rep++)); do
    echo "flows $flows, repeat $rep (load $(cut -d' ' -f1 /proc/loadavg))"
    # Alternate who goes first, so a burst of load on the machine does not always hit the same one.
    if [[ $run_testpmd -eq 1 && $((rep % 2)) -eq 0 ]]; then run_testpmd "$flows" "$rep" "$pcap" "$frames"; fi
    run_bench_meter "$flows" "$rep"
    run_dpdk_meter "$flows" "$rep" pcap --pcap "$pcap"
    run_dpdk_meter "$flows" "$rep" ring --producer-cpu "$producer_cpu" --feed "$ring_feed"
    if [[ $run_testpmd -eq 1 && $((rep % 2)) -eq 1 ]]; then run_testpmd "$flows" "$rep" "$pcap" "$frames"; fi
  done
  rm -f "$pcap"
done
[[ -n "$results" ]] && cp "$tsv" "$results"

python3 - "$tsv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(flows, path, mode, key):
    v = [float(r[key]) for r in rows if r["flows"] == flows and r["path"] == path and r["mode"] == mode and r[key]]
    return statistics.median(v) if v else None
def ratio(flows, path, mode):
    v = []
    for rep in dict.fromkeys(r["repeat"] for r in rows if r["flows"] == flows):
        get = lambda p, m: [float(r["mpps_cpu"]) for r in rows
                            if r["flows"] == flows and r["repeat"] == rep and r["path"] == p and r["mode"] == m]
        ours, theirs = get(path, mode), get("testpmd", "rxonly")
        if ours and theirs:
            v.append(ours[0] / theirs[0])
    return statistics.median(v) if v else None
def f(x, fmt="{:.2f}"):
    return fmt.format(x) if x is not None else "-"
print()
print("Medians of the repeats: Mpps per CPU-second of the worker thread (cycles/pkt = CPU time x TSC rate /")
print("packets); the ratios are medians of the per-repeat ratios flowpulse / testpmd on the same net_pcap vdev.")
print("| flows | in-memory meter | pcap rx-only | pcap meter | ring rx-only | ring meter | ring empty polls | testpmd rxonly (pcap) | pcap meter / testpmd | pcap rx-only / testpmd |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for flows in dict.fromkeys(r["flows"] for r in rows):
    cell = lambda p, m: f"{f(med(flows, p, m, 'mpps_cpu'))} ({f(med(flows, p, m, 'cycles_per_pkt'), '{:.0f}')})"
    empty = med(flows, "ring", "meter", "empty_poll_fraction")
    print(f"| {int(flows):,} | {cell('memory', 'meter')} | {cell('pcap', 'rx')} | {cell('pcap', 'meter')} | "
          f"{cell('ring', 'rx')} | {cell('ring', 'meter')} | {f(empty * 100 if empty is not None else None, '{:.4f}%')} | "
          f"{cell('testpmd', 'rxonly')} | {f(ratio(flows, 'pcap', 'meter'))} | {f(ratio(flows, 'pcap', 'rx'))} |")
print()
print("Busy cycles/pkt (TSC cycles inside non-empty polls, preempted polls left out; testpmd: its own")
print("--record-core-cycles figure, which counts preemptions too):")
print("| flows | pcap rx-only | pcap meter | ring rx-only | ring meter | testpmd rxonly | CPU share of the worker (pcap meter) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for flows in dict.fromkeys(r["flows"] for r in rows):
    b = lambda p, m: f(med(flows, p, m, "busy_cycles_per_pkt"), "{:.0f}")
    print(f"| {int(flows):,} | {b('pcap', 'rx')} | {b('pcap', 'meter')} | {b('ring', 'rx')} | {b('ring', 'meter')} | "
          f"{b('testpmd', 'rxonly')} | {f(med(flows, 'pcap', 'meter', 'cpu_share'))} |")
EOF

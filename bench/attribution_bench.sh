#!/usr/bin/env bash
# Process-attribution benchmark (issue 7): CPU that a per-process traffic monitor uses at a steady
# 100k packets/s, flowpulse against nethogs (Debian package) on the same machine, same load, same run.
#
# Per run: a receiver (`pkt_blaster --receive`) and then the tool under test start; after 1 s the
# load starts: `pkt_blaster --to` sends UDP datagrams from one connected socket at a paced rate for
# --seconds. The measured window starts after --warmup seconds of load and lasts
# seconds - warmup - 1, so the tool is measured under load only (the last second is a margin for a
# refresh that ends late). Only one tool runs per run; the tools alternate, --repeats times each.
#   nethogs: `nethogs -t -a -C -v 2 DEV` (trace mode). CPU = utime+stime from /proc/PID/stat at both
#            ends of the window, ticks / getconf CLK_TCK. Needs -a for a loopback device (without it
#            it exits: "No devices to monitor") and -C to see UDP at all (without it it attributes
#            TCP only and the load costs it next to nothing); -v 2 makes its trace lines cumulative
#            bytes, from which the script prints the share of the blaster's frames nethogs charged
#            to the blaster: below 100% it lost packets (its libpcap buffer overflowed) or charged
#            them elsewhere. Its stdout (a few lines a second) goes to a file for that, not /dev/null.
#   flowpulse: `flowpulse top --once --json --device DEV --interval 1+WARMUP+WINDOW+1`, started
#            where nethogs is (1 s before the load): one refresh spanning the run. CPU as for
#            nethogs, from /proc/PID/stat over the window. Its whole run (utime+stime, start-up
#            and exit included, over its wall time, taken at exit by a small wrapper) is printed
#            beside it. If the command fails, the script says "flowpulse top: not available" and
#            goes on.
# With --farm, bench_proc's socket farm holds 100k open sockets (idle) through every run: the same
# load, on a host with many sockets (what a refresh has to read).
# Printed: per run the tool's CPU%, the load (what the blaster sent, at what rate, what the receiver
# got, the packets/s the device carried in the window: the load plus anything else on this machine)
# and the load's own CPU (blaster + receiver); then the median CPU% of each tool and the ratio.
#
# Builds nothing: it expects bench/pkt_blaster in a release build dir (default build-bench, or
# $FLOWPULSE_BENCH_BUILD, or --build DIR), and flowpulse at $FLOWPULSE (default
# BUILD/src/cli/flowpulse):
#   meson setup build-bench --buildtype=release && ninja -C build-bench bench/pkt_blaster src/cli/flowpulse
# Needs root (nethogs captures with libpcap) and nethogs (scripts/deps installs it). Temporary files
# go to a mktemp dir under /tmp, removed at the end; every process it starts is stopped by PID.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FLOWPULSE_BENCH_BUILD:-$root/build-bench}"
flowpulse="${FLOWPULSE:-}"
rate=100000
seconds=20
warmup=3
size=100
repeats=3
port=39517
address=127.0.0.1
device=lo
run_nethogs=1
run_flowpulse=1
results=""
capture_timeout=""
farm=""

usage() {
  cat <<EOF
usage: bench/attribution_bench.sh [options]   (as root)
  --build DIR        build dir with bench/pkt_blaster (default: \$FLOWPULSE_BENCH_BUILD or build-bench)
  --flowpulse PATH   the flowpulse binary (default: \$FLOWPULSE or BUILD/src/cli/flowpulse)
  --rate R           datagrams per second (default $rate)
  --seconds S        load duration per run, whole seconds (default $seconds)
  --warmup S         seconds of load before the window, whole seconds (default $warmup);
                     the window is seconds - warmup - 1
  --size B           UDP payload bytes (default $size)
  --repeats N        runs per tool, alternating which goes first (default $repeats)
  --address ADDR     destination, 127.0.0.1 or ::1 (default $address)
  --port P           UDP port of the receiver (default $port)
  --device DEV       the device the tools watch (default $device)
  --no-nethogs       measure flowpulse only
  --no-flowpulse     measure nethogs only
  --results FILE     also write every run as TSV to FILE
  --capture-timeout MS  passed to flowpulse top (default: its own, 10)
  --farm tcp|udp     hold 100k open sockets (\$FLOWPULSE_BENCH_SOCKETS) during every run:
                     BUILD/bench/bench_proc --hold-farm, 50k TCP pairs or 100k UDP sockets
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --flowpulse) flowpulse="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --address) address="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --no-nethogs) run_nethogs=0; shift ;;
    --no-flowpulse) run_flowpulse=0; shift ;;
    --results) results="$2"; shift 2 ;;
    --capture-timeout) capture_timeout="$2"; shift 2 ;;
    --farm) farm="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ -n "$farm" && $farm != tcp && $farm != udp ]]; then
  echo "--farm takes tcp or udp, not '$farm'" >&2
  exit 2
fi
if [[ -n "$capture_timeout" ]] && ! [[ $capture_timeout =~ ^[0-9]+$ ]]; then
  echo "--capture-timeout needs a whole number of milliseconds, got '$capture_timeout'" >&2
  exit 2
fi
for v in seconds warmup repeats port size; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
    echo "--$v needs a whole number, got '${!v}'" >&2
    exit 2
  fi
done
window=$((seconds - warmup - 1))
if ((window < 2)); then
  echo "--seconds must be at least --warmup + 3 (the window is seconds - warmup - 1)" >&2
  exit 2
fi
[[ -n "$flowpulse" ]] || flowpulse="$build/src/cli/flowpulse"
blaster="$build/bench/pkt_blaster"
if [[ ! -x "$blaster" ]]; then
  echo "missing $blaster: build it first: ninja -C $build bench/pkt_blaster" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "nethogs captures packets: run as root" >&2
  exit 1
fi
if [[ $run_nethogs -eq 1 ]] && ! command -v nethogs >/dev/null; then
  echo "nethogs not found (apt-get install nethogs, or scripts/deps), or pass --no-nethogs" >&2
  exit 1
fi
case "$address" in
  *:*) target="[$address]:$port"; frame_overhead=62 ;;  # Ethernet 14 + IPv6 40 + UDP 8 on lo
  *) target="$address:$port"; frame_overhead=42 ;;      # Ethernet 14 + IPv4 20 + UDP 8
esac
clk_tck=$(getconf CLK_TCK)
# Packets the device carried in the window: the load plus whatever else runs on this machine.
dev_stats="/sys/class/net/$device/statistics/rx_packets"
if [[ ! -r "$dev_stats" ]]; then
  echo "no device '$device' ($dev_stats)" >&2
  exit 1
fi

tmp="$(mktemp -d /tmp/fp-attribution.XXXXXX)"
started=()  # PIDs this script started and has not waited for yet
cleanup() {
  local p
  for p in "${started[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() {  # PID: waited for, no longer ours to kill
  local p keep=()
  for p in "${started[@]}"; do
    [[ $p == "$1" ]] || keep+=("$p")
  done
  started=("${keep[@]}")
}

# utime+stime in clock ticks of a running process (fields 14 and 15 of /proc/PID/stat; the text
# after the last ')' starts at field 3).
cpu_ticks() {
  local s
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  local -a f
  read -ra f <<<"$s"
  echo $((f[11] + f[12]))
}

# `json_field FILE KEY`: a number from pkt_blaster's one-line JSON.
json_field() { sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" "$1" | tail -n 1; }

# Runs a command and, when it ends, writes "CPU-seconds wall-seconds" of it (its rusage, children
# it waited for included) to the first argument; passes SIGINT/SIGTERM on to it. The command's PID
# goes to FIRST.pid as soon as it runs.
cpu_wrapper='
import os, signal, sys, time
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
with open(sys.argv[1] + ".pid", "w") as f:
    f.write("%d\n" % pid)
def forward(sig, _frame):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
with open(sys.argv[1], "w") as f:
    f.write("%.6f %.6f\n" % (ru.ru_utime + ru.ru_stime, wall))
sys.exit(os.waitstatus_to_exitcode(status))
'

# The socket farm: child processes of bench_proc hold the sockets until its stdin (a fifo this
# script holds open on fd 9) closes.
if [[ -n "$farm" ]]; then
  if [[ ! -x "$build/bench/bench_proc" ]]; then
    echo "missing $build/bench/bench_proc: build it first: ninja -C $build bench/bench_proc" >&2
    exit 1
  fi
  mkfifo "$tmp/farm.in"
  "$build/bench/bench_proc" --hold-farm "$farm" <"$tmp/farm.in" >"$tmp/farm.out" 2>"$tmp/farm.err" &
  farm_pid=$!
  started+=("$farm_pid")
  exec 9>"$tmp/farm.in"
  for _ in $(seq 600); do
    grep -q '^ready' "$tmp/farm.out" 2>/dev/null && break
    kill -0 "$farm_pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! grep -q '^ready' "$tmp/farm.out" 2>/dev/null; then
    echo "the socket farm did not start:" >&2
    cat "$tmp/farm.err" >&2
    exit 1
  fi
  echo "  socket farm: $(sed -n 's/^ready //p' "$tmp/farm.out") open $farm sockets ($(tail -n 1 "$tmp/farm.err"))"
fi

if [[ -n "$results" ]]; then
  printf 'repeat\ttool\tcpu_percent\tcpu_seconds\twindow_seconds\tsent\tsent_pps\treceived\tdevice_pps\tload_cpu_percent\tseen_percent\n' >"$results"
fi
nethogs_cpu=()
flowpulse_cpu=()
flowpulse_available=$run_flowpulse
ratios=()

# One run: receiver, tool, load; prints a line and appends to the arrays. $1 = repeat, $2 = tool.
# Both tools start before the load and are measured alike: utime+stime from /proc/PID/stat over the
# window (their start-up, with its first read of every socket and process, is outside it; flowpulse's
# whole run, start-up and exit included, is printed beside it).
measure() {
  local rep="$1" tool="$2"
  local recv_json="$tmp/recv-$tool-$rep.json" send_json="$tmp/send-$tool-$rep.json"
  local tool_out="$tmp/$tool-$rep.out" tool_err="$tmp/$tool-$rep.err"

  "$blaster" --receive "$port" >"$recv_json" 2>"$tmp/recv.err" &
  local recv_pid=$!
  started+=("$recv_pid")
  local tool_pid="" wrapper_pid=""
  if [[ $tool == nethogs ]]; then
    nethogs -t -a -C -v 2 "$device" >"$tool_out" 2>"$tool_err" &
    tool_pid=$!
    started+=("$tool_pid")
  else
    local extra=()
    [[ -z "$capture_timeout" ]] || extra=(--capture-timeout "$capture_timeout")
    # One refresh of top spans the start-up, the warm-up, the window and a second of margin.
    rm -f "$tmp/flowpulse-cpu.pid"
    python3 -c "$cpu_wrapper" "$tmp/flowpulse-cpu" "$flowpulse" top --once --json --device "$device" \
      --interval "$((1 + warmup + window + 1))" "${extra[@]}" >"$tool_out" 2>"$tool_err" &
    wrapper_pid=$!
    started+=("$wrapper_pid")
    for _ in $(seq 100); do  # the wrapper forks flowpulse and says its PID
      [[ -s "$tmp/flowpulse-cpu.pid" ]] && break
      sleep 0.02
    done
    [[ ! -s "$tmp/flowpulse-cpu.pid" ]] || tool_pid=$(<"$tmp/flowpulse-cpu.pid")
  fi
  sleep 1  # the receiver bound, the tool through its start-up scan of /proc
  if ! kill -0 "$recv_pid" 2>/dev/null; then
    echo "the receiver did not start:" >&2
    cat "$tmp/recv.err" >&2
    exit 1
  fi
  if [[ -z $tool_pid ]] || ! kill -0 "$tool_pid" 2>/dev/null; then
    if [[ $tool == flowpulse ]]; then
      wait "$wrapper_pid" || true
      forget "$wrapper_pid"
      kill -INT "$recv_pid" 2>/dev/null || true
      wait "$recv_pid" || true
      forget "$recv_pid"
      echo "run $rep flowpulse: flowpulse top: not available"
      sed -n '1,3s/^/    /p' "$tool_err"
      flowpulse_available=0
      return
    fi
    echo "nethogs did not start:" >&2
    cat "$tool_err" >&2
    exit 1
  fi

  "$blaster" --to "$target" --rate "$rate" --seconds "$seconds" --size "$size" >"$send_json" 2>"$tmp/send.err" &
  local send_pid=$!
  started+=("$send_pid")
  sleep "$warmup"

  local t0 t1 c0 c1 l0 l1 d0 d1 cpu_s wall_s run_col=""
  t0=$EPOCHREALTIME
  l0=$(($(cpu_ticks "$send_pid") + $(cpu_ticks "$recv_pid")))
  d0=$(<"$dev_stats")
  c0=$(cpu_ticks "$tool_pid")
  sleep "$window"
  c1=$(cpu_ticks "$tool_pid")
  t1=$EPOCHREALTIME
  l1=$(($(cpu_ticks "$send_pid") + $(cpu_ticks "$recv_pid")))
  d1=$(<"$dev_stats")
  wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  cpu_s=$(awk -v c=$((c1 - c0)) -v hz="$clk_tck" 'BEGIN { printf "%.3f", c / hz }')

  wait "$send_pid" || true
  forget "$send_pid"
  if [[ $tool == nethogs ]]; then
    sleep 1.5  # one more nethogs refresh, so its last trace line holds every packet
    kill -INT "$tool_pid" 2>/dev/null || true
    wait "$tool_pid" || true
    forget "$tool_pid"
  else
    if ! wait "$wrapper_pid"; then
      echo "flowpulse top failed:" >&2
      sed -n '1,5s/^/    /p' "$tool_err" >&2
    fi
    forget "$wrapper_pid"
    local run_cpu run_wall
    read -r run_cpu run_wall <"$tmp/flowpulse-cpu"
    run_col=$(awk -v c="$run_cpu" -v w="$run_wall" \
      'BEGIN { printf ", whole run %.2f%% (%.3f CPU-s in %.1f s, start-up and exit included)", 100 * c / w, c, w }')
  fi
  sleep 0.3  # the receiver drains its socket
  kill -INT "$recv_pid" 2>/dev/null || true
  wait "$recv_pid" || true
  forget "$recv_pid"

  local sent sent_pps received load_cpu cpu_pct seen="" seen_col=""
  sent=$(json_field "$send_json" packets)
  sent_pps=$(json_field "$send_json" packets_per_second)
  received=$(json_field "$recv_json" packets)
  cpu_pct=$(awk -v c="$cpu_s" -v w="$wall_s" 'BEGIN { printf "%.2f", 100 * c / w }')
  load_cpu=$(awk -v c=$((l1 - l0)) -v hz="$clk_tck" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "%.1f", 100 * c / hz / (b - a) }')
  if [[ $tool == nethogs ]]; then
    # nethogs -v 2 trace lines: "PROGRAM/PID/UID<TAB>SENT_BYTES<TAB>RECV_BYTES", totals since its start.
    local bytes
    bytes=$(awk -F'\t' -v pid="$send_pid" '$1 ~ "/" pid "/" { s = $2 + $3; if (s > m) m = s } END { printf "%.0f", m }' "$tool_out")
    seen=$(awk -v b="$bytes" -v n="$sent" -v o="$((size + frame_overhead))" \
      'BEGIN { printf "%.2f", (n > 0 ? 100 * b / (n * o) : 0) }')
    seen_col=", charged ${seen}% of the blaster's frames to it"
    nethogs_cpu+=("$cpu_pct")
  else
    flowpulse_cpu+=("$cpu_pct")
  fi
  local recv_pct dev_pps
  dev_pps=$(awk -v d=$((d1 - d0)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", d / (b - a) }')
  recv_pct=$(awk -v r="$received" -v s="$sent" 'BEGIN { printf "%.3f", (s > 0 ? 100 * r / s : 0) }')
  printf 'run %s %-9s CPU %6s%% (%s CPU-s in %s s); load: sent %s at %s pkt/s, received %s (%s%%), %s %s pkt/s, load CPU %s%%%s%s\n' \
    "$rep" "$tool:" "$cpu_pct" "$cpu_s" "$wall_s" "$sent" "$sent_pps" "$received" "$recv_pct" "$device" "$dev_pps" \
    "$load_cpu" "$seen_col" "$run_col"
  if [[ -n "$results" ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$tool" "$cpu_pct" "$cpu_s" "$wall_s" "$sent" \
      "$sent_pps" "$received" "$dev_pps" "$load_cpu" "$seen" >>"$results"
  fi
}

median() {
  if [[ $# -eq 0 ]]; then
    echo "-"
    return
  fi
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "attribution benchmark: $rate pkt/s of ${size}-byte UDP payloads from one socket to $target, tools on $device"
echo "  $seconds s of load per run, CPU measured over $window s after a $warmup s warm-up; $repeats run(s) per tool, alternating"
echo "  nethogs $(nethogs -V 2>&1 | sed -n 's/.*version //p' | head -n 1), flowpulse $flowpulse, CLK_TCK $clk_tck, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((rep = 1; rep <= repeats; rep++)); do
  order=(nethogs flowpulse)
  ((rep % 2 == 1)) || order=(flowpulse nethogs)
  for tool in "${order[@]}"; do
    if [[ $tool == nethogs && $run_nethogs -eq 1 ]]; then
      measure "$rep" nethogs
    elif [[ $tool == flowpulse && $flowpulse_available -eq 1 ]]; then
      measure "$rep" flowpulse
    fi
  done
  if [[ ${#nethogs_cpu[@]} -ge $rep && ${#flowpulse_cpu[@]} -ge $rep ]]; then
    ratios+=("$(awk -v f="${flowpulse_cpu[rep - 1]}" -v n="${nethogs_cpu[rep - 1]}" 'BEGIN { printf "%.4f", (n > 0 ? f / n : 0) }')")
  fi
done

echo
nh_median=$(median "${nethogs_cpu[@]}")
fp_median=$(median "${flowpulse_cpu[@]}")
echo "median CPU% at $rate pkt/s: nethogs $nh_median (runs: ${nethogs_cpu[*]:-none}), flowpulse $fp_median (runs: ${flowpulse_cpu[*]:-none})"
if [[ ${#ratios[@]} -gt 0 ]]; then
  ratio=$(awk -v f="$fp_median" -v n="$nh_median" 'BEGIN { printf "%.3f", f / n }')
  echo "ratio flowpulse / nethogs: $ratio of the medians, $(median "${ratios[@]}") median of the per-repeat ratios (target: at most 0.1)"
else
  echo "ratio flowpulse / nethogs: not measured (target: at most 0.1)"
fi

# The farm lets its sockets go when its stdin closes.
if [[ -n "$farm" ]]; then
  exec 9>&-
  wait "$farm_pid" 2>/dev/null || true
  forget "$farm_pid"
fi
